"""CCXT exceptions → our error hierarchy, at the adapter edge.

CCXT has already turned each venue's error *code* into one of its exception classes (its
per-venue `exceptions.exact` tables), so we choose by class (isinstance, most specific first),
never by message text. The one thing the class cannot say is whether an order request reached the
venue: for order-placing calls every failure that may have happened after sending (timeout, 5xx,
dropped connection, an unreadable reply) is `OutcomeUnknown`, so the caller looks the order up by
client id instead of resending it.
"""

from __future__ import annotations

import decimal
import socket
from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
import ccxt.async_support as ccxt

from sparky.exchanges import errors

T = TypeVar("T")

#: (ccxt class, our class), most specific first: the first isinstance match wins.
_BY_CLASS: tuple[tuple[type[Exception], type[errors.ExchangeError]], ...] = (
    (ccxt.AuthenticationError, errors.AuthenticationError),  # ⊃ PermissionDenied, AccountNotEnabled
    (ccxt.AccountSuspended, errors.AuthenticationError),
    (ccxt.InsufficientFunds, errors.InsufficientFunds),
    (ccxt.BadSymbol, errors.UnknownSymbol),
    (ccxt.OrderNotFound, errors.OrderNotFound),
    (ccxt.InvalidOrder, errors.InvalidOrder),
    (ccxt.BadRequest, errors.InvalidOrder),
    (ccxt.ArgumentsRequired, errors.InvalidOrder),
    # the venue refused by a rule of its own (market closed, restricted location…): not retryable
    (ccxt.OperationRejected, errors.InvalidOrder),
    (ccxt.NotSupported, errors.NotSupported),
    (ccxt.RateLimitExceeded, errors.RateLimited),  # 429, venue "too many requests" codes
    (ccxt.DDoSProtection, errors.RateLimited),  # 418 IP ban, WAF
    # a maintenance reply is an answer: nothing was executed
    (ccxt.OnMaintenance, errors.ExchangeUnavailable),
)


def _never_sent(err: BaseException) -> bool:
    """True when the transport failed before the request left (DNS, connection refused)."""
    cause = err.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError | socket.gaierror)


def translate(err: Exception, *, exchange: str, places_order: bool = False) -> errors.ExchangeError:
    """The error of ours that `err` (raised by a ccxt call) means."""
    if isinstance(err, errors.ExchangeError):
        return err
    message = f"{exchange}: {type(err).__name__}: {err}"
    for vendor, ours in _BY_CLASS:
        if isinstance(err, vendor):
            return ours(message, exchange=exchange)
    if isinstance(err, ccxt.OperationFailed):  # NetworkError (timeouts, 5xx, disconnects), BadResponse
        if places_order and not _never_sent(err):
            return errors.OutcomeUnknown(f"{message}; look the order up by client id", exchange=exchange)
        return errors.ExchangeUnavailable(message, exchange=exchange)
    if isinstance(err, ccxt.BaseError):  # a plain ExchangeError: the venue refused, reason unmapped
        return errors.ExchangeError(message, exchange=exchange)
    if places_order:  # a bug while parsing the reply: the order may well exist
        return errors.OutcomeUnknown(f"{message}; look the order up by client id", exchange=exchange)
    return errors.ExchangeError(message, exchange=exchange)


async def call(awaitable: Awaitable[T], *, exchange: str, places_order: bool = False) -> T:
    """Await one ccxt call; anything it raises comes out as our error (`raise … from err`).

    ccxt's number formatting rewrites the current Decimal context (rounding, traps); the local
    context keeps that inside the call, away from the rest of Sparky's money arithmetic.
    """
    try:
        with decimal.localcontext():
            return await awaitable
    except errors.ExchangeError:
        raise
    except Exception as err:
        raise translate(err, exchange=exchange, places_order=places_order) from err
