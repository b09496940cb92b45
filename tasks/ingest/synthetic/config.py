"""Sizes and the planted ground truth of the synthetic shop, in one place.

Every number that a test or ``docs/synthetic_ground_truth.md`` refers to lives
here, so the documentation, the generator and the tests cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEFAULT_START = datetime(2026, 1, 1)


@dataclass(frozen=True)
class ShopSize:
    """How big a generated shop is.

    ``history_days`` is the period before ``start`` in which the existing
    customer base signed up and most products were listed: account-takeover
    fraud needs *old* accounts, and a shop rarely starts on day one.
    """

    name: str
    n_users: int
    n_products: int
    n_days: int
    history_days: int
    sessions_per_day: float


SIZES: dict[str, ShopSize] = {
    "S": ShopSize("S", n_users=400, n_products=120, n_days=60, history_days=30, sessions_per_day=150),
    "M": ShopSize("M", n_users=50_000, n_products=5_000, n_days=90, history_days=60, sessions_per_day=5_000),
    "L": ShopSize("L", n_users=200_000, n_products=20_000, n_days=120, history_days=90, sessions_per_day=10_000),
}

# ---- users -------------------------------------------------------------------
SHARE_USERS_PRE_EXISTING = 0.7  # the rest sign up during the window
PREFERENCE_DIRICHLET_ALPHA = 0.3  # < 1: each user concentrates on a few categories
SHARE_ANONYMOUS_SESSIONS = 0.10  # anonymous sessions browse/compare only, never buy
COUNTRIES = ("GB", "DE", "FR", "NL", "ES", "IT", "PL", "SE", "IE", "US")
COUNTRY_WEIGHTS = (0.30, 0.18, 0.14, 0.08, 0.07, 0.07, 0.05, 0.04, 0.03, 0.04)
DEVICE_TYPES = ("mobile", "desktop", "tablet")
DEVICE_TYPE_WEIGHTS = (0.55, 0.35, 0.10)
SHARE_USERS_TWO_DEVICES = 0.4
PAYMENT_METHODS = ("card", "paypal", "wallet", "bank_transfer")
PAYMENT_METHOD_WEIGHTS = (0.60, 0.25, 0.10, 0.05)
CURRENCY = "EUR"

# ---- traffic seasonality -----------------------------------------------------
# Multiplier of the expected number of sessions per weekday, Monday first.
WEEKLY_MULTIPLIER = (1.00, 0.95, 0.95, 1.00, 1.05, 1.25, 1.20)
# Yearly: 1 + A * cos(2*pi*(day_of_year - PEAK_DAY_OF_YEAR) / 365.25)
YEARLY_AMPLITUDE = 0.30
YEARLY_PEAK_DAY_OF_YEAR = 355  # around 21 December
# Relative session starts per UTC hour 0..23 (evening peak, quiet nights).
HOURLY_PROFILE = (
    0.20, 0.12, 0.08, 0.06, 0.06, 0.10, 0.25, 0.45, 0.65, 0.80, 0.90, 1.00,
    1.10, 1.05, 0.95, 0.90, 0.95, 1.05, 1.25, 1.45, 1.55, 1.40, 0.95, 0.50,
)

# ---- sessions ----------------------------------------------------------------
INTENTS = ("browse", "compare", "buy")
INTENT_WEIGHTS = (0.60, 0.25, 0.15)  # logged-in sessions; anonymous: browse/compare only
# Non-funnel events per session: BASE + Poisson(MEAN)
INTENT_BASE_EVENTS = (1, 5, 2)
INTENT_EXTRA_EVENTS_MEAN = (3.0, 6.0, 3.0)
# Probability that the session ends in a purchase.
INTENT_CONVERSION = (0.01, 0.12, 0.80)
# Event-type mix of the non-funnel events (view, search, cart) per intent.
INTENT_EVENT_MIX = (
    (0.82, 0.12, 0.06),
    (0.70, 0.20, 0.10),
    (0.65, 0.25, 0.10),
)
# Compare/buy sessions stay in their focus category with this probability per event.
FOCUS_CATEGORY_STICKINESS = 0.85
MEAN_SECONDS_BETWEEN_EVENTS = 45.0
# Items bought in a converting session: 1 + Binomial(2, p)
EXTRA_ITEMS_P = 0.25
# Units per line: 1 + Poisson(mean)
EXTRA_UNITS_MEAN = 0.3

# ---- promotions and price elasticity ----------------------------------------
PROMO_STARTS_PER_PRODUCT_PER_WEEK = 0.05
PROMO_LENGTH_DAYS = (3, 7)  # inclusive range
PROMO_DISCOUNT = (0.15, 0.45)  # uniform share off the list price
# Demand multiplier of a product = (price / list_price) ** -ELASTICITY.
# It scales the product's weight when sessions pick products to view, cart and buy.
ELASTICITY_RANGE = (2.0, 3.5)  # per category, uniform
SHARE_PRODUCTS_LAUNCHED_IN_WINDOW = 0.10

# ---- payments and fraud ------------------------------------------------------
TARGET_FRAUD_SHARE = 0.02  # of all transactions
FRAUD_PATTERN_SHARES = {"card_testing": 0.5, "account_takeover": 0.25, "high_value_new_device": 0.25}
CARD_TESTING_BURST_SIZE = (5, 15)  # attempts per burst, inclusive
CARD_TESTING_AMOUNT = (0.50, 5.00)  # EUR per attempt
CARD_TESTING_BURST_MINUTES = 30
ACCOUNT_TAKEOVER_MIN_ACCOUNT_AGE_DAYS = 30
FRAUD_MIN_DAY = 7  # no fraud in the first week: victims need some history
# Legitimate noise that makes fraud not trivially separable.
LEGIT_NEW_DEVICE_SHARE = 0.02  # a session on a never-seen device (new phone)
LEGIT_TRAVEL_SHARE = 0.02  # a payment from another country
# ---- inventory and replenishment (tasks/ingest/synthetic/inventory.py) -------
# The shop's own (historic) policy: each product is reviewed weekly on its own weekday and
# ordered up to about INVENTORY_COVER_DAYS of its average demand (+ Poisson(5) units); the order
# arrives lead_time_days later. Long lead times outrun that cover, so stock runs out.
RESTOCK_DAYS = 7  # review period, days
INVENTORY_COVER_DAYS = 14
# Lead time per product (inclusive ranges; the actual lead time is the quoted one): most products
# come from domestic suppliers, a share is imported and takes weeks -- the spread a single
# days-of-cover rule cannot serve (it overstocks the one or runs the other out).
LEAD_TIME_DAYS = (2, 7)
IMPORTED_LEAD_TIME_DAYS = (14, 28)
SHARE_IMPORTED = 0.3
PACK_SIZES = (1, 2, 4, 6, 12)  # a product's pack is one of these, at most 2 weeks of its demand
MOQ_PACKS = (1, 2)  # minimum order = pack size x a uniform integer in this inclusive range
# The planted "optimal policy" (inventory_truth): the smallest order-up-to level per product
# whose replay over the window reaches this fill rate with the product's lead time and packs.
TRUTH_FILL_TARGET = 0.95

# ---- planted drift (off by default: generate(drift_day=None)) -------------------
# From window day ``drift_day`` every shown price is this factor higher (a supplier price hike
# or a currency switch): unit prices, order amounts and the price rows move, what people buy
# does not (demand weights are relative within a category, so a uniform hike leaves them).
DRIFT_PRICE_FACTOR = 1.6
# ``drift_kind="popularity"`` (tasks/ingest/synthetic/drift.py): from ``drift_day`` each event of
# any other category moves to the hot category with DRIFT_HOT_SHARE_GAINED, one of the cold
# category with DRIFT_COLD_SHARE_MOVED (a toy craze while garden sales collapse). Drawn from the
# stream ``default_rng([seed, DRIFT_STREAM])``: the shop before the drift day is unchanged.
DRIFT_HOT_CATEGORY = "toys"
DRIFT_COLD_CATEGORY = "garden"
DRIFT_HOT_SHARE_GAINED = 0.8
DRIFT_COLD_SHARE_MOVED = 0.95
DRIFT_STREAM = 11

# ---- campaign history (issue 13: campaign audiences) ----------------------------
# Randomised past campaigns (entity ``campaign_exposures``), drawn from their own RNG stream
# ``default_rng([seed, CAMPAIGN_STREAM])`` so every other entity is byte-identical to a shop
# generated without them. docs/synthetic_ground_truth.md "Campaign uplift" explains the truth.
CAMPAIGN_STREAM = 13
CAMPAIGN_FIRST_DAY = 10  # window day of the first campaign: users need some history first
CAMPAIGN_EVERY_DAYS = 2
CAMPAIGN_SEND_HOUR = 9
CAMPAIGN_ATTRIBUTION_DAYS = 7  # a conversion counts within this many days of the send
CAMPAIGN_AUDIENCE_SHARE = 0.8  # of the users signed up before the send, capped at MAX_AUDIENCE
CAMPAIGN_MAX_AUDIENCE = 4_000
CAMPAIGN_TREATED_SHARE = 0.5  # randomised: the rest is the hold-out (control) group
CAMPAIGN_CHANNELS = ("email", "push", "sms")
CAMPAIGN_CHANNEL_WEIGHTS = (0.5, 0.3, 0.2)
CAMPAIGN_CHANNEL_EFFECT = (1.0, 0.6, 1.3)  # multiplies the segment's treatment effect
# Baseline (no-campaign) conversion: sigmoid(B0 + B_AFFINITY * affinity + B_ACTIVITY * log(activity)),
# affinity = the user's planted preference for the target category, activity = planted session rate.
CAMPAIGN_BASE_LOGIT = -3.6
CAMPAIGN_BASE_AFFINITY = 6.0
CAMPAIGN_BASE_ACTIVITY = 1.8
CAMPAIGN_FAN_AFFINITY = 0.12  # preference >= this: a fan of the target category
CAMPAIGN_ACTIVE = 1.0  # planted activity >= this: an active user
CAMPAIGN_HEAVY = 2.0  # planted activity >= this: a heavy user
# Treatment effect (added conversion probability, before the channel factor) per truth segment.
CAMPAIGN_UPLIFT = {
    "lapsed_fan": 0.25,  # fan, not active: the campaign brings them back (persuadables)
    "loyal_fan": 0.02,  # fan, active: buys anyway (sure things)
    "heavy_non_fan": -0.06,  # heavy user, not a fan: annoyed by off-topic messages (sleeping dogs)
    "indifferent": 0.03,  # the rest (lost causes)
}
