"""tasks/settings.py: every ECOMFLOW_* variable typed and checked by pydantic-settings.

Each test starts from an environment with no ECOMFLOW_* variable at all, so the documented
defaults are what is asserted, not whatever the developer's shell exported.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from tasks import settings
from tasks.settings import (
    OTHER_ECOMFLOW_VARIABLES,
    REPO_ROOT,
    TEST_VARIABLE_PREFIX,
    Settings,
    SettingsError,
    get_settings,
    load_settings,
    setting_variables,
)

SENTINEL = "not-a-real-pw-7f3a"  # a dummy, only ever set in this process's environment


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ECOMFLOW_* variable except a throwaway home; settings re-read after the test."""
    import os

    for name in [k for k in os.environ if k.upper().startswith("ECOMFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ECOMFLOW_HOME", str(tmp_path / "home"))
    settings.reset()
    yield tmp_path / "home"
    settings.reset()


def test_documented_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.home == clean_env.resolve()
    assert (s.warehouse, s.duckdb_path, s.lake_root, s.artefact_root) == (
        "duckdb", clean_env / "warehouse.duckdb", clean_env / "lake", clean_env / "artefacts")
    assert (s.spark_master, s.spark_driver_memory, s.spark_remote) == ("local[*]", "2g", None)
    assert (s.source, s.synthetic_size, s.synthetic_seed) == ("synthetic", "S", 42)
    assert (s.quarantine_max_share, s.train_every_days, s.promotion_margin) == (0.01, 7, 0.0)
    assert (s.torch_device, s.scoring_precision, s.train_queue) == ("auto", "fp32", "default")
    assert (s.bi_reader_role, s.bi_reader_password) == ("bi_reader", None)
    assert (s.alert_email_to, s.daily_deadline_hours) == ((), 6.0)
    assert s.postgres_url.get_secret_value() == "postgresql+psycopg2://postgres@127.0.0.1:5432/ecomflow"


def test_every_variable_keeps_its_name(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "ECOMFLOW_WAREHOUSE": "Postgres", "ECOMFLOW_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "ECOMFLOW_LAKE": str(tmp_path / "lake2"), "ECOMFLOW_ARTEFACTS": str(tmp_path / "art2"),
        "ECOMFLOW_SPARK_MASTER": "spark://h:7077", "ECOMFLOW_SPARK_DRIVER_MEMORY": "4g",
        "ECOMFLOW_SPARK_REMOTE": "sc://h:15002", "ECOMFLOW_SOURCE": "uci_online_retail",
        "ECOMFLOW_SYNTHETIC_SIZE": "m", "ECOMFLOW_SEED": "7", "ECOMFLOW_QUARANTINE_MAX_SHARE": "0.25",
        "ECOMFLOW_TRAIN_EVERY_DAYS": "3", "ECOMFLOW_PROMOTION_MARGIN": "0.01", "ECOMFLOW_TORCH_DEVICE": "cpu",
        "ECOMFLOW_SCORING_PRECISION": "bf16", "ECOMFLOW_TRAIN_QUEUE": "gpu", "ECOMFLOW_BI_READER_ROLE": "bi2",
        "ECOMFLOW_ALERT_EMAIL_TO": "a@x.test; b@x.test", "ECOMFLOW_DAILY_DEADLINE_HOURS": "1.5",
        "ECOMFLOW_PG_HOST": "db.internal", "ECOMFLOW_PG_PORT": "6543", "ECOMFLOW_PG_USER": "etl",
        "ECOMFLOW_PG_PASSWORD": SENTINEL, "ECOMFLOW_PG_DB": "wh",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert (s.warehouse, s.duckdb_path, s.lake_root, s.artefact_root) == (
        "postgres", tmp_path / "w.duckdb", tmp_path / "lake2", tmp_path / "art2")
    assert (s.spark_master, s.spark_driver_memory, s.spark_remote) == ("spark://h:7077", "4g", "sc://h:15002")
    assert (s.source, s.synthetic_size, s.synthetic_seed) == ("uci_online_retail", "M", 7)
    assert (s.quarantine_max_share, s.train_every_days, s.promotion_margin) == (0.25, 3, 0.01)
    assert (s.torch_device, s.scoring_precision, s.train_queue, s.bi_reader_role) == ("cpu", "bf16", "gpu", "bi2")
    assert (s.alert_email_to, s.daily_deadline_hours) == (("a@x.test", "b@x.test"), 1.5)
    assert s.postgres_url.get_secret_value() == f"postgresql+psycopg2://etl:{SENTINEL}@db.internal:6543/wh"
    assert s.postgres_location == "db.internal:6543/wh"
    # dbt's profile gets the parts back, the password included (it is a subprocess environment).
    assert {k: v for k, v in s.dbt_env().items() if k.startswith("ECOMFLOW_PG_")} == {
        "ECOMFLOW_PG_HOST": "db.internal", "ECOMFLOW_PG_PORT": "6543", "ECOMFLOW_PG_USER": "etl",
        "ECOMFLOW_PG_PASSWORD": SENTINEL, "ECOMFLOW_PG_DB": "wh"}
    # A whole URL wins over the parts.
    monkeypatch.setenv("ECOMFLOW_PG_URL", "postgresql+psycopg2://u@other:5432/x")
    assert load_settings().postgres_location == "other:5432/x"


def test_an_empty_variable_counts_as_unset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOMFLOW_WAREHOUSE", "")
    monkeypatch.setenv("ECOMFLOW_BI_READER_PASSWORD", "")
    monkeypatch.setenv("ECOMFLOW_LAKE", "")
    s = load_settings()
    assert (s.warehouse, s.bi_reader_password, s.lake_root) == ("duckdb", None, clean_env / "lake")


@pytest.mark.parametrize(("name", "hint"), [
    ("ECOMFLOW_WAREHOSE", "(did you mean ECOMFLOW_WAREHOUSE?)"),
    ("ECOMFLOW_PG_PASWORD", "(did you mean ECOMFLOW_PG_PASSWORD?)"),
    ("ECOMFLOW_SYNTHETIC_SIZ", "(did you mean ECOMFLOW_SYNTHETIC_SIZE?)"),
])
def test_unknown_variable_is_rejected_with_its_name_and_a_hint(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                               name: str, hint: str) -> None:
    monkeypatch.setenv(name, "postgres")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(f"{name}: unknown setting {hint}")


def test_variables_of_other_tools_are_not_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*OTHER_ECOMFLOW_VARIABLES, TEST_VARIABLE_PREFIX + "PG_LEAK_CHECK"]:
        monkeypatch.setenv(name, "1")
    assert load_settings().warehouse == "duckdb"


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("ECOMFLOW_WAREHOUSE", "mysql", "ECOMFLOW_WAREHOUSE='mysql': Input should be 'duckdb' or 'postgres'"),
    ("ECOMFLOW_SYNTHETIC_SIZE", "XL", "ECOMFLOW_SYNTHETIC_SIZE='XL': Input should be 'S', 'M' or 'L'"),
    ("ECOMFLOW_SEED", "forty-two", "ECOMFLOW_SEED='forty-two': Input should be a valid integer"),
    ("ECOMFLOW_PG_PORT", "99999", "ECOMFLOW_PG_PORT='99999': Input should be less than or equal to 65535"),
    ("ECOMFLOW_QUARANTINE_MAX_SHARE", "5", "ECOMFLOW_QUARANTINE_MAX_SHARE='5': Input should be less than or"),
    ("ECOMFLOW_TRAIN_EVERY_DAYS", "0", "ECOMFLOW_TRAIN_EVERY_DAYS='0': Input should be greater than or equal"),
    ("ECOMFLOW_DAILY_DEADLINE_HOURS", "-1", "ECOMFLOW_DAILY_DEADLINE_HOURS='-1': Input should be greater than 0"),
])
def test_wrong_value_is_rejected_naming_the_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                     name: str, value: str, fragment: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert fragment in str(err.value)


def test_unknown_field_is_rejected_when_built_in_code(clean_env: Path) -> None:
    with pytest.raises(ValueError, match="extra") as err:
        Settings(wharehouse="duckdb")
    assert "wharehouse" in str(err.value)


def test_settings_are_immutable(clean_env: Path) -> None:
    s = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        s.warehouse = "postgres"  # type: ignore[misc]


def test_secrets_never_print(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ECOMFLOW_PG_PASSWORD", SENTINEL)
    monkeypatch.setenv("ECOMFLOW_BI_READER_PASSWORD", SENTINEL + "-bi")
    monkeypatch.setenv("ECOMFLOW_PII_KEY", SENTINEL + "-pii")
    s = load_settings()
    assert isinstance(s.pg_password, SecretStr) and isinstance(s.bi_reader_password, SecretStr)
    assert isinstance(s.postgres_url, SecretStr) and isinstance(s.pii_key_secret, SecretStr)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test_settings").info("settings: %s %r %s", s, s, s.model_dump())
    for text in (repr(s), str(s), str(s.model_dump()), str(s.postgres_url), s.postgres_location, caplog.text):
        assert SENTINEL not in text, text
    # ...while the code that needs them still gets them.
    assert s.bi_reader_password.get_secret_value() == SENTINEL + "-bi"
    assert s.pii_key == (SENTINEL + "-pii").encode()
    from tasks.warehouse.access import bi_reader_password

    settings.reset()
    assert bi_reader_password() == SENTINEL + "-bi"


def test_get_settings_is_cached_until_reset(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("ECOMFLOW_SYNTHETIC_SIZE", "M")
    assert get_settings() is first and first.synthetic_size == "S"
    settings.reset()
    assert get_settings().synthetic_size == "M"


def test_pii_key_defaults_to_a_random_key_kept_under_home(clean_env: Path) -> None:
    key = load_settings().pii_key
    assert len(key) == 64 and key == load_settings().pii_key
    assert (clean_env / "pii.key").stat().st_mode & 0o777 == 0o600


def test_every_ecomflow_variable_in_the_repository_is_known() -> None:
    """A new ECOMFLOW_* variable in a script or module must be a setting or listed as another
    tool's, or load_settings would reject it as a typo wherever it is set."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    pattern = re.compile(r"(?<![A-Za-z0-9_])ECOMFLOW_[A-Z0-9_]*[A-Z0-9]")
    known = set(setting_variables()) | OTHER_ECOMFLOW_VARIABLES
    found: dict[str, str] = {}
    for rel in files.stdout.splitlines():
        path = REPO_ROOT / rel
        if rel == "tests/test_settings.py" or path.suffix not in {".py", ".sh", ".yml", ".yaml", ".md", ".toml", ".cfg", ".env", ""} or not path.is_file():
            continue
        for name in pattern.findall(path.read_text(errors="replace")):
            found.setdefault(name, rel)
    # A name may appear as a prefix (``startswith(("ECOMFLOW_ALERT", ...))``, ``ECOMFLOW_PG_*``).
    unknown = {n: where for n, where in found.items()
               if not n.startswith(TEST_VARIABLE_PREFIX.rstrip("_")) and not any(k.startswith(n) for k in known)}
    assert not unknown, f"ECOMFLOW_* variables neither settings nor in OTHER_ECOMFLOW_VARIABLES: {unknown}"
    assert "ECOMFLOW_WAREHOUSE" in found  # the scan itself works
