#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (after
# 10-warehouse.sql created the `warehouse` database). Creates the BI login role
# `bi_reader` (or $ECOMFLOW_BI_READER_ROLE) with the password from ECOMFLOW_BI_READER_PASSWORD (never from git) and
# lets it read the `serving` schema only, including tables dbt/the scorers create later
# (default privileges of the warehouse owner, $POSTGRES_USER). The pipeline re-applies
# and verifies the same grants with tasks.warehouse.access.ensure_bi_reader.
set -euo pipefail
: "${ECOMFLOW_BI_READER_PASSWORD:?set ECOMFLOW_BI_READER_PASSWORD in .env}"
WAREHOUSE_DB="${WAREHOUSE_DB:-warehouse}"    # created by 10-warehouse.sql
AIRFLOW_DB="${AIRFLOW_DB:-${POSTGRES_DB:-airflow}}"
BI_READER_ROLE="${ECOMFLOW_BI_READER_ROLE:-bi_reader}"  # the same setting the pipeline reads

# psql variables (:'bi_password' a quoted literal, :"owner" a quoted identifier) keep the
# password and the user name out of the SQL text, so no quoting can break the statement.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$WAREHOUSE_DB" \
     -v bi_password="$ECOMFLOW_BI_READER_PASSWORD" -v owner="$POSTGRES_USER" -v bi_role="$BI_READER_ROLE" \
     -v warehouse_db="$WAREHOUSE_DB" -v airflow_db="$AIRFLOW_DB" <<'SQL'
SELECT format('CREATE ROLE %I NOLOGIN', :'bi_role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'bi_role') \gexec
ALTER ROLE :"bi_role" LOGIN PASSWORD :'bi_password';

-- Only the BI role (and the owner) may connect to the warehouse; nobody but the owner to airflow.
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"warehouse_db" TO :"bi_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS serving AUTHORIZATION :"owner";
GRANT USAGE ON SCHEMA serving TO :"bi_role";
GRANT SELECT ON ALL TABLES IN SCHEMA serving TO :"bi_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA serving GRANT SELECT ON TABLES TO :"bi_role";
SQL
