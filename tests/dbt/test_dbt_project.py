"""Real dbt builds of dbt_project/ on tiny hand-made raw tables (DuckDB, and PostgreSQL).

These run the dbt CLI exactly as the pipeline does (tasks.transform.dbt_runner), so they
catch SQL that only works on one warehouse, broken contracts, and tests that are not wired.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from tasks import settings as settings_module
from tasks.contracts.marts_schema import MARTS_TABLES
from tasks.ingest.schema import ENTITIES
from tasks.score.common import write_serving
from tasks.transform import DbtError, build_layer, run_dbt
from tasks.transform.dbt_runner import DBT_PROJECT_DIR, dbt_home, generate_docs, source_freshness
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures.postgres_warehouse import postgres_warehouse

MARTS = ("dim_users", "dim_products", "fct_events", "fct_order_lines", "fct_transactions",
         "fct_session_summaries", "fct_daily_item_sales")
SERVING = ("recommendations_enriched", "risk_review_queue", "daily_kpis", "demand_forecasts_enriched",
           "forecast_vs_actual", "session_intent_enriched", "price_recommendations_enriched",
           "search_rankings_enriched", "user_category_affinity_enriched", "inventory_actions_enriched",
           "campaign_audiences_enriched")
# BI use -> the serving models it reads (models/serving/_serving__exposures.yml).
EXPOSURES = {
    "recommendations_dashboard": {"recommendations_enriched"},
    "demand_forecast_review": {"demand_forecasts_enriched", "forecast_vs_actual"},
    "risk_review": {"risk_review_queue"},
    "daily_kpis_dashboard": {"daily_kpis"},
    "session_intent_analysis": {"session_intent_enriched"},
    "price_review": {"price_recommendations_enriched"},
    "replenishment_review": {"inventory_actions_enriched"},
    "campaign_audience_lists": {"campaign_audiences_enriched"},
    "search_personalisation": {"search_rankings_enriched", "user_category_affinity_enriched"},
}
# The columns Python consumers rely on, in model order: the marts' one declaration
# (tasks/contracts/marts_schema.py; docs/CONTRACTS.md, docs/marts_schema.md).
CONTRACT_COLUMNS = {name: spec.column_names for name, spec in MARTS_TABLES.items()}


def _run_results() -> dict[str, str]:
    results = json.loads((dbt_home() / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def _columns(table: str) -> list[str]:
    schema, name = table.split(".")
    frame = read_frame(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t "
        "ORDER BY ordinal_position", {"s": schema, "t": name})
    return list(frame["column_name"])


def _assert_marts(results: dict[str, str]) -> None:
    """Mart contents for SAMPLE_RAW, identical on every warehouse."""
    for mart, cols in CONTRACT_COLUMNS.items():
        assert _columns(f"marts.{mart}") == cols, mart

    users = read_frame("SELECT * FROM marts.dim_users ORDER BY user_id").set_index("user_id")
    assert list(users.index) == ["u1", "u2", "u3"]
    assert users.loc["u1", "country"] == "FR"  # later partition's copy won
    assert pd.isna(users.loc["u2", "country"])  # blank -> null
    assert users.loc["u1", "n_orders"] == 1  # cancellation C1 is not an order
    assert pd.Timestamp(users.loc["u1", "first_order_at"]) == pd.Timestamp("2026-01-02 23:59")
    assert bool(users.loc["u3", "is_signup_inferred"]) is True
    assert pd.Timestamp(users.loc["u3", "signup_at"]) == pd.Timestamp("2026-01-03 12:30")

    products = read_frame("SELECT * FROM marts.dim_products ORDER BY product_id").set_index("product_id")
    assert list(products.index) == ["p1", "p2", "p9"]  # p9: only on an order line, derived
    assert products.loc["p1", "list_price"] == pytest.approx(10.0)
    assert products.loc["p1", "currency"] == "GBP"
    assert [bool(products.loc[p, "is_derived"]) for p in ("p1", "p2", "p9")] == [False, False, True]
    assert pd.Timestamp(products.loc["p9", "created_at"]) == pd.Timestamp("2026-01-03 12:30")

    events = read_frame("SELECT * FROM marts.fct_events ORDER BY event_id")
    assert list(events["event_id"]) == ["e1", "e2", "e3", "e4"]  # re-delivered e1 deduped
    assert list(events["event_type"]) == ["view", "cart", "purchase", "search"]
    assert events.loc[2, "event_date"] == date(2026, 1, 2)  # 23:59 stays on its UTC day
    assert events.loc[0, "device"] == "mobile"

    lines = read_frame("SELECT * FROM marts.fct_order_lines ORDER BY order_id, line_number")
    by_key = lines.set_index(["order_id", "line_number"])
    assert by_key.loc[("o1", 1), "line_amount"] == pytest.approx(20.0)
    assert by_key.loc[("C1", 1), "line_amount"] == pytest.approx(-10.0)
    assert bool(by_key.loc[("C1", 1), "is_cancellation"]) is True
    assert bool(by_key.loc[("o1", 2), "is_cancellation"]) is False
    assert by_key.loc[("o2", 1), "order_date"] == date(2026, 1, 3)

    txns = read_frame("SELECT * FROM marts.fct_transactions ORDER BY transaction_id")
    assert list(txns["payment_method"]) == ["card", "card"]
    assert list(txns["is_fraud"]) == [False, True]

    # Sparse daily sales: non-cancelled lines per product and day (store 'all') + the store total.
    sales = read_frame("SELECT * FROM marts.fct_daily_item_sales").set_index(["product_id", "store_id", "sales_date"])
    assert sorted(sales.index) == [("p1", "all", date(2026, 1, 2)), ("p1", "s1", date(2026, 1, 3)),
                                   ("p2", "all", date(2026, 1, 2)), ("p9", "all", date(2026, 1, 3))]
    assert sales.loc[("p1", "all", date(2026, 1, 2)), "units"] == pytest.approx(2.0)  # C1 is excluded
    assert sales.loc[("p1", "all", date(2026, 1, 2)), "avg_price"] == pytest.approx(10.0)
    assert sales.loc[("p1", "s1", date(2026, 1, 3)), "units"] == pytest.approx(-2.0)  # returns kept
    assert pd.isna(sales.loc[("p1", "s1", date(2026, 1, 3)), "avg_price"])  # no price -> null, not 0
    assert bool(sales.loc[("p1", "s1", date(2026, 1, 3)), "is_promo"]) is True

    sessions = read_frame("SELECT * FROM marts.fct_session_summaries")
    assert list(sessions["session_id"]) == ["ss1"]
    assert sessions.loc[0, "session_date"] == date(2026, 1, 2)

    # Every model/test ran; the order-only product p9 is derived, so no relationship warns on it.
    assert all(status in ("success", "pass", "warn") for status in results.values()), results
    assert results and all(status != "warn" for node, status in results.items()
                           if "relationships_fct_order_lines_product_id" in node), results
    assert sum(1 for node in results if node.startswith("unit_test.")) >= 3


def _write_recommendations() -> None:
    as_of = date(2026, 1, 3)
    base = {"as_of_date": as_of, "model_version": "v1", "run_id": "r1", "scored_at": datetime(2026, 1, 3, 0, 5),
            "strategy": "model"}
    replace_partition("serving.recommendations", pd.DataFrame([
        {"user_id": "u1", "item_id": "p2", "rank": 1, "score": 0.9, **base},
        {"user_id": "u1", "item_id": "p9", "rank": 2, "score": 0.5, **base},
    ]), {"as_of_date": as_of})


def _write_risk_labels() -> None:
    as_of = date(2026, 1, 3)
    base = {"as_of_date": as_of, "model_version": "v1", "run_id": "r1", "scored_at": datetime(2026, 1, 3, 0, 5)}
    labels = pd.DataFrame([
        {"transaction_id": "t1", "user_id": "u1", "risk_score": 0.1, "label": "pass", "action": "none",
         "reasons": "", **base},
        {"transaction_id": "t2", "user_id": "u2", "risk_score": 0.97, "label": "block",
         "action": "freeze_account", "reasons": "amount_to_user_mean", **base},
    ])
    labels["as_of_hour"] = pd.Series([pd.NaT, pd.NaT], dtype="datetime64[ns]")
    replace_partition("serving.risk_labels", labels, {"as_of_date": as_of, "as_of_hour": None})
    # A later hourly re-score of t2 must replace the daily one in the queue, not add to it.
    hourly = labels.iloc[[1]].copy()
    hourly["as_of_hour"] = pd.Timestamp("2026-01-03 03:00")
    hourly["scored_at"] = pd.Timestamp("2026-01-03 04:01")
    hourly["label"] = "review"
    hourly["action"] = "warn"
    replace_partition("serving.risk_labels", hourly,
                      {"as_of_date": as_of, "as_of_hour": pd.Timestamp("2026-01-03 03:00")})


def _write_demand_forecasts() -> None:
    """Forecasts made as of 2026-01-02, through the scorer's own writer. Product-level series
    (p1, p2) and store-level ones (p1@s1, p9@all) side by side, to check both comparisons; the
    mart knows sales through 2026-01-03, so 2026-01-04 has no actual yet."""
    as_of = date(2026, 1, 2)
    base = {"as_of_date": as_of, "model_version": "demand-v1", "run_id": "r1",
            "scored_at": datetime(2026, 1, 2, 0, 0), "price_p50": 10.0}
    rows = [
        ("p1", date(2026, 1, 2), 0.0, 1.0, 3.0),      # sold 2 (store 'all')  -> inside, error 1
        ("p1", date(2026, 1, 3), 0.0, 1.0, 3.0),      # -2 returned at s1     -> outside, error 3
        ("p1@s1", date(2026, 1, 3), -3.0, -1.0, 0.0),  # that store alone      -> inside, error 1
        ("p2", date(2026, 1, 3), 0.0, 1.0, 2.0),      # known day, no sales   -> actual 0
        ("p2", date(2026, 1, 4), 0.0, 1.0, 2.0),      # after the last sales day: unknown
        ("p9@all", date(2026, 1, 3), 1.0, 2.0, 2.5),  # sold 3, derived product without a title
    ]
    write_serving("serving.demand_forecasts", pd.DataFrame(
        [{"item_id": i, "forecast_date": d, "p10": lo, "p50": mid, "p90": hi, **base} for i, d, lo, mid, hi in rows]),
        {"as_of_date": as_of}, model_version=base["model_version"], run_id=base["run_id"])


def _write_session_intent() -> None:
    """One hour's intent scores: a clickstream session (s1), a session-summary one (ss1) and one
    the marts do not know (s-new), through the scorer's own writer."""
    hour = datetime(2026, 1, 2, 10)
    base = {"as_of_date": hour.date(), "as_of_hour": hour, "model_version": "intent-v1", "run_id": "r1",
            "scored_at": datetime(2026, 1, 2, 11), "threshold": 0.5}
    write_serving("serving.session_intent", pd.DataFrame([
        {"session_id": "s1", "user_id": "u1", "p_purchase": 0.8, "intent": "buy", **base},
        {"session_id": "ss1", "user_id": None, "p_purchase": 0.3, "intent": "compare", **base},
        {"session_id": "s-new", "user_id": "u2", "p_purchase": 0.1, "intent": "browse", **base},
    ]), {"as_of_hour": hour}, model_version="intent-v1", run_id="r1")


def _write_inventory_actions() -> None:
    """Two products' actions through the scorer's own writer (p1 is in dim_products, p-gone is not)."""
    as_of = date(2026, 1, 3)
    base = {"category": "kitchen", "stock_on_hand": 2.0, "on_order": 0.0, "inventory_position": 2.0,
            "lead_time_days": 2, "review_days": 7, "protection_days": 9, "pack_size": 12, "moq": 12,
            "demand_mean": 4.5, "demand_std": 2.5, "service_level": 0.95, "safety_stock": 4.1,
            "reorder_point": 8.6, "p_stockout": 0.31, "days_of_cover": 4.0, "demand_source": "own_history",
            "policy": "policy", "as_of_date": as_of, "model_version": "inv-v1", "run_id": "r1",
            "scored_at": datetime(2026, 1, 3)}
    write_serving("serving.inventory_actions", pd.DataFrame([
        {**base, "product_id": "p1", "order_quantity": 12.0, "action": "order",
         "reason": "P(stock-out in 9 days) 0.31 > 0.05 target; order 12 units (1 packs of 12)"},
        {**base, "product_id": "p-gone", "order_quantity": 0.0, "action": "none", "p_stockout": 0.01,
         "reason": "P(stock-out in 9 days) 0.01 <= 0.05 target; no order", "days_of_cover": None},
    ]), {"as_of_date": as_of}, model_version="inv-v1", run_id="r1")


def _write_campaign_audiences() -> None:
    """One campaign's audience through the scorer's own writer (u1 is in dim_users, u-gone is not)."""
    as_of = date(2026, 1, 3)
    base = {"campaign_id": "spring", "campaign_name": "Spring sale", "channel": "email", "propensity": 0.3,
            "as_of_date": as_of, "model_version": "uplift-v1", "run_id": "r1", "scored_at": datetime(2026, 1, 3)}
    write_serving("serving.campaign_audiences", pd.DataFrame([
        {**base, "user_id": "u1", "segment": "lapsed fan", "expected_uplift": 0.2, "rank": 1,
         "reason": "segment: lapsed fan; top drivers: target_share +, n_sessions_30d -"},
        {**base, "user_id": "u3", "segment": "loyal fan", "expected_uplift": 0.05, "rank": 2,
         "reason": "segment: loyal fan; top drivers: target_orders +, channel +"},
    ]), {"as_of_date": as_of}, model_version="uplift-v1", run_id="r1")


def _assert_campaign_audiences() -> None:
    audience = read_frame("SELECT * FROM serving.campaign_audiences_enriched ORDER BY rank").set_index("user_id")
    assert list(audience.index) == ["u1", "u3"] and list(audience["rank"]) == [1, 2]
    assert audience.loc["u1", "user_country"] == "FR" and audience.loc["u1", "user_segment"] == "lapsed fan"
    assert audience.loc["u1", "campaign_name"] == "Spring sale"
    assert audience.loc["u1", "expected_uplift"] == pytest.approx(0.2)
    assert "@" not in str(audience.loc["u1", "user_email_hash"])  # hashed, never the address


def _assert_inventory_actions() -> None:
    actions = read_frame("SELECT * FROM serving.inventory_actions_enriched").set_index("product_id")
    assert sorted(actions.index) == ["p-gone", "p1"]
    assert actions.loc["p1", "product_title"] == "Mug" and actions.loc["p1", "product_category"] == "kitchen"
    assert actions.loc["p1", "action"] == "order"
    assert actions.loc["p1", "order_quantity"] == pytest.approx(12.0)
    assert pd.isna(actions.loc["p-gone", "product_title"]) and pd.isna(actions.loc["p-gone", "days_of_cover"])


def _assert_forecasts() -> None:
    forecasts = read_frame("SELECT * FROM serving.demand_forecasts_enriched").set_index(["item_id", "forecast_date"])
    assert len(forecasts) == 6
    assert forecasts.loc[("p1", date(2026, 1, 2)), "product_title"] == "Mug"
    assert forecasts.loc[("p1", date(2026, 1, 2)), "product_category"] == "kitchen"
    assert forecasts.loc[("p1@s1", date(2026, 1, 3))][["product_id", "location_id"]].tolist() == ["p1", "s1"]
    assert pd.isna(forecasts.loc[("p1", date(2026, 1, 2)), "location_id"])
    assert forecasts.loc[("p2", date(2026, 1, 4)), "horizon_days"] == 2
    assert forecasts.loc[("p2", date(2026, 1, 4)), "price_p50"] == pytest.approx(10.0)

    fva = read_frame("SELECT * FROM serving.forecast_vs_actual").set_index(["item_id", "forecast_date"])
    expected = {  # item, date -> (actual, abs_error, inside P10-P90)
        ("p1", date(2026, 1, 2)): (2.0, 1.0, True),
        ("p1", date(2026, 1, 3)): (-2.0, 3.0, False),  # the product over all stores
        ("p1@s1", date(2026, 1, 3)): (-2.0, 1.0, True),  # that store only
        ("p2", date(2026, 1, 3)): (0.0, 1.0, True),
        ("p9@all", date(2026, 1, 3)): (3.0, 1.0, False),
    }
    for key, (actual, error, inside) in expected.items():
        row = fva.loc[key]
        assert bool(row["is_actual_known"]), key
        assert (row["actual_units"], row["abs_error"], bool(row["is_within_interval"])) == pytest.approx(
            (actual, error, inside)), key
    unknown = fva.loc[("p2", date(2026, 1, 4))]
    assert not bool(unknown["is_actual_known"])
    assert pd.isna(unknown["actual_units"]) and pd.isna(unknown["abs_error"]) and pd.isna(unknown["is_within_interval"])
    assert pd.isna(fva.loc[("p9@all", date(2026, 1, 3)), "product_title"])


def _assert_session_intent() -> None:
    intent = read_frame("SELECT * FROM serving.session_intent_enriched").set_index("session_id")
    assert sorted(intent.index) == ["s-new", "s1", "ss1"]
    s1 = intent.loc["s1"]  # e1 (view), e2 (cart), e3 (purchase at 23:59) on mobile
    assert s1["context_source"] == "events" and (s1["n_events"], s1["n_product_views"], s1["n_cart_adds"]) == (3, 1, 1)
    assert bool(s1["has_purchase"]) and s1["device"] == "mobile" and s1["user_country"] == "FR"
    assert s1["session_duration_seconds"] == pytest.approx((23 * 60 + 59 - (10 * 60 + 5)) * 60)
    assert not bool(s1["is_returning_buyer"])  # u1's first order came after the session started
    ss1 = intent.loc["ss1"]
    assert ss1["context_source"] == "session_summaries" and ss1["n_events"] == 5
    assert ss1["session_duration_seconds"] == pytest.approx(120.0) and pd.isna(ss1["n_cart_adds"])
    assert pd.isna(ss1["user_country"]) and pd.isna(ss1["is_returning_buyer"])  # anonymous
    assert pd.isna(intent.loc["s-new", "context_source"]) and intent.loc["s-new", "intent"] == "browse"
    assert not {"email_hash", "name_hash", "ip_hash", "card_hash"} & set(intent.columns)


def _assert_staging_calendar(results: dict[str, str]) -> None:
    """raw.calendar reaches staging trimmed, with blank classes as null (no mart reads it yet)."""
    assert results["model.ecomflow.stg_raw__calendar"] == "success"
    calendar = read_frame("SELECT * FROM staging.stg_raw__calendar ORDER BY calendar_date")
    assert list(calendar["event_name"]) == ["New Year", "payday"]
    assert list(calendar["calendar_date"]) == [date(2026, 1, 1), date(2026, 1, 2)]
    assert calendar.loc[0, "event_type"] == "national" and pd.isna(calendar.loc[1, "event_type"])
    assert pd.isna(calendar.loc[0, "region"]) and calendar.loc[1, "region"] == "DE"


def _assert_project_documented() -> None:
    """Every model states its grain, keys are tested, and the Python-read marts enforce contracts."""
    manifest = json.loads((dbt_home() / "target" / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert set(MARTS) <= set(models)
    assert {"recommendations_enriched", "daily_kpis", "risk_review_queue"} <= set(models)
    for name, node in models.items():
        assert node["description"].strip(), f"{name} has no description"
        assert node["patch_path"], f"{name} has no yml"
        undocumented = [c for c, spec in node["columns"].items() if not spec.get("description")]
        assert not undocumented, f"{name}: undocumented columns {undocumented}"
        assert node["schema"] in ("staging", "intermediate", "marts", "serving"), node["schema"]
        if name.startswith("stg_"):
            assert name.startswith("stg_raw__")
            assert node["config"]["materialized"] == "view"
    assert {m for m in models if models[m]["schema"] == "serving"} == set(SERVING)
    for model in (*MARTS, *SERVING):
        assert models[model]["config"]["contract"]["enforced"], model
        assert all(spec.get("data_type") for spec in models[model]["columns"].values()), model
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == set(EXPOSURES)
    for name, reads in EXPOSURES.items():
        exposure = exposures[name]
        assert {n.split(".")[-1] for n in exposure["depends_on"]["nodes"]} == reads, name
        # application: a system that reads the model, e.g. the shop's search engine (search_personalisation)
        assert exposure["type"] in ("dashboard", "analysis", "application") and exposure["owner"]["name"], name
        assert exposure["description"].strip(), name
    tested = {n["attached_node"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    assert all(f"model.ecomflow.{m}" in tested for m in models), set(models) - {t.split(".")[-1] for t in tested if t}
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "raw"}
    assert set(sources) == set(ENTITIES)  # every canonical raw table, and a staging view for each
    assert {f"stg_raw__{e}" for e in ENTITIES} == {m for m in models if m.startswith("stg_")}
    assert all(s["freshness"]["warn_after"]["count"] and not s["freshness"]["error_after"].get("count")
               for s in sources.values())


def test_duckdb_build_marts_then_serving(sample_raw: Path, tmp_path: Path) -> None:
    """Staging..marts build on DuckDB from raw; serving builds afterwards from scoring outputs."""
    build_layer("warehouse")
    _assert_marts(_run_results())
    _assert_staging_calendar(_run_results())
    _assert_project_documented()  # from the manifest this build wrote (saves a `dbt parse`)
    # dbt (a subprocess) has released the DuckDB file: we can write to it right away.
    _write_recommendations()
    _write_risk_labels()
    _write_demand_forecasts()
    _write_session_intent()
    _write_inventory_actions()
    _write_campaign_audiences()

    build_layer("serving")
    _assert_forecasts()
    _assert_session_intent()
    _assert_inventory_actions()
    _assert_campaign_audiences()
    recs = read_frame("SELECT * FROM serving.recommendations_enriched ORDER BY rank")
    assert list(recs["item_title"].fillna("?")) == ["Lamp", "?"]
    queue = read_frame("SELECT * FROM serving.risk_review_queue")
    assert list(queue["transaction_id"]) == ["t2"]
    assert queue.loc[0, "label"] == "review"
    assert queue.loc[0, "amount"] == pytest.approx(999.0)
    kpis = read_frame("SELECT * FROM serving.daily_kpis ORDER BY kpi_date").set_index("kpi_date")
    assert kpis.loc[date(2026, 1, 2), "n_orders"] == 1
    assert kpis.loc[date(2026, 1, 2), "gross_revenue"] == pytest.approx(25.5)
    assert kpis.loc[date(2026, 1, 3), "n_risk_review"] == 1

    # `ecomflow docs`: one offline page with the project's models and the warehouse's catalog.
    page = generate_docs().read_text()
    assert "fct_daily_item_sales" in page and "recommendations_enriched" in page
    assert "Sparse -- a day without sales has no row" in page  # the yml description made it in
    assert "forecast_vs_actual" in page and "exposure.ecomflow.demand_forecast_review" in page

    # Contracts are enforced: a serving model whose SQL returns another type fails, naming it,
    # and leaves the table BI reads as it was.
    project = _project_copy(tmp_path)
    model = project / "models" / "serving" / "daily_kpis.sql"
    model.write_text(model.read_text().replace("cast(kpi_dates.kpi_date as date)", "cast(kpi_dates.kpi_date as text)"))
    with pytest.raises(DbtError) as excinfo:
        run_dbt(["run", "--select", "daily_kpis"], project_dir=project)
    assert "model.ecomflow.daily_kpis" in excinfo.value.failed_nodes
    results = json.loads((dbt_home() / "target" / "run_results.json").read_text())["results"]
    message = next(r["message"] for r in results if r["unique_id"] == "model.ecomflow.daily_kpis")
    assert "enforced contract" in message and "kpi_date" in message, message
    assert read_frame("SELECT MIN(kpi_date) AS d FROM serving.daily_kpis")["d"].iloc[0] == date(2026, 1, 2)


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    return project


def test_duplicate_key_in_mart_fails_build(sample_raw: Path, tmp_path: Path) -> None:
    """A mart that emits a key twice must fail `dbt build`, naming the unique test."""
    project = _project_copy(tmp_path)
    model = project / "models" / "marts" / "fct_events.sql"
    sql = model.read_text().rstrip()
    model.write_text(f"{sql}\nunion all\n{sql}\nwhere event_id = 'e2'\n")

    with pytest.raises(DbtError) as excinfo:
        run_dbt(["build", "--select", "+fct_events"], project_dir=project)
    assert any("unique_fct_events_event_id" in node for node in excinfo.value.failed_nodes)
    assert "unique_fct_events_event_id" in str(excinfo.value)


def test_unknown_event_type_fails_build(raw_loader, sample_raw_rows: dict[str, list[dict]]) -> None:
    """An event_type outside view/cart/purchase/search that reached raw stops the build."""
    bad = sample_raw_rows["events"]
    bad[2]["event_type"] = "click"
    raw_loader({"events": bad})
    with pytest.raises(DbtError) as excinfo:
        run_dbt(["build", "--select", "stg_raw__events"])
    assert any("accepted_values_stg_raw__events_event_type" in n for n in excinfo.value.failed_nodes)


@pytest.mark.postgres
def test_postgres_build_marts(raw_loader, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same project and assertions on PostgreSQL (fresh database, dropped afterwards)."""
    with postgres_warehouse(monkeypatch, "ecomflow_dbt_test"):
        assert settings_module.get_settings().dbt_target == "postgres"
        raw_loader()
        build_layer("warehouse")
        _assert_marts(_run_results())
        _assert_staging_calendar(_run_results())
        # Only the daily scorers have run: risk_labels and session_intent do not exist yet and read as empty.
        _write_recommendations()
        _write_demand_forecasts()
        build_layer("serving")
        assert read_frame("SELECT * FROM serving.risk_review_queue").empty
        assert read_frame("SELECT * FROM serving.session_intent_enriched").empty
        _assert_forecasts()
        # dbt source freshness on PostgreSQL: a failed query must not abort the other checks.
        freshness = {r.source: r.status for r in source_freshness()}
        assert freshness["serving_outputs.risk_labels"] == freshness["serving_outputs.session_intent"] == "missing"
        assert freshness["raw.events"] == freshness["serving_outputs.recommendations"] == "warn"
        recs = read_frame("SELECT * FROM serving.recommendations_enriched ORDER BY rank")
        assert list(recs["item_title"].fillna("?")) == ["Lamp", "?"]
        kpis = read_frame("SELECT * FROM serving.daily_kpis WHERE kpi_date = :d", {"d": date(2026, 1, 2)})
        assert kpis.loc[0, "gross_revenue"] == pytest.approx(25.5)


def test_as_of_date_var_bounds_staging_to_earlier_partitions(sample_raw: Path) -> None:
    """The DAG passes the run's as-of date: raw partitions on or after it (e.g. hourly loads of
    the next day) do not reach the marts, so a re-run of day D builds the same marts later on."""
    all_dates = read_frame("SELECT DISTINCT dt FROM raw.events ORDER BY dt")["dt"].tolist()
    assert len(all_dates) >= 2
    cutoff = all_dates[-1]  # the last partition must be left out
    run_dbt(["build", "--select", "staging.stg_raw__events", "staging.stg_raw__users",
             "--exclude-resource-type", "unit_test", "--vars", json.dumps({"as_of_date": str(cutoff)})])
    kept = read_frame("SELECT DISTINCT dt FROM staging.stg_raw__events ORDER BY dt")["dt"].tolist()
    assert kept == all_dates[:-1]
    assert read_frame("SELECT MAX(dt) AS d FROM staging.stg_raw__users")["d"].iloc[0] < cutoff
    with pytest.raises(DbtError):
        run_dbt(["build", "--select", "staging.stg_raw__events", "--vars", json.dumps({"as_of_date": "1 OR 1=1"})])


def test_clickstream_without_users_or_products_derives_dimensions(raw_loader) -> None:
    """A clickstream with no users/products file (and a category id on each event, an extra raw
    column) still gets both dimensions, and the GX mart gates that failed on it now pass."""
    from tasks.partitions import Partition
    from tasks.quality.pipeline_checks import run_suites_for_partition

    empty: dict[str, list[dict]] = {e: [] for e in ("users", "products", "order_lines", "transactions", "sessions")}
    raw_loader({**empty, "events": []})
    events = pd.DataFrame([
        # u7 buys p5 without ever viewing it; u8 views p5 twice in another category spelling.
        {"event_id": "k1", "session_id": "s1", "user_id": "u7", "event_type": "purchase", "product_id": "p5",
         "event_at": datetime(2026, 1, 2, 10), "category": "c-old"},
        {"event_id": "k2", "session_id": "s2", "user_id": "u8", "event_type": "view", "product_id": "p5",
         "event_at": datetime(2026, 1, 2, 11), "category": " c-new "},
        {"event_id": "k3", "session_id": "s2", "user_id": "u8", "event_type": "view", "product_id": "p6",
         "event_at": datetime(2026, 1, 2, 9), "category": None},
        {"event_id": "k4", "session_id": "s3", "user_id": None, "event_type": "search", "product_id": None,
         "event_at": datetime(2026, 1, 2, 12), "category": None},
    ])
    events["dt"], events["hr"], events["_source"] = date(2026, 1, 2), None, "clickstream"
    replace_partition("raw.events", events, {"dt": date(2026, 1, 2)})
    build_layer("warehouse")

    users = read_frame("SELECT * FROM marts.dim_users ORDER BY user_id").set_index("user_id")
    assert list(users.index) == ["u7", "u8"]
    assert pd.Timestamp(users.loc["u8", "signup_at"]) == pd.Timestamp("2026-01-02 09:00")
    assert users["is_signup_inferred"].map(bool).all() and (users["n_orders"] == 0).all()
    products = read_frame("SELECT * FROM marts.dim_products ORDER BY product_id").set_index("product_id")
    assert list(products.index) == ["p5", "p6"]
    assert products.loc["p5", "category"] == "c-new"  # the latest category seen, trimmed
    assert pd.isna(products.loc["p6", "category"])
    assert pd.Timestamp(products.loc["p5", "created_at"]) == pd.Timestamp("2026-01-02 10:00")

    summaries = run_suites_for_partition(
        ["marts_dim_users", "marts_dim_products", "marts_fct_session_summaries", "marts_fct_transactions"],
        Partition(date(2026, 1, 2)), "table")
    by_suite = {s["suite"]: s for s in summaries}
    assert by_suite["marts_dim_users"]["success"] and by_suite["marts_dim_users"]["n_rows"] == 2
    assert by_suite["marts_dim_products"]["success"] and by_suite["marts_dim_products"]["n_rows"] == 2
    # No sessions/transactions file: their gates are skipped with the reason, like their steps.
    assert "raw.sessions" in by_suite["marts_fct_session_summaries"]["skipped"]
    assert "raw.transactions" in by_suite["marts_fct_transactions"]["skipped"]


def test_source_freshness_task_warns_on_old_data_and_reports_each_source(sample_raw: Path) -> None:
    """The daily DAG's `serving.freshness` task: replayed raw data (January 2026) is old and only
    warns, a scoring output written just now passes, outputs no scorer has written yet are
    reported missing; the task succeeds and its log has one line per source table."""
    from ecomflow_airflow.operators import DbtSourceFreshnessOperator

    today = datetime.now(UTC).replace(tzinfo=None)
    write_serving("serving.recommendations", pd.DataFrame([
        {"user_id": "u1", "item_id": "p2", "rank": 1, "score": 0.9, "strategy": "model", "as_of_date": today.date(),
         "model_version": "v1", "run_id": "r1", "scored_at": today}]), {"as_of_date": today.date()},
        model_version="v1", run_id="r1")
    logged: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    runner_log = logging.getLogger("tasks.transform.dbt_runner")
    runner_log.addHandler(handler)
    try:
        results = {r["source"]: r for r in DbtSourceFreshnessOperator(task_id="freshness").execute({})}
    finally:
        runner_log.removeHandler(handler)

    import yaml

    from tasks.transform.dbt_runner import DBT_PROJECT_DIR as project

    declared = [f"{source['name']}.{table['name']}"
                for path in (project / "models").rglob("_*__sources.yml")
                for source in (yaml.safe_load(path.read_text()) or {}).get("sources", [])
                for table in source.get("tables", [])]
    assert sorted(results) == sorted(declared)  # every raw table and every scoring output, once
    events = results["raw.events"]
    assert events["status"] == "warn" and events["age_hours"] > 48 and events["warn_after"] == "2 day"
    assert str(events["max_loaded_at"]).startswith("2026-01-03 08:00")  # e4, the newest event
    assert results["raw.inventory"]["message"] == "table is empty"
    assert results["serving_outputs.recommendations"]["status"] == "pass"
    assert {results[f"serving_outputs.{t}"]["status"] for t in ("risk_labels", "session_intent",
                                                              "demand_forecasts")} == {"missing"}
    lines = [line for line in logged if line.startswith("freshness ")]
    assert sorted(line.split(":")[0].removeprefix("freshness ") for line in lines) == sorted(results)
    assert any(line.startswith("freshness raw.events: WARN - newest row 2026-01-03 08:00:00 UTC") for line in lines)
