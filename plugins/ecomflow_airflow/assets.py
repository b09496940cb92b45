"""Airflow Assets for what the DAGs produce: feature partitions, champion models, serving tables.

Producers declare them as ``outlets`` and consumers as ``inlets``, so the UI's asset graph shows
which task feeds which (features → training → champion → scoring → serving). URIs are names in
the ``ecomflow://`` namespace, not storage paths: the same asset is a DuckDB table locally and a
PostgreSQL table in a deployment.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias


def feature_asset(job: str) -> Asset:
    return Asset(name=f"features.{job}", uri=f"ecomflow://features/{job}", group="features")


def champion_asset(model: str) -> Asset:
    return Asset(name=f"champion.{model}", uri=f"ecomflow://models/{model}/champion", group="models")


def serving_asset(table: str) -> Asset:
    return Asset(name=f"serving.{table}", uri=f"ecomflow://serving/{table}", group="serving")


# A retrain request from monitoring (issue 11): ``monitoring.run`` adds an event to this asset,
# through the alias, only on a day whose thresholds asked for retraining (a plain outlet would get
# an event on every successful run); ``ecomflow_retrain`` is scheduled on the asset as well as
# weekly. The event's extra names the models, the as-of date and the reasons.
RETRAIN_REQUEST_URI = "ecomflow://monitoring/retrain_request"


def retrain_request_asset() -> Asset:
    return Asset(name="monitoring.retrain_request", uri=RETRAIN_REQUEST_URI, group="monitoring")


def retrain_request_alias() -> AssetAlias:
    return AssetAlias(name="monitoring.retrain_request_alias", group="monitoring")
