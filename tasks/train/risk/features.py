"""Model inputs: the velocity/account feature spec, plus segment and shop signals when present."""

from __future__ import annotations

from tasks.train import shop_signals
from tasks.train.risk.config import RiskConfig
from tasks.train.segments import SEGMENT_FEATURE
from tasks.train.tabular import TabularSpec

LOG_COLS = ("amount", "n_txn_1h", "n_txn_24h", "amount_sum_24h", "n_distinct_cards_24h",
            "n_distinct_devices_7d", "amount_to_user_mean", "seconds_since_prev_txn", "account_age_days")


def new_spec(cfg: RiskConfig | None = None, with_segment: bool = False,
             signals: shop_signals.Signals | None = None, signals_with_nulls: tuple[str, ...] = ()) -> TabularSpec:
    """Velocity/account features; plus the user's segment (categorical) when known, plus the
    shop's own signals (the mapping's ``features:`` on transactions): numeric ones linear and
    piecewise-linear, categorical ones as levels, a missing flag where training saw nulls."""
    cfg = cfg or RiskConfig()
    signals = signals or shop_signals.Signals()
    return TabularSpec(
        categorical={**({SEGMENT_FEATURE: []} if with_segment else {}), **{c: [] for c in signals.categorical}},
        log_cols=LOG_COLS,
        plain_cols=signals.numeric,
        bool_cols=("is_new_device", "is_new_country"),
        missing_cols=("seconds_since_prev_txn", "account_age_days", *signals_with_nulls),
        ple={c: [] for c in ("amount", "amount_to_user_mean", "seconds_since_prev_txn", "account_age_days",
                             "amount_sum_24h", *signals.numeric)},
        ple_bins=cfg.ple_bins, clip=cfg.clip, min_level_count=20,
    )


def _signal_columns(spec: TabularSpec) -> tuple[str, ...]:
    return tuple(c for c in spec.input_columns if c.startswith(shop_signals.PREFIX))


def _needs_segment(spec: TabularSpec) -> bool:
    return SEGMENT_FEATURE in spec.categorical
