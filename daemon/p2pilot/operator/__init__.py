"""Operator commands: one audited layer the CLI, the console and Telegram all call.

Public API (stable; see each method's docstring for its contract)::

    from p2pilot.operator import Operator, OperatorCommands, Outcome, ReleaseStatus

    commands = OperatorCommands(store, config)
    who = Operator("alice", "console")          # source: cli | console | telegram
    commands.approve(who, "1234", lift_hold=False)   -> Outcome
    commands.hold(who, "1234", "buyer disputes")     -> Outcome
    commands.confirm_payment(who, "1234", amount=None, reference=None, payer=None)
    commands.attach(who, payment_id, "1234")
    commands.ignore(who, payment_id)                 # dismiss an unmatched payment
    commands.say(who, "1234", "text")
    commands.pause(who, "main", reason=None) / commands.resume(who, "main")
    commands.blacklist_add(who, "nickname", "bob", reason=None)
    commands.blacklist_remove(who, entry_id)
    commands.release_status("1234")                  -> ReleaseStatus (read only)
    commands.approval_queue()                        -> [dict] (read only: the queue)

Every command taking an order also takes ``account=`` (when ids could clash).
"""

from p2pilot.operator.base import SOURCES, Operator, Outcome
from p2pilot.operator.commands import OperatorCommands
from p2pilot.operator.releases import ReleaseStatus

__all__ = ["SOURCES", "Operator", "OperatorCommands", "Outcome", "ReleaseStatus"]
