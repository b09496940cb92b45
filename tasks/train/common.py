"""What every training recipe shares: configs, device, seeding, artefacts, results.

Each model recipe (``tasks/train/<model>.py``) reads like torchtune's recipes:
config -> data window -> train -> evaluate against a baseline on the same
holdout -> save an artefact (weights + everything scoring needs) -> register.
The pieces below keep those recipes short and make them behave the same way:
the same seed gives the same weights, the same config + data window gives the
same version string, and the same code runs on CPU and CUDA.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from pydantic import ConfigDict, TypeAdapter, ValidationError

from tasks.config_errors import describe
from tasks.settings import get_settings

log = logging.getLogger(__name__)

ARTEFACT_FILES = ("model.pt", "config.json", "metrics.json")


# ---------------------------------------------------------------- configs ---
@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every model; subclasses add model fields.

    Frozen so a config cannot drift between hashing (version) and training.
    Validation runs in ``__post_init__`` so an invalid config never exists. A config read
    from a file (``config_from_dict``) is first checked by pydantic against the field types
    of the (sub)class; ``__pydantic_config__`` (inherited by every model's config) makes an
    unknown key an error there.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    seed: int = 42
    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-5
    num_threads: int = 1
    # 0: every epoch is ceil(n / batch_size) steps. N > 0: the batch grows so that an epoch is at
    # most N steps (``epoch_batch_size``): on a big shop a small batch spends the run in per-step
    # overhead (session intent on M: 1,615 steps of 128 per epoch, 330 s), while small data keep
    # the batch they were tuned with.
    max_steps_per_epoch: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on a setting that cannot train; subclasses extend."""
        _check(self.seed >= 0, "seed must be >= 0")
        _check(self.epochs >= 1, "epochs must be >= 1")
        _check(self.batch_size >= 1, "batch_size must be >= 1")
        _check(self.lr > 0, "lr must be > 0")
        _check(self.weight_decay >= 0, "weight_decay must be >= 0")
        _check(self.num_threads >= 1, "num_threads must be >= 1")
        _check(self.max_steps_per_epoch >= 0, "max_steps_per_epoch must be >= 0 (0: no cap)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


C = TypeVar("C", bound=TrainConfig)


class ConfigError(ValueError):
    """A model config (e.g. an artefact's ``config.json``) does not fit its config class."""


@cache
def _adapter(cls: type[TrainConfig]) -> TypeAdapter:
    return TypeAdapter(cls)


def config_from_dict(cls: type[C], values: Mapping[str, Any], source: str | None = None) -> C:
    """Rebuild a config from ``config.json`` (or any mapping) with pydantic.

    Unknown keys are an error, not ignored, so an artefact written by a newer recipe cannot
    be silently mis-read; a wrong type (``hidden: [64, "x"]``) or an out-of-range value is an
    error naming the key path. JSON lists become the tuples the dataclass declares.
    ``source`` (e.g. the file) is named in the message.
    """
    try:
        return _adapter(cls).validate_python(dict(values))
    except ValidationError as exc:
        where = f"{source}: {cls.__name__}" if source else cls.__name__
        raise ConfigError(f"{where}: " + "; ".join(describe(exc, cls, top="config"))) from None


# ----------------------------------------------------------------- torch ----
def pick_device(preference: str | None = None) -> torch.device:
    """The device from ``settings.torch_device``: 'auto' -> CUDA if available else CPU.

    An explicit 'cuda' without a GPU is an error rather than a silent CPU run, so
    a misconfigured GPU worker fails loudly instead of training 50x slower.
    """
    pref = (preference or get_settings().torch_device or "auto").lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(pref)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"ECOMFLOW_TORCH_DEVICE={pref!r} but CUDA is not available")
    return device


def setup_torch(cfg: TrainConfig) -> None:
    """Seed every RNG and cap intra-op threads: these models are tiny, so extra threads
    only add synchronisation, which is very slow when other tasks share the cores."""
    torch.set_num_threads(max(1, min(cfg.num_threads, os.cpu_count() or 1)))
    seed_everything(cfg.seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 (else fp16) autocast on CUDA only; on CPU a no-op so results match the
    reference CPU path exactly."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling is only needed for fp16 (bf16 has fp32's range)."""
    enabled = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler("cuda", enabled=enabled)


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches from an explicit generator (deterministic by seed,
    independent of any other RNG use in the process)."""
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def epoch_batch_size(n: int, cfg: TrainConfig) -> int:
    """The minibatch size ``fit`` uses for ``n`` rows: ``cfg.batch_size``, grown to
    ``ceil(n / cfg.max_steps_per_epoch)`` when that cap is set and ``n`` would exceed it."""
    if cfg.max_steps_per_epoch <= 0:
        return cfg.batch_size
    return max(cfg.batch_size, -(-n // cfg.max_steps_per_epoch))


def fit(
    model: torch.nn.Module,
    tensors: Mapping[str, torch.Tensor],
    loss_fn: Callable[[torch.nn.Module, Mapping[str, torch.Tensor]], torch.Tensor],
    cfg: TrainConfig,
    device: torch.device,
    after_epoch: Callable[[int], bool] | None = None,
) -> list[float]:
    """Train ``model`` with AdamW over shuffled minibatches of ``tensors``.

    ``loss_fn(model, batch)`` returns the scalar loss of one batch, so each recipe
    only states its loss and the loop (device moves, autocast, scaling, seeding)
    stays in one place. ``after_epoch(epoch)`` (e.g. validation for early stopping)
    runs after every epoch and returns True to stop. Returns the mean loss of every
    epoch (for logs/tests).
    """
    model.to(device)
    data = {k: v.to(device) for k, v in tensors.items()}
    n = len(next(iter(data.values())))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = grad_scaler(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    batch_size = epoch_batch_size(n, cfg)
    history: list[float] = []
    for epoch in range(cfg.epochs):
        model.train()
        total, count = 0.0, 0
        for idx in minibatches(n, batch_size, gen):
            batch = {k: v[idx.to(device)] for k, v in data.items()}
            opt.zero_grad(set_to_none=True)
            with autocast(device):
                loss = loss_fn(model, batch)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        history.append(total / max(count, 1))
        if after_epoch is not None and after_epoch(epoch):
            break
    model.eval()
    return history


# -------------------------------------------------------------- windows ----
@dataclass(frozen=True)
class DataWindow:
    """The half-open window ``[start, end)`` of event time a model learned from.

    ``end`` is the as_of instant: nothing at or after it was read.
    """

    start: datetime
    end: datetime

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, values: Mapping[str, str]) -> DataWindow:
        return cls(datetime.fromisoformat(values["start"]), datetime.fromisoformat(values["end"]))


def as_of_instant(as_of_date: date) -> datetime:
    """``as_of_date`` 00:00: the instant the daily run's data ends (CONTRACTS.md)."""
    return datetime(as_of_date.year, as_of_date.month, as_of_date.day)


def make_version(model: str, as_of_date: date, cfg: TrainConfig, window: DataWindow, *,
                 data: str, code: str) -> str:
    """``<model>-<as_of_date>-<hash8>``, a pure function of code + config + data.

    ``data`` and ``code`` are content fingerprints (``tasks/train/fingerprints.py``): two
    trainings on different rows, or with different training code, get different versions.
    Re-running the same training yields the same version, so the registry row and
    the artefact folder are replaced rather than duplicated.
    """
    payload = json.dumps({"config": cfg.to_dict(), "window": window.to_dict(), "data": data, "code": code},
                         sort_keys=True)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:8]
    return f"{model}-{as_of_date.isoformat()}-{digest}"


# ------------------------------------------------------------ artefacts ----
@dataclass
class Artefact:
    """A trained model on disk: weights, what is needed to rebuild and feed it, metrics.

    ``preprocessing`` holds everything scoring must reproduce exactly (feature list,
    normalisation stats, vocabularies, thresholds) so scoring never re-derives it
    from newer data.
    """

    model: str
    version: str
    config: dict[str, Any]
    window: DataWindow
    state_dict: dict[str, torch.Tensor]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> metrics
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None  # set by load_artefact: where files besides the weights live

    @property
    def serving_strategy(self) -> str:
        """``learned`` (the weights) or ``baseline:<name>`` (a served baseline; recipe.py)."""
        return str(self.preprocessing.get("serving_strategy", "learned"))

    @property
    def seed(self) -> int:
        return int(self.config["seed"])


def artefact_dir(model: str, version: str) -> Path:
    return get_settings().artefact_root / model / version


def save_artefact(art: Artefact) -> Path:
    """Write ``model.pt`` + ``config.json`` + ``metrics.json``; returns the folder.

    Files are written to temporary names and renamed so a crash never leaves a
    half-written artefact that the registry could point at.
    """
    folder = artefact_dir(art.model, art.version)
    folder.mkdir(parents=True, exist_ok=True)
    common = {"model": art.model, "version": art.version, "seed": art.seed,
              "data_window": art.window.to_dict()}
    config_doc = {**common, "config": art.config, "preprocessing": art.preprocessing}
    metrics_doc = {**common, "feature_list": art.preprocessing.get("features", []),
                   "metrics": art.metrics, "baseline_metrics": art.baseline_metrics,
                   **art.extra_metrics}
    state = {k: v.detach().cpu() for k, v in art.state_dict.items()}
    _atomic_write(folder / "model.pt", lambda p: torch.save(state, p))
    _atomic_write(folder / "config.json",
                  # preprocessing may hold inf on purpose (risk's "never block" cut); Python's json
                  # round-trips it, and config.json is read only by load_artefact.
                  lambda p: p.write_text(json.dumps(config_doc, indent=2, sort_keys=True, default=str)))
    _atomic_write(folder / "metrics.json",
                  lambda p: p.write_text(dumps_json(metrics_doc, indent=2, sort_keys=True)))
    return folder


def _atomic_write(path: Path, writer: Callable[[Path], Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp)
    tmp.replace(path)


def load_artefact(uri: str | Path, device: torch.device | None = None) -> Artefact:
    """Read an artefact folder written by ``save_artefact`` (weights only, no pickle code)."""
    folder = Path(str(uri).removeprefix("file://"))
    missing = [f for f in ARTEFACT_FILES if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"artefact {folder} is missing {missing}")
    config_doc = json.loads((folder / "config.json").read_text())
    metrics_doc = json.loads((folder / "metrics.json").read_text())
    state = torch.load(folder / "model.pt", map_location=device or "cpu", weights_only=True)
    known = {"model", "version", "seed", "data_window", "feature_list", "metrics", "baseline_metrics"}
    return Artefact(
        model=config_doc["model"],
        version=config_doc["version"],
        config=config_doc["config"],
        window=DataWindow.from_dict(config_doc["data_window"]),
        state_dict=state,
        preprocessing=config_doc.get("preprocessing", {}),
        metrics=metrics_doc.get("metrics", {}),
        baseline_metrics=metrics_doc.get("baseline_metrics", {}),
        extra_metrics={k: v for k, v in metrics_doc.items() if k not in known},
        folder=folder,
    )


# ------------------------------------------------------------------ JSON ----
def json_safe(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None (JSON null), numpy scalars as Python.

    Why: JSON has no NaN. A metric that cannot be computed (price WAPE of a source without
    prices) is NaN, and ``json.dumps(allow_nan=False)`` in Airflow's XCom raised "Out of range
    float values are not JSON compliant" after the model was registered. Null means "metric
    unavailable" everywhere (registry JSON, XCom summary, artefact metrics.json).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``json_safe(value)`` that fails loudly on anything still non-finite."""
    return json.dumps(json_safe(value), allow_nan=False, default=str, **kwargs)


# --------------------------------------------------------------- results ----
@dataclass(frozen=True)
class TrainResult:
    """What a training run did, for the DAG log and tests.

    ``status`` is the registry status of the new version (champion|challenger), or
    ``skipped`` when there was nothing trainable (``reason`` says why).
    """

    model: str
    status: str
    version: str | None = None
    artefact_uri: str | None = None
    window: DataWindow | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> metrics
    champion_metrics: dict[str, float] | None = None
    reason: str = ""

    @classmethod
    def skipped(cls, model: str, reason: str, window: DataWindow | None = None) -> TrainResult:
        log.warning("%s: training skipped: %s", model, reason)
        return cls(model=model, status="skipped", window=window, reason=reason)


def standardise_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means/stds from training rows only (std floored so constant columns stay 0)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float64), std.astype(np.float64)


def standardise_apply(x: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    return ((x - np.asarray(mean)) / np.asarray(std)).astype(np.float32)
