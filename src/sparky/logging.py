"""structlog set-up: JSON lines in production, readable console output locally.

Request-scoped fields (request_id, user_id, exchange, symbol) are bound with
`structlog.contextvars.bind_contextvars` and appear on every event logged while handling it.

Loggers are cached on first use: an uncached module-level logger assembles a new bound logger on
every call, which cost ~20× a cached call even for events under the level. So that configuring
again (each app, each test) still applies to loggers already cached, the cached ones only hold
objects this module keeps and updates in place: one processors list, one wrapper class whose
level methods are replaced, and a logger that writes to whatever `sys.stderr` is at the time.

Lines of the standard `logging` module (uvicorn's, the libraries': httpx, asyncio, apprise…) go
through the same renderer: one handler on the root logger formats them with structlog's
`ProcessorFormatter` (the same time stamp, level and request fields first), so production output is
JSON lines only. `sparky serve` starts uvicorn with `log_config=None`, leaving its loggers to this.
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
    # a JSON line carries the traceback as a field; the console renderer prints it itself
    rendering = [structlog.processors.format_exc_info, renderer] if fmt == "json" else [renderer]
    _PROCESSORS[:] = [*shared, *rendering]
    _set_level(logging.getLevelName(level))
    _route_stdlib_logging(level, shared, rendering)
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=_LevelFiltered,
        logger_factory=lambda *args: _STDERR,
        cache_logger_on_first_use=True,
    )


class _CurrentStderrHandler(logging.Handler):
    """Writes each formatted record to the current `sys.stderr`, under the structlog lines' lock."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _STDERR.msg(self.format(record))
        except Exception:
            self.handleError(record)


#: libraries that log every request they make at INFO
_CHATTY = ("httpx", "httpcore", "hpack")
#: libraries whose DEBUG lines print request URLs, where a channel's token may travel (Telegram's
#: `/bot<token>/sendMessage`, through `requests`): never under WARNING, whatever LOG_LEVEL says
_URLS_WITH_SECRETS = ("urllib3", "requests")
#: the one root handler Sparky installs (replaced, never added twice, when configuring again)
_HANDLER_NAME = "sparky.structlog"


def _route_stdlib_logging(level: str, shared: list[Any], rendering: list[Any]) -> None:
    handler = _CurrentStderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    ))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY:  # a line per HTTP request (PostgREST, proxies): shown at DEBUG only
        logging.getLogger(name).setLevel(logging.WARNING if root.level > logging.DEBUG else logging.NOTSET)
    for name in _URLS_WITH_SECRETS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # their records reach the root handler alone
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
