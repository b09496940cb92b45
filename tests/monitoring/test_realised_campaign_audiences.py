"""Realised metrics of served campaign audiences: a planted randomised send where the selected
users respond to the campaign and the others do not; the served audience's realised uplift beats
a random audience of the same size, and the figures match a recomputation written here."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.monitoring.realised import RealisedConfig, compute_realised_metrics
from tasks.warehouse import replace_partition
from tests.monitoring.planting import D, at, plant

TABLE = "serving.campaign_audiences"
WINDOW = 7
SERVED = D + timedelta(days=1) - timedelta(days=WINDOW)
CAMPAIGN = "pet-essentials"  # in tasks/train/uplift/campaigns.yml, targets category pets
USERS = [f"u{i:03d}" for i in range(400)]


def _audience(users: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"campaign_id": CAMPAIGN, "campaign_name": "Pets", "channel": "push", "user_id": users,
                         "segment": "s", "expected_uplift": np.linspace(0.5, 0.1, len(users)), "propensity": 0.5,
                         "rank": np.arange(1, len(users) + 1), "reason": "r", "as_of_date": SERVED,
                         "model_version": "cu-v1", "run_id": "t", "scored_at": at(SERVED, 0)})


def _plant(rng: np.random.Generator) -> tuple[list[str], pd.DataFrame]:
    """The first 100 users respond to the send (+40 points), the rest do not; all 400 were sent
    at random (half held out). Buyers of pets in the window are the converted users."""
    persuadable = set(USERS[:100])
    treated = rng.random(len(USERS)) < 0.5
    p = np.array([0.1 + (0.4 if (u in persuadable and t) else 0.0) for u, t in zip(USERS, treated, strict=True)])
    converted = rng.random(len(USERS)) < p
    sent = at(SERVED, 9)
    exposures = pd.DataFrame({"campaign_id": CAMPAIGN, "user_id": USERS, "channel": "push",
                              "target_category": "pets", "is_treated": treated, "exposed_at": sent,
                              "converted_at": [sent + timedelta(days=2) if c else None for c in converted],
                              "reported_at": sent + timedelta(days=WINDOW)})
    plant("raw.campaign_exposures", exposures)
    plant("marts.dim_users", [{"user_id": u, "signup_at": at(SERVED - timedelta(days=30))} for u in USERS])
    plant("marts.dim_products", [{"product_id": "pet1", "category": "pets"}, {"product_id": "tv", "category": "tv"}])
    lines = [{"order_id": f"o{i}", "line_number": 1, "user_id": u, "product_id": "pet1", "quantity": 1,
              "unit_price": 3.0, "is_cancellation": False, "ordered_at": sent + timedelta(days=2)}
             for i, (u, c) in enumerate(zip(USERS, converted, strict=True)) if c]
    lines.append({"order_id": "x", "line_number": 1, "user_id": USERS[0], "product_id": "tv", "quantity": 1,
                  "unit_price": 3.0, "is_cancellation": False, "ordered_at": at(D, 23)})  # loaded until D
    plant("marts.fct_order_lines", lines)
    return list(persuadable), exposures.assign(converted=converted)


def _metrics() -> dict[str, float]:
    result = compute_realised_metrics(D, RealisedConfig(campaign_window_days=WINDOW))["campaign_uplift"]
    assert result.skipped is None, result.skipped
    return {r["metric"]: r["value"] for r in result.rows}


def _lift(rows: pd.DataFrame) -> float:
    return rows.loc[rows["is_treated"], "converted"].mean() - rows.loc[~rows["is_treated"], "converted"].mean()


def test_realised_uplift_of_the_audience_against_a_recomputation(isolated_home) -> None:  # noqa: ANN001
    rng = np.random.default_rng(21)
    selected, exposures = _plant(rng)
    audience = _audience(sorted(selected))
    replace_partition(TABLE, audience, {"as_of_date": SERVED})
    got = _metrics()
    chosen = exposures["user_id"].isin(set(selected))
    assert got["realised_uplift_selected"] == pytest.approx(_lift(exposures[chosen]))
    assert got["realised_uplift_not_selected"] == pytest.approx(_lift(exposures[~chosen]))
    treated_sel = exposures[chosen & exposures["is_treated"]]
    assert got["incremental_conversions"] == pytest.approx(_lift(exposures[chosen]) * len(treated_sel))
    uplift = audience.set_index("user_id")["expected_uplift"]
    assert got["expected_incremental_conversions"] == pytest.approx(uplift[treated_sel["user_id"]].sum())
    buyers = set(exposures.loc[exposures["converted"], "user_id"])
    assert got["conversion_rate_selected"] == pytest.approx(len(buyers & set(selected)) / len(selected))
    others = set(USERS) - set(selected)
    assert got["conversion_rate_not_selected"] == pytest.approx(len(buyers & others) / len(others))

    # A random audience of the same size realises less uplift than the one that picked the responders.
    random_audience = _audience(sorted(rng.choice(USERS, size=len(selected), replace=False).tolist()))
    replace_partition(TABLE, random_audience, {"as_of_date": SERVED})
    assert _metrics()["realised_uplift_selected"] < got["realised_uplift_selected"] - 0.1


def test_without_exposures_only_the_observational_conversion(isolated_home) -> None:  # noqa: ANN001
    selected, _ = _plant(np.random.default_rng(3))
    plant("raw.campaign_exposures", pd.DataFrame({
        "campaign_id": ["other"], "user_id": ["u000"], "channel": ["push"], "target_category": ["pets"],
        "is_treated": [True], "exposed_at": [at(SERVED, 9)], "converted_at": [None],
        "reported_at": [at(SERVED + timedelta(days=7))]}))
    replace_partition(TABLE, _audience(sorted(selected)), {"as_of_date": SERVED})
    result = compute_realised_metrics(D, RealisedConfig(campaign_window_days=WINDOW))["campaign_uplift"]
    metrics = {r["metric"] for r in result.rows}
    assert metrics == {"conversion_rate_selected", "conversion_rate_not_selected", "conversion_lift_vs_not_selected"}
    assert any("realised uplift not measurable" in note for note in result.notes)


def test_skips_while_the_window_is_open(isolated_home) -> None:  # noqa: ANN001
    selected, _ = _plant(np.random.default_rng(5))
    replace_partition(TABLE, _audience(sorted(selected)), {"as_of_date": SERVED})
    early = compute_realised_metrics(D - timedelta(days=1), RealisedConfig(campaign_window_days=WINDOW))
    assert "no campaign audience served" in early["campaign_uplift"].skipped
    plant("marts.fct_order_lines", [{"order_id": "x", "line_number": 1, "user_id": "u000", "product_id": "tv",
                                     "quantity": 1, "unit_price": 3.0, "is_cancellation": False,
                                     "ordered_at": at(SERVED)}])
    late = compute_realised_metrics(D, RealisedConfig(campaign_window_days=WINDOW))["campaign_uplift"]
    assert late.skipped and "truth not loaded yet" in late.skipped
