"""The one place that reads the environment.

Every other module asks `get_settings()` instead of reading ``os.environ`` so
that switching DuckDB <-> PostgreSQL, local Spark <-> a cluster, or a local
artefact folder <-> an object store is a change of environment variables only.
Nothing else in the code base branches on the environment.

The variables are declared once, as the typed fields of :class:`Settings` (a
pydantic model; variable = ``ECOMFLOW_<FIELD>`` unless the field's alias says
otherwise): pydantic converts and checks each value and the error names the
variable; passwords and DSNs are ``SecretStr`` so a log line, a repr or a
traceback never shows them. A misspelt ``ECOMFLOW_*`` variable is an error naming
it (and the setting it probably meant), because a silently ignored typo in
``ECOMFLOW_WAREHOUSE=postgres`` would load into the wrong warehouse.

Why a plain ``BaseModel`` and not pydantic-settings' ``BaseSettings``: DAG files import
this module and call ``get_settings()`` at parse time. Airflow has already imported
pydantic there, so this model costs ~3 ms, while importing pydantic-settings (dotenv,
its AWS/Azure/GCP/CLI sources) measured 25-50 ms: it would about double the parse
time of each DAG file (``benchmarks/dag_parse.py``). What it would do here, look up
one variable per field and skip empty ones, is ``_from_environment`` below.
sqlalchemy (URL parsing) is imported only when a URL is split.
"""

from __future__ import annotations

import difflib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, ValidationInfo, field_validator

REPO_ROOT = Path(__file__).resolve().parents[1]

WAREHOUSES = ("duckdb", "postgres")
ENV_PREFIX = "ECOMFLOW_"

#: ``ECOMFLOW_*`` variables that are not settings of this process but are read by the shell
#: scripts, the local-Airflow launcher, the preload hook, the shipped mappings or the tests.
#: Listed so that every other ``ECOMFLOW_*`` name can be rejected as a typo.
OTHER_ECOMFLOW_VARIABLES = frozenset({
    "ECOMFLOW_AIRFLOW_PORT", "ECOMFLOW_SPARK_CONNECT_PORT", "ECOMFLOW_SPARK_CONNECT",  # scripts, local_airflow
    "ECOMFLOW_SPARK_WARM_UP",  # local_airflow (0: no warm-up job; benchmarks/local_stack.py)
    "ECOMFLOW_BACKFILL_COMPLETION",  # local_airflow (0: wait for the scheduler's 30 s timer; benchmarks/local_stack.py)
    "ECOMFLOW_DEMO_HOURS",  # scripts/run_pipeline.sh
    "ECOMFLOW_TRAIN_SLOTS",  # scripts/airflow_init.sh (slots of the local stack's gpu pool)
    "ECOMFLOW_PRELOAD_TASK_LIBS",  # tasks/preload.py (read before any settings exist)
    "ECOMFLOW_WAREHOUSE_WRITER_LOCK",  # tasks/warehouse/engine.py (0: benchmarks/local_stack.py's baseline)
    "ECOMFLOW_DBT_PRECOMPILE_MACROS",  # tasks/transform/dbt_worker.py (0: benchmarks/dbt_tasks.py's baseline)
    "ECOMFLOW_DBT_PREPARE",  # tasks/transform/dbt_runner.py (0: benchmarks/local_stack.py's baseline)
    "ECOMFLOW_ONLINE_RETAIL_PATH",  # tasks/ingest/sources/uci_online_retail.py
    "ECOMFLOW_SHARED_DATA",  # ${...} in the shipped mapping YAMLs
    "ECOMFLOW_REPO",  # docker/Dockerfile
    "ECOMFLOW_CHROMIUM",  # tests/e2e and scripts/install_browser.sh
})
#: Switches of the test harness (tests/conftest.py): ``ECOMFLOW_TEST_*`` are never settings.
TEST_VARIABLE_PREFIX = "ECOMFLOW_TEST_"

# Paths that default to a place under ``home`` (``None`` in the environment = that default).
_UNDER_HOME = {"duckdb_path": "warehouse.duckdb", "lake_root": "lake", "artefact_root": "artefacts"}


def _variable_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


class Settings(BaseModel):
    """Resolved runtime configuration (immutable; build a new one to change).

    Each field is read from ``ECOMFLOW_<FIELD>`` unless its alias names another variable.
    Code may also build one by field name (``Settings(warehouse="postgres")``); an unknown
    name is an error either way.
    """

    model_config = ConfigDict(alias_generator=_variable_name, validate_by_name=True, validate_by_alias=True,
                              frozen=True, extra="forbid")

    home: Path = REPO_ROOT / ".ecomflow"
    warehouse: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: Path = Field(None, validate_default=True)  # type: ignore[assignment]  # None: under home
    lake_root: Path = Field(None, alias="ECOMFLOW_LAKE",
                            validate_default=True)  # type: ignore[assignment]
    artefact_root: Path = Field(None, alias="ECOMFLOW_ARTEFACTS",
                                validate_default=True)  # type: ignore[assignment]
    # PostgreSQL: a whole URL, or its parts (the URL wins when both are set).
    pg_url: SecretStr | None = None
    pg_host: str = "127.0.0.1"
    pg_port: int = Field(5432, ge=1, le=65535)
    pg_user: str = "postgres"
    pg_password: SecretStr = SecretStr("")
    pg_db: str = "ecomflow"
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    # JVM flags of the Spark driver (in local[*] and in the local Spark Connect server, the whole
    # Spark). A feature run is a few seconds of many small queries, so the JVM's optimising
    # compiler (C2) and parallel GC threads spend more CPU than they save: with C1 only and the
    # serial GC, the daily feature sets on S took 13-15 s instead of 20-24 s on a fresh server,
    # and the server used 36-57 core-s instead of 76-84 for a day and an hour run twice or three
    # times (benchmarks/spark_jvm.py). On long jobs over much more data C2 pays off: `none` keeps
    # the JVM's defaults.
    spark_driver_java_options: str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    # sc://host:port of a long-lived Spark Connect server: feature jobs run as its clients instead
    # of one spark-submit (one JVM start) per run. Unset: spark-submit to spark_master.
    spark_remote: str | None = None
    source: str = "synthetic"
    synthetic_size: Literal["S", "M", "L"] = "S"
    synthetic_seed: int = Field(42, alias="ECOMFLOW_SEED")
    # Window day from which the synthetic shop drifts (a planted drift for monitoring,
    # tasks/ingest/synthetic.generate); unset: no drift. The kind: "price" (every shown price
    # jumps; demand does not follow) or "popularity" (demand moves between categories).
    synthetic_drift_day: int | None = Field(None, ge=1)
    synthetic_drift_kind: Literal["price", "popularity"] = "price"
    quarantine_max_share: float = Field(0.01, ge=0, le=1)
    train_every_days: int = Field(7, ge=1)
    promotion_margin: float = 0.0
    torch_device: str = "auto"
    scoring_precision: str = "fp32"
    train_queue: str = "default"
    bi_reader_role: str = "bi_reader"
    bi_reader_password: SecretStr | None = None  # unset: the BI role is NOLOGIN
    # Key of the keyed PII hash; unset: a random key kept under home (see ``pii_key``).
    pii_key_secret: SecretStr | None = Field(None, alias="ECOMFLOW_PII_KEY")
    # Alerts (tasks/alerting.py): fallback recipients of the e-mail alert when the SMTP
    # connection names none, and how long after it was queued a daily run counts as late.
    alert_email_to: tuple[str, ...] = ()
    daily_deadline_hours: float = Field(6.0, gt=0)

    # ---- parsing of values that are not plain scalars ------------------------------
    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("duckdb_path", "lake_root", "artefact_root", mode="before")
    @classmethod
    def _default_under_home(cls, value: Any, info: ValidationInfo) -> Any:
        if value in (None, "") and "home" in info.data:
            return info.data["home"] / _UNDER_HOME[str(info.field_name)]
        return value

    @field_validator("warehouse", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("synthetic_size", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _address_list(cls, value: Any) -> Any:
        """``a@x, b@y`` or ``a@x; b@y`` (what people type), not JSON."""
        if isinstance(value, str):
            return tuple(a.strip() for a in value.replace(";", ",").split(",") if a.strip())
        return value

    # ---- derived locations -------------------------------------------------
    @property
    def gx_root(self) -> Path:
        return self.home / "gx"

    @property
    def reports_root(self) -> Path:
        """HTML reports (``tasks/reporting``): ``<dag>/<dt>/<model>.html`` and one ``index.html``."""
        return self.home / "reports"

    @property
    def source_cache(self) -> Path:
        return self.home / "source"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def dbt_target(self) -> str:
        return self.warehouse

    @property
    def postgres_url(self) -> SecretStr:
        """SQLAlchemy URL of the PostgreSQL warehouse (secret: it may hold the password)."""
        if self.pg_url is not None:
            return self.pg_url
        password = self.pg_password.get_secret_value()
        auth = f"{self.pg_user}:{password}" if password else self.pg_user
        return SecretStr(f"postgresql+psycopg2://{auth}@{self.pg_host}:{self.pg_port}/{self.pg_db}")

    @property
    def postgres_location(self) -> str:
        """``host:port/db`` of the PostgreSQL warehouse, without credentials (for logs)."""
        parts = _postgres_parts(self.postgres_url)
        return f"{parts['ECOMFLOW_PG_HOST']}:{parts['ECOMFLOW_PG_PORT']}/{parts['ECOMFLOW_PG_DB']}"

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile reads with ``env_var()``."""
        env = {
            "ECOMFLOW_DUCKDB_PATH": str(self.duckdb_path),
            "DBT_TARGET": self.dbt_target,
        }
        env.update(_postgres_parts(self.postgres_url))
        return env

    @property
    def pii_key(self) -> bytes:
        """Key for the keyed PII hash.

        Taken from ``ECOMFLOW_PII_KEY`` (an Airflow connection/secret in
        production). For the embedded default a random key is created once
        under ``$ECOMFLOW_HOME`` so no key ever lives in git.
        """
        if self.pii_key_secret is not None:
            return self.pii_key_secret.get_secret_value().encode()
        key_file = self.home / "pii.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()


def _postgres_parts(url: SecretStr) -> dict[str, str]:
    """Split a SQLAlchemy PostgreSQL URL into the variables the dbt profile reads."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url.get_secret_value())
    return {
        "ECOMFLOW_PG_HOST": parsed.host or "127.0.0.1",
        "ECOMFLOW_PG_PORT": str(parsed.port or 5432),
        "ECOMFLOW_PG_USER": parsed.username or "postgres",
        "ECOMFLOW_PG_PASSWORD": parsed.password or "",
        "ECOMFLOW_PG_DB": parsed.database or "ecomflow",
    }


class SettingsError(ValueError):
    """An ``ECOMFLOW_*`` variable is unknown or has a value its setting cannot take."""


def setting_variables() -> dict[str, str]:
    """Every ``ECOMFLOW_*`` variable a setting reads -> that setting's field name."""
    return {str(info.alias): name for name, info in Settings.model_fields.items()}


def _from_environment(environ: dict[str, str]) -> dict[str, str]:
    """The set variables, by name; an empty one counts as unset, as it always has."""
    return {variable: environ[variable] for variable in setting_variables() if environ.get(variable)}


def _check_no_unknown_variables(environ: dict[str, str]) -> None:
    known = set(setting_variables()) | OTHER_ECOMFLOW_VARIABLES
    unknown = sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known
                     and not k.upper().startswith(TEST_VARIABLE_PREFIX))
    if unknown:
        problems = []
        for name in unknown:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            problems.append(f"{name}: unknown setting" + (f" (did you mean {close[0]}?)" if close else ""))
        raise SettingsError("; ".join(problems) + f". Settings are {sorted(setting_variables())}")


def load_settings() -> Settings:
    """Build settings from the current environment (no caching).

    Raises :class:`SettingsError` naming the variable: an unknown ``ECOMFLOW_*`` name
    (with the closest known one), or a value of the wrong type or out of range.
    """
    environ = dict(os.environ)
    _check_no_unknown_variables(environ)
    try:
        return Settings.model_validate(_from_environment(environ))
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            variable = str(error["loc"][0]) if error["loc"] else "?"
            # Only non-secret values can fail validation (a SecretStr takes any text), so the
            # value is safe to echo and saves the reader a look at the environment.
            problems.append(f"{variable}={os.environ.get(variable, '')!r}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings. Tests that change the environment call ``reset()``."""
    return load_settings()


def reset() -> None:
    """Forget cached settings (tests change ECOMFLOW_* variables between cases)."""
    get_settings.cache_clear()
