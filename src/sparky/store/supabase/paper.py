"""Which tables hold a venue's positions and trades on Supabase.

The dashboard sums `trades` into the user's P&L, win rate and `trade_stats`, and shows
`positions` as what is open: simulated results must not be counted there. So the `paper` venue's
rows live in `paper_positions` and `paper_trades` (migrations/0021: the same columns, keys and
row-level security), closed by their own RPCs; every other venue's in `positions` and `trades`.
Reads that name no exchange read both, so the store behaves as one set of tables to the server.
The SQLite store (one operator, no dashboard) keeps paper in its main tables.
"""

from __future__ import annotations

PAPER = "paper"
POSITION_TABLES = ("positions", "paper_positions")
TRADE_TABLES = ("trades", "paper_trades")


def is_paper(exchange: str | None) -> bool:
    return exchange == PAPER


def positions_table(exchange: str) -> str:
    return "paper_positions" if is_paper(exchange) else "positions"


def trades_table(exchange: str) -> str:
    return "paper_trades" if is_paper(exchange) else "trades"


def position_tables(exchange: str | None) -> tuple[str, ...]:
    """The tables a read of `exchange` (None: every exchange) looks in."""
    return POSITION_TABLES if exchange is None else (positions_table(exchange),)


def close_rpc(exchange: str) -> str:
    return "record_paper_close" if is_paper(exchange) else "record_close"


def partial_close_rpc(exchange: str) -> str:
    return "record_paper_partial_close" if is_paper(exchange) else "record_partial_close"
