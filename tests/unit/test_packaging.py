"""The install is reproducible: `make run` and `make test` install the lock files, so every
dependency pyproject.toml declares must be pinned there, to a version the declaration allows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)$")


def pins(lock: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"{lock}: {line!r} is not an exact pin (name==version)"
        found[canonicalize_name(match[1])] = match[2]
    return found


@pytest.mark.parametrize(("lock", "declared"), [
    ("requirements.lock", PROJECT["dependencies"]),
    ("requirements-test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
])
def test_every_declared_dependency_is_pinned_to_an_allowed_version(lock: str, declared: list[str]) -> None:
    pinned = pins(lock)
    environment = default_environment()
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is declared in pyproject.toml but not in {lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {requirement.name}=={pinned[name]}, outside pyproject.toml's {requirement.specifier}: "
            "run `make lock`")


def test_the_test_lock_holds_everything_the_runtime_lock_does_at_the_same_versions() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    differing = {name: (version, test.get(name)) for name, version in runtime.items() if test.get(name) != version}
    assert differing == {}
