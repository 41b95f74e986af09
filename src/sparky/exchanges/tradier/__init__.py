"""Tradier equities: adapter, transport, reply parsing, order forms."""
