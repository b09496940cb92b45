"""Campaign uplift (issue 13): metrics on constructed examples with known answers, the campaign
file's errors, the model against its baselines on synthetic S (planted truth), a real train +
score into DuckDB (idempotent, GX suite), and the skip without campaign history."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.applicability import skip_reason
from tasks.ingest.synthetic import generate
from tasks.score.campaign_audiences import TABLE, score_campaign_audiences
from tasks.train import registry
from tasks.train import uplift as up
from tasks.train.uplift.campaigns import CampaignFileError, load_campaigns
from tasks.train.uplift.features import History
from tasks.train.uplift.metrics import incremental_at_budget, qini_auc, uplift_auc
from tasks.warehouse import read_frame, replace_partition

AS_OF = date(2026, 3, 2)  # synthetic S covers [2026-01-01, 2026-03-02)
CPU = torch.device("cpu")


# ------------------------------------------------------------- metrics ------
def _campaign(n: int = 200) -> pd.DataFrame:
    """Half treated (alternating); in the first 40 % the campaign works (treated convert,
    controls do not), elsewhere nobody converts. Score = position, best first."""
    i = np.arange(n)
    treated = i % 2 == 0
    responsive = i < int(0.4 * n)
    return pd.DataFrame({"campaign_id": "c1", "is_treated": treated,
                         "converted": (treated & responsive).astype(float), "score": -i.astype(float)})


def test_qini_and_auuc_on_a_constructed_campaign() -> None:
    camp = _campaign()
    y, t = camp["converted"].to_numpy(), camp["is_treated"].to_numpy()
    # Treated converters first is the perfect ranking here (no control converts): coefficient 1.
    perfect = np.where((t == 1) & (y == 1), 1.0, 0.0)
    assert qini_auc(y, perfect, t) == pytest.approx(1.0)
    # The uplift curve's perfect order also puts the control non-converters (the treated
    # converters' counterparts) ahead of the rest: AUUC 1 for that order, well below 1 without it.
    perfect_uplift = np.where(((t == 1) & (y == 1)) | ((t == 0) & (y == 0)), 1.0, 0.0)
    assert uplift_auc(y, perfect_uplift, t) == pytest.approx(1.0)
    assert uplift_auc(y, perfect, t) < 0.5
    # The responsive 40 % first is good but not perfect; the reverse order is worse than random.
    good, reverse = qini_auc(y, camp["score"].to_numpy(), t), qini_auc(y, -camp["score"].to_numpy(), t)
    assert 0.3 < good < 1.0
    assert reverse < 0 < good
    random = [qini_auc(y, np.random.default_rng(s).random(len(y)), t) for s in range(20)]
    assert abs(float(np.mean(random))) < 0.15


def test_incremental_conversions_at_the_budget_by_hand() -> None:
    camp = _campaign(200)
    # Top 30 % = 60 rows, all responsive: 30 treated all convert, 30 controls none -> +60 x 1.0.
    total, audience = incremental_at_budget(camp, camp["score"].to_numpy(), 0.3)
    assert (total, audience) == (pytest.approx(60.0), 60.0)
    # Top 50 % = 100 rows: 80 responsive (40 treated converters) + 20 not; rate gap 40/50 - 0 -> 80.
    total, _ = incremental_at_budget(camp, camp["score"].to_numpy(), 0.5)
    assert total == pytest.approx(80.0)
    # The reverse ranking picks only unresponsive users: no incremental conversion.
    assert incremental_at_budget(camp, -camp["score"].to_numpy(), 0.3)[0] == pytest.approx(0.0)


# -------------------------------------------------------- campaign file ------
def test_campaign_file_is_validated_and_errors_name_file_and_key(tmp_path) -> None:
    assert {c.campaign_id for c in load_campaigns()} >= {"spring-garden"}  # the committed file loads
    bad = tmp_path / "campaigns.yml"
    bad.write_text("campaigns:\n  - {campaign_id: a, name: A, channel: Email, budget: 5, target_categories: [Pets]}\n"
                   "  - {campaign_id: b, name: B, channel: sms, budget: 0, target_categories: [pets]}\n")
    with pytest.raises(CampaignFileError, match=r"campaigns\.yml: campaigns\[1\]\.budget: .*greater than or equal to 1"):
        load_campaigns(bad)
    bad.write_text("campaigns:\n  - {campaign_id: a, name: A, channel: email, budgt: 5, target_categories: [x]}\n")
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]\.budgt: unknown key.*did you mean 'budget'"):
        load_campaigns(bad)
    bad.write_text("campaigns:\n  - {campaign_id: a, name: A, channel: email, budget: 5}\n")
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]: a campaign needs target_categories"):
        load_campaigns(bad)
    good = tmp_path / "good.yml"
    good.write_text("campaigns:\n  - {campaign_id: a, name: A, channel: ' Email ', budget: 5, "
                    "target_categories: [' Pets ']}\n")
    (campaign,) = load_campaigns(good)
    assert (campaign.channel, campaign.target_categories) == ("email", ("pets",))


# ---------------------------------------------------- model vs baselines ------
@pytest.fixture(scope="module")
def shop_s():
    return generate("S", 42)


@pytest.fixture(scope="module")
def fitted_s(shop_s):
    exposures = shop_s["campaign_exposures"].assign(
        converted=lambda d: d["converted_at"].notna().astype(float))
    history = History.from_frames(shop_s["events"], shop_s["order_lines"], shop_s["products"], shop_s["users"])
    return up.fit_and_evaluate(history.features(up.training_rows(exposures)), up.UpliftConfig(), CPU)


def _true_incremental(shop, holdout: pd.DataFrame, score: np.ndarray, share: float) -> float:
    """Planted incremental conversions (sum of true uplifts) of each held-out campaign's top share."""
    truth = shop.campaign_truth.set_index(["campaign_id", "user_id"])["true_uplift"]
    tau = truth.loc[list(zip(holdout["campaign_id"], holdout["user_id"], strict=True))].to_numpy()
    total = 0.0
    for rows in holdout.groupby("campaign_id").indices.values():
        top = rows[np.argsort(-score[rows], kind="stable")[: int(np.floor(share * len(rows)))]]
        total += tau[top].sum()
    return float(total)


def test_uplift_beats_propensity_and_every_baseline_on_synthetic_s(shop_s, fitted_s) -> None:
    share = up.UpliftConfig().budget_share
    true = {name: _true_incremental(shop_s, fitted_s.holdout, s, share) for name, s in fitted_s.scores.items()}
    # The planted truth: propensity picks the loyal fans who buy anyway; uplift picks the lapsed fans.
    assert true["learned"] >= 1.25 * true[up.PROPENSITY], true
    assert true["learned"] >= 1.5 * true[up.RANDOM], true
    # On the observed (randomised) outcomes of the held-out campaigns as well.
    m, b = fitted_s.metrics, fitted_s.baselines
    assert m["qini_auc"] > max(b[name]["qini_auc"] for name in b), (m, b)
    assert m["incremental_at_budget"] > b[up.PROPENSITY]["incremental_at_budget"] > b[up.RANDOM]["incremental_at_budget"]
    assert set(b) == {up.RANDOM, up.SEGMENT_RULE, up.PROPENSITY, up.T_LEARNER}
    assert m["n_holdout_campaigns"] >= 2


def test_generated_campaigns_plant_segment_dependent_effects(shop_s) -> None:
    exposures, truth = shop_s["campaign_exposures"], shop_s.campaign_truth
    frame = truth.assign(treated=exposures["is_treated"].to_numpy(),
                         converted=exposures["converted_at"].notna().to_numpy())
    rate = frame.groupby(["truth_segment", "treated"])["converted"].mean().unstack()
    lift = rate[True] - rate[False]
    assert lift["lapsed_fan"] > 0.15 > lift["loyal_fan"]  # persuadables vs sure things
    assert rate.loc["loyal_fan", False] > rate.loc["lapsed_fan", False]  # sure things buy anyway
    assert (exposures["reported_at"] > exposures["converted_at"].fillna(exposures["exposed_at"])).all()


# ---------------------------------------------- warehouse train + score ------
def _write_shop(shop) -> None:
    """The marts and the raw table the recipe and the scorer read, from the generated frames."""
    tag = {"_source": "test"}
    ev = shop["events"][["event_id", "session_id", "user_id", "event_type", "product_id", "event_at"]]
    ol = shop["order_lines"][["order_id", "line_number", "user_id", "product_id", "quantity", "unit_price",
                              "is_cancellation", "ordered_at"]]
    frames = {"marts.fct_events": ev, "marts.fct_order_lines": ol,
              "marts.dim_products": shop["products"][["product_id", "category"]],
              "marts.dim_users": shop["users"][["user_id", "signup_at"]],  # no clear PII, even in tests
              "raw.campaign_exposures": shop["campaign_exposures"]}
    for table, frame in frames.items():
        replace_partition(table, frame.assign(**tag), tag)


def _audiences() -> pd.DataFrame:
    return read_frame(f"SELECT * FROM {TABLE} ORDER BY campaign_id, rank")


def test_train_and_score_on_synthetic_s_into_duckdb(isolated_home, shop_s, tmp_path) -> None:
    from tasks.quality import run_suite

    _write_shop(shop_s)
    assert skip_reason("model", up.MODEL_NAME, datetime(2026, 3, 2)) is None
    result = up.train(AS_OF, "run-1")
    assert result.status == "champion", result.reason
    assert set(result.baseline_metrics) == {up.RANDOM, up.SEGMENT_RULE, up.PROPENSITY, up.T_LEARNER}
    assert result.metrics["qini_auc"] > result.baseline_metrics[up.RANDOM]["qini_auc"]

    n = score_campaign_audiences(AS_OF, "score-1")
    first = _audiences()
    assert n == len(first) > 0
    budgets = {c.campaign_id: c.budget for c in load_campaigns()}
    per_campaign = first.groupby("campaign_id")
    assert all(len(part) <= budgets[cid] for cid, part in per_campaign)
    assert all(part["rank"].tolist() == list(range(1, len(part) + 1)) for _, part in per_campaign)
    assert all(part["expected_uplift"].is_monotonic_decreasing for _, part in per_campaign)
    assert (first["expected_uplift"] > 0).all() and first["propensity"].between(0, 1).all()
    assert first["reason"].str.startswith("segment: ").all()
    assert (first["model_version"] == result.version).all() and (first["run_id"] == "score-1").all()
    assert not first["user_id"].str.contains("@").any()
    run_suite("serving_campaign_audiences", {"as_of_date": AS_OF})

    # Re-running the partition replaces it with the same rows (idempotent).
    assert score_campaign_audiences(AS_OF, "score-1") == n
    pd.testing.assert_frame_equal(_audiences(), first)

    # A bad campaign file fails the scorer with the key named; the partition is left as it was.
    bad = tmp_path / "campaigns.yml"
    bad.write_text("campaigns:\n  - {campaign_id: x, name: X, channel: email, budget: -3, target_categories: [pets]}\n")
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]\.budget"):
        score_campaign_audiences(AS_OF, "score-2", campaigns_file=bad)
    assert len(_audiences()) == n

    # No campaign active that day: the partition is replaced by an empty one (and the GX gate allows it).
    ended = tmp_path / "ended.yml"
    ended.write_text("campaigns:\n  - {campaign_id: x, name: X, channel: email, budget: 3, target_categories: [pets],"
                     " active_to: 2026-02-01}\n")
    assert score_campaign_audiences(AS_OF, "score-3", campaigns_file=ended) == 0
    assert _audiences().empty
    run_suite("serving_campaign_audiences", {"as_of_date": AS_OF})


def test_skips_with_a_reason_without_campaign_history(isolated_home) -> None:
    reason = skip_reason("model", up.MODEL_NAME, datetime(2026, 3, 2))
    assert reason is not None and "raw.campaign_exposures" in reason
    result = up.train(AS_OF, "run-1")
    assert result.status == "skipped" and "no campaign_exposures" in result.reason
    assert registry.champion(up.MODEL_NAME) is None


def test_features_only_see_history_before_the_send(shop_s) -> None:
    """An event or order at or after the send instant changes nothing (point-in-time)."""
    exposures = shop_s["campaign_exposures"]
    rows = up.training_rows(exposures[exposures["campaign_id"] == "C0005"])
    sent, user = rows["exposed_at"].iloc[0], rows["user_id"].iloc[0]
    product = shop_s["products"]["product_id"].iloc[0]
    later_event = pd.DataFrame({"event_id": ["late"], "session_id": ["late"], "user_id": [user], "event_type": ["view"],
                                "product_id": [product], "event_at": [sent]})
    later_order = shop_s["order_lines"].iloc[[0]].assign(user_id=user, product_id=product, ordered_at=sent)
    args = (shop_s["products"], shop_s["users"])
    before = History.from_frames(shop_s["events"], shop_s["order_lines"], *args).features(rows)
    after = History.from_frames(pd.concat([shop_s["events"], later_event]),
                                pd.concat([shop_s["order_lines"], later_order]), *args).features(rows)
    pd.testing.assert_frame_equal(before, after)
    # ... while the same event a second earlier is counted.
    earlier = later_event.assign(event_at=sent - pd.Timedelta(seconds=1))
    moved = History.from_frames(pd.concat([shop_s["events"], earlier]), shop_s["order_lines"], *args).features(rows)
    assert moved["n_events_30d"].iloc[0] == before["n_events_30d"].iloc[0] + 1
