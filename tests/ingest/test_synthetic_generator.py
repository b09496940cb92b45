"""The synthetic shop: determinism and the planted ground truth (docs/synthetic_ground_truth.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.ingest.schema import ENTITIES, EVENT_TYPES
from tasks.ingest.synthetic import SyntheticShop, config, generate
from tasks.ingest.synthetic.config import SIZES
from tasks.ingest.synthetic.traffic import expected_sessions


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate("S", seed=42)


def test_same_seed_gives_identical_frames(shop: SyntheticShop) -> None:
    again = generate("S", seed=42)
    for entity, frame in shop.frames.items():
        pd.testing.assert_frame_equal(frame, again[entity], obj=entity)


def test_different_seed_gives_different_data(shop: SyntheticShop) -> None:
    other = generate("S", seed=43)
    assert not shop["events"].head(1000).equals(other["events"].head(1000))
    assert set(shop["products"]["title"]) != set(other["products"]["title"])


def test_frames_use_canonical_columns_and_valid_values(shop: SyntheticShop) -> None:
    pii = {"users": {"email", "name"}, "transactions": {"ip", "card_number", "fraud_pattern"}}
    for entity, frame in shop.frames.items():
        canonical = set(ENTITIES[entity].column_names)
        extra = set(frame.columns) - canonical
        assert extra <= pii.get(entity, set()), (entity, extra)
        for required in ENTITIES[entity].required:
            assert frame[required].notna().all(), (entity, required)
        key = list(ENTITIES[entity].key)
        assert not frame.duplicated(key).any(), (entity, key)
    assert set(shop["events"]["event_type"]) == set(EVENT_TYPES)
    assert (shop["products"]["price"] > 0).all()


def test_size_s_is_small_and_covers_the_window(shop: SyntheticShop) -> None:
    size = SIZES["S"]
    assert len(shop["users"]) == size.n_users
    assert len(shop["products"]) == size.n_products
    # S must stay test-sized: tens of thousands of events, not millions.
    assert 5_000 < len(shop["events"]) < 150_000
    events = shop["events"]["event_at"]
    assert events.min() >= pd.Timestamp(shop.start)
    assert events.max() < pd.Timestamp(shop.end) + pd.Timedelta(hours=6)


def test_events_happen_after_signup_and_listing(shop: SyntheticShop) -> None:
    ev = shop["events"].dropna(subset=["user_id"]).merge(shop["users"][["user_id", "signup_at"]], on="user_id")
    assert (ev["event_at"] > ev["signup_at"]).all()
    ev = shop["events"].dropna(subset=["product_id"]).merge(
        shop["products"][["product_id", "created_at"]], on="product_id")
    assert (ev["event_at"] > ev["created_at"]).all()


def test_fraud_share_and_all_three_patterns_present(shop: SyntheticShop) -> None:
    txn = shop["transactions"]
    share = txn["is_fraud"].mean()
    assert 0.01 <= share <= 0.03, share
    assert set(txn.loc[txn["is_fraud"], "fraud_pattern"]) == set(config.FRAUD_PATTERN_SHARES)
    assert txn.loc[~txn["is_fraud"], "fraud_pattern"].isna().all()


def test_card_testing_is_a_burst_of_small_amounts_on_many_cards(shop: SyntheticShop) -> None:
    txn = shop["transactions"]
    testing = txn[txn["fraud_pattern"] == "card_testing"]
    for _, burst in testing.groupby("device_id"):
        assert burst["user_id"].nunique() == 1
        assert burst["card_number"].nunique() == len(burst) >= config.CARD_TESTING_BURST_SIZE[0]
        assert burst["amount"].max() <= config.CARD_TESTING_AMOUNT[1]
        span = burst["transaction_at"].max() - burst["transaction_at"].min()
        assert span <= pd.Timedelta(minutes=config.CARD_TESTING_BURST_MINUTES)


def test_account_takeover_uses_new_device_and_country_on_old_account(shop: SyntheticShop) -> None:
    txn, users = shop["transactions"], shop["users"].set_index("user_id")
    legit = txn[~txn["is_fraud"]]
    ato = txn[txn["fraud_pattern"] == "account_takeover"]
    assert len(ato) >= 1
    for row in ato.itertuples():
        before = legit[(legit["user_id"] == row.user_id) & (legit["transaction_at"] < row.transaction_at)]
        assert len(before) >= 1, "takeover victims have purchase history"
        assert row.device_id not in set(before["device_id"])
        assert row.country != users.loc[row.user_id, "country"]
        age = row.transaction_at - users.loc[row.user_id, "signup_at"]
        assert age >= pd.Timedelta(days=config.ACCOUNT_TAKEOVER_MIN_ACCOUNT_AGE_DAYS)
        assert row.amount > 3 * legit["amount"].median()


def test_high_value_new_device_fraud_is_expensive_and_new_device(shop: SyntheticShop) -> None:
    txn = shop["transactions"]
    hv = txn[txn["fraud_pattern"] == "high_value_new_device"]
    legit = txn[~txn["is_fraud"]]
    assert len(hv) >= 1
    assert hv["amount"].median() > 3 * legit["amount"].median()
    assert not set(hv["device_id"]) & set(legit["device_id"])
    # Every fraud order has order lines and purchase events (the data stays consistent).
    assert set(hv["order_id"]) <= set(shop["order_lines"]["order_id"])


def test_buy_intent_sessions_convert_more_than_compare_and_browse(shop: SyntheticShop) -> None:
    bought = shop["events"].groupby("session_id")["event_type"].agg(lambda t: (t == "purchase").any())
    truth = shop.session_truth.set_index("session_id").join(bought.rename("converted"))
    rate = truth.groupby("intent")["converted"].mean()
    assert rate["buy"] > 0.6
    assert rate["buy"] > 3 * rate["compare"] > 0
    assert rate["compare"] > rate["browse"]


def test_promotion_days_sell_more_units(shop: SyntheticShop) -> None:
    lines = shop["order_lines"].assign(day=lambda f: f["ordered_at"].dt.normalize())
    units = lines.groupby(["product_id", "day"])["quantity"].sum()
    days = pd.date_range(shop.start, periods=shop.size.n_days, freq="D")
    grid = pd.MultiIndex.from_product([shop["products"]["product_id"], days], names=["product_id", "day"])
    daily = units.reindex(grid, fill_value=0).rename("units").reset_index().sort_values("day")
    prices = shop["prices"].rename(columns={"valid_from": "day"}).sort_values("day")
    daily = pd.merge_asof(daily, prices, on="day", by="product_id").dropna(subset=["price"])
    mean_units = daily.groupby("is_promo")["units"].mean()
    assert daily["is_promo"].any()
    assert mean_units[True] > 1.3 * mean_units[False], mean_units.to_dict()


def test_weekend_traffic_is_higher_than_midweek(shop: SyntheticShop) -> None:
    starts = shop["events"].groupby("session_id")["event_at"].min()
    per_day = starts.dt.normalize().value_counts()
    weekend = per_day[per_day.index.dayofweek >= 5].mean()
    midweek = per_day[per_day.index.dayofweek.isin([1, 2])].mean()
    assert weekend > 1.1 * midweek
    expected = expected_sessions(shop.size, shop.start)
    assert abs(len(starts) - expected.sum()) < 0.1 * expected.sum()


def test_search_queries_use_category_words_and_users_have_preferences(shop: SyntheticShop) -> None:
    searches = shop["events"][shop["events"]["event_type"] == "search"]
    assert searches["query"].notna().all()
    assert searches["product_id"].isna().all()
    views = shop["events"][shop["events"]["event_type"] == "view"].merge(
        shop["products"][["product_id", "category"]], on="product_id")
    top_share = views.groupby("user_id")["category"].agg(lambda c: c.value_counts(normalize=True).iloc[0])
    # Dirichlet(0.3) preferences: a typical user spends far more than 1/12 of views on one category.
    assert top_share.median() > 0.3


def test_inventory_has_daily_snapshots_and_pii_is_dummy(shop: SyntheticShop) -> None:
    inv = shop["inventory"]
    assert inv["snapshot_at"].nunique() == shop.size.n_days
    assert (inv["snapshot_at"] == inv["snapshot_at"].dt.normalize()).all()
    assert (inv["stock_quantity"] >= 0).all()
    assert shop["users"]["email"].str.endswith("@example.com").all()
    cards = shop["transactions"]["card_number"].dropna()
    assert cards.str.fullmatch(r"400000\d{10}").all()


def test_the_demo_hour_of_the_last_full_day_holds_a_planted_card_testing_burst(shop: SyntheticShop) -> None:
    """What `make run`'s hourly demo scores (noon of the plan's daily partition) must contain a
    payment worth a review, else the risk review queue BI reads is empty in the demo."""
    from tasks.ingest.synthetic.payments import DEMO_INCIDENT_ATTEMPTS
    from tasks.partitions import DEMO_HOUR

    txn = shop["transactions"]
    last_day = (pd.Timestamp(shop.end) - pd.Timedelta(days=1)).normalize()
    hour = txn[txn["transaction_at"].dt.floor("h") == last_day + pd.Timedelta(hours=DEMO_HOUR)]
    burst = hour[hour["fraud_pattern"] == "card_testing"]
    assert len(burst) == DEMO_INCIDENT_ATTEMPTS and burst["is_fraud"].all()
    assert burst["user_id"].nunique() == 1 and burst["card_number"].nunique() == len(burst)
    assert not txn.duplicated(["card_number", "transaction_at"]).any()
