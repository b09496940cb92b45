"""Airflow Assets for what the DAGs produce: feature partitions, champion models, serving tables.

Producers declare them as ``outlets`` and consumers as ``inlets``, so the UI's asset graph shows
which task feeds which (features → training → champion → scoring → serving). URIs are names in
the ``ecomflow://`` namespace, not storage paths: the same asset is a DuckDB table locally and a
PostgreSQL table in a deployment.
"""

from __future__ import annotations

from airflow.sdk import Asset


def feature_asset(job: str) -> Asset:
    return Asset(name=f"features.{job}", uri=f"ecomflow://features/{job}", group="features")


def champion_asset(model: str) -> Asset:
    return Asset(name=f"champion.{model}", uri=f"ecomflow://models/{model}/champion", group="models")


def serving_asset(table: str) -> Asset:
    return Asset(name=f"serving.{table}", uri=f"ecomflow://serving/{table}", group="serving")
