"""serving.session_intent from the sequence and the summaries champions: idempotent hourly
partitions, model_version on every row, the buy rule applied with the stored threshold."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from tasks.score.session_intent import intent_rows, score_session_intent
from tasks.train import session_intent as si
from tasks.train.common import load_artefact
from tasks.train.registry import champion
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
TYPES = {"as_of_hour": "TIMESTAMP"}


def test_sequence_champion_scores_an_hour_idempotently(isolated_home) -> None:
    frame, events = synthetic_frames.session_events(D, n=600, seed=4)
    replace_partition(si.FEATURE_TABLE, frame, {"as_of_date": D, "as_of_hour": None}, column_types=TYPES)
    replace_partition(si.EVENTS_TABLE, events, {})
    result = si.train(D, "train-1", si.SessionIntentConfig(epochs=5, members=1))
    assert result.status == "champion"
    art = load_artefact(champion("session_intent").artefact_uri)
    assert art.preprocessing["kind"] == "sequence"
    busiest = frame["session_start_at"].dt.floor("h").value_counts().sort_index()
    HOUR = busiest.idxmax().to_pydatetime()  # noqa: N806 - the scored hour
    hourly = frame[(frame["session_start_at"] >= HOUR) & (frame["session_start_at"] < HOUR + timedelta(hours=1))]
    assert len(hourly) > 0
    replace_partition(si.FEATURE_TABLE, hourly.assign(as_of_hour=HOUR), {"as_of_hour": HOUR}, column_types=TYPES)
    rows, ev = intent_rows("sequence", HOUR)
    assert set(ev["session_id"]) <= set(rows["session_id"])
    assert (pd.to_datetime(ev["event_at"]) < HOUR + timedelta(hours=1)).all()
    n = score_session_intent(HOUR, "run-1")
    first = read_frame("SELECT * FROM serving.session_intent ORDER BY session_id")
    assert n == len(first) == len(hourly)
    assert set(first["model_version"]) == {result.version}
    assert first["model_version"].notna().all()
    threshold = float(art.preprocessing["threshold"])
    assert ((first["intent"] == "buy") == (first["p_purchase"] >= threshold)).all()
    assert score_session_intent(HOUR, "run-1") == n
    pd.testing.assert_frame_equal(first, read_frame("SELECT * FROM serving.session_intent ORDER BY session_id"))


def test_summaries_champion_scores_sessions_started_in_the_hour(isolated_home) -> None:
    rows = []
    for i in range(600):
        month = 1 + i * 10 // 600
        bought = i % 5 == 0
        rows.append({"session_id": f"osi-{i}", "user_id": None, "started_at": datetime(2017, month, 1),
                     "session_date": date(2017, month, 1), "n_events": 5 + i % 7, "n_product_views": 3 + i % 5,
                     "duration_seconds": 100.0 + i % 13, "bounce_rate": 0.01, "exit_rate": 0.02,
                     "page_value": 20.0 if bought or i % 11 == 0 else 0.0, "visitor_type": "Returning_Visitor",
                     "is_weekend": False, "device": "os1", "region": "1", "has_purchase": bought})
    replace_partition(si.SUMMARY_TABLE, pd.DataFrame(rows), {})
    result = si.train(date(2018, 1, 1), "train-1", si.SessionIntentConfig(epochs=3, members=1))
    assert result.status == "champion", result.reason
    hour = datetime(2017, 10, 1)
    n = score_session_intent(hour, "run-1")
    out = read_frame("SELECT * FROM serving.session_intent")
    assert n == len(out) == sum(r["started_at"] == hour for r in rows)
    assert set(out["model_version"]) == {result.version}
    assert set(out["intent"]) <= set(si.INTENTS)


def test_weak_model_loses_to_gbt_which_is_served(isolated_home) -> None:
    """A deliberately weak learned model (one epoch at a negligible learning rate: its random
    initial weights) loses to the GBT baseline on the holdout: the GBT is registered as its own
    version, promoted, logged as such, and the serving rows carry its version."""
    from tasks.train.registry import decisions, entries

    frame, events = synthetic_frames.session_events(D, n=600, seed=4)
    replace_partition(si.FEATURE_TABLE, frame, {"as_of_date": D, "as_of_hour": None}, column_types=TYPES)
    replace_partition(si.EVENTS_TABLE, events, {})
    weak = si.SessionIntentConfig(epochs=1, lr=1e-7, members=1, patience=1)
    result = si.train(D, "train-weak", weak)
    best = "gbt"  # the strongest candidate on these frames' non-linear signal
    assert result.status == "champion", result.reason
    assert result.metrics["pr_auc"] > result.baseline_metrics["logistic_regression"]["pr_auc"]
    assert result.version.startswith(f"session_intent-baseline_{best}-{D.isoformat()}-"), result.version
    learned = result.baseline_metrics["learned:session_intent"]["pr_auc"]
    assert result.metrics["pr_auc"] > learned

    champ = champion("session_intent")
    assert champ.version == result.version and champ.config["serving_strategy"] == f"baseline:{best}"
    learned_row = [e for e in entries("session_intent") if e.version != champ.version]
    assert [e.status for e in learned_row] == ["challenger"]
    log = decisions("session_intent").set_index("version")
    assert log.loc[learned_row[0].version, "decision"] == "rejected_baseline"
    assert log.loc[champ.version, "decision"] == "promoted" and f"serves baseline:{best}" in log.loc[champ.version, "reason"]

    art = load_artefact(champ.artefact_uri)
    assert art.serving_strategy == f"baseline:{best}" and (art.folder / art.preprocessing["estimator"]["file"]).exists()
    HOUR = frame["session_start_at"].dt.floor("h").value_counts().idxmax().to_pydatetime()  # noqa: N806
    hourly = frame[(frame["session_start_at"] >= HOUR) & (frame["session_start_at"] < HOUR + timedelta(hours=1))]
    replace_partition(si.FEATURE_TABLE, hourly.assign(as_of_hour=HOUR), {"as_of_hour": HOUR}, column_types=TYPES)
    assert score_session_intent(HOUR, "run-1") == len(hourly) > 0
    served = read_frame("SELECT * FROM serving.session_intent")
    assert set(served["model_version"]) == {result.version}
    assert served["p_purchase"].between(0, 1).all() and served["p_purchase"].nunique() > 1
    assert (served["threshold"] == result.metrics["threshold"]).all()  # the baseline's own cut

    # The next training run evaluates the served baseline as champion on its new holdout.
    again = si.train(D, "train-again", weak)
    assert again.champion_metrics is not None and again.champion_metrics["pr_auc"] == pytest.approx(
        result.metrics["pr_auc"])
