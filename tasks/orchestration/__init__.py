"""Running ecomflow's DAGs under a local Airflow (scheduler, dag-processor, triggerer, api-server)."""
