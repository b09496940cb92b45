"""Two trainings of one model registering at the same time (issue 10).

Real concurrency: two threads, each with its own warehouse connection, released together by a
barrier so that both read the registry before either writes, on DuckDB and on PostgreSQL.
Without the registry lock, PostgreSQL loses one of the two rows (the second rewrite of the
model's rows was computed from rows that did not hold the first one) and DuckDB fails one of
them with a write-write conflict.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

from tasks.train import registry
from tasks.train.common import DataWindow
from tasks.warehouse import read_frame

WINDOW = DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1))
ROUNDS = 6  # one model per round: a race that is lost only sometimes without the lock still shows


def _register(model: str, version: str, value: float, *, champion_value: float | None,
              evaluated_champion: str | None) -> str:
    return registry.register(
        model=model, version=version, artefact_uri=f"/nowhere/{version}", config={"seed": 1}, window=WINDOW,
        seed=1, metrics={"m": value}, baselines={"base": {"m": 0.1}}, main_metric="m", higher_is_better=True,
        champion_value=champion_value, as_of_date=date(2024, 3, 1), run_id=f"run-{version}",
        evaluated_champion=evaluated_champion, data_fingerprint=f"data-{version}", code_fingerprint="code")


def _race(calls: list[dict]) -> list[str]:
    """Run the registrations in parallel threads started together; re-raise any failure."""
    barrier = threading.Barrier(len(calls))
    results: list[str | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = _register(**calls[i])
        except BaseException as exc:  # noqa: BLE001 - reported below with the others
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"concurrent registration failed: {failures!r}"
    return results  # type: ignore[return-value]


def test_first_registrations_of_one_model_are_serialised(any_warehouse) -> None:
    for i in range(ROUNDS):
        model = f"toy_{i}"
        statuses = _race([
            {"model": model, "version": f"{model}-a", "value": 0.6, "champion_value": None, "evaluated_champion": None},
            {"model": model, "version": f"{model}-b", "value": 0.7, "champion_value": None, "evaluated_champion": None},
        ])
        rows = read_frame("SELECT version, status, data_fingerprint FROM ml.model_registry WHERE model = :m "
                          "ORDER BY version", {"m": model})
        assert rows["version"].tolist() == [f"{model}-a", f"{model}-b"], f"round {i}: a row was lost"
        assert (rows["status"] == "champion").sum() == 1, rows.to_dict("records")
        assert sorted(statuses) == ["challenger", "champion"]
        assert rows["data_fingerprint"].tolist() == [f"data-{model}-a", f"data-{model}-b"]
        # Whoever registered second saw the first one's champion, which it was never compared with.
        log = registry.decisions(model).set_index("version")
        loser = rows.loc[rows["status"] == "challenger", "version"].item()
        assert log.loc[loser, "decision"] == "kept_champion"
        assert "champion changed to" in log.loc[loser, "reason"]
        assert len(read_frame("SELECT * FROM ml.evaluations WHERE model = :m", {"m": model})) == 2


def test_challengers_of_one_champion_registering_at_once(any_warehouse) -> None:
    _register("toy", "v0", 0.5, champion_value=None, evaluated_champion=None)
    # Both beat v0 on their own holdout; only the first to register may replace it.
    _race([{"model": "toy", "version": v, "value": 0.8, "champion_value": 0.5, "evaluated_champion": "v0"}
           for v in ("v1", "v2")])
    statuses = {e.version: e.status for e in registry.entries("toy")}
    assert set(statuses) == {"v0", "v1", "v2"}
    assert statuses["v0"] == "retired"
    assert sorted([statuses["v1"], statuses["v2"]]) == ["challenger", "champion"]
    decisions = registry.decisions("toy")
    assert sorted(decisions["decision"]) == ["kept_champion", "promoted", "promoted"]
