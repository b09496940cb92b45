"""Files derived from the one declaration of each raw and serving warehouse table.

A table's columns, types, nullability, key, grain and value rules are declared once, in
``tasks.ingest.schema.ENTITIES``. The dbt sources, the generated part of every GX raw suite,
``docs/canonical_schema.md`` and value lists pinned to a column in other yml files are
rendered from it here; ``python -m tasks.contracts.generate`` writes them and ``--check``
(run by ``tests/test_contracts_declared_once.py``) fails when a committed copy drifts.
The loader and Spark read the declaration at run time instead.

The serving tables the scorers write are declared the same way in ``tasks.score.schema``:
``dbt_serving_sources``, ``gx_serving_suites`` and ``serving_schema_doc`` render their dbt
sources, GX suites and ``docs/serving_schema.md``, and ``write_serving`` checks every scorer's
frame against the declaration before the write (``tests/test_serving_contracts_declared_once.py``).

The marts dbt builds for Python are declared in ``tasks.contracts.marts_schema``:
``dbt_marts_models``, ``gx_marts_suites`` and ``marts_schema_doc`` render the marts' dbt yml
(contract and column tests), GX suites and ``docs/marts_schema.md``
(``tests/test_marts_contracts_declared_once.py``).

The dbt staging and intermediate models are declared in ``tasks.contracts.staging_schema`` (a
staged raw column is the ``tasks.ingest.schema`` column): ``dbt_staging_models`` and
``staging_schema_doc`` render their dbt yml (column types and tests) and ``docs/staging_schema.md``
(``tests/test_staging_contracts_declared_once.py``).

The columns of the Spark feature tables are declared in ``tasks.contracts.features_schema`` (key
and derived-column definitions read from ``tasks.features.catalogue``): ``gx_features_suites`` and
``feature_schema_doc`` render their GX suites and ``docs/feature_schema.md``, and
``publish_feature_set`` checks every run's Parquet against the declaration before the write
(``tests/test_feature_contracts_declared_once.py``).

The operational tables (``audit.*``, ``ml.*``, ``monitoring.*`` and ``features.user_segments``)
are declared in ``tasks.contracts.operations_schema``: their writers read their column lists and
SQL types from it, and ``operations_schema_doc`` renders ``docs/operations_schema.md``
(``tests/test_operations_contracts_declared_once.py``).
"""
