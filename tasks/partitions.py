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
