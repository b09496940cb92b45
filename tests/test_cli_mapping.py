"""``ecomflow plan`` on short and partial sources, ``map --infer`` and ``check-mapping``, run as a user would."""

from __future__ import annotations

import subprocess
import textwrap
from datetime import datetime
from pathlib import Path

import yaml

from tasks.cli import main, plan
from tasks.ingest.schema import ENTITIES
from tasks.partitions import plan_run
from tasks.settings import REPO_ROOT

HOURLY = {name for name, ent in ENTITIES.items() if ent.hourly}
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bad_input"


def test_a_partial_last_day_is_left_to_the_next_daily_run_and_the_demo_hour_is_noon() -> None:
    run = plan_run({"events": (datetime(2026, 1, 1, 0, 22), datetime(2026, 3, 2, 0, 3)),
                    "users": (datetime(2025, 12, 2), datetime(2026, 3, 2, 0, 1))}, HOURLY)
    assert (run.history_start.isoformat(), run.daily.label, run.hourly.label) == (
        "2025-12-02", "2026-03-01", "2026-03-01T12")


def test_a_complete_last_day_is_the_daily_partition() -> None:
    run = plan_run({"events": (datetime(2019, 10, 1, 0, 0), datetime(2019, 10, 7, 23, 59, 59))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2019-10-07", "2019-10-07T12")


def test_two_days_of_transactions_plan_a_run() -> None:
    run = plan_run({"transactions": (datetime(2013, 9, 1, 0, 0), datetime(2013, 9, 2, 23, 59, 52))}, HOURLY)
    assert (run.history_start.isoformat(), run.daily.label) == ("2013-09-01", "2013-09-02")


def test_less_than_a_day_runs_that_day() -> None:
    run = plan_run({"events": (datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 17, 30))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2024-05-01", "2024-05-01T12")
    run = plan_run({"events": (datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 10, 30))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2024-05-01", "2024-05-01T10")  # the last hour with data


def test_a_daily_only_source_runs_its_last_day() -> None:
    run = plan_run({"daily_sales": (datetime(2011, 1, 29), datetime(2016, 5, 22))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2016-05-22", "2016-05-22T12")


def test_plan_on_a_two_day_mapping_source(isolated_home: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tx.csv").write_text("id,cust,amount,t\nt1,u1,5,10\nt2,u2,0,86000\nt3,u1,7,172790\n")
    (tmp_path / "m.yml").write_text(textwrap.dedent("""\
        source_name: cards
        files:
          - path: tx.csv
            entity: transactions
            timestamp: {column: t, format: epoch_s, origin: 2013-09-01}
            columns: {transaction_id: id, user_id: cust, amount: amount}
        """))
    monkeypatch.setenv("ECOMFLOW_SOURCE", str(tmp_path / "m.yml"))
    from tasks import settings

    settings.reset()
    assert plan() == {"SOURCE": "cards", "HISTORY_START": "2013-09-01", "DAILY_PARTITION": "2013-09-02",
                      "DAILY_LOGICAL_DATE": "2013-09-03", "HOURLY_PARTITION": "2013-09-02T12",
                      "HOURLY_LOGICAL_TS": "2013-09-02T13:00:00"}


def test_inferred_mapping_passes_check_mapping(tmp_path: Path, capsys) -> None:
    assert main(["map", "--infer", str(FIXTURES / "derived_entities" / "clicks.csv")]) == 0
    proposed = capsys.readouterr().out
    doc = yaml.safe_load(proposed)
    spec = doc["files"][0]
    assert spec["entity"] == "events"
    assert spec["timestamp"] == {"column": "ts", "format": "%Y-%m-%d %H:%M:%S"}
    assert spec["columns"]["user_id"] == "visitor" and spec["columns"]["product_id"] == "item"
    assert spec["event_type_map"] == {"view": ["detail", "pv"], "cart": ["addtocart", "fav"],
                                      "purchase": ["buy", "order"]}
    (tmp_path / "proposed.yml").write_text(proposed)
    assert main(["check-mapping", str(tmp_path / "proposed.yml")]) == 0
    report = capsys.readouterr().out
    assert "will run   recommender" in report
    assert "will skip  risk                   needs transactions" in report
    # A replenishment policy needs sales *and* a stock table.
    assert "will skip  inventory_policy       needs order_lines or daily_sales and inventory" in report
    assert "users         derived" in report


def test_infer_finds_amounts_labels_and_signals(capsys) -> None:
    assert main(["map", "--infer", str(FIXTURES / "zero_amounts" / "transactions.csv")]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)["files"][0]
    assert spec["entity"] == "transactions"
    assert spec["columns"]["transaction_id"] == "txn" and spec["columns"]["is_fraud"] == "fraud"
    assert spec["features"] == {"v1": "numeric", "merchant_type": "categorical"}


def test_check_mapping_reports_a_bad_mapping_with_its_key(tmp_path: Path) -> None:
    result = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ecomflow"), "check-mapping",
                             str(FIXTURES / "wrong_mapping" / "mapping.yml")], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "files[2].timestamp.fromat: unknown key(s) ['fromat'] (did you mean 'format'?)" in result.stderr
