"""Training on CPU vs CUDA (bf16 autocast): wall time, throughput and holdout quality per model.

    python benchmarks/training_devices.py [--scale 4] [--json out.json]

Each of the torch recipes is fitted with its own ``fit_and_evaluate`` on in-memory frames (no
warehouse) once per device, in the same process, on the same data and seed: session intent
(synthetic session features), demand forecaster (pooled daily panel), risk (card transactions),
recommender (the synthetic S clickstream). ``--scale`` multiplies the frame sizes so the GPU has
work to do. On a machine without CUDA only the CPU rows are printed.

Why this exists: the recipes pick ``cuda`` by themselves when one is present (``pick_device``)
and train under bf16 autocast there (``common.autocast``); this is the measurement that the GPU
path is faster *and* lands on the same quality as the CPU path, which unit tests cannot show.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures import synthetic_frames as sf  # noqa: E402

D = date(2024, 3, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def session_intent(scale: int) -> tuple[int, Callable[[torch.device], dict[str, float]]]:
    from tasks.train import session_intent as si

    frame = sf.session_features(D, n=4000 * scale, seed=0)

    def run(device: torch.device) -> dict[str, float]:
        fitted = si.fit_and_evaluate(frame, si.SessionIntentConfig(), device)
        return {"metric": "pr_auc", "value": fitted.metrics["pr_auc"], "epochs": fitted.best_epoch + 1}

    return len(frame), run


def demand(scale: int) -> tuple[int, Callable[[torch.device], dict[str, float]]]:
    from tasks.train import demand_forecaster as dm

    sales = sf.daily_item_sales_pooled(D, n_products=60 * scale, days=120, seed=0)

    def run(device: torch.device) -> dict[str, float]:
        fitted = dm.fit_and_evaluate(sales, dm.DemandConfig(epochs=15, horizon_days=14), device)
        return {"metric": "wape", "value": fitted.metrics["wape"], "epochs": 15}

    return len(sales), run


def risk(scale: int) -> tuple[int, Callable[[torch.device], dict[str, float]]]:
    from tasks.train import risk as rk

    frame = sf.transaction_velocity(D, n=4000 * scale, seed=0)

    def run(device: torch.device) -> dict[str, float]:
        fitted = rk.fit_and_evaluate(frame, rk.RiskConfig(), device)
        return {"metric": "pr_auc", "value": fitted.metrics["pr_auc"], "epochs": rk.RiskConfig().epochs}

    return len(frame), run


def recommender(scale: int) -> tuple[int, Callable[[torch.device], dict[str, float]]]:
    """The synthetic shop's clickstream: S at --scale < 10, M (50k users, 5k items) from 10."""
    from tasks.ingest.synthetic import generate
    from tasks.train import recommender as rec

    shop = generate("S" if scale < 10 else "M", seed=42)
    products = shop["products"].rename(columns={"price": "list_price"})
    cfg = rec.RecommenderConfig()
    inter = rec.interactions_from_frames(shop["events"], shop["order_lines"], cfg)
    plan = rec.plan_split(inter, shop.end, cfg)

    def run(device: torch.device) -> dict[str, float]:
        fitted = rec.fit_and_evaluate(inter, plan.split, shop.end, cfg, device, products,
                                      fusion_days=plan.holdout_days)
        return {"metric": "hr_at_10", "value": fitted.metrics["hr_at_10"], "epochs": cfg.epochs}

    return len(inter), run


MODELS = {"session_intent": session_intent, "demand_forecaster": demand, "risk": risk, "recommender": recommender}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--devices", nargs="*", default=["cpu", "cuda"],
                        help="cpu first: the speed-up column is relative to it")
    args = parser.parse_args()
    devices = [torch.device(d) for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, CUDA: {name}, "
          f"bf16: {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}\n")
    rows = []
    for model in args.models:
        n_rows, run = MODELS[model](args.scale)
        if torch.cuda.is_available():  # CUDA context + kernels compiled before any timing
            torch.zeros(1, device="cuda").sum().item()
        for device in devices:
            _sync(device)
            t0 = time.perf_counter()
            out = run(device)
            _sync(device)
            seconds = time.perf_counter() - t0
            rows.append({"model": model, "device": device.type, "rows": n_rows, "seconds": seconds, **out})
            print(f"  {model} on {device.type}: {seconds:.1f} s, {out['metric']} {out['value']:.4f}", flush=True)
    print("\n| model | rows | device | seconds | rows×epochs/s | metric | value | speed-up vs CPU | Δ metric vs CPU |")
    print("|---|---:|---|---:|---:|---|---:|---:|---:|")
    cpu = {r["model"]: r for r in rows if r["device"] == "cpu"}
    for r in rows:
        base = cpu.get(r["model"], r)
        print(f"| {r['model']} | {r['rows']:,} | {r['device']} | {r['seconds']:.1f} | "
              f"{r['rows'] * r['epochs'] / r['seconds']:,.0f} | {r['metric']} | {r['value']:.4f} | "
              f"{base['seconds'] / r['seconds']:.2f}× | {r['value'] - base['value']:+.4f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
