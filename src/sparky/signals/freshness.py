"""The server-wide signal age limit, `MAX_SIGNAL_AGE_SEC`, for every sender (the local user too).

An entry whose alert `timestamp` is older than the limit (or more than a minute in the future) is
refused like a user's own `max_signal_age_sec` refuses it: recorded, and answered 429 with
`limitType: signal_age`. A user's own limit can only be stricter; it is checked with the other
risk limits. Exits are never refused for their age: a late close still takes the user out of the
position they asked to leave, and a limit must never keep them in it.
"""

from __future__ import annotations

from datetime import datetime

from sparky.signals.gates import Rejection, risk_rejection
from sparky.signals.models import Signal
from sparky.signals.risk import signal_age_decision

SETTING = "MAX_SIGNAL_AGE_SEC"


def stale_signal(signal: Signal, now: datetime, max_age_sec: float) -> Rejection | None:
    """The refusal of an entry older than `max_age_sec` (0 disables the check), or None."""
    if not signal.action.is_entry or not max_age_sec:
        return None
    decision = signal_age_decision(signal.timestamp, now, max_age_sec, SETTING)
    return None if decision is None else risk_rejection(decision)
