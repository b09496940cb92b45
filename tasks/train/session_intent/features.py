"""Model inputs: the aggregate specs of both data paths and the forward arrays of a frame.

One place builds what the model reads, so training, evaluation and serving feed it alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.train import shop_signals
from tasks.train.segments import SEGMENT_FEATURE, ensure_segment_column
from tasks.train.session_intent.config import SessionIntentConfig
from tasks.train.session_intent.events import build_sequences, pre_purchase_events
from tasks.train.tabular import TabularSpec


def sequence_spec(cfg: SessionIntentConfig, with_segment: bool = False,
                  signals: shop_signals.Signals | None = None) -> TabularSpec:
    """Aggregates of ``features.session_features`` (the side input of the sequence model),
    plus the user's point-in-time segment when ``features.user_segments`` exists, plus the
    shop's own event signals (mapping ``features:`` on events) aggregated per session
    (``shop_signals.session_signals``), with a missing flag for each numeric one."""
    signals = signals or shop_signals.Signals()
    return TabularSpec(
        log_cols=("n_events", "n_views", "n_carts", "n_searches", "n_distinct_products",
                  "n_distinct_categories", "duration_seconds", "mean_price_viewed"),
        plain_cols=signals.numeric,
        missing_cols=("mean_price_viewed", *signals.numeric),
        cyclic={"hour_of_day": 24, "day_of_week": 7},
        categorical={"device": [], **({SEGMENT_FEATURE: []} if with_segment else {}),
                     **{c: [] for c in signals.categorical}},
        ple={c: [] for c in ("n_events", "duration_seconds", "mean_price_viewed", *signals.numeric)},
        ple_bins=cfg.ple_bins, clip=cfg.clip, min_level_count=20,
    )


def aggregates_spec(cfg: SessionIntentConfig) -> TabularSpec:
    """``marts.fct_session_summaries`` columns. ``device`` (OS x browser combinations)
    and ``region`` are left out: on Online Shoppers they lowered validation PR-AUC."""
    return TabularSpec(
        log_cols=("n_events", "n_product_views", "n_other_pages", "duration_seconds", "page_value"),
        plain_cols=("bounce_rate", "exit_rate"),
        bool_cols=("is_weekend",),
        categorical={"visitor_type": []},
        ple={c: [] for c in ("n_events", "n_product_views", "n_other_pages", "duration_seconds",
                             "page_value", "bounce_rate", "exit_rate")},
        ple_bins=cfg.ple_bins, clip=cfg.clip, min_level_count=20,
    )


def _signal_columns(spec: TabularSpec) -> tuple[str, ...]:
    return tuple(c for c in spec.input_columns if c.startswith(shop_signals.PREFIX))


def _model_frame(spec: TabularSpec, frame: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """The session rows with everything ``spec`` reads: segment and the event signals it was trained on."""
    frame = ensure_segment_column(frame, "session_start_at", SEGMENT_FEATURE in spec.categorical)
    wanted = _signal_columns(spec)
    if not wanted:
        return frame
    pre = pre_purchase_events(events) if events is not None and not events.empty else None
    return shop_signals.session_signals(frame, pre, wanted=wanted)


def model_inputs(kind: str, spec: TabularSpec, frame: pd.DataFrame, events: pd.DataFrame | None,
                 cfg: SessionIntentConfig) -> dict[str, np.ndarray]:
    """Forward-argument arrays of one frame (``events`` only for the sequence kind)."""
    inputs = {"x": spec.transform(_model_frame(spec, frame, events))}
    if kind == "sequence":
        seq_type, seq_num = build_sequences(events if events is not None else pd.DataFrame(),
                                            frame["session_id"].astype(str).to_numpy(), cfg.seq_len)
        inputs |= {"seq_type": seq_type, "seq_num": seq_num}
    return inputs
