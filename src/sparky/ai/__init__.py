"""What the AI worker will read before it asks for a trading decision: market data and indicators."""
