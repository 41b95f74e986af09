"""Command-line entry points: `sparky serve`, `sparky users …`, `sparky migrate`; `main` dispatches."""
