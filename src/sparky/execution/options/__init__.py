"""`tradier_options` alerts: `executor.py` routes a job to the entry (`entry.py`: contract, size,
OTOCO, row) or the close (`closes.py`); `pricing.py` holds the pure price and size arithmetic."""
