"""Warehouse transformations: the dbt project under ``dbt_project/``, run as a subprocess (or in
the warm dbt worker, one model per task: ``dbt_worker``, ``dbt_graph``)."""

from tasks.transform.dbt_runner import (
    DbtError,
    SourceFreshness,
    build_layer,
    layer_selector,
    run_dbt,
    source_freshness,
)

__all__ = ["DbtError", "SourceFreshness", "build_layer", "layer_selector", "run_dbt", "source_freshness"]
