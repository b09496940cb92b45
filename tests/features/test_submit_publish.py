"""End to end: raw lake -> spark-submit / in-process job -> lake features -> features.<set> in DuckDB."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from tasks.features.catalogue import RunPoint
from tasks.features.publish import FeatureOutputMissing, publish_feature_set
from tasks.warehouse import read_frame

USERS = [{"user_id": "u1", "signup_at": "2024-01-01 00:00:00"},
         {"user_id": "u2", "signup_at": "2024-02-01 00:00:00"}]


def txn(tid, at, amount, user="u1", device="d1"):
    return {"transaction_id": tid, "user_id": user, "amount": amount, "device_id": device,
            "country": "FR", "card_hash": "c1", "is_fraud": False, "transaction_at": at}


TRANSACTIONS = [
    txn("t_old", "2024-01-10 09:00:00", 50.0),  # history only: before the 56-day window
    txn("t1", "2024-03-01 10:00:00", 10.0),
    txn("t2", "2024-03-01 10:30:00", 30.0, device="d2"),
    txn("t3", "2024-03-09 23:00:00", 20.0, user="u2"),
    txn("t_late", "2024-03-10 00:00:00", 99.0),  # at as_of: tomorrow's data
]


def ev(eid, session, kind, at, product="p1"):
    return {"event_id": eid, "session_id": session, "user_id": "u1", "event_type": kind,
            "product_id": product, "price": 10.0, "device": "mobile", "event_at": at}


EVENTS = [
    ev("e1", "s1", "view", "2024-03-05 10:10:00"), ev("e2", "s1", "cart", "2024-03-05 10:20:00"),
    ev("e3", "s1", "purchase", "2024-03-05 10:30:00"),
    ev("e4", "s2", "view", "2024-03-05 09:50:00"), ev("e5", "s2", "view", "2024-03-05 10:05:00"),
    ev("e6", "s3", "view", "2024-03-04 12:00:00"),
]
PRODUCTS = [{"product_id": "p1", "category": "A", "created_at": "2024-01-01 00:00:00"}]


def test_spark_submit_then_publish_is_idempotent(write_raw):
    """Two feature sets in one spark-submit (one application, one JVM), then publish each."""
    from tasks.features.submit import submit_feature_jobs
    from tasks.settings import get_settings

    write_raw("users", USERS)
    write_raw("transactions", TRANSACTIONS)
    write_raw("events", EVENTS)
    write_raw("products", PRODUCTS)
    outputs = submit_feature_jobs(["transaction_velocity", "session_features"], "2024-03-10")
    assert list(outputs) == ["transaction_velocity", "session_features"]
    for output in outputs.values():
        assert output.name == "as_of_date=2024-03-10" and (output / "_SUCCESS").exists()
    log_text = (get_settings().home / "logs" / "features"
                / "transaction_velocity+session_features-2024-03-10.log").read_text()
    # run_job logs one "Spark session <app> on <master>" line per SparkSession it builds.
    assert log_text.count("INFO tasks.features.session: Spark session ") == 1, \
        "expected one Spark application for both sets"
    assert "INFO FileScanRDD" not in log_text, "Spark's own INFO chatter should be off (spark.log.level)"
    assert publish_feature_set("session_features", "2024-03-10") == 3

    assert publish_feature_set("transaction_velocity", "2024-03-10") == 3
    assert publish_feature_set("transaction_velocity", date(2024, 3, 10)) == 3  # replace, not append

    table = read_frame("SELECT * FROM features.transaction_velocity ORDER BY transaction_id")
    assert list(table["transaction_id"]) == ["t1", "t2", "t3"]
    assert set(table["as_of_date"].map(pd.Timestamp)) == {pd.Timestamp("2024-03-10")}
    assert table["as_of_hour"].isna().all()
    t2 = table.set_index("transaction_id").loc["t2"]
    # t_old is 28+ days back yet still part of t1/t2's 90-day history
    assert (t2["n_txn_1h"], bool(t2["is_new_device"]), t2["seconds_since_prev_txn"]) == (1, True, 1800.0)
    assert t2["amount_to_user_mean"] == pytest.approx(30.0 / 30.0)
    assert t2["account_age_days"] == pytest.approx(60 + 10.5 / 24)


def test_hourly_and_daily_partitions_are_published_side_by_side(spark, write_raw):
    from tasks.features.run_job import run_feature_job

    write_raw("events", EVENTS)
    write_raw("products", PRODUCTS)
    hour = RunPoint(date(2024, 3, 5), datetime(2024, 3, 5, 10))
    first = run_feature_job(spark, "session_features", hour)
    again = run_feature_job(spark, "session_features", hour)  # re-run overwrites the folder
    assert first == again and first.endswith("session_features/as_of_hour=2024-03-05T10")
    assert publish_feature_set("session_features", "2024-03-05", "2024-03-05T10") == 2
    run_feature_job(spark, "session_features", RunPoint(date(2024, 3, 6)))
    assert publish_feature_set("session_features", "2024-03-06") == 3
    assert publish_feature_set("session_features", "2024-03-05", "2024-03-05T10") == 2

    counts = read_frame(
        "SELECT as_of_date, as_of_hour, COUNT(*) AS n FROM features.session_features "
        "GROUP BY 1, 2 ORDER BY 1"
    )
    assert list(counts["n"]) == [2, 3]
    assert pd.Timestamp(counts["as_of_hour"].iloc[0]) == pd.Timestamp("2024-03-05 10:00:00")
    hourly = read_frame("SELECT * FROM features.session_features WHERE as_of_hour = :h",
                        {"h": datetime(2024, 3, 5, 10)}).set_index("session_id")
    assert hourly.loc["s1", "n_events"] == 2 and bool(hourly.loc["s1", "has_purchase"])


def test_missing_source_entity_publishes_an_empty_typed_partition(spark, isolated_home):
    from tasks.features.run_job import run_feature_job

    run_feature_job(spark, "transaction_velocity", RunPoint(date(2024, 3, 10)))  # the lake is empty
    assert publish_feature_set("transaction_velocity", "2024-03-10") == 0
    types = read_frame(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'features' AND table_name = 'transaction_velocity'"
    ).set_index("column_name")["data_type"]
    assert (types["as_of_date"], types["as_of_hour"], types["transaction_at"]) == ("DATE", "TIMESTAMP", "TIMESTAMP")
    assert (types["n_txn_1h"], types["amount"], types["is_fraud"]) == ("BIGINT", "DOUBLE", "BOOLEAN")


def test_publish_refuses_a_run_that_has_not_finished(isolated_home):
    with pytest.raises(FeatureOutputMissing, match="_SUCCESS"):
        publish_feature_set("user_profile", "2024-03-10")


def test_failed_spark_submit_raises_with_the_log_tail(isolated_home, monkeypatch):
    from tasks import settings
    from tasks.features.submit import FeatureJobError, submit_feature_job

    monkeypatch.setenv("ECOMFLOW_SPARK_MASTER", "bogus://nowhere")
    settings.reset()
    with pytest.raises(FeatureJobError, match="(?s)exit 1.*Master must") as info:
        submit_feature_job("item_features", "2024-03-10")
    assert "item_features-2024-03-10.log" in str(info.value)


def test_jobs_refuse_cadences_they_do_not_have(isolated_home):
    from tasks.features.submit import submit_feature_job

    with pytest.raises(ValueError, match="no hourly run"):
        submit_feature_job("daily_item_sales", "2024-03-10", "2024-03-10T05")


def test_sets_computed_at_once_equal_sets_computed_one_by_one(spark, write_raw):
    """``run_job --parallel``: several feature sets in flight in one session write exactly what
    the same sets write one after another, and a failing set fails the run."""
    from tasks.features.run_job import run_feature_jobs

    write_raw("users", USERS)
    write_raw("transactions", TRANSACTIONS)
    write_raw("events", EVENTS)
    write_raw("products", PRODUCTS)
    sets = ["transaction_velocity", "session_features", "user_profile"]
    point = RunPoint(date(2024, 3, 10))
    written = {}
    for parallel in (1, 3):  # the second run overwrites the first one's folders
        folders = run_feature_jobs(spark, sets, point, parallel)
        assert [f.split("/features/")[1].split("/")[0] for f in folders] == sets
        written[parallel] = {name: pd.read_parquet(folder.removeprefix("file://"))
                             for name, folder in zip(sets, folders, strict=True)}
    for name in sets:
        one, at_once = (written[p][name].sort_values(list(written[p][name].columns), ignore_index=True)
                        for p in (1, 3))
        assert len(one) > 0
        pd.testing.assert_frame_equal(one, at_once, check_like=True)
    with pytest.raises(ValueError, match="no hourly run"):
        run_feature_jobs(spark, ["user_profile", "session_features"],
                         RunPoint(date(2024, 3, 5), datetime(2024, 3, 5, 10)), 2)
