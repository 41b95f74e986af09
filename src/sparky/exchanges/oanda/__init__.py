"""OANDA v20 (forex, metals, CFDs): adapter, transport, wire format, instrument rules, trade protection."""
