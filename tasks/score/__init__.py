"""Batch scoring: load the champion from ``ml.model_registry``, score one partition,
replace that partition of a ``serving.*`` table.

- ``tasks.score.recommendations.score_recommendations(as_of_date, run_id)`` (daily)
- ``tasks.score.demand_forecasts.score_demand(as_of_date, run_id)`` (daily)
- ``tasks.score.session_intent.score_session_intent(as_of_hour, run_id)`` (hourly)
- ``tasks.score.risk_labels.score_risk(as_of_hour, run_id)`` (hourly; rules-v1 without a champion)

Import the submodule inside the Airflow task callable: they import torch.
"""
