"""The evaluation table: every baseline as a column, the verdict against the best one."""

from __future__ import annotations

from datetime import date

from tasks.evaluate import ModelEvaluation, format_tables, main_metric


def test_verdict_uses_the_recipes_main_metric_and_direction() -> None:
    assert main_metric("demand_forecaster") == ("wape", False)
    rows = [
        ModelEvaluation("demand_forecaster", "champion", "v1", {"wape": 0.9, "mase": 1.2},
                        {"seasonal_naive_weekly": {"wape": 1.3, "mase": 2.0},
                         "moving_average_28d": {"wape": 1.0, "mase": 1.6}}, "2024-01-01 .. 2024-03-01"),
        ModelEvaluation("risk", "champion", "v2", {"pr_auc": 0.80},
                        {"rules-v1": {"pr_auc": 0.5}, "gbt": {"pr_auc": 0.85}}, ""),
        ModelEvaluation("recommender", "not_applicable", None, {}, {}, "", "needs raw.events"),
        # A baseline that won its holdout is the registered candidate; the learned model is a rival.
        ModelEvaluation("session_intent", "champion", "session_intent-baseline_logistic_regression-2024-03-01-ab12",
                        {"pr_auc": 0.61}, {"learned:session_intent": {"pr_auc": 0.58}}, ""),
    ]
    text = format_tables("toy", date(2024, 3, 1), rows)
    assert "| metric | learned | seasonal_naive_weekly | moving_average_28d |" in text
    assert "| wape (main, lower is better) | 0.9000 | 1.3000 | 1.0000 |" in text
    assert "learned beats the best other candidate (moving_average_28d) on wape: 0.9000 vs 1.0000" in text
    assert "learned does NOT beat the best other candidate (gbt) on pr_auc: 0.8000 vs 0.8500" in text
    assert "| metric | baseline logistic_regression | learned:session_intent |" in text
    assert ("baseline logistic_regression beats the best other candidate (learned:session_intent) on pr_auc: "
            "0.6100 vs 0.5800") in text
    assert "not_applicable: needs raw.events" in text
