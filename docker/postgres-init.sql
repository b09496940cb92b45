-- Second database on the same server: the warehouse (the first, `airflow`, holds Airflow metadata).
CREATE DATABASE warehouse OWNER ecomflow;
