"""The dashboard's Trade Settings form saves on a database created by `sparky migrate`, and Sparky
reads back what it saved. Real PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sparky.store.supabase.codec import SELECT_SETTINGS
from tests.postgres.conftest import acting_as

#: what the dashboard's `saveSettings` writes (TradeFi app/pages/trade-settings.vue), plus the
#: older columns of its schema that earlier versions of the form wrote
DASHBOARD_SAVE = {
    "exchange": "tradier_options",
    "trading_hours_preset": "market-hours",
    "trading_window": json.dumps(["09:30", "16:00"]),
    "max_trades_per_day": 2,
    "max_position_size_usd": Decimal("500.25"),
    "allow_weekends": False,
    "position_size_percent": Decimal("20"),
    "strike_tolerance_percent": Decimal("1.5"),
    "entry_limit_offset_percent": Decimal("0.5"),
    "max_signal_age_sec": 10,
    "auto_close_outside_window": True,
    "max_open_positions": 3,
    "enabled": True,
    "tp_percent": Decimal("5"),
    "sl_percent": Decimal("8"),
    "extra_settings": json.dumps({"note": "kept"}),
}


def test_the_dashboards_settings_save_with_every_column_and_sparky_reads_them(db: Any, new_user) -> None:
    user = new_user()
    columns = ", ".join(["user_id", *DASHBOARD_SAVE])
    values = ", ".join(["%s"] * (len(DASHBOARD_SAVE) + 1))
    with acting_as(db, "authenticated", user):  # as the dashboard writes it: the user's own row, under RLS
        db.execute(f"insert into trade_settings_exchange ({columns}) values ({values})",
                   (user, *DASHBOARD_SAVE.values()))
        updated = db.execute("update trade_settings_exchange set max_trades_per_day = 3, max_position_size_usd = 750"
                             " where user_id = %s", (user,))
        assert updated.rowcount == 1

    # what the Supabase store selects (PostgREST's `col::text` is SQL's cast too): every column exists
    cur = db.execute(f"select {SELECT_SETTINGS} from trade_settings_exchange where user_id = %s", (user,))
    row = dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))
    assert (row["max_trades_per_day"], row["max_position_size_usd"]) == (3, "750")
    assert (row["position_size_percent"], row["strike_tolerance_percent"]) == ("20", "1.5")
    extra = db.execute("select enabled, tp_percent, sl_percent, extra_settings from trade_settings_exchange"
                       " where user_id = %s", (user,)).fetchone()
    assert extra == (True, Decimal("5"), Decimal("8"), {"note": "kept"})
