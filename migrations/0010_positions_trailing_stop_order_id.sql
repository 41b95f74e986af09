-- A position's trailing stop (OANDA), beside its stop-loss and take-profit, so that when the
-- trailing stop closes the position on the venue the trade is recorded as TRAILING_STOP at its
-- real fill price. Nullable, no default: existing rows and the dashboard are unaffected.
-- SQLite gets the same column from src/sparky/store/sqlite/schema.sql (and upgrade.py for files
-- made before it).
alter table public.positions
    add column if not exists trailing_stop_order_id text;
