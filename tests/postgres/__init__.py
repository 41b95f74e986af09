"""Tests against a real PostgreSQL: migrations/, `sparky migrate`, schema parity with SQLite."""
