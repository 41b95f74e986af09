"""The exchange error hierarchy.

Adapters translate every vendor error into one of these at their edge (`raise ... from err`), so
the executor decides what to do from the type alone, never from a message string.
`retryable` says whether sending the same request again is safe and may succeed.

Messages reach the user who sent the alert, so they hold our short reason — the HTTP status, the
vendor's code and at most a short sentence of the vendor's (`vendor_words`) — never a reply body:
an error page or a JSON document may carry what the user must not read. The whole reply goes to
the server log only.
"""

from __future__ import annotations

import re
from typing import Any

#: longest message an error carries (the rest is cut: a reply body that slipped in stays out)
MAX_MESSAGE = 600
#: longest vendor sentence quoted in a message
VENDOR_WORDS = 120
#: longest excerpt of a vendor reply written to the server log
LOGGED_REPLY = 2000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def vendor_words(text: Any, limit: int = VENDOR_WORDS) -> str:
    """A vendor's own words as a user may read them: one line, no control characters, at most
    `limit` characters. For the short reason of an error (`retMsg`, `errorMessage`), never for a
    whole reply."""
    words = " ".join(_CONTROL.sub(" ", str(text)).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def logged_reply(body: Any) -> str:
    """A vendor reply as the server log keeps it (bounded: a huge error page stays out)."""
    text = body if isinstance(body, str) else repr(body)
    return text if len(text) <= LOGGED_REPLY else text[:LOGGED_REPLY] + "…"


class ExchangeError(Exception):
    """Base class of every error an exchange adapter raises."""

    retryable = False
    #: HTTP status the webhook answers with when this error ends a request.
    http_status = 400

    def __init__(self, message: str, *, exchange: str | None = None) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message
        self.exchange = exchange

    def named(self, venue: str) -> str:
        """The message as users read it, naming the venue once: adapters write `"<venue>: …"`
        themselves, errors raised by shared helpers below an adapter's edge may not."""
        return self.message if self.message.startswith(f"{venue}: ") else f"{venue}: {self.message}"


class AuthenticationError(ExchangeError):
    """The venue refused the credentials (bad key, bad signature, no permission)."""


class InsufficientFunds(ExchangeError):
    """Not enough balance or margin for the order."""


class InvalidOrder(ExchangeError):
    """The venue (or our pre-flight check) refused the order as malformed or too small."""


class UnknownSymbol(InvalidOrder):
    """The venue does not list the symbol."""


class OrderNotFound(ExchangeError):
    """An order looked up or cancelled does not exist (or is no longer open)."""


class NotSupported(ExchangeError):
    """The adapter does not offer the requested capability."""


class RateLimited(ExchangeError):
    """The venue asked us to slow down."""

    retryable = True
    http_status = 429


class ExchangeUnavailable(ExchangeError):
    """The venue could not be reached or answered with a server error before acting."""

    retryable = True
    http_status = 200


class OutcomeUnknown(ExchangeError):
    """The request may or may not have been executed (timeout, 503 after sending).

    Never resend: look the order up by its client order id instead.
    """

    http_status = 200
