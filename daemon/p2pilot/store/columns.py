"""Copying a record field by field: from its row, into a row, or into its JSON document."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def same_named(
    source: object, record: type[DataclassInstance], *, omit: Collection[str] = (), **given: Any
) -> dict[str, Any]:
    """The values of ``record``'s fields, each ``source``'s attribute of the same name
    unless ``given`` has it (a column named otherwise, or a value that needs converting);
    none for the fields in ``omit``.

    In ``record``'s field order, so ``same_named(self, Record, at=...)`` is also the
    record's JSON document when its keys are its fields. Either way the caller spells
    out only what differs from a plain copy.
    """
    names = _field_names(record)
    unknown = (given.keys() | set(omit)) - set(names)
    if unknown:
        raise TypeError(f"{record.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return {
        name: given[name] if name in given else getattr(source, name)
        for name in names
        if name not in omit
    }


@cache
def _field_names(record: type[DataclassInstance]) -> tuple[str, ...]:
    # Records are read by the page: look their fields up once.
    return tuple(f.name for f in fields(record))
