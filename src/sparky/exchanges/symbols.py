"""Symbol spellings every venue may share: pure text, no venue knowledge."""

from __future__ import annotations


def joined(symbol: str) -> str:
    """Base and quote written together, the way Binance-style venues and TradingView name pairs:
    `BTC/USDT:USDT`, `BTC-USDT`, `btc_usdt`, `BTCUSDT` → `BTCUSDT` (a ccxt settle suffix dropped)."""
    text = symbol.strip().upper()
    head, colon, _settle = text.partition(":")
    if colon and "/" in head:  # ccxt's unified contract symbol
        text = head
    return text.replace("/", "").replace("_", "").replace("-", "")
