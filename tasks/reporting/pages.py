"""HTML of the report pages (Jinja2, autoescaped; the charts are inline SVG).

Pages are self-contained: the style sheet is inline, there is no script, and links between
pages are relative, so the same files open from disk (``file://``), from any static file server
and under the Airflow plugin's URL prefix.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1150px;
 color:#1d2733;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #dde3ea}
.sub{color:#5b6675;margin-top:0} .why{color:#8a5a00;background:#fff7e6;padding:.4rem .6rem;border-radius:4px}
.explain{color:#4a5563;font-size:.9rem;max-width:70rem}
.scroll{overflow-x:auto} table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{padding:.25rem .6rem;text-align:left;border-bottom:1px solid #eef1f4;white-space:nowrap} th{background:#f4f6f8} td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto} nav a{margin-right:1rem} .ok{color:#1e7d32} .bad{color:#b3261e}
</style></head><body>
<nav>{% block nav %}{% endblock %}</nav>
{% block body %}{% endblock %}
<p class="sub" style="margin-top:2rem">ecomflow report; data: the warehouse's monitoring.*, ml.model_registry
and serving.* tables (docs/monitoring.md, "Reports").</p>
</body></html>
"""

_TABLE = """{% macro frame_table(frame) %}<div class="scroll"><table><thead><tr>{% for c in frame.columns %}<th>{{ c }}</th>
{% endfor %}</tr></thead><tbody>{% for row in frame.itertuples(index=False) %}<tr>{% for v in row %}
{% if v is number %}<td class="num">{{ "%.4g"|format(v) if v == v else "" }}</td>{% else %}
<td>{{ "" if v is none or v != v else v }}</td>{% endif %}{% endfor %}</tr>{% endfor %}</tbody></table></div>
{% endmacro %}"""

_MODEL = """{% extends "base" %}{% from "table" import frame_table %}
{% block title %}{{ report.model }} {{ report.day }}: ecomflow report{% endblock %}
{% block nav %}<a href="index.html">&larr; {{ dag }} {{ report.day }}</a><a href="../../index.html">all reports</a>
{% endblock %}
{% block body %}<h1>{{ report.model }}</h1>
<p class="sub">{{ dag }} run of {{ report.day }} &middot; serving version: {{ report.champion or "none" }}
 &middot; {{ report.headline }}</p>
{% for s in report.sections %}<section data-section="{{ s.title }}"><h2>{{ s.title }}</h2>
<p class="explain">{{ s.explanation }}</p>
{% if s.svg %}<figure>{{ s.svg|safe }}</figure>{% endif %}
{% if s.table is not none %}{{ frame_table(s.table) }}{% endif %}
{% if s.missing %}<p class="why">Nothing to show: {{ s.missing }}</p>{% endif %}
</section>{% endfor %}{% endblock %}
"""

_DAY = """{% extends "base" %}{% from "table" import frame_table %}
{% block title %}{{ dag }} {{ day }}: ecomflow reports{% endblock %}
{% block nav %}<a href="../../index.html">&larr; all reports</a>{% endblock %}
{% block body %}<h1>{{ dag }} &middot; {{ day }}</h1>
<p class="sub">One report per model, as of the end of the day's monitoring.</p>
<table><thead><tr><th>model</th><th>serving version</th><th>charts</th><th>summary</th></tr></thead><tbody>
{% for r in reports %}<tr><td><a href="{{ r.model }}.html">{{ r.model }}</a></td><td>{{ r.champion or "none" }}</td>
<td class="num">{{ r.charts }}</td><td>{{ r.headline }}</td></tr>{% endfor %}</tbody></table>
<h2>Pipeline runs of the day</h2>
<p class="explain">monitoring.pipeline_runs: status, rows in/out, quarantined share and duration per task
(hourly tasks per hour).</p>
{% if runs is not none and not runs.empty %}{{ frame_table(runs) }}{% else %}
<p class="why">Nothing to show: no task recorded a run for {{ day }} in monitoring.pipeline_runs.</p>{% endif %}
{% endblock %}
"""

_INDEX = """{% extends "base" %}
{% block title %}ecomflow reports{% endblock %}
{% block body %}<h1>ecomflow reports</h1>
<p class="sub">Per DAG run and model: training curves, holdout metrics, realised metrics, forecast fans,
precision-recall and calibration, drift. Newest first.</p>
{% if not runs %}<p class="why">No reports yet: they are written by the daily DAG's monitoring.report task
or <code>ecomflow report YYYY-MM-DD</code>.</p>{% endif %}
<table><thead><tr><th>DAG</th><th>day</th><th>models</th></tr></thead><tbody>
{% for run in runs %}<tr><td>{{ run.dag }}</td><td><a href="{{ run.dag }}/{{ run.day }}/index.html">{{ run.day }}</a></td>
<td>{% for m in run.models %}<a href="{{ run.dag }}/{{ run.day }}/{{ m }}.html">{{ m }}</a>{{ ", " if not loop.last }}
{% endfor %}</td></tr>{% endfor %}</tbody></table>{% endblock %}
"""


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    loader = jinja2.DictLoader({"base": _BASE, "table": _TABLE, "model": _MODEL, "day": _DAY, "index": _INDEX})
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render(template: str, **values: object) -> str:
    return environment().get_template(template).render(**values)
