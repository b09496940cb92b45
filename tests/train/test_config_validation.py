"""Model configs read from a file (an artefact's config.json) are validated by pydantic against
the config class: unknown keys, wrong types and out-of-range values name the key path."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import torch

from tasks.train.common import (
    Artefact,
    ConfigError,
    DataWindow,
    TrainConfig,
    config_from_dict,
    load_artefact,
    save_artefact,
)
from tasks.train.demand_forecaster import DemandConfig
from tasks.train.inventory_policy import InventoryConfig
from tasks.train.recommender import RecommenderConfig
from tasks.train.risk import RiskConfig
from tasks.train.session_intent import SessionIntentConfig
from tasks.train.uplift import UpliftConfig

ALL_CONFIGS = [TrainConfig, RecommenderConfig, SessionIntentConfig, DemandConfig, RiskConfig, InventoryConfig,
               UpliftConfig]


@pytest.mark.parametrize("cls", ALL_CONFIGS)
def test_json_round_trip_restores_tuples(cls: type[TrainConfig]) -> None:
    """config.json holds lists; the dataclasses declare tuples (hashable, frozen)."""
    cfg = cls()
    back = config_from_dict(cls, json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and type(back) is cls


@pytest.mark.parametrize(("cls", "change", "expected"), [
    (RiskConfig, {"hiddn": [64]}, "RiskConfig: hiddn: unknown key(s) ['hiddn'] at the top level "
     "(did you mean 'hidden'?)"),
    (RecommenderConfig, {"embeding_dim": 8}, "embeding_dim: unknown key(s) ['embeding_dim'] at the top level "
     "(did you mean 'embedding_dim'?)"),
    (RiskConfig, {"hidden": [64, "wide"]}, "RiskConfig: hidden[1]: Input should be a valid integer"),
    (DemandConfig, {"epochs": "many"}, "DemandConfig: epochs: Input should be a valid integer"),
    (SessionIntentConfig, {"random_prefix": "perhaps"}, "random_prefix: Input should be a valid boolean"),
    (RiskConfig, {"epochs": 2.5}, "epochs: Input should be a valid integer, got a number with a fractional"),
    (RiskConfig, {"dropout": 1.0}, "RiskConfig: config: dropout must be in [0, 1)"),
    (UpliftConfig, {"budget_share": 1.5}, "UpliftConfig: config: budget_share must be in (0, 1)"),
    (UpliftConfig, {"min_campaigns": 2}, "min_campaigns must be >= 3"),
])
def test_bad_config_names_key_path(cls: type[TrainConfig], change: dict, expected: str) -> None:
    values = {**json.loads(json.dumps(cls().to_dict())), **change}
    with pytest.raises(ConfigError) as err:
        config_from_dict(cls, values)
    assert expected in str(err.value), str(err.value)


def test_source_is_named_and_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"^/a/config\.json: RiskConfig: surprise: unknown key"):
        config_from_dict(RiskConfig, {"surprise": 1}, source="/a/config.json")


def test_an_edited_artefact_config_is_refused(isolated_home: Path) -> None:
    """What the scorers do with a stored artefact: a hand-edited config.json fails loudly."""
    art = Artefact(model="toy", version="toy-2024-03-01-abcdef12", config=RiskConfig().to_dict(),
                   window=DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1)),
                   state_dict=torch.nn.Linear(2, 1).state_dict())
    folder = save_artefact(art)
    doc = json.loads((folder / "config.json").read_text())
    doc["config"]["precison_target"] = 0.8
    (folder / "config.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=r"precison_target: unknown key.*did you mean 'precision_target'"):
        config_from_dict(RiskConfig, load_artefact(folder).config)
