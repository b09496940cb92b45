"""The mapping format's shape (tasks/ingest/sources/mapping_config.py, pydantic models with
extra="forbid"): every unknown key anywhere in the file is reported at once, each with the
mapping file, its key path and the key it probably meant. No data is read."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from tasks.ingest.sources import MappingError
from tasks.ingest.sources.mapping_config import check_shape, load_mapping
from tasks.settings import REPO_ROOT

GOOD = """\
source_name: my_shop
description: a shop
sessions: {derive: true, inactivity_minutes: 20}
files:
  - path: events.csv
    csv: {delimiter: "|"}
    entity: events
    timestamp: {column: ts, format: "%Y-%m-%d %H:%M:%S"}
    columns:
      event_id: {row_number: true, prefix: "e"}
      user_id: {column: visitor, matches: "^v"}
      event_type: kind
      product_id: item
    event_type_map: {pv: view, atc: cart}
    features: {basket_size: numeric, channel: {column: ch, type: categorical}}
  - path: orders.csv
    entity: order_lines
    timestamp: ordered_at
    columns: {order_id: o, line_number: {row_number: true, within: [o]}, user_id: u, product_id: p,
              quantity: q, unit_price: up, currency: {constant: EUR}}
"""


def _load(tmp_path: Path, body: str):  # noqa: ANN202 - Mapping
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(textwrap.dedent(body))
    return load_mapping(mapping)


def test_the_good_mapping_loads_with_its_shorthands(tmp_path: Path) -> None:
    mapping = _load(tmp_path, GOOD)
    events, orders = mapping.files
    assert events.columns["event_type"].source == ("kind",)
    assert events.columns["user_id"].matches == "^v"
    assert orders.timestamp.column == "ordered_at"
    assert {n: f.type for n, f in events.features.items()} == {"basket_size": "numeric", "channel": "categorical"}
    assert mapping.derive.sessions and mapping.derive.inactivity_minutes == 20


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("{column: visitor, matches:", "{column: visitor, matchs:",
     "files[0].columns.user_id.matchs: unknown key(s) ['matchs'] (did you mean 'matches'?)"),
    ("{column: ch, type: categorical}", "{colum: ch, type: categorical}",
     "files[0].features.channel.colum: unknown key(s) ['colum'] (did you mean 'column'?)"),
    ("inactivity_minutes: 20", "inactivity_minute: 20",
     "sessions.inactivity_minute: unknown key(s) ['inactivity_minute'] (did you mean 'inactivity_minutes'?); "
     "allowed keys are ['derive', 'inactivity_minutes']"),
    ("description: a shop", "descripton: a shop",
     "descripton: unknown key(s) ['descripton'] at the top level (did you mean 'description'?)"),
    ("    entity: order_lines", "    entity: order_lines\n    id_column: [order_id]",
     "files[1].id_column: unknown key(s) ['id_column'] (did you mean 'id_columns'?)"),
    ("  - path: orders.csv", "  - pth: orders.csv", "files[1]: missing required key(s) ['path']"),
    ("timestamp: {column: ts, format:", "timestamp: {col: ts, format:",
     "files[0].timestamp: missing required key(s) ['column']"),
])
def test_a_shape_mistake_names_file_key_path_and_hint(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    with pytest.raises(MappingError) as err:
        _load(tmp_path, GOOD.replace(old, new))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'mapping.yml'}: "), message
    assert expected in message, message


def test_every_unknown_key_is_reported_at_once(tmp_path: Path) -> None:
    body = GOOD.replace('csv: {delimiter: "|"}', 'csv: {delimeter: "|"}').replace("description:", "descripton:")
    with pytest.raises(MappingError) as err:
        _load(tmp_path, body)
    assert "files[0].csv.delimeter: unknown key(s) ['delimeter'] (did you mean 'delimiter'?)" in str(err.value)
    assert "descripton: unknown key(s) ['descripton'] at the top level" in str(err.value)


def test_wrong_container_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"mapping\.yml: files: Input should be a valid list"):
        _load(tmp_path, "source_name: x\nfiles: {path: a.csv}\n")


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "tasks" / "ingest" / "mappings").glob("*.yml"))
                         + sorted((REPO_ROOT / "tests" / "scenarios" / "mappings").glob("*.yml"))
                         + sorted((REPO_ROOT / "tests" / "fixtures" / "bad_input").glob("*/mapping.yml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_mappings_have_a_valid_shape(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    if path.parent.name == "wrong_mapping":  # the catalogue's deliberately wrong mapping
        with pytest.raises(MappingError, match=r"files\[2\]\.timestamp\.fromat: unknown key"):
            check_shape(path, doc)
    else:
        check_shape(path, doc)
