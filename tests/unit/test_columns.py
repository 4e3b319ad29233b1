"""same_named: a record's fields copied by name, in field order, with the exceptions given."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from p2pilot.store.columns import same_named


@dataclass(frozen=True)
class Point:
    name: str
    x: int
    y: int


def test_fields_come_in_field_order_with_the_given_and_without_the_omitted() -> None:
    row = SimpleNamespace(name="p", x=1, y=2, extra="not a field")
    assert same_named(row, Point) == {"name": "p", "x": 1, "y": 2}
    assert list(same_named(row, Point, x=10)) == ["name", "x", "y"]
    assert same_named(row, Point, omit=("name",), y="2") == {"x": 1, "y": "2"}


def test_a_name_that_is_no_field_is_refused() -> None:
    with pytest.raises(TypeError, match="Point has no field"):
        same_named(SimpleNamespace(name="p", x=1, y=2), Point, z=3)
