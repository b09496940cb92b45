"""``ecomflow summary``'s models block: one line per model with version, main metric, best
baseline and a verdict, read from a real (DuckDB) registry."""

from __future__ import annotations

from datetime import date, datetime

from tasks.model_summary import model_lines, model_table
from tasks.pipeline_catalogue import models
from tasks.train import registry
from tasks.train.common import DataWindow


def _register(model: str, version: str, metrics: dict[str, float], baselines: dict[str, dict[str, float]],
              metric: str, higher: bool) -> str:
    return registry.register(
        model=model, version=version, artefact_uri=f"/nowhere/{version}", config={"seed": 1},
        window=DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1)), seed=1, metrics=metrics,
        baselines=baselines, main_metric=metric, higher_is_better=higher, champion_value=None,
        as_of_date=date(2024, 3, 1), run_id="run-1",
    )


def test_one_line_per_model_with_baseline_and_verdict(isolated_home) -> None:  # noqa: ANN001
    _register("recommender", "recommender-v1", {"hr_at_10": 0.30, "ndcg_at_10": 0.2},
              {"popularity": {"hr_at_10": 0.21}, "random": {"hr_at_10": 0.01}}, "hr_at_10", True)
    # lower is better: 0.40 vs 0.55 is a gain of +0.15 in the metric's own direction
    _register("demand_forecaster", "demand_forecaster-v1", {"wape": 0.40},
              {"seasonal_naive": {"wape": 0.55}, "mean": {"wape": 0.70}}, "wape", False)
    _register("session_intent", "session_intent-baseline_prior-v1", {"pr_auc": 0.20},
              {"learned:session_intent": {"pr_auc": 0.15}}, "pr_auc", True)

    lines = {line.model: line for line in model_lines()}
    assert set(models()) <= set(lines)  # every catalogue model gets a line, trained or not

    rec = lines["recommender"]
    assert (rec.version, rec.main_metric, rec.value) == ("recommender-v1", "hr_at_10", 0.30)
    assert (rec.baseline, rec.baseline_value) == ("popularity", 0.21)
    assert rec.verdict == "served: beats best baseline by +0.0900 hr_at_10"
    assert lines["demand_forecaster"].baseline == "seasonal_naive"
    assert lines["demand_forecaster"].verdict == "served: beats best baseline by +0.1500 wape"
    intent = lines["session_intent"]
    assert (intent.baseline, intent.baseline_value) == ("prior", 0.20)  # the served baseline, not the learned rival
    assert intent.verdict == "baseline served (learned model pr_auc 0.1500)"
    # No transactions loaded: the reason names the missing input, not a metric dump.
    risk = lines["risk"]
    assert risk.version == "-" and risk.verdict.startswith("not trained: ")
    assert "raw.transactions" in risk.verdict

    text = model_table()
    assert text[0].startswith("models (") and text[1].split()[:2] == ["model", "version"]
    assert len(text) == 2 + len(lines)  # header line, column line, one line per model
    (rec_text,) = [t for t in text if t.split()[0] == "recommender"]
    assert "hr_at_10 0.3000" in rec_text and "popularity 0.2100" in rec_text and "+0.0900" in rec_text


def test_a_rejected_model_says_why(isolated_home) -> None:  # noqa: ANN001
    # loses to its baseline and nothing is servable: no champion, the decision is the reason
    _register("recommender", "recommender-v1", {"hr_at_10": 0.10}, {"popularity": {"hr_at_10": 0.21}},
              "hr_at_10", True)
    (rec,) = [line for line in model_lines() if line.model == "recommender"]
    assert rec.version == "-"
    assert rec.verdict.startswith("not trained: rejected_baseline recommender-v1: ")
