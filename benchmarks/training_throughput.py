"""Training throughput on big data: what each model's big-data setting buys, in the same run.

    .venv/bin/python benchmarks/training_throughput.py [--chunks 4000] [--zipf 1.05] [--items 5000] [--sessions 40000]

Two rows per model, the same network, data and seed, one epoch of the real training loop
(``tasks.train.common.fit``) with the model's real loss:

* **recommender (SASRec)**: ``--chunks`` random 30-item sequence chunks over ``--items`` items,
  popularity Zipf-like (``--zipf``; synthetic M: 103,861 chunks, 2.36M positions, 5,000 items), next-day and next-item targets on
  every position. Baseline: the full softmax over the catalogue (what M trained with before
  issue 15); product: the sampled softmax that ``uses_sampled_softmax`` turns on for M-sized
  passes (the batch's targets + ``n_negatives`` uniform items). Unit: positions per second.
  Real chunks are partly padding, so on M's own chunks the same comparison gave 3.0x
  (27.7k vs 9.3k positions/s, one epoch on 20,000 of them).
* **session intent (GRU)**: ``--sessions`` random sessions of 32 events (synthetic M: 206,663
  training sessions). Baseline: minibatches of 128 (``batch_size``), i.e. ``n / 128`` steps per
  epoch; product: ``max_steps_per_epoch`` = 200 scaled to this size (the batch grows to
  ``n / steps``, as ``epoch_batch_size`` does on M). Unit: sessions per second.

Random data: throughput does not depend on what is learned. Quality on real shapes is in the
closing notes (synthetic M: hybrid HR@10 0.0717 vs 0.0716; session intent PR-AUC 0.534 vs 0.533).
Each measurement runs ``--repeat`` times, interleaved; the table gives the fastest round.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.train.common import epoch_batch_size, fit, setup_torch  # noqa: E402
from tasks.train.recommender import RecommenderConfig, SASRec, make_loss, uses_sampled_softmax  # noqa: E402
from tasks.train.session_intent import SessionIntentConfig  # noqa: E402
from tasks.train.session_intent.config import EVENT_TYPES, SEQ_FEATURES  # noqa: E402
from tasks.train.session_intent.model import SequenceIntentNet, _seq_bce  # noqa: E402

CPU = torch.device("cpu")
M_SESSIONS = 206_663  # synthetic M's training sessions (the cap of 200 steps was chosen there)


def recommender_data(n_chunks: int, n_items: int, length: int, zipf: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """Items drawn with popularity ~ 1 / rank ** ``zipf``: a batch's targets repeat popular items,
    as in a shop (uniform items would make nearly every item a target of every batch). At 1.05 a
    batch of 128 chunks has ~1,700 distinct targets over 5k items, as synthetic M's batches do
    (1,720 measured on its training chunks)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** zipf
    items = rng.choice(n_items, (n_chunks, length), p=weights / weights.sum()) + 1
    return {"items": torch.as_tensor(items), "targets": torch.as_tensor(np.roll(items, -1, axis=1)),
            "weights": torch.ones(n_chunks, length), "next_items": torch.as_tensor(np.roll(items, -2, axis=1))}


def session_data(n: int, cfg: SessionIntentConfig, n_agg: int = 24, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(n, n_agg, generator=g),
            "seq_type": torch.randint(1, len(EVENT_TYPES) + 1, (n, cfg.seq_len), generator=g),
            "seq_num": torch.randn(n, cfg.seq_len, len(SEQ_FEATURES), generator=g),
            "y": (torch.rand(n, generator=g) < 0.15).float()}


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=4_000)
    parser.add_argument("--zipf", type=float, default=1.05, help="item popularity exponent of the random chunks")
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--sessions", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.items > RecommenderConfig().full_softmax_items:
        parser.error(f"--items above full_softmax_items ({RecommenderConfig().full_softmax_items}) always samples")

    rcfg = dataclasses.replace(RecommenderConfig(), epochs=1)
    rdata = recommender_data(args.chunks, args.items, rcfg.max_history, args.zipf)
    positions = int(((rdata["targets"] > 0) | (rdata["next_items"] > 0)).sum())

    def recommender(sampled: bool) -> None:
        # Each row forces its softmax (a logit limit every pass exceeds / none reaches), so the
        # label holds at any --items; the defaults pick the sampled one for M (tests/train).
        cfg = dataclasses.replace(rcfg, sampled_softmax_logits=1.0 if sampled else float("inf"))
        assert uses_sampled_softmax(cfg, args.items, positions) == sampled
        setup_torch(cfg)
        model = SASRec(args.items, 0, cfg)
        fit(model, rdata, make_loss(cfg, args.items, positions), cfg, CPU)

    scfg = dataclasses.replace(SessionIntentConfig(), epochs=1)
    sdata = session_data(args.sessions, scfg)
    steps = max(1, round(scfg.max_steps_per_epoch * args.sessions / M_SESSIONS))  # M's batch size at this n

    def session(capped: bool) -> None:
        cfg = dataclasses.replace(scfg, max_steps_per_epoch=steps if capped else 0)
        setup_torch(cfg)
        model = SequenceIntentNet(sdata["x"].shape[1], cfg)
        fit(model, sdata, _seq_bce, cfg, CPU)

    rows = {("recommender", "full softmax (before)"): (lambda: recommender(False), positions, "positions/s"),
            ("recommender", f"sampled softmax, {rcfg.n_negatives} negatives"): (lambda: recommender(True), positions,
                                                                                 "positions/s"),
            ("session intent", "batches of 128 (before)"): (lambda: session(False), args.sessions, "sessions/s"),
            ("session intent", f"batches of {epoch_batch_size(args.sessions, dataclasses.replace(scfg, max_steps_per_epoch=steps))}"
                               f" ({steps} steps/epoch)"): (lambda: session(True), args.sessions, "sessions/s")}
    best = {key: float("inf") for key in rows}
    for _ in range(args.repeat):
        for key, (run, _, _) in rows.items():
            best[key] = min(best[key], timed(run))

    print(f"one training epoch, torch threads {torch.get_num_threads()}, fastest of {args.repeat} rounds; "
          f"SASRec {args.chunks} chunks x {rcfg.max_history} ({positions} positions) over {args.items} items; "
          f"GRU {args.sessions} sessions x {scfg.seq_len} events")
    print("| model | setting | seconds | throughput | vs before |\n|---|---|---:|---:|---:|")
    for model in ("recommender", "session intent"):
        keys = [k for k in rows if k[0] == model]
        base = rows[keys[0]][1] / best[keys[0]]
        for key in keys:
            rate = rows[key][1] / best[key]
            print(f"| {model} | {key[1]} | {best[key]:.1f} | {rate:,.0f} {rows[key][2]} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
