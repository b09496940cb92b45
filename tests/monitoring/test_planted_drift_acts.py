"""A drift planted in the synthetic shop is found and acted on (issue 11, "Acting on it").

The shop is generated with ``drift_day`` (prices x1.6 from that day). The recommender's input
partition for a day is the day's shown price and views per product, computed here from the
shop's events with pandas (the Spark item_features job is tested on its own, and is too slow for
this test); its training reference is the same frame a few days before the drift. Everything
after that is the real path: ``run_monitoring`` writes the drift rows, judges the thresholds,
records the retrain request in ``ml.promotion_log``, and the alert goes through the DAGs'
notifier (``ecomflow_airflow.notifiers.deliver``) to a webhook sink on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from tasks.ingest.synthetic import DEFAULT_START, generate
from tasks.monitoring.actions import RETRAIN_REQUESTED, breach_alert, requested_by
from tasks.monitoring.reference_profile import store_reference_profile
from tasks.monitoring.run import run_monitoring
from tasks.monitoring.thresholds import FEATURE, Breach, default_thresholds, evaluate_thresholds
from tasks.partitions import Partition
from tasks.warehouse import read_frame, replace_partition, table_exists
from tests.monitoring.planting import plant_recommendations

DRIFT_DAY = 40
VERSION = "rec-v1"
DRIFTED = (DEFAULT_START + timedelta(days=DRIFT_DAY)).date()  # the first day with the new prices
REFERENCE_DAY = DRIFTED - timedelta(days=5)


def _item_frame(shop, day: date) -> pd.DataFrame:  # noqa: ANN001
    """Per product seen on ``day``: mean shown price and number of views (an item feature row)."""
    events = shop["events"]
    seen = events[(events["event_at"].dt.date == day) & events["product_id"].notna() & events["price"].notna()]
    return (seen.groupby("product_id", as_index=False)
            .agg(shown_price=("price", "mean"), views=("event_type", "size"))
            .rename(columns={"product_id": "item_id"}))


def _plant(shop, day: date) -> None:  # noqa: ANN001
    """The monitoring day's inputs: the training reference, the scored item features, a served list."""
    store_reference_profile("recommender", VERSION, _item_frame(shop, REFERENCE_DAY), kind="input",
                            source_table="features.item_features", reference_as_of_date=REFERENCE_DAY)
    as_of = day + timedelta(days=1)
    frame = _item_frame(shop, day).assign(as_of_date=as_of, as_of_hour=None)
    replace_partition("features.item_features", frame, {"as_of_date": as_of, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    plant_recommendations(as_of, {f"u{i}": ["P000001", "P000002"] for i in range(3)}, version=VERSION)


def _requests(day: date) -> pd.DataFrame:
    if not table_exists("ml.promotion_log"):
        return pd.DataFrame()
    return read_frame("SELECT * FROM ml.promotion_log WHERE decision = :d AND decided_by = :by",
                      {"d": RETRAIN_REQUESTED, "by": requested_by(Partition(day))})


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append({"path": self.path, "json": json.loads(body)})  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 and the alert connection pointing at it, as a deployment sets it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    server.posts = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_ECOMFLOW_ALERTS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "hooks/ecomflow"}))
    monkeypatch.delenv("AIRFLOW_CONN_ECOMFLOW_ALERTS_SMTP", raising=False)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def shops() -> dict[str, object]:
    return {"drifted": generate("S", 42, drift_day=DRIFT_DAY), "plain": generate("S", 42)}


def test_planted_drift_is_breached_requested_and_alerted(isolated_home, shops, webhook_sink) -> None:  # noqa: ANN001
    from ecomflow_airflow.notifiers import deliver

    day = DRIFTED + timedelta(days=1)  # the partition after the drift day
    _plant(shops["drifted"], day)
    summary = run_monitoring(Partition(day))

    drift = read_frame("SELECT * FROM monitoring.feature_drift WHERE dt = :d AND model = 'recommender'",
                       {"d": day}).set_index("column_name")
    limit = default_thresholds().psi_max("recommender", FEATURE)
    assert drift.loc["shown_price", "psi"] > limit  # the planted shift, measured
    assert drift.loc["views", "psi"] < limit  # what people look at did not move

    breaches = [Breach(**b) for b in summary["breaches"]]
    assert breaches == evaluate_thresholds(Partition(day))  # the summary is what the tables say
    (price,) = [b for b in breaches if b.kind == FEATURE]
    assert (price.model, price.metric, price.model_version) == ("recommender", "shown_price psi", VERSION)
    assert price.value == pytest.approx(drift.loc["shown_price", "psi"]) and price.limit == limit
    assert summary["retrain_models"] == ["recommender"]

    (request,) = _requests(day).to_dict("records")
    assert (request["model"], request["version"]) == ("recommender", VERSION)
    assert "shown_price" in request["reason"] and "PSI" in request["reason"]

    alert = breach_alert(Partition(day), breaches, dag_id="ecomflow_daily", run_id="scheduled__t",
                         task_id="monitoring.run", retrain_models=summary["retrain_models"])
    assert deliver(alert) == ["ecomflow_alerts_webhook"]
    (post,) = webhook_sink.posts  # type: ignore[attr-defined]
    assert post["path"] == "/hooks/ecomflow"
    assert post["json"]["event"] == "threshold_breached" and post["json"]["retrain_models"] == ["recommender"]
    assert post["json"]["breaches"][0]["metric"] == "shown_price psi"
    assert "shown_price" in post["json"]["text"] and f"dt={day}" in post["json"]["text"]

    # Idempotent: the same day again gives the same request row, not a second one.
    again = run_monitoring(Partition(day))
    assert again["retrain_models"] == ["recommender"]
    assert len(_requests(day)) == 1


def test_without_drift_nothing_is_breached(isolated_home, shops) -> None:  # noqa: ANN001
    day = DRIFTED + timedelta(days=1)
    _plant(shops["plain"], day)
    summary = run_monitoring(Partition(day))
    drift = read_frame("SELECT * FROM monitoring.feature_drift WHERE dt = :d", {"d": day})
    assert len(drift) == 2 and drift["psi"].max() < default_thresholds().psi_max("recommender", FEATURE)
    assert summary["breaches"] == [] and summary["retrain_models"] == []
    assert _requests(day).empty


def test_a_rerun_without_the_breach_withdraws_the_days_request(isolated_home, shops) -> None:  # noqa: ANN001
    day = DRIFTED + timedelta(days=1)
    _plant(shops["drifted"], day)
    assert run_monitoring(Partition(day))["retrain_models"] == ["recommender"]
    _plant(shops["plain"], day)  # e.g. the day's features were rebuilt after a fix
    assert run_monitoring(Partition(day))["retrain_models"] == []
    assert _requests(day).empty


def test_served_before_the_drift_is_quiet(isolated_home, shops) -> None:  # noqa: ANN001
    day = DRIFTED - timedelta(days=2)
    _plant(shops["drifted"], day)
    assert run_monitoring(Partition(day))["breaches"] == []
