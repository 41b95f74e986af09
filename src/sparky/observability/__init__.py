"""What the operator sees of a running server: Prometheus metrics (`metrics.py`), the request
timeline they are measured on (`timeline.py`), the access log (`access_log.py`) and outbound
notifications through apprise (`outbound.py`, `operator_alerts.py`)."""
