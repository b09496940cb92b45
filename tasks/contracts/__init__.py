"""Files derived from the one declaration of each raw warehouse table (``tasks/ingest/schema.py``).

A table's columns, types, nullability, key, grain and value rules are declared once, in
``tasks.ingest.schema.ENTITIES``. The dbt sources, the generated part of every GX raw suite,
``docs/canonical_schema.md`` and value lists pinned to a column in other yml files are
rendered from it here; ``python -m tasks.contracts.generate`` writes them and ``--check``
(run by ``tests/test_contracts_declared_once.py``) fails when a committed copy drifts.
The loader and Spark read the declaration at run time instead.
"""
