"""Reports a person would rather look at (issue 11): per DAG run and model, one static HTML page.

- ``data``: reads the warehouse (monitoring.*, ml.model_registry, serving.*, marts) and the
  artefacts' metrics.json;
- ``sections``: a model's sections (generic for every model, plus kind-specific ones from
  ``OUTPUT_KINDS``), each a chart, a table or a line saying why there is nothing;
- ``charts``: matplotlib figures as inline SVG (no script, no CDN: the page opens offline);
- ``pages``: the Jinja2 templates; ``build.build_reports(day)``: writes the pages and the index
  under ``$ECOMFLOW_HOME/reports`` (``ecomflow report YYYY-MM-DD``; the daily DAG's
  ``monitoring.report`` task).

The Airflow plugin (``plugins/ecomflow_airflow/reports_app.py``) serves that folder in the UI.
No Airflow imports here.
"""
