"""The report's charts: matplotlib figures rendered to inline SVG text.

Why matplotlib and SVG: a report must open offline, from disk or through the Airflow plugin,
with no CDN and no JavaScript. An SVG figure is plain markup inside the HTML file (text stays
text: searchable and crisp at any zoom), so the page needs nothing else. Plotly would need its
~4.6 MB JavaScript bundle inlined into every page (or a shared file next to it, which breaks
"one file a person can mail"); the reports are looked at, not explored, so interactivity is not
worth that. matplotlib is the maintained default of the scientific Python stack and renders a
figure in tens of milliseconds with the non-interactive Agg backend.

Every function takes plain frames/arrays and returns the SVG text of one figure; none reads
the warehouse (``tasks/reporting/data.py`` does). Output is deterministic (no date in the
metadata, fixed id salt), so a re-run of a day writes the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: rcParams for every figure: text as <text> (not paths), a fixed id salt, small fonts.
_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ecomflow-report",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7,
    "legend.frameon": False,
}
#: At most this many lines per axes (the rest are named in the legend title).
MAX_LINES = 8


def _figure(n_panels: int, cols: int = 3, panel_w: float = 3.4, panel_h: float = 2.4) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    cols = max(1, min(cols, n_panels))
    rows = int(np.ceil(n_panels / cols))
    width, height = panel_w * cols, panel_h * rows
    # Fixed margins (in inches, converted to figure fractions) instead of constrained layout:
    # measuring every tick label to place the axes took a third of a report's build time.
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.55 / width, right=1 - 0.15 / width, bottom=0.45 / height, top=1 - 0.3 / height,
                        wspace=0.55 * cols / width * 1.6, hspace=0.75 * rows / height * 1.4)
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def to_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog, no date)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "ecomflow report"})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _styled(render):  # noqa: ANN001, ANN202 - decorator
    """Run ``render`` under the report style (the global rcParams stay untouched)."""

    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return render(*args, **kwargs)

    wrapper.__doc__ = render.__doc__
    wrapper.__name__ = render.__name__
    return wrapper


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values)


def _date_axis(ax, dates: pd.Series | None = None) -> None:  # noqa: ANN001
    """Concise date ticks; a single day (a young warehouse) gets a week around it, not the
    years matplotlib would otherwise span."""
    import matplotlib.dates as mdates

    if dates is not None and len(dates) and _dates(dates).nunique() == 1:
        only = _dates(dates).iloc[0]
        ax.set_xlim(only - pd.Timedelta(days=3), only + pd.Timedelta(days=3))

    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


@_styled
def metric_lines(frame: pd.DataFrame, x: str, series: str, title_of: dict[str, str] | None = None,
                 limits: dict[str, float] | None = None) -> str:
    """One panel per ``metric``: ``value`` over ``x`` (a date), one line per ``series`` value.

    ``frame`` columns: metric, ``x``, ``series``, value. ``limits``: a dashed line per metric
    (a threshold). Series beyond ``MAX_LINES`` per panel are dropped, highest mean first kept.
    """
    metrics = sorted(frame["metric"].unique())
    fig, axes = _figure(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        part = frame[frame["metric"] == metric]
        keep = (part.groupby(series)["value"].mean().sort_values(ascending=False).index[:MAX_LINES])
        for name in sorted(keep, key=str):
            line = part[part[series] == name].sort_values(x)
            ax.plot(_dates(line[x]), line["value"], marker="o", markersize=2.5, linewidth=1.2, label=str(name))
        if limits and metric in limits:
            ax.axhline(limits[metric], color="#c0392b", linestyle="--", linewidth=1, label="limit")
        ax.set_title((title_of or {}).get(metric, metric))
        _date_axis(ax, part[x])
        dropped = part[series].nunique() - len(keep)
        ax.legend(title=f"+{dropped} more not shown" if dropped > 0 else None, loc="best")
    return to_svg(fig)


@_styled
def fan_chart(items: Sequence[str], forecasts: pd.DataFrame, actuals: pd.DataFrame, day: pd.Timestamp) -> str:
    """Per item: the P10-P90 band and P50 of the forecasts, the realised units, and ``day``
    (the partition: forecasts left of it can be checked against what sold).

    ``forecasts``: item_id, forecast_date, p10, p50, p90 (one row per item and date: the
    newest forecast served for that date). ``actuals``: item_id, sales_date, units.
    """
    fig, axes = _figure(len(items), cols=3, panel_w=3.6, panel_h=2.3)
    for ax, item in zip(axes, items, strict=True):
        f = forecasts[forecasts["item_id"] == item].sort_values("forecast_date")
        a = actuals[actuals["item_id"] == item].sort_values("sales_date")
        x = _dates(f["forecast_date"])
        ax.fill_between(x, f["p10"], f["p90"], color="#3b75af", alpha=0.25, linewidth=0, label="P10-P90")
        ax.plot(x, f["p50"], color="#3b75af", linewidth=1.2, label="P50 forecast")
        ax.plot(_dates(a["sales_date"]), a["units"], color="#222222", marker="o", markersize=2,
                linewidth=1, label="actual units")
        ax.axvline(day, color="#888888", linestyle=":", linewidth=1)
        ax.set_title(str(item))
        _date_axis(ax)
    axes[0].legend(loc="upper left")
    return to_svg(fig)


@_styled
def pr_and_calibration(curves: dict[str, dict[str, np.ndarray]], what: str) -> str:
    """Left: precision-recall curves; right: calibration (mean predicted vs observed rate per
    bin; the diagonal is perfect calibration). One line per key of ``curves`` (a version).

    Each value: precision, recall, ap (average precision), prevalence, prob_pred, prob_true, n.
    """
    fig, (pr, cal) = _figure(2, cols=2, panel_w=4.2, panel_h=3.2)
    for name, c in curves.items():
        label = f"{name} (AP {float(c['ap']):.3f}, n={int(c['n'])})"
        line, = pr.plot(c["recall"], c["precision"], linewidth=1.3, drawstyle="steps-post", label=label)
        pr.axhline(float(c["prevalence"]), color=line.get_color(), linestyle=":", linewidth=0.8)
        cal.plot(c["prob_pred"], c["prob_true"], marker="o", markersize=3, linewidth=1.2, label=name)
    pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"Precision-recall ({what}); dotted: base rate")
    pr.legend(loc="lower left")
    cal.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect")
    cal.set(xlabel="mean predicted probability", ylabel="observed rate", xlim=(0, 1), ylim=(0, 1.02),
            title="Calibration (quantile bins)")
    cal.legend(loc="upper left")
    return to_svg(fig)


@_styled
def training_curves(curves: dict[str, dict[str, list[float]]], best_epoch: dict[str, int | None]) -> str:
    """Every ``*history`` series of each version's artefact over the epochs, on one panel (so
    versions compare at a glance); the epoch each version kept (early stopping) is marked."""
    fig, (ax,) = _figure(1, cols=1, panel_w=6.0, panel_h=2.8)
    for name, series in curves.items():
        for key, values in sorted(series.items()):
            line, = ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=2, linewidth=1.2,
                            label=f"{name} {key}")
            best = best_epoch.get(name)
            if best is not None:
                # best_epoch is 0-based (tasks/train/tabular.py); the x axis counts epochs from 1
                ax.plot([best + 1], [values[min(best, len(values) - 1)]], marker="*", markersize=9,
                        color=line.get_color(), linestyle="none")
    ax.plot([], [], marker="*", color="#555555", linestyle="none", label="epoch kept")
    ax.set(xlabel="epoch", ylabel="training loss")
    ax.legend(loc="upper right")
    return to_svg(fig)
