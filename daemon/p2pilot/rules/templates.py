"""Message templates: ``{order.amount}``, ``{counterparty.nickname}``, ``{account.name}``.

Fields are checked when the config loads (an unknown one is a config error, not a
surprise at 3 a.m.) and filled from plain strings at run time: no attribute
access, indexing or format specs reach Python objects.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

FIELDS: dict[str, frozenset[str]] = {
    "order": frozenset(
        {
            "id",
            "amount",
            "currency",
            "token",
            "price",
            "quantity",
            "side",
            "status",
            "status_name",
            "counterparty",
            "created_at",
        }
    ),
    "counterparty": frozenset(
        {"nickname", "user_id", "total_orders", "completion_rate", "account_days"}
    ),
    "account": frozenset({"name", "nickname"}),
    "message": frozenset({"text"}),
    "rate": frozenset({"token", "currency", "side", "best", "reference", "previous"}),
    "alert": frozenset({"reason", "message"}),
}


class TemplateError(ValueError):
    """A template refers to a field that does not exist or is malformed."""


@dataclass(frozen=True, slots=True)
class Template:
    """A validated template and the fields it uses."""

    text: str
    fields: frozenset[str]

    def render(self, values: Mapping[str, str]) -> str:
        """Fill the template; a field without a value renders as an empty string."""
        out: list[str] = []
        for literal, field_name, _spec, _conv in string.Formatter().parse(self.text):
            out.append(literal)
            if field_name is not None:
                out.append(values.get(field_name, ""))
        return "".join(out)


def compile_template(text: str) -> Template:
    """Validate ``text``; raises TemplateError naming the bad field."""
    used: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"malformed template ({exc}); write a literal brace as {{{{ or }}}}"
        ) from exc
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if spec or conversion:
            raise TemplateError(f"{{{field_name}}}: format specs and conversions are not supported")
        namespace, _, attribute = field_name.partition(".")
        allowed = FIELDS.get(namespace)
        if allowed is None or attribute not in allowed:
            known = ", ".join(f"{ns}.{a}" for ns in FIELDS for a in sorted(FIELDS[ns]))
            raise TemplateError(f"unknown field {{{field_name}}}; known fields: {known}")
        used.add(field_name)
    return Template(text, frozenset(used))
