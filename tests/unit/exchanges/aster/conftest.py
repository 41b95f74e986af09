"""The scripted Aster venue's fixtures (`fake`, `http`, `trader`), for every Aster test module."""

from tests.unit.exchanges.aster.test_aster import fake, http, trader  # noqa: F401
