"""structlog set-up: JSON lines in production, readable console output locally.

Request-scoped fields (request_id, user_id, exchange, symbol) are bound with
`structlog.contextvars.bind_contextvars` and appear on every event logged while handling it.

Loggers are cached on first use: an uncached module-level logger assembles a new bound logger on
every call, which cost ~20× a cached call even for events under the level. So that configuring
again (each app, each test) still applies to loggers already cached, the cached ones only hold
objects this module keeps and updates in place: one processors list, one wrapper class whose
level methods are replaced, and a logger that writes to whatever `sys.stderr` is at the time.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import structlog

#: the one processors list every cached logger holds (changed in place, never replaced)
_PROCESSORS: list[Any] = []


class _LevelFiltered(structlog.make_filtering_bound_logger(logging.NOTSET)):  # type: ignore[misc]
    """The wrapper class of every logger; `configure_logging` gives it the methods of the level's
    filtering class (events under the level are a `return None`)."""


def _set_level(level: int) -> None:
    for name, value in vars(structlog.make_filtering_bound_logger(level)).items():
        if not name.startswith("__"):
            setattr(_LevelFiltered, name, value)


class _StderrLogger:
    """Writes each rendered event as one line to the current `sys.stderr`."""

    _lock = threading.Lock()  # the SQLite writer thread logs too: lines never interleave

    def msg(self, message: str) -> None:
        stream = sys.stderr
        with self._lock:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


_STDERR = _StderrLogger()


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    _PROCESSORS[:] = [*shared, structlog.processors.format_exc_info, renderer] if fmt == "json" \
        else [*shared, renderer]
    _set_level(logging.getLevelName(level))
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=_LevelFiltered,
        logger_factory=lambda *args: _STDERR,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
