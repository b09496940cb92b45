"""Session purchase intent: p_purchase and a browse/compare/buy class per session.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.session_intent import train; \
               print(train(date(2024, 1, 31), 'manual'))"

Two data paths (three kinds), one recipe (the artefact records which one in ``preprocessing.kind``):

* ``sequence`` (sources with a clickstream): rows = the daily
  ``features.session_features`` partition valid at ``as_of_date`` (sessions started
  in ``[as_of - DAILY_ROW_WINDOW_DAYS, as_of)``), label ``has_purchase``; inputs =
  the session's aggregates *and* its event sequence from ``marts.fct_events``
  (event type, log gap to the previous event, log price, price-missing flag,
  repeat-product flag, log time since session start; the last ``seq_len`` events).
  Model: a GRU over the sequence + an MLP over the aggregates, joined in one head.
* ``summaries`` (sources with session summaries only, e.g. UCI Online Shoppers):
  rows = ``marts.fct_session_summaries`` started in ``[as_of - aggregates_window_days,
  as_of)``; model: an ensemble of MLPs over log-scaled + piecewise-linear-binned
  aggregates.

Prediction point and leakage: a session is predicted *before its first purchase*.
Sequences keep only events strictly earlier than the session's first purchase
(``pre_purchase_events``; the same rule ``session_features`` applies to the
aggregates), so neither the purchase event nor anything at or after its instant
(other purchases of the checkout share that instant) reaches the model. Sessions
with no pre-purchase event are dropped (a live scorer never sees them). On top,
with ``random_prefix`` (default) every session is cut at a seeded random point
among its pre-purchase events and its aggregates are recomputed from that prefix
(``random_prefix``, ``prefix_aggregates``) for the model *and* the baselines:
"just before checkout" is a label-dependent cut (every synthetic buyer's input
ended with its cart) that the hourly scorer never sees.

Holdout (``tabular.time_split``): train | validation | holdout by session start,
cuts never splitting one timestamp (month-only data: whole months; Online
Shoppers: holdout = December, validation = November, train = February-October).
The validation slice picks the epoch (by PR-AUC) and, for every scorer
separately, the decision threshold (the F1-optimal cut on validation); the
holdout is only scored.

Baselines on the same rows and aggregate matrix: logistic regression and a GBT
(``gbt_baseline``). They are serving candidates (``recipe.ServableBaseline``): when the
best of them beats the model on the holdout PR-AUC it is registered and served as
``session_intent-baseline_<name>-...`` with its own threshold. Metrics: PR-AUC (main: purchases are a 10-20 % minority and
what matters is how clean the top of the ranking is), ROC-AUC, F1 at the
validation-chosen threshold.

Intent class (observable behaviour only, parameters in the artefact):
``buy`` if p_purchase >= the threshold; else ``compare`` if the session looked at
>= ``compare_min_products`` distinct products (product views for aggregate
sources) within at most ``compare_max_categories`` categories (focused
multi-product browsing); else ``browse``. This mirrors the synthetic shop's
planted intents (docs/synthetic_ground_truth.md: compare sessions are long and
stay in one focus category, browse sessions are short and wander).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tasks.features.windows import DAILY_ROW_WINDOW_DAYS, SESSION_MAX_SPAN
from tasks.train import shop_signals
from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainResult,
    as_of_instant,
    config_from_dict,
    pick_device,
    setup_torch,
)
from tasks.train.data import read_daily_features
from tasks.train.gbt_baseline import GBT, LOGISTIC, fit_gbt, fit_logistic, load_estimator, positive_proba
from tasks.train.metrics import best_f1_threshold, f1_at_threshold, pr_auc, roc_auc
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.segments import SEGMENT_FEATURE, ensure_segment_column, with_segments
from tasks.train.tabular import (
    BinaryMLP,
    EnsembleMLP,
    TabularClassifierConfig,
    TabularSpec,
    _member_bce,
    predict_logits,
    time_split,
    train_early_stopped,
)
from tasks.warehouse import read_frame, table_exists
from tasks.warehouse.engine import connect
from tasks.warehouse.io import table_columns

log = logging.getLogger(__name__)

MODEL_NAME = "session_intent"
MAIN_METRIC = "pr_auc"
FEATURE_TABLE = "features.session_features"
EVENTS_TABLE = "marts.fct_events"
SUMMARY_TABLE = "marts.fct_session_summaries"
INTENTS = ("browse", "compare", "buy")
FEATURE_WINDOW_DAYS = DAILY_ROW_WINDOW_DAYS  # the daily feature partition's row window (CONTRACTS.md)
EVENT_TYPES = ("view", "cart", "search")  # index + 1; 0 = padding, len + 1 = anything else
SEQ_FEATURES = ("log_gap", "log_price", "price_missing", "repeat_product", "log_elapsed")
HOLDOUT_PROTOCOL = ("time-ordered by session start, cuts on timestamp changes: train | validation "
                    "(epoch + per-scorer F1 threshold) | holdout (latest, only scored)")


@dataclass(frozen=True)
class SessionIntentConfig(TabularClassifierConfig):
    """Defaults chosen on validation PR-AUC (Online Shoppers: November; synthetic frames)."""

    epochs: int = 30
    batch_size: int = 128
    weight_decay: float = 1e-3
    hidden: tuple[int, ...] = (32,)
    dropout: float = 0.1
    members: int = 3
    ple_bins: int = 16
    clip: float = 4.0
    patience: int = 6
    val_share: float = 0.2
    seq_len: int = 32
    gru_hidden: int = 32
    type_dim: int = 8
    aggregates_window_days: int = 400
    compare_min_products: int = 3
    compare_max_categories: int = 2
    random_prefix: bool = True

    def validate(self) -> None:
        super().validate()
        if self.members < 1 or self.seq_len < 1 or self.gru_hidden < 1 or self.type_dim < 1:
            raise ValueError("members, seq_len, gru_hidden and type_dim must be >= 1")
        if not 0 < self.val_share < 1:
            raise ValueError("val_share must be in (0, 1)")
        if self.compare_min_products < 2:
            raise ValueError("compare_min_products must be >= 2 (comparing needs two products)")
        if self.compare_max_categories < 1:
            raise ValueError("compare_max_categories must be >= 1")


# ------------------------------------------------------------ features ------
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


def prepare_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """fct_session_summaries -> model frame: numeric types, derived page count, the
    common ``session_start_at`` time column."""
    out = frame.copy()
    for c in ("n_events", "n_product_views", "duration_seconds", "bounce_rate", "exit_rate", "page_value"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    out["n_other_pages"] = (out["n_events"] - out["n_product_views"]).clip(lower=0)
    out["session_start_at"] = pd.to_datetime(out["started_at"])
    return out


def pre_purchase_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events strictly before their session's first purchase, in time order (the prediction point)."""
    ev = events.copy()
    ev["event_at"] = pd.to_datetime(ev["event_at"])
    ev = ev.sort_values(["session_id", "event_at", "event_id"], kind="stable")
    first_purchase = ev[ev["event_type"] == "purchase"].groupby("session_id")["event_at"].min()
    cut = ev["session_id"].map(first_purchase)
    return ev[cut.isna() | (ev["event_at"] < cut)].reset_index(drop=True)


def random_prefix(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Each session's first m pre-purchase events, m uniform in 1..n (seeded per session id).

    Why: "everything before the first purchase" puts the prediction point of a buyer
    right at checkout, after its last cart (synthetic S: 100 % of buyers' inputs end
    with a cart, 7 % of the others'), while a non-buyer is seen complete. That cut
    depends on the label, and a sequence model reads it off the last event (a
    one-line rule gets PR-AUC 0.70 on S). Hourly scoring sees sessions at arbitrary
    points, so training and evaluation use a label-independent random point instead.
    """
    ev = pre_purchase_events(events)
    if ev.empty:
        return ev
    g = ev.groupby("session_id", sort=False)
    n = g["event_id"].transform("size").to_numpy()
    ids = ev["session_id"].astype(str)
    u = pd.util.hash_pandas_object(ids + f"#{seed}", index=False).to_numpy() % np.uint64(1_000_003)
    keep = 1 + np.floor(u.astype(float) / 1_000_003 * n).astype(int)
    return ev[g.cumcount().to_numpy() < keep].reset_index(drop=True)


def prefix_aggregates(frame: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """session_features' behaviour columns recomputed from ``events`` (a prefix), so the
    baselines and the aggregate branch see the same prediction point as the sequence.
    ``n_distinct_categories`` cannot be recomputed without products; it is capped at
    the prefix's distinct products."""
    g = events.groupby("session_id")
    typ = events["event_type"]
    agg = pd.DataFrame({
        "n_events": g.size(),
        "n_views": (typ == "view").groupby(events["session_id"]).sum(),
        "n_carts": (typ == "cart").groupby(events["session_id"]).sum(),
        "n_searches": (typ == "search").groupby(events["session_id"]).sum(),
        "n_distinct_products": g["product_id"].nunique(),
        "duration_seconds": (g["event_at"].max() - g["event_at"].min()).dt.total_seconds(),
        "mean_price_viewed": events.assign(p=pd.to_numeric(events["price"], errors="coerce").where(typ == "view"))
        .groupby("session_id")["p"].mean(),
    })
    out = frame.drop(columns=[c for c in agg.columns if c in frame]).merge(
        agg, left_on="session_id", right_index=True, how="left")
    for c in ("n_events", "n_views", "n_carts", "n_searches", "n_distinct_products"):
        out[c] = out[c].fillna(0).astype("int64")
    out["duration_seconds"] = out["duration_seconds"].fillna(0.0)
    if "n_distinct_categories" in out:
        out["n_distinct_categories"] = np.minimum(pd.to_numeric(out["n_distinct_categories"]).fillna(0),
                                                  out["n_distinct_products"])
    return out[list(frame.columns)]


def build_sequences(events: pd.DataFrame, session_ids: list[str] | np.ndarray,
                    seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(types [n, seq_len] int64, numeric [n, seq_len, len(SEQ_FEATURES)] float32), left-padded.

    Only events strictly before the session's first purchase are used (the
    prediction point); of those, the last ``seq_len``. Row i belongs to
    ``session_ids[i]``; a session without usable events is all padding.
    """
    n = len(session_ids)
    types = np.zeros((n, seq_len), dtype=np.int64)
    nums = np.zeros((n, seq_len, len(SEQ_FEATURES)), dtype=np.float32)
    if n == 0 or events.empty:
        return types, nums
    row_of = pd.Series(np.arange(n), index=pd.Index(session_ids, dtype=object))
    ev = pre_purchase_events(events[events["session_id"].isin(row_of.index)])
    if ev.empty:
        return types, nums
    g = ev.groupby("session_id", sort=False)
    gap = g["event_at"].diff().dt.total_seconds().fillna(0.0).clip(lower=0)
    elapsed = (ev["event_at"] - g["event_at"].transform("min")).dt.total_seconds()
    price = pd.to_numeric(ev["price"], errors="coerce")
    repeat = ev.duplicated(["session_id", "product_id"]) & ev["product_id"].notna()
    code = ev["event_type"].map({t: i + 1 for i, t in enumerate(EVENT_TYPES)}).fillna(len(EVENT_TYPES) + 1)
    from_end = g.cumcount(ascending=False).to_numpy()
    keep = from_end < seq_len
    rows = row_of.loc[ev["session_id"].to_numpy()].to_numpy()[keep]
    cols = (seq_len - 1 - from_end)[keep]
    types[rows, cols] = code.to_numpy(dtype=np.int64)[keep]
    feats = np.stack([np.log1p(gap.to_numpy()), np.log1p(price.fillna(0).clip(lower=0).to_numpy()),
                      price.isna().to_numpy(float), repeat.to_numpy(float), np.log1p(elapsed.to_numpy())], 1)
    nums[rows, cols] = feats[keep].astype(np.float32)
    return types, nums


class SequenceIntentNet(nn.Module):
    """GRU over the event sequence + MLP over the aggregates -> one purchase logit.

    The GRU's last state (after the latest pre-purchase event; sequences are
    left-padded) summarises order and tempo (e.g. view -> cart -> view of the same
    product), which session counts cannot express; the aggregate branch keeps what
    the counts already know, so the net starts no worse than the tabular model.
    """

    def __init__(self, n_agg: int, cfg: SessionIntentConfig) -> None:
        super().__init__()
        self.types = nn.Embedding(len(EVENT_TYPES) + 2, cfg.type_dim, padding_idx=0)
        self.gru = nn.GRU(cfg.type_dim + len(SEQ_FEATURES), cfg.gru_hidden, batch_first=True)
        width = cfg.hidden[-1]
        self.agg = BinaryMLP(n_agg, cfg.hidden, cfg.dropout).net[:-1]  # the MLP without its output layer
        self.head = nn.Sequential(nn.Linear(cfg.gru_hidden + width, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, seq_type: torch.Tensor, seq_num: torch.Tensor) -> torch.Tensor:
        steps = torch.cat([self.types(seq_type), seq_num.float()], dim=-1)
        _, last = self.gru(steps)
        return self.head(torch.cat([last[-1], self.agg(x)], dim=-1)).squeeze(-1)


def _seq_bce(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(batch["x"], batch["seq_type"], batch["seq_num"]).float()
    return nn.functional.binary_cross_entropy_with_logits(logits, batch["y"])


# ------------------------------------------------------------- intents ------
def classify_intent(p_purchase: np.ndarray, n_distinct_products: np.ndarray, buy_threshold: float,
                    compare_min_products: int, n_distinct_categories: np.ndarray | None = None,
                    compare_max_categories: int | None = None) -> np.ndarray:
    """The documented rule: buy >= threshold, else compare on several distinct products
    (in few categories, when categories are known), else browse."""
    def num(values: Any) -> np.ndarray:
        return np.nan_to_num(np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float), nan=0.0)

    p = np.asarray(p_purchase, dtype=float)
    compare = num(n_distinct_products) >= compare_min_products
    if n_distinct_categories is not None and compare_max_categories is not None:
        compare &= num(n_distinct_categories) <= compare_max_categories
    return np.where(p >= buy_threshold, "buy", np.where(compare, "compare", "browse"))


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["has_purchase"].notna()].copy() if "has_purchase" in frame else frame.iloc[0:0]


# --------------------------------------------------------------- model ------
@dataclass
class Fitted:
    """The trained model, what scoring needs, and the holdout it was judged on."""

    kind: str  # "sequence" | "features" (session_features, no events) | "summaries" (fct_session_summaries)
    model: nn.Module
    spec: TabularSpec
    threshold: float
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    loss_history: list[float]
    best_epoch: int
    events: pd.DataFrame | None = None  # the (prefix) events the holdout was scored with
    estimators: dict[str, Any] | None = None  # fitted baselines by name (servable candidates)

    def preprocessing(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "kind": self.kind, "threshold": self.threshold}


def evaluate_scores(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The metric keys every intent scorer (model and baselines) reports on the holdout."""
    return {"pr_auc": pr_auc(y, p), "roc_auc": roc_auc(y, p), "f1": f1_at_threshold(y, p, threshold),
            "threshold": threshold, "positive_rate": float(np.mean(y)), "n_holdout": float(len(y))}


def _scorer_metrics(p_val: np.ndarray, y_val: np.ndarray, p_hold: np.ndarray,
                    y_hold: np.ndarray) -> tuple[dict[str, float], float]:
    threshold = best_f1_threshold(y_val, p_val)
    return evaluate_scores(y_hold, p_hold, threshold), threshold


def _y(frame: pd.DataFrame) -> np.ndarray:
    return frame["has_purchase"].astype(bool).to_numpy().astype(float)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


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


def fit_and_evaluate(frame: pd.DataFrame, cfg: SessionIntentConfig, device: torch.device,
                     events: pd.DataFrame | None = None) -> Fitted:
    """Time split, fit the model and both baselines on the same rows, score the same holdout.

    ``events`` given -> ``sequence``: the GRU model over session_features rows + events;
    ``events`` None and ``frame`` has ``page_value`` -> ``summaries``: the aggregates MLP
    over fct_session_summaries rows; otherwise ``features``: the aggregates MLP over
    session_features rows (a clickstream source whose fct_events could not be read).
    """
    data = labelled(frame)
    kind = "sequence" if events is not None else ("summaries" if "page_value" in data else "features")
    if events is not None and cfg.random_prefix:
        events = random_prefix(events[events["session_id"].isin(set(data["session_id"]))], cfg.seed)
        data = prefix_aggregates(data, events)
    if "n_events" in data:  # zero pre-purchase events: nothing a live scorer would see
        data = data[pd.to_numeric(data["n_events"], errors="coerce").fillna(0) > 0]
    if len(data) < cfg.min_rows:
        raise ValueError(f"only {len(data)} labelled sessions (< min_rows={cfg.min_rows})")
    train_df, val_df, hold_df = time_split(data, "session_start_at", "session_id", cfg.holdout_share,
                                           cfg.val_share)
    y_train, y_val, y_hold = _y(train_df), _y(val_df), _y(hold_df)
    if min(len(set(y_train)), len(set(y_val)), len(set(y_hold))) < 2:
        raise ValueError("training, validation or holdout sessions contain a single class; AUC is undefined")
    setup_torch(cfg)
    signals = shop_signals.Signals()
    if kind == "sequence" and events is not None:
        # Only the events a live scorer would see (before the purchase; the prefix when sampled).
        signals = shop_signals.discover(shop_signals.session_signals(train_df, pre_purchase_events(events)))
    spec = aggregates_spec(cfg) if kind == "summaries" else sequence_spec(cfg, SEGMENT_FEATURE in data, signals)
    spec.fit(_model_frame(spec, train_df, events))
    tr, va, ho = (model_inputs(kind, spec, d, events, cfg) for d in (train_df, val_df, hold_df))
    if kind == "sequence":
        model: nn.Module = SequenceIntentNet(tr["x"].shape[1], cfg)
        loss = _seq_bce
    else:
        model, loss = EnsembleMLP(tr["x"].shape[1], cfg.hidden, cfg.dropout, cfg.members), _member_bce
    tensors = {k: torch.as_tensor(v) for k, v in tr.items()} | {"y": torch.as_tensor(y_train, dtype=torch.float32)}
    model, history, best_epoch = train_early_stopped(
        model, tensors, {k: torch.as_tensor(v) for k, v in va.items()}, y_val, loss, pr_auc, cfg, device,
        cfg.patience)
    metrics, threshold = _scorer_metrics(_sigmoid(predict_logits(model, device, **va)), y_val,
                                         _sigmoid(predict_logits(model, device, **ho)), y_hold)
    baselines, estimators = {}, {}
    for name, fitted in ((LOGISTIC, fit_logistic(tr["x"], y_train)), (GBT, fit_gbt(tr["x"], y_train, cfg.seed))):
        baselines[name] = _scorer_metrics(positive_proba(fitted, va["x"]), y_val,
                                          positive_proba(fitted, ho["x"]), y_hold)[0]
        estimators[name] = fitted
    return Fitted(kind, model, spec, threshold, metrics, baselines, hold_df, history, best_epoch, events,
                  estimators)


def load_model(art: Artefact, device: torch.device) -> tuple[nn.Module, TabularSpec, SessionIntentConfig, str]:
    cfg = config_from_dict(SessionIntentConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    kind = art.preprocessing.get("kind", "features")
    n_in = len(spec.feature_names)
    model: nn.Module = (SequenceIntentNet(n_in, cfg) if kind == "sequence"
                        else EnsembleMLP(n_in, cfg.hidden, cfg.dropout, cfg.members))
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg, kind


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device,
            events: pd.DataFrame | None = None) -> pd.DataFrame:
    """session_id, p_purchase, intent, threshold for every row of a session frame
    (session_features rows + their events, or prepared fct_session_summaries rows)."""
    model, spec, cfg, kind = load_model(art, device)
    threshold = float(art.preprocessing["threshold"])
    if frame.empty:
        return pd.DataFrame({"session_id": pd.Series(dtype=object), "p_purchase": pd.Series(dtype=float),
                             "intent": pd.Series(dtype=object), "threshold": pd.Series(dtype=float)})
    if art.serving_strategy.startswith("baseline:"):
        # A served baseline (recipe.ServableBaseline): same aggregate matrix, its own threshold.
        estimator = load_estimator(art.folder, art.preprocessing["estimator"])  # type: ignore[arg-type]
        x = spec.transform(_model_frame(spec, frame, events))
        p = positive_proba(estimator, x)
    else:
        p = _sigmoid(predict_logits(model, device, **model_inputs(kind, spec, frame, events, cfg)))
    if "n_distinct_products" in frame:
        intent = classify_intent(p, frame["n_distinct_products"].to_numpy(), threshold, cfg.compare_min_products,
                                 frame["n_distinct_categories"].to_numpy(), cfg.compare_max_categories)
    else:
        intent = classify_intent(p, frame["n_product_views"].to_numpy(), threshold, cfg.compare_min_products)
    return pd.DataFrame({"session_id": frame["session_id"].to_numpy(), "p_purchase": p, "intent": intent,
                         "threshold": threshold})


# ------------------------------------------------------------- reading ------
def read_events(session_ids: np.ndarray, start: datetime, end: datetime) -> pd.DataFrame:
    """fct_events of these sessions in ``[start, end)`` (end = the prediction data's as_of)."""
    cols = ["event_id", "session_id", "event_type", "product_id", "price", "event_at"]
    if not table_exists(EVENTS_TABLE) or len(session_ids) == 0:
        return pd.DataFrame(columns=cols)
    with connect() as conn:  # marts built before shop signals existed lack the column
        if "extra_features" in (table_columns(conn, EVENTS_TABLE) or []):
            cols.append("extra_features")
    events = read_frame(f"SELECT {', '.join(cols)} FROM {EVENTS_TABLE} WHERE event_at >= :s AND event_at < :e",
                        {"s": start, "e": end})
    return events[events["session_id"].isin(set(session_ids))].reset_index(drop=True)


def read_summaries(start: datetime, end: datetime) -> pd.DataFrame:
    """fct_session_summaries rows started in ``[start, end)``, prepared for the model."""
    if not table_exists(SUMMARY_TABLE):
        return pd.DataFrame()
    frame = read_frame(f"SELECT * FROM {SUMMARY_TABLE} WHERE started_at >= :s AND started_at < :e",
                       {"s": start, "e": end})
    return prepare_summaries(frame) if not frame.empty else frame


def train(as_of_date: date, run_id: str, cfg: SessionIntentConfig | None = None) -> TrainResult:
    """Recipe: sessions (+ events, or summaries) -> time split -> model vs LR and GBT -> register."""
    cfg = cfg or SessionIntentConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    frame, found = read_daily_features(FEATURE_TABLE, as_of_date)
    events: pd.DataFrame | None = None
    if found is not None and not labelled(frame).empty:
        found_end = as_of_instant(found)
        window = DataWindow(found_end - timedelta(days=FEATURE_WINDOW_DAYS), found_end)
        events = read_events(frame["session_id"].to_numpy(), window.start - SESSION_MAX_SPAN, found_end)
        if events.empty:
            log.warning("%s: no %s rows for the partition's sessions; training on aggregates only",
                        MODEL_NAME, EVENTS_TABLE)
            events = None
        source = f"{FEATURE_TABLE} ({found})"
        frame = with_segments(frame, "session_start_at")  # point-in-time user segment, when segments exist
    else:
        window = DataWindow(end - timedelta(days=cfg.aggregates_window_days), end)
        frame = read_summaries(window.start, window.end)
        if frame.empty:
            return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date} "
                                       f"and no {SUMMARY_TABLE} rows before {end}")
        source = f"{SUMMARY_TABLE} [{window.start}, {window.end})"
    try:
        fitted = fit_and_evaluate(frame, cfg, device, events)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, f"{source}: {exc}", window)
    y_hold = _y(fitted.holdout)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        p = predict(art, fitted.holdout, device, fitted.events)["p_purchase"].to_numpy()
        return evaluate_scores(y_hold, p, float(art.preprocessing["threshold"]))

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.preprocessing(), metrics=fitted.metrics,
        baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=True,
        evaluate_champion=evaluate_champion, training_inputs={"sessions": frame, "events": events},
        extra_metrics={"loss_history": fitted.loss_history, "best_epoch": fitted.best_epoch,
                       "kind": fitted.kind, "data": source, "holdout_protocol": HOLDOUT_PROTOCOL},
        servable=servable_baselines(fitted),
    )


def servable_baselines(fitted: Fitted) -> list[ServableBaseline]:
    """LR and GBT as serving candidates, each with its own validation-chosen threshold."""
    return [ServableBaseline(name, estimator, {"threshold": float(fitted.baselines[name]["threshold"])})
            for name, estimator in (fitted.estimators or {}).items()]
