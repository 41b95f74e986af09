"""Sparky: a self-hosted webhook trading server."""

__version__ = "0.1.0"
