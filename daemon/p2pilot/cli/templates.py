"""Bank texts from the operator's side.

``payments test-template FILE``: what the templates read from a sample text.
``payments record ID``: a text no template read becomes evidence, as the operator reads it.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from p2pilot.cli.app import JsonFlag, fail, load, print_json

if TYPE_CHECKING:
    from p2pilot.config.intake import TemplateConfig
    from p2pilot.evidence.templates import Attempt

MAX_SAMPLE_BYTES = 256 * 1024


def payments_group(app: typer.Typer) -> typer.Typer:
    """The ``payments`` command group (created with the evidence commands)."""
    for group in app.registered_groups:
        if group.name == "payments" and group.typer_instance is not None:
            return group.typer_instance
    raise RuntimeError("the payments command group is not registered yet")


def register(app: typer.Typer) -> None:
    """Attach ``payments test-template`` and ``payments record`` to the CLI."""
    payments_app = payments_group(app)
    payments_app.command("test-template")(test_template)
    payments_app.command("record")(record)


def test_template(
    file: Annotated[str, typer.Argument(help="A sample message text, or - for stdin.")],
    sender: Annotated[
        str | None,
        typer.Option("--from", help="The sender, as the forwarder reports it."),
    ] = None,
    templates_file: Annotated[
        Path | None,
        typer.Option(
            "--templates", help="Read [[evidence.templates]] from this file, not the config."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--template", help="Try only the template with this name.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show what each template extracts from a sample text (exit 1 if none reads it)."""
    from p2pilot.evidence.templates import attempts

    text = _read_sample(file)
    configs = _templates_to_try(templates_file, name)
    tried = attempts(
        [c.compiled() for c in configs], text, sender=sender, check_sender=sender is not None
    )
    winner = next((a for a in tried if a.reading is not None), None)
    if as_json:
        print_json(
            {
                "sender": sender,
                "matched": winner.template if winner else None,
                "attempts": [
                    {
                        "template": a.template,
                        "problem": a.problem,
                        "reading": _reading_json(a.reading) if a.reading else None,
                    }
                    for a in tried
                ],
            }
        )
    else:
        _show_attempts(tried, sender=sender, winner=winner)
    if winner is None:
        raise typer.Exit(1)


def _templates_to_try(templates_file: Path | None, name: str | None) -> list[TemplateConfig]:
    """The templates ``--templates`` or the config names, cut to ``--template``; or exit."""
    from p2pilot.config import ConfigError
    from p2pilot.config.intake import load_templates

    if templates_file is not None:
        try:
            configs = load_templates(templates_file)
        except ConfigError as err:
            fail(str(err), code=78)
    else:
        configs = load(logs_to_stderr=True).evidence.templates
    if name is not None:
        configs = [c for c in configs if c.name == name]
        if not configs:
            fail(f"--template: no template named {name!r}", code=2)
    if not configs:
        fail("no [[evidence.templates]] configured (or pass --templates FILE)")
    return configs


def _show_attempts(tried: list[Attempt], *, sender: str | None, winner: Attempt | None) -> None:
    """Each template's answer for a person: what it read, or why it read nothing."""
    from p2pilot.terminal import printable

    for attempt in tried:
        if attempt.reading is None:
            typer.echo(f"{attempt.template}: no ({printable(attempt.problem or '')})")
            continue
        reading = attempt.reading
        typer.echo(f"{attempt.template}: reads")
        typer.echo(f"  amount     {reading.amount}")
        typer.echo(f"  currency   {reading.currency}")
        typer.echo(f"  payer      {printable(reading.payer)}")
        typer.echo(f"  reference  {printable(reading.reference or '-')}")
    if sender is None:
        typer.echo("(sender not checked: pass --from SENDER to check it too)")
    if winner is not None:
        typer.echo(f"used: {winner.template} (the first that reads it)")


def record(
    notification_id: Annotated[int, typer.Argument(help="The unparsed text's id.")],
    amount: Annotated[str, typer.Option(help="Fiat received, as the text says.")],
    payer: Annotated[str, typer.Option(help="Payer name, as the text says.")],
    currency: Annotated[
        str | None, typer.Option(help="Currency (default: the one the text names).")
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Bank reference (default: text-ID).")
    ] = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Bind it to this order directly.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Turn an unparsed bank text (see `payments list`) into payment evidence."""
    from p2pilot.evidence.unparsed import UnparsedError, record_unparsed

    try:
        value = Decimal(amount)
    except InvalidOperation:
        fail(f"--amount {amount!r} is not a number", code=2)
    if not value.is_finite() or value <= 0:
        fail("--amount must be positive", code=2)
    config = load(logs_to_stderr=True)
    try:
        result = record_unparsed(
            config.database.url,
            notification_id,
            policy=config.evidence.match_policy,
            amount=value,
            payer=payer,
            currency=currency,
            reference=reference,
            order_id=order,
        )
    except UnparsedError as exc:
        fail(str(exc))
    document = {
        "notification_id": notification_id,
        "payment_id": result.payment_id,
        "order_id": result.order_id,
        "reason": result.reason,
    }
    if as_json:
        print_json(document)
    else:
        target = result.order_id or "no order yet"
        typer.echo(f"text #{notification_id}: recorded as evidence -> {target} ({result.reason})")


def _read_sample(file: str) -> str:
    try:
        if file == "-":
            data = sys.stdin.buffer.read(MAX_SAMPLE_BYTES + 1)
        else:
            with open(file, "rb") as handle:
                data = handle.read(MAX_SAMPLE_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or type(exc).__name__}", code=2)
    if len(data) > MAX_SAMPLE_BYTES:
        fail(f"{file} is too large for a message", code=2)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text", code=2)


def _reading_json(reading: Any) -> dict[str, Any]:
    return {
        "amount": str(reading.amount),
        "currency": reading.currency,
        "payer": reading.payer,
        "reference": reading.reference,
    }
