"""Turn validated ``[[rules]]`` and ``[safety]`` into what the engine runs."""

from __future__ import annotations

from pathlib import Path

from p2pilot.config import Config, RuleConfig
from p2pilot.records import Side
from p2pilot.rules.guards import ApprovalPolicy, ReleaseLimits
from p2pilot.rules.model import (
    Action,
    CommandAction,
    Conditions,
    MarkPaidAction,
    NotifyAction,
    ReleaseAction,
    ReplyAction,
    RepriceAction,
    Rule,
    WebhookAction,
)
from p2pilot.rules.templates import compile_template


def compile_rules(config: Config) -> list[Rule]:
    """Every configured rule, actions in their fixed order (reply, release, ...)."""
    return [compile_rule(rule, config.source.parent) for rule in config.rules]


def release_limits(config: Config) -> ReleaseLimits:
    safety = config.safety
    return ReleaseLimits(
        auto_release=safety.mode != "shadow",
        max_amount=safety.release_max_amount,
        daily_limit=safety.release_daily_limit,
        counterparty_daily_limit=safety.release_counterparty_daily_limit,
        approval=ApprovalPolicy(
            mode="approve" if safety.mode == "approve" else "auto",
            approve_above=safety.approve_above,
            two_person_above=safety.two_person_above,
        ),
    )


def compile_rule(rule: RuleConfig, base: Path) -> Rule:
    c = rule.conditions
    conditions = Conditions(
        side=Side[c.side.upper()] if c.side else None,
        token=c.token,
        currency=c.currency,
        amount_min=c.amount_min,
        amount_max=c.amount_max,
        payment_method=c.payment_method,
        counterparty_min_orders=c.counterparty_min_orders,
        counterparty_min_completion_rate=c.counterparty_min_completion_rate,
        counterparty_min_account_days=c.counterparty_min_account_days,
        text_matches=c.text_matches,
        status=c.status,
        account=c.account,
        payment_confirmed=c.payment_confirmed,
        hours=c.hours,
    )
    actions: list[Action] = []
    for name in rule.actions:
        if name == "reply" and rule.reply is not None:
            attachment = Path(rule.reply.attachment) if rule.reply.attachment else None
            if attachment is not None and not attachment.is_absolute():
                attachment = base / attachment
            actions.append(ReplyAction(compile_template(rule.reply.text), attachment))
        elif name == "release":
            actions.append(ReleaseAction())
        elif name == "mark_paid" and rule.mark_paid is not None:
            actions.append(MarkPaidAction(rule.mark_paid.payment_method))
        elif name == "reprice" and rule.reprice is not None:
            r = rule.reprice
            actions.append(RepriceAction(r.ad, r.to, r.step, r.floor, r.ceiling))
        elif name == "webhook" and rule.webhook is not None:
            hook = rule.webhook
            actions.append(
                WebhookAction(
                    url=hook.url.get_secret_value(),
                    secret=hook.secret.get_secret_value() if hook.secret else None,
                    timeout=hook.timeout.total_seconds(),
                    max_attempts=hook.max_attempts,
                )
            )
        elif name == "notify" and rule.notify is not None:
            notify = rule.notify
            actions.append(
                NotifyAction(
                    urls=tuple(u.get_secret_value() for u in notify.urls),
                    title=compile_template(notify.title) if notify.title else None,
                    body=compile_template(notify.body) if notify.body else None,
                )
            )
        elif name == "command" and rule.command is not None:
            actions.append(
                CommandAction(
                    argv=tuple(rule.command.argv), timeout=rule.command.timeout.total_seconds()
                )
            )
    return Rule(name=rule.name, on=rule.on, conditions=conditions, actions=tuple(actions))
