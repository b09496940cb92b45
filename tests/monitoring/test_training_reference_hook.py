"""The training recipe stores each registered version's input reference (tasks/train/recipe.py hook)."""

from __future__ import annotations

from datetime import date

from tasks.monitoring.reference_profile import load_reference_profile
from tasks.train import registry
from tasks.train import risk as rk
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)


def test_training_a_model_stores_its_input_reference(isolated_home) -> None:  # noqa: ANN001
    frame = synthetic_frames.transaction_velocity(D, seed=2)
    replace_partition(rk.FEATURE_TABLE, frame, {"as_of_date": D, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    rk.train(D, "run-1", rk.RiskConfig(epochs=3))
    versions = set(read_frame("SELECT version FROM ml.model_registry WHERE model = 'risk'")["version"])
    stored = read_frame("SELECT DISTINCT model_version, source_table, reference_as_of_date "
                        "FROM monitoring.reference_profiles WHERE model = 'risk'")
    assert set(stored["model_version"]) == versions  # the learned version and a served baseline, if any
    assert set(stored["source_table"]) == {rk.FEATURE_TABLE} and set(stored["reference_as_of_date"]) == {D}
    reference = load_reference_profile("risk", registry.champion("risk").version, "input")
    assert "is_fraud" not in reference and "transaction_id" not in reference  # label and key not profiled
    numeric = [c for c, r in reference.items() if r.kind == "numeric"]
    assert numeric and all(abs(reference[c].shares.sum() - 1) < 1e-9 for c in reference)
    assert all(reference[c].n_rows == len(frame) for c in reference)
