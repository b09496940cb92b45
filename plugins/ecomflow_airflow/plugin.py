"""Registers ecomflow with Airflow's plugin manager (operators are imported directly by DAGs)."""

from airflow.plugins_manager import AirflowPlugin


class EcomflowPlugin(AirflowPlugin):
    name = "ecomflow"
