"""The supabase-py connection under `SupabaseStore`, and the one place PostgREST errors are translated.

Client settings, and why:
- our own httpx client: a 10 s timeout (supabase-py's default is 120 s, far beyond a webhook's
  budget), no redirects (a redirect would carry the `apikey` header to wherever it points),
  HTTP/1.1 keep-alive pool.
- `postgrest_client_retry=False`: supabase-py would retry GETs on 503/520 and network errors for
  up to 1 + 2 + 4 s of sleeping; the store answers at once and its callers decide (cached secrets
  keep serving, a webhook that cannot be recorded gets a 503 and TradingView resends).
- no session handling (`auto_refresh_token`/`persist_session` off): the service role key is a
  static JWT; requests carry it as `apikey` and `Authorization: Bearer`.

Errors: every PostgREST error and transport failure becomes `SupabaseError`, a `StoreUnavailable`
carrying PostgREST's `code` (a SQLSTATE like 23505, PGRSTnnn, or the HTTP status when the body was
not PostgREST JSON). Its message never holds the service role key, filter values the caller marks
secret, nor PostgREST's `details` (for a NOT NULL violation that is the whole failing row, API
keys included). For the same reason PostgREST's APIError, whose text holds those details, is
neither the cause nor the context of the error raised (a logged traceback would print it);
transport errors are chained (`from err`): their text is the socket's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from sparky.store.base import StoreUnavailable

if TYPE_CHECKING:
    from supabase import AsyncClient

DEFAULT_TIMEOUT = 10.0
#: rows per request when reading everything (Supabase caps a response at `max_rows`, 1000 by default)
PAGE_SIZE = 1000
_MAX_MESSAGE = 300


class SupabaseError(StoreUnavailable):
    """Supabase did not do what was asked (unreachable, 5xx, timeout, or an error reply)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class _Executable(Protocol):
    async def execute(self) -> Any: ...


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:_MAX_MESSAGE]


class SupabaseConnection:
    """Opens and closes the supabase-py AsyncClient and runs queries with error translation."""

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        client: AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("SUPABASE_URL must start with https:// (or http:// for a local stack)")
        if not service_role_key:
            raise ValueError("the Supabase service role key is empty")
        self._url = url
        self._key = service_role_key
        self._given = client
        self._timeout = timeout
        self._client: AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # never the key
        return f"SupabaseConnection({self._url!r})"

    async def open(self) -> None:
        if self._client is not None:
            return
        if self._given is not None:
            self._client = self._given
            return
        from supabase import AsyncClientOptions, SupabaseException, acreate_client

        http = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            follow_redirects=False,
        )
        options = AsyncClientOptions(
            httpx_client=http,
            postgrest_client_retry=False,
            auto_refresh_token=False,
            persist_session=False,
        )
        try:
            self._client = await acreate_client(self._url, self._key, options)
        except SupabaseException as err:  # a malformed URL or key: the settings' fault
            await http.aclose()
            raise ValueError(f"Supabase client: {_redact(str(err), [self._key])}") from None
        except BaseException:
            await http.aclose()
            raise
        self._http = http

    async def aclose(self) -> None:
        """Close the HTTP connections we opened (a client handed in belongs to its owner)."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.aclose()

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise SupabaseError("Supabase store is not open")
        return self._client

    async def run(self, what: str, query: _Executable, *, secrets: Iterable[str] = ()) -> Any:
        """`query.execute()`, errors translated; `secrets` are scrubbed from any message."""
        from postgrest.exceptions import APIError

        hidden = [self._key, *secrets]
        refused: SupabaseError | None = None
        try:
            return await query.execute()
        except APIError as err:
            text = f"Supabase {what} failed: {err.code or '?'} {err.message or ''}".rstrip()
            refused = SupabaseError(_redact(text, hidden), code=err.code)
        except httpx.TimeoutException as err:
            raise SupabaseError(f"Supabase {what} timed out ({type(err).__name__})") from err
        except httpx.HTTPError as err:
            text = f"Supabase {what} failed: {type(err).__name__}: {err}"
            raise SupabaseError(_redact(text, hidden)) from err
        except RuntimeError as err:  # httpx: "the client has been closed"
            raise SupabaseError(_redact(f"Supabase {what} failed: {err}", hidden)) from err
        # raised outside the handler: the APIError is neither cause nor context of what we raise
        assert refused is not None
        raise refused


class SupabaseQueries:
    """Query helpers shared by the store's halves (`self._db` is the connection)."""

    _db: SupabaseConnection

    def _table(self, name: str) -> Any:
        return self._db.client.table(name)

    def _select(self, table: str, columns: str, *, count: bool = False) -> Any:
        from postgrest.types import CountMethod

        return self._table(table).select(columns, count=CountMethod.exact if count else None)

    async def _rows(self, what: str, query: Any, **kwargs: Any) -> list[dict[str, Any]]:
        response = await self._db.run(what, query, **kwargs)
        return list(response.data or [])

    async def _all_rows(
        self, what: str, make_query: Callable[[bool], Any], **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every row of an ordered query, a page at a time (`offset`/`limit`). The first page asks
        for the total (`Prefer: count=exact`, answered in Content-Range), so a server whose
        `max_rows` is below PAGE_SIZE is still read to the end. `make_query(count)` builds the
        query, asking for the count when `count` is true."""
        rows: list[dict[str, Any]] = []
        total: int | None = None
        first = True
        while True:
            query = make_query(first).range(len(rows), len(rows) + PAGE_SIZE - 1)
            response = await self._db.run(what, query, **kwargs)
            page = list(response.data or [])
            rows.extend(page)
            if first:
                total, first = response.count, False
            if not page:
                return rows
            if total is not None and len(rows) >= total:
                return rows
            if total is None and len(page) < PAGE_SIZE:
                return rows

    async def _count(self, table: str, **filters: Any) -> int:
        """Rows matching `filters` (None: no filter; (op, value): that operator), by a HEAD request
        with `Prefer: count=exact` (PostgREST answers in Content-Range)."""
        from postgrest.types import CountMethod

        query = self._table(table).select("id", count=CountMethod.exact, head=True)
        for column, value in filters.items():
            if value is None:
                continue
            op, operand = value if isinstance(value, tuple) else ("eq", value)
            query = getattr(query, op)(column, operand)
        response = await self._db.run(f"count {table}", query)
        return int(response.count or 0)

    async def _existing_request(self, row: dict[str, Any]) -> str | None:
        """The request an insert of `row` collided with: same (user, idempotency key), else same id."""
        if row["idempotency_key"] is not None:
            query = self._select("webhook_requests", "id").eq("idempotency_key", row["idempotency_key"])
            query = query.is_("user_id", "null") if row["user_id"] is None else query.eq("user_id", row["user_id"])
            found = await self._rows("find duplicate request", query.limit(1))
            if found:
                return str(found[0]["id"])
        found = await self._rows(
            "find duplicate request", self._select("webhook_requests", "id").eq("id", row["id"]).limit(1)
        )
        return str(found[0]["id"]) if found else None
