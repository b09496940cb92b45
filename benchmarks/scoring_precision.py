"""fp32 vs int8 (dynamic quantisation) vs bf16 batch scoring of the risk model.

Trains the risk model once on planted-signal synthetic transactions, then scores the same
N rows at each precision: median wall time over --repeat runs (ratio against fp32 in the
same run), the largest probability difference to fp32, and PR-AUC on the labelled holdout.

    .venv/bin/python benchmarks/scoring_precision.py [--rows 200000] [--repeat 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

import numpy as np
import torch

from tasks.score.precision import for_scoring
from tasks.train import risk
from tasks.train.metrics import pr_auc
from tests.fixtures import synthetic_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    train = synthetic_frames.transaction_velocity(date(2024, 3, 1), n=20_000, seed=1)
    fitted = risk.fit_and_evaluate(train, risk.RiskConfig(), device)
    score_rows = synthetic_frames.transaction_velocity(date(2024, 4, 1), n=args.rows, seed=2)
    x = fitted.spec.transform(score_rows)
    y = score_rows["is_fraud"].astype(bool).to_numpy().astype(float)

    rows, reference = [], None
    for precision in ("fp32", "int8", "bf16"):
        model, run_device = for_scoring(fitted.model, precision, device)
        risk.raw_proba(model, x[:1000], run_device)  # warm-up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            proba = risk.raw_proba(model, x, run_device)
            if run_device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        reference = proba if reference is None else reference
        rows.append((precision, run_device.type, statistics.median(times), float(np.max(np.abs(proba - reference))),
                     pr_auc(y, proba)))

    base = rows[0][2]
    print(f"risk model scoring, {args.rows:,} rows, {args.repeat} runs, torch {torch.__version__}, "
          f"{args.threads} threads")
    print("| precision | device | median s | speed-up vs fp32 | max abs diff vs fp32 | PR-AUC | PR-AUC diff |")
    print("|---|---|---|---|---|---|---|")
    for precision, dev, seconds, diff, auc in rows:
        print(f"| {precision} | {dev} | {seconds:.3f} | {base / seconds:.2f}x | {diff:.4f} | {auc:.4f} | "
              f"{auc - rows[0][4]:+.4f} |")


if __name__ == "__main__":
    main()
