"""Batch scoring: load the serving model version from ``ml.model_registry``, score one
partition, replace that partition of a ``serving.*`` table.

The version is point-in-time (``serving_versions``): the one recorded for the partition when it
was scored before, else the champion; ``rescore=True`` always takes the champion.

- ``tasks.score.recommendations.score_recommendations(as_of_date, run_id, rescore=False)`` (daily)
- ``tasks.score.demand_forecasts.score_demand(as_of_date, run_id, rescore=False)`` (daily)
- ``tasks.score.session_intent.score_session_intent(as_of_hour, run_id, rescore=False)`` (hourly)
- ``tasks.score.risk_labels.score_risk(as_of_hour, run_id, rescore=False)`` (hourly; rules-v1 without a champion)

Import the submodule inside the Airflow task callable: they import torch.
"""
