"""What each background loop has done, as `GET /health` shows it to the operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: an error message longer than this is cut (a venue may answer with a whole HTML page)
ERROR_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class LoopError:
    type: str
    message: str
    at: datetime

    @classmethod
    def of(cls, err: BaseException, at: datetime) -> LoopError:
        message = str(err)
        if len(message) > ERROR_MESSAGE_CHARS:
            message = message[:ERROR_MESSAGE_CHARS - 1] + "…"
        return cls(type(err).__name__, message, at)


@dataclass
class LoopState:
    """One loop's counters. `runs` counts every run, failed or not; `leader` is None for loops every
    server runs, else whether this server holds the loop's leader lock right now."""

    name: str
    period_sec: float
    leader_only: bool
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    running: bool = False
    last_started_at: datetime | None = None
    last_duration_ms: float | None = None
    last_error: LoopError | None = None
    next_run_at: datetime | None = None
    leader: bool | None = None
    #: the server id holding the leader lock, when known (leader_only loops with Redis)
    leader_server: str | None = None

    def view(self) -> dict[str, Any]:
        error = self.last_error
        return {
            "periodSec": self.period_sec,
            "leaderOnly": self.leader_only,
            "leader": self.leader,
            "leaderServer": self.leader_server,
            "running": self.running,
            "runs": self.runs,
            "failures": self.failures,
            "consecutiveFailures": self.consecutive_failures,
            "lastStartedAt": _iso(self.last_started_at),
            "lastDurationMs": self.last_duration_ms,
            "lastError": None if error is None else {"type": error.type, "message": error.message,
                                                     "at": _iso(error.at)},
            "nextRunAt": _iso(self.next_run_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
