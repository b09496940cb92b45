"""Campaign definitions a marketer edits: ``tasks/train/uplift/campaigns.yml``.

Each campaign names what it promotes (``target_categories`` and/or ``target_products``), how
many users it may reach (``budget``), the ``channel`` and, optionally, the days it is active.
The daily scorer (``tasks/score/campaign_audiences.py``) picks, for every campaign active on
the scored day, the ``budget`` users with the highest predicted *incremental* conversion.

The file is validated with pydantic (unknown keys, wrong types and impossible values are
errors); ``CampaignFileError`` names the file and the key path as the YAML spells it
(``campaigns[1].budget: ...``), so the person who edited it can fix it without reading code.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.config_errors import describe

DEFAULT_FILE = Path(__file__).with_name("campaigns.yml")


class CampaignFileError(ValueError):
    """The campaign file cannot be used; the message names the file and the key."""


class Campaign(BaseModel):
    """One campaign to build an audience for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
    name: Annotated[str, Field(min_length=1)]
    channel: Annotated[str, Field(min_length=1)]
    budget: Annotated[int, Field(ge=1, description="How many users the campaign may reach.")]
    target_categories: tuple[str, ...] = ()
    target_products: tuple[str, ...] = ()
    active_from: date | None = None
    active_to: date | None = None

    @field_validator("channel")
    @classmethod
    def _lower_channel(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("target_categories")
    @classmethod
    def _lower_categories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().lower() for v in value if v.strip())

    @model_validator(mode="after")
    def _check(self) -> Campaign:
        if not self.target_categories and not self.target_products:
            raise ValueError("a campaign needs target_categories or target_products (what it promotes)")
        if self.active_from and self.active_to and self.active_to < self.active_from:
            raise ValueError(f"active_to {self.active_to} is before active_from {self.active_from}")
        return self

    def is_active(self, day: date) -> bool:
        return (self.active_from is None or self.active_from <= day) and (self.active_to is None
                                                                         or day <= self.active_to)


class CampaignFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaigns: list[Campaign]

    @model_validator(mode="after")
    def _unique_ids(self) -> CampaignFile:
        ids = [c.campaign_id for c in self.campaigns]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"campaign_id must be unique; repeated: {duplicated}")
        return self


def load_campaigns(path: Path | str = DEFAULT_FILE) -> list[Campaign]:
    """Every campaign of the file, validated; ``CampaignFileError`` names file and key path."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CampaignFileError(f"{path}: campaign file not found") from None
    except yaml.YAMLError as exc:
        raise CampaignFileError(f"{path}: not valid YAML: {exc}") from None
    try:
        return CampaignFile.model_validate(raw if raw is not None else {}).campaigns
    except ValidationError as exc:
        raise CampaignFileError(f"{path}: " + "; ".join(describe(exc, CampaignFile, top="file"))) from None


def active_campaigns(day: date, path: Path | str = DEFAULT_FILE) -> list[Campaign]:
    return [c for c in load_campaigns(path) if c.is_active(day)]
