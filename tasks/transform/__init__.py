"""Warehouse transformations: the dbt project under ``dbt_project/``, run as a subprocess."""

from tasks.transform.dbt_runner import DbtError, build_layer, layer_selector, run_dbt

__all__ = ["DbtError", "build_layer", "layer_selector", "run_dbt"]
