"""Campaign uplift's served baselines: when the net loses on the holdout, the best servable
baseline (segment rule or the scikit-uplift T-learner) is registered as its own version, is the
champion, and ``serving.campaign_audiences`` is scored from it with ``model_version`` naming it.

The net is crippled on purpose (a learning rate that leaves it at its random initialisation),
so on synthetic S a baseline beats it; the served scores are checked against the scores the
training evaluated on the holdout (a recomputation, not a stored number).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.ingest.synthetic import generate
from tasks.score.campaign_audiences import TABLE, score_campaign_audiences
from tasks.train import registry
from tasks.train import uplift as up
from tasks.train.common import load_artefact
from tasks.warehouse import read_frame
from tests.train.test_uplift import AS_OF, _write_shop

CPU = torch.device("cpu")
# lr tiny, one epoch, one member: the net stays at its seeded random initialisation.
CRIPPLED = replace(up.UpliftConfig(), lr=1e-9, epochs=1, members=1, patience=1)


@pytest.fixture(scope="module")
def shop_s():
    return generate("S", 42)


def test_baseline_served_when_the_net_loses(isolated_home, shop_s) -> None:  # noqa: ANN001
    _write_shop(shop_s)
    result = up.train(AS_OF, "run-1", CRIPPLED)
    learned = result.baseline_metrics.get(f"learned:{up.MODEL_NAME}")
    assert learned is not None, f"the crippled net was not beaten: {result}"
    name = result.version.split("-baseline_", 1)[1].split("-", 1)[0]
    assert name in {up.SEGMENT_RULE, up.T_LEARNER}
    assert result.metrics["qini_auc"] > learned["qini_auc"]
    # Every servable baseline that beats the net is considered; the served one is the best of them.
    servable_qini = [result.metrics["qini_auc"]] + [result.baseline_metrics[n]["qini_auc"]
                                                    for n in (up.SEGMENT_RULE, up.T_LEARNER) if n != name]
    assert result.metrics["qini_auc"] == max(servable_qini)
    assert registry.champion(up.MODEL_NAME).version == result.version

    # The served artefact reproduces the holdout scores the training evaluated for that baseline.
    art = load_artefact(result.artefact_uri)
    assert art.serving_strategy == f"baseline:{name}"
    frame, _ = up.read_training_frame(AS_OF)
    fitted = up.fit_and_evaluate(frame, CRIPPLED, CPU)
    served = up.predict(art, fitted.holdout, CPU)
    np.testing.assert_allclose(served["expected_uplift"].to_numpy(), fitted.scores[name], atol=1e-9)
    assert served["propensity"].between(0, 1).all() and served["p_control"].between(0, 1).all()

    # The scorer serves it: every row names the baseline version and says why.
    n = score_campaign_audiences(AS_OF, "score-1")
    rows = read_frame(f"SELECT * FROM {TABLE} ORDER BY campaign_id, rank")
    assert n == len(rows) > 0
    assert (rows["model_version"] == result.version).all()
    assert rows["reason"].str.contains(f"baseline {name}", regex=False).all()
    assert (rows["expected_uplift"] > 0).all()
    assert all(part["expected_uplift"].is_monotonic_decreasing for _, part in rows.groupby("campaign_id"))
    if name == up.SEGMENT_RULE:  # the rule's uplift is its segment's observed treated - control rate
        rates = art.preprocessing["segment_rates"]
        expected = rows["segment"].map(lambda s: rates[s][1] - rates[s][0])
        np.testing.assert_allclose(rows["expected_uplift"].to_numpy(), expected.to_numpy())
    # Re-scoring the partition is idempotent.
    assert score_campaign_audiences(AS_OF, "score-1") == n
    pd.testing.assert_frame_equal(read_frame(f"SELECT * FROM {TABLE} ORDER BY campaign_id, rank"), rows)
