"""The one place that reads the environment.

Every other module asks `get_settings()` instead of reading ``os.environ`` so
that switching DuckDB <-> PostgreSQL, local Spark <-> a cluster, or a local
artefact folder <-> an object store is a change of environment variables only.
Nothing else in the code base branches on the environment.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

WAREHOUSES = ("duckdb", "postgres")


@dataclass(frozen=True)
class Settings:
    """Resolved runtime configuration (immutable; build a new one to change)."""

    home: Path
    warehouse: str
    duckdb_path: Path
    postgres_url: str
    lake_root: Path
    artefact_root: Path
    spark_master: str
    spark_driver_memory: str
    source: str
    synthetic_size: str
    synthetic_seed: int
    quarantine_max_share: float
    train_every_days: int
    promotion_margin: float
    torch_device: str
    scoring_precision: str
    train_queue: str
    bi_reader_role: str = "bi_reader"
    bi_reader_password: str | None = field(default=None, repr=False)  # secret: never printed
    # sc://host:port of a long-lived Spark Connect server: feature jobs run as its clients instead
    # of one spark-submit (one JVM start) per run. Unset: spark-submit to spark_master.
    spark_remote: str | None = None
    # Alerts (tasks/alerting.py): fallback recipients of the e-mail alert when the SMTP
    # connection names none, and how long after it was queued a daily run counts as late.
    alert_email_to: tuple[str, ...] = ()
    daily_deadline_hours: float = 6.0
    extra: dict[str, str] = field(default_factory=dict)

    # ---- derived locations -------------------------------------------------
    @property
    def gx_root(self) -> Path:
        return self.home / "gx"

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
    def max_parallel_warehouse_tasks(self) -> int:
        """DuckDB allows one writer process at a time; PostgreSQL many."""
        return 1 if self.warehouse == "duckdb" else 4

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
        env_key = os.environ.get("ECOMFLOW_PII_KEY")
        if env_key:
            return env_key.encode()
        key_file = self.home / "pii.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip().encode()


def _postgres_parts(url: str) -> dict[str, str]:
    """Split a SQLAlchemy PostgreSQL URL into the variables the dbt profile reads."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "ECOMFLOW_PG_HOST": parsed.host or "127.0.0.1",
        "ECOMFLOW_PG_PORT": str(parsed.port or 5432),
        "ECOMFLOW_PG_USER": parsed.username or "postgres",
        "ECOMFLOW_PG_PASSWORD": parsed.password or "",
        "ECOMFLOW_PG_DB": parsed.database or "ecomflow",
    }


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _postgres_url() -> str:
    url = os.environ.get("ECOMFLOW_PG_URL")
    if url:
        return url
    user = _env("ECOMFLOW_PG_USER", "postgres")
    password = os.environ.get("ECOMFLOW_PG_PASSWORD", "")
    host = _env("ECOMFLOW_PG_HOST", "127.0.0.1")
    port = _env("ECOMFLOW_PG_PORT", "5432")
    database = _env("ECOMFLOW_PG_DB", "ecomflow")
    auth = f"{user}:{password}" if password else user
    return f"postgresql+psycopg2://{auth}@{host}:{port}/{database}"


def load_settings() -> Settings:
    """Build settings from the current environment (no caching)."""
    home = Path(_env("ECOMFLOW_HOME", str(REPO_ROOT / ".ecomflow"))).resolve()
    warehouse = _env("ECOMFLOW_WAREHOUSE", "duckdb").lower()
    if warehouse not in WAREHOUSES:
        raise ValueError(
            f"ECOMFLOW_WAREHOUSE={warehouse!r} is not supported; use one of {WAREHOUSES}"
        )
    size = _env("ECOMFLOW_SYNTHETIC_SIZE", "S").upper()
    if size not in ("S", "M", "L"):
        raise ValueError(f"ECOMFLOW_SYNTHETIC_SIZE={size!r}: use S, M or L")
    return Settings(
        home=home,
        warehouse=warehouse,
        duckdb_path=Path(_env("ECOMFLOW_DUCKDB_PATH", str(home / "warehouse.duckdb"))),
        postgres_url=_postgres_url(),
        lake_root=Path(_env("ECOMFLOW_LAKE", str(home / "lake"))),
        artefact_root=Path(_env("ECOMFLOW_ARTEFACTS", str(home / "artefacts"))),
        spark_master=_env("ECOMFLOW_SPARK_MASTER", "local[*]"),
        spark_driver_memory=_env("ECOMFLOW_SPARK_DRIVER_MEMORY", "2g"),
        source=_env("ECOMFLOW_SOURCE", "synthetic"),
        synthetic_size=size,
        synthetic_seed=int(_env("ECOMFLOW_SEED", "42")),
        quarantine_max_share=float(_env("ECOMFLOW_QUARANTINE_MAX_SHARE", "0.01")),
        train_every_days=int(_env("ECOMFLOW_TRAIN_EVERY_DAYS", "7")),
        promotion_margin=float(_env("ECOMFLOW_PROMOTION_MARGIN", "0.0")),
        torch_device=_env("ECOMFLOW_TORCH_DEVICE", "auto"),
        scoring_precision=_env("ECOMFLOW_SCORING_PRECISION", "fp32"),
        train_queue=_env("ECOMFLOW_TRAIN_QUEUE", "default"),
        bi_reader_role=_env("ECOMFLOW_BI_READER_ROLE", "bi_reader"),
        bi_reader_password=_env("ECOMFLOW_BI_READER_PASSWORD", "") or None,
        spark_remote=_env("ECOMFLOW_SPARK_REMOTE", "") or None,
        alert_email_to=tuple(a.strip() for a in _env("ECOMFLOW_ALERT_EMAIL_TO", "").replace(";", ",").split(",")
                             if a.strip()),
        daily_deadline_hours=_positive_hours("ECOMFLOW_DAILY_DEADLINE_HOURS", "6"),
    )


def _positive_hours(name: str, default: str) -> float:
    hours = float(_env(name, default))
    if not hours > 0:
        raise ValueError(f"{name}={hours!r}: use a number of hours > 0")
    return hours


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings. Tests that change the environment call ``reset()``."""
    return load_settings()


def reset() -> None:
    """Forget cached settings (tests change ECOMFLOW_* variables between cases)."""
    get_settings.cache_clear()
