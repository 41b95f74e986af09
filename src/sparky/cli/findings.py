"""One line of `sparky check`: how bad (`ok`, `warn`, `FAIL`), what was checked, and what was
found, with how to fix it when it is not ok."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass(frozen=True)
class Finding:
    level: str
    subject: str
    text: str

    def line(self) -> str:
        """One line whatever the text holds (a driver's error may span several)."""
        return f"{self.level:<4}  {self.subject}: {' '.join(self.text.split())}"


def ok(subject: str, text: str) -> Finding:
    return Finding(OK, subject, text)


def warn(subject: str, text: str) -> Finding:
    return Finding(WARN, subject, text)


def fail(subject: str, text: str) -> Finding:
    return Finding(FAIL, subject, text)


def without_password(url: str) -> str:
    """`url` as it may be printed: a password in it replaced by `***`."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<the configured URL>"
    return urlunsplit(parts._replace(netloc=netloc))
