"""The oldest release of each framework strawberry-activity supports (docs/versions.md).

The one place these numbers live. ``pyproject.toml`` cannot import them, so it repeats them as
its dependency floors and ``tests/test_versions.py`` fails when the two differ;
``noxfile.py`` installs exactly these floors; the system checks
``strawberry_activity.E030`` to ``E032`` refuse to start below them.

Standard library only (plus ``packaging``, a dependency of strawberry-graphql and of this
package): importing this module imports neither Django nor Strawberry.
"""

from __future__ import annotations

from importlib import metadata
from typing import NamedTuple

from packaging.version import InvalidVersion, Version

__all__ = ["MINIMUM_VERSIONS", "WHY", "TooOld", "installed_version", "too_old"]

#: Distribution name -> the oldest supported release.
MINIMUM_VERSIONS: dict[str, str] = {
    "django": "5.2",
    "strawberry-graphql": "0.318.1",
    "strawberry-graphql-django": "0.80.0",
}

#: Why each floor is where it is (the system check's hint).
WHY: dict[str, str] = {
    "django": "Django 5.2 is the oldest LTS with security support (4.2 ended in April 2026).",
    "strawberry-graphql": (
        "Before 0.316.0 Strawberry builds each extension once per schema, with "
        "execution_context=None, and shares it between concurrent operations: the factory "
        "form `lambda: ActivityTrackingExtension(...)` raises TypeError there. 0.316.0 to "
        "0.318.0 do not import with graphql-core 3.3, which pip installs beside them."
    ),
    "strawberry-graphql-django": (
        "0.80.0 is the oldest release that imports with graphql-core 3.3 "
        "(older ones need graphql.execution.collect_fields.collect_sub_fields)."
    ),
}


class TooOld(NamedTuple):
    name: str
    found: str | None  # None: not installed
    needed: str


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def too_old() -> list[TooOld]:
    """Every dependency that is missing or older than its minimum, in declaration order.

    A version string that is not PEP 440 (a vendored or patched build) cannot be compared
    and is given the benefit of the doubt.
    """
    found: list[TooOld] = []
    for name, needed in MINIMUM_VERSIONS.items():
        version = installed_version(name)
        if version is None:
            found.append(TooOld(name, None, needed))
            continue
        try:
            old = Version(version) < Version(needed)
        except InvalidVersion:
            continue
        if old:
            found.append(TooOld(name, version, needed))
    return found
