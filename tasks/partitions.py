"""Logical partitions handed to every task (the DESIGN's partition contract).

A partition comes from the Airflow run's data interval, never from the wall
clock. Daily work covers ``[dt, dt + 1 day)``; hourly work ``[dt hr:00, +1h)``.
``as_of`` is the end of that window: features computed "as of" a partition use
only data with event time strictly before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True, order=True)
class Partition:
    dt: date
    hr: int | None = None

    def __post_init__(self) -> None:
        if self.hr is not None and not 0 <= self.hr <= 23:
            raise ValueError(f"hour must be 0..23, got {self.hr}")

    @property
    def is_hourly(self) -> bool:
        return self.hr is not None

    @property
    def start(self) -> datetime:
        return datetime(self.dt.year, self.dt.month, self.dt.day, self.hr or 0)

    @property
    def end(self) -> datetime:
        return self.start + (timedelta(hours=1) if self.is_hourly else timedelta(days=1))

    @property
    def as_of(self) -> datetime:
        """Features for this partition see only data strictly before this instant."""
        return self.end

    @property
    def path_suffix(self) -> str:
        """Hive-style folder suffix used in the lake: ``dt=YYYY-MM-DD[/hr=HH]``."""
        base = f"dt={self.dt.isoformat()}"
        return f"{base}/hr={self.hr:02d}" if self.is_hourly else base

    @property
    def label(self) -> str:
        return self.dt.isoformat() + (f"T{self.hr:02d}" if self.is_hourly else "")

    def hours(self) -> list[Partition]:
        """The 24 hourly partitions of a daily partition (itself if hourly)."""
        if self.is_hourly:
            return [self]
        return [Partition(self.dt, h) for h in range(24)]

    @classmethod
    def parse(cls, text: str) -> Partition:
        """Parse ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH`` (also accepts full ISO datetimes)."""
        text = text.strip()
        if len(text) == 10:
            return cls(date.fromisoformat(text))
        moment = datetime.fromisoformat(text[:13] + ":00" if len(text) == 13 else text)
        return cls(moment.date(), moment.hour)

    @classmethod
    def daily_from_interval(cls, start: datetime) -> Partition:
        return cls(start.date())

    @classmethod
    def hourly_from_interval(cls, start: datetime) -> Partition:
        return cls(start.date(), start.hour)


def daily_range(first: date, last: date) -> list[Partition]:
    """Inclusive list of daily partitions."""
    if last < first:
        raise ValueError(f"empty range: {first} > {last}")
    return [Partition(first + timedelta(days=i)) for i in range((last - first).days + 1)]


DEMO_HOUR = 12  # the demo's hourly partition: noon of the daily partition, a busy hour


@dataclass(frozen=True)
class RunPlan:
    """The partitions a demo/first run uses so that it loads everything a source has.

    ``history_start``: first day of the historical load (``[history_start, daily)``);
    ``daily``: the last complete day; ``hourly``: noon of ``daily`` (a busy hour; the last
    hour with data when the source ends before noon). The hourly run re-loads its hour of
    the daily partition (an idempotent replace) and scores it, as the hourly runs of that day
    do in production; the hours ``[hourly.dt T00, hourly)`` are loaded as earlier hourly runs
    would have.
    """

    history_start: date
    daily: Partition
    hourly: Partition


#: Entities whose rows are dated ahead of the activity they describe (the events calendar).
KNOWN_AHEAD = frozenset({"calendar"})


def plan_run(spans: dict[str, tuple[datetime, datetime]], hourly_entities: set[str]) -> RunPlan:
    """Pick the run's partitions from each entity's (first, last) time.

    Why "last complete day": a source's last day is often partial (an export cut at some
    hour, sessions spilling past midnight); treating it as a day would show a demand drop
    to the forecaster and a short day to every daily feature. An hourly entity's last day
    is complete when its data reaches that day's last hour (23:00); a daily entity (a date
    or a sign-up stamp) is whole by its grain. Only activity (hourly) entities decide when
    the source has any, so a derived ``users`` table (first seen in the tail) cannot pull a
    partial day into the daily run. A partial tail is loaded by the hourly runs that follow
    the daily run in production (the demo stops at the last complete day: a partial day is
    not a day to report on). A source of less than one complete
    day runs that day as its daily partition. There is no minimum length: a source of a
    couple of days plans a run (the models decide what they can learn from it).
    """
    if not spans:
        raise ValueError("the source has no rows in any entity: nothing to plan")
    # A calendar lists dates known in advance (a daily-sales panel's calendar runs weeks past its
    # sales): its extent says nothing about which days have data, unless it is all there is.
    spans = {e: s for e, s in spans.items() if e not in KNOWN_AHEAD} or spans
    first = min(f for f, _ in spans.values()).date()
    activity = {e: s for e, s in spans.items() if e in hourly_entities}
    if activity:
        last = max(end for _, end in activity.values())
        complete = last.date() if last.hour == 23 else last.date() - timedelta(days=1)
        daily = Partition(max(complete, first))
        hourly = Partition(daily.dt, DEMO_HOUR if last.date() > daily.dt else min(DEMO_HOUR, last.hour))
    else:
        daily = Partition(max(end for _, end in spans.values()).date())
        hourly = Partition(daily.dt, DEMO_HOUR)
    return RunPlan(first, daily, hourly)
