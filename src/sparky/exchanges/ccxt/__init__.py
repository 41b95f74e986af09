"""Any ccxt venue (binanceusdm, bybit, okx, …): adapter, client building, errors, wire, markets, look-ups, order parameters."""
