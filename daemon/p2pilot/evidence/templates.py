"""Bank message templates: from the text of an SMS, a push or a receipt, the money it reports.

A template is a sender pattern and a text pattern whose named groups say where
the ``amount``, the ``payer`` and, when the bank gives them, the ``reference`` and
the ``currency`` are. The first template whose sender pattern fits and whose
pattern finds the groups wins; a text no template reads is kept as unparsed by
the caller, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from p2pilot.evidence.amounts import AmountError, currency_of, parse_amount

REQUIRED_GROUPS = ("amount", "payer")
OPTIONAL_GROUPS = ("reference", "currency")
MAX_TEXT = 8192  # a bank message, a receipt's text: not a book
MAX_PAYER = 120
FLAGS = re.IGNORECASE | re.DOTALL
_SPACES = re.compile(r"\s+")


class TemplateError(ValueError):
    """A template's patterns cannot be used (bad regex, missing group)."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a text pattern and check it names ``amount`` and ``payer``."""
    if "(?<" in pattern and "(?<=" not in pattern and "(?<!" not in pattern:
        raise TemplateError("write named groups as (?P<amount>...), not (?<amount>...)")
    try:
        compiled = re.compile(pattern, FLAGS)
    except re.error as exc:
        raise TemplateError(f"not a valid regular expression: {exc}") from exc
    missing = [g for g in REQUIRED_GROUPS if g not in compiled.groupindex]
    if missing:
        names = ", ".join(f"(?P<{g}>...)" for g in missing)
        raise TemplateError(f"the pattern needs the named group(s) {names}")
    unknown = set(compiled.groupindex) - set(REQUIRED_GROUPS) - set(OPTIONAL_GROUPS)
    if unknown:
        allowed = ", ".join(REQUIRED_GROUPS + OPTIONAL_GROUPS)
        raise TemplateError(f"unknown named group(s) {', '.join(sorted(unknown))}: use {allowed}")
    return compiled


def compile_sender(pattern: str) -> re.Pattern[str]:
    """Compile a sender pattern (searched in the sender, case-insensitively)."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise TemplateError(f"not a valid regular expression: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Template:
    """One ``[[evidence.templates]]`` entry, compiled."""

    name: str
    pattern: re.Pattern[str]
    sender: re.Pattern[str] | None = None  # None: any sender
    currency: str | None = None  # when the text names none
    decimal_separator: str | None = None  # "," or "."; None: read from the text

    @classmethod
    def build(
        cls,
        name: str,
        pattern: str,
        *,
        sender: str | None = None,
        currency: str | None = None,
        decimal_separator: str | None = None,
    ) -> Template:
        """A template from its config strings; TemplateError if a pattern is unusable."""
        return cls(
            name=name,
            pattern=compile_pattern(pattern),
            sender=compile_sender(sender) if sender else None,
            currency=currency,
            decimal_separator=decimal_separator,
        )

    def fits_sender(self, sender: str | None) -> bool:
        """Does this template apply to messages from ``sender``?

        A template with a sender pattern never reads a message whose sender is
        unknown: the pattern is what keeps a look-alike text from anyone out.
        """
        if self.sender is None:
            return True
        return sender is not None and self.sender.search(sender) is not None


@dataclass(frozen=True, slots=True)
class Reading:
    """What a template read from a text."""

    template: str
    amount: Decimal
    currency: str
    payer: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One template tried on a text: what it read, or why it read nothing."""

    template: str
    reading: Reading | None
    problem: str | None


def read_with(template: Template, text: str) -> Attempt:
    """Apply one template to ``text`` (the sender is not checked here)."""
    found = template.pattern.search(text[:MAX_TEXT])
    if found is None:
        return Attempt(template.name, None, "pattern does not match")
    groups = {k: (v or "").strip() for k, v in found.groupdict().items()}
    try:
        amount = parse_amount(groups["amount"], decimal_separator=template.decimal_separator)
    except AmountError as exc:
        return Attempt(template.name, None, f"amount: {exc}")
    currency = (
        currency_of(groups.get("currency", ""))
        or currency_of(groups["amount"])
        or template.currency
    )
    if currency is None:
        return Attempt(template.name, None, "no currency in the text and none in the template")
    payer = _SPACES.sub(" ", groups["payer"]).strip()[:MAX_PAYER]
    if not any(ch.isalpha() for ch in payer):
        return Attempt(template.name, None, "payer has no name in it")
    reference = _SPACES.sub(" ", groups.get("reference", "")).strip() or None
    return Attempt(template.name, Reading(template.name, amount, currency, payer, reference), None)


def read_text(
    templates: Sequence[Template], text: str, *, sender: str | None = None
) -> Reading | None:
    """The first template's reading of ``text`` from ``sender``, or None if none reads it."""
    for attempt in attempts(templates, text, sender=sender):
        if attempt.reading is not None:
            return attempt.reading
    return None


def attempts(
    templates: Sequence[Template],
    text: str,
    *,
    sender: str | None = None,
    check_sender: bool = True,
) -> list[Attempt]:
    """Every template tried in order, with what each read or why not (for test-template)."""
    results = []
    for template in templates:
        if check_sender and not template.fits_sender(sender):
            results.append(Attempt(template.name, None, f"sender {sender!r} does not fit"))
            continue
        results.append(read_with(template, text))
    return results
