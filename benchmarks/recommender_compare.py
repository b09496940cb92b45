"""Recommender vs every baseline on the realistic clickstream scenario and on synthetic S.

    python benchmarks/recommender_compare.py [--seeds 0 1] [--no-s] [--set key=value ...]

Runs the recipe's own split (``plan_split``: holdout adapted to the data's span),
training and evaluation (``fit_and_evaluate``) on in-memory frames, no warehouse,
and prints one markdown row per data set: HR@10 / NDCG@10 of the learned hybrid,
SASRec alone, each baseline, the ratio to the best baseline and what the recipe
would serve. ``--set`` overrides RecommenderConfig fields (e.g. ``fusion_sasrec=false``).
Single-threaded torch, seeds fixed: the numbers are reproducible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.train import recommender as rec  # noqa: E402
from tests.train.clickstream_scenario import clickstream  # noqa: E402


def synthetic_s() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, object]:
    """Events, order lines and products of the synthetic S shop (tasks/ingest/synthetic)."""
    from tasks.ingest.synthetic import generate

    shop = generate("S", seed=42)
    products = shop["products"].rename(columns={"price": "list_price"})
    return shop["events"], shop["order_lines"], products, shop.end


def run(label: str, events: pd.DataFrame, lines: pd.DataFrame, products: pd.DataFrame, as_of: object,
        cfg: rec.RecommenderConfig) -> dict[str, object]:
    inter = rec.interactions_from_frames(events, lines, cfg)
    plan = rec.plan_split(inter, as_of, cfg)  # type: ignore[arg-type]
    t0 = time.time()
    fitted = rec.fit_and_evaluate(inter, plan.split, as_of, cfg, torch.device("cpu"), products,  # type: ignore[arg-type]
                                  fusion_days=plan.holdout_days)
    best = max(fitted.baselines, key=lambda n: fitted.baselines[n]["hr_at_10"])
    return {"data": label, "holdout_days": plan.holdout_days, "span_days": round(plan.span_days, 1),
            "n_targets": int(fitted.metrics["n_targets"]), "model": fitted.metrics, "sasrec": fitted.sasrec_metrics,
            "baselines": fitted.baselines, "best": best,
            "ratio": fitted.metrics["hr_at_10"] / max(fitted.baselines[best]["hr_at_10"], 1e-12),
            "served": fitted.strategy, "fusion": fitted.fusion, "seconds": round(time.time() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--no-s", action="store_true", help="skip synthetic S")
    parser.add_argument("--set", nargs="*", default=[], help="RecommenderConfig overrides key=value (JSON values)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = rec.RecommenderConfig(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    rows = []
    for seed in args.seeds:
        c = clickstream(seed=seed)
        rows.append(run(f"clickstream seed {seed}", c.events, pd.DataFrame(), c.products, c.as_of, cfg))
    if not args.no_s:
        rows.append(run("synthetic S", *synthetic_s(), cfg))
    names = list(rows[0]["baselines"]) if rows else []
    print("| data | holdout | targets | model HR@10 / NDCG@10 | SASRec alone | "
          + " | ".join(names) + " | model / best | served |")
    print("|---|---|---|---|---|" + "---|" * len(names) + "---|---|")
    for r in rows:
        def cell(m: dict[str, float]) -> str:
            return f"{m['hr_at_10']:.4f} / {m['ndcg_at_10']:.4f}"
        print(f"| {r['data']} | {r['holdout_days']} of {r['span_days']} d | {r['n_targets']} | {cell(r['model'])} | "
              f"{cell(r['sasrec'])} | " + " | ".join(cell(r['baselines'][n]) for n in names)
              + f" | {r['ratio']:.3f} ({r['best']}) | {r['served']} |")
    for r in rows:
        print(f"{r['data']}: fusion {json.dumps({k: round(v, 3) for k, v in r['fusion'].items()})}; "
              f"{r['seconds']} s")


if __name__ == "__main__":
    main()
