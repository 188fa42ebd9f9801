"""Supported versions (SPEC §13): one set of floors, declared, checked at start-up, tested.

``strawberry_activity.versions.MINIMUM_VERSIONS`` is the one place the floors live;
``pyproject.toml`` repeats them (it cannot import them), and the test below fails when the
two differ. Below a floor, ``manage.py check`` fails with an Error that names the version
found and the one needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from strawberry_activity import versions
from strawberry_activity.checks import check_versions

try:
    import tomllib
except ImportError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
IDS = {
    "django": "strawberry_activity.E030",
    "strawberry-graphql": "strawberry_activity.E031",
    "strawberry-graphql-django": "strawberry_activity.E032",
}


def project() -> dict[str, Any]:
    with PYPROJECT.open("rb") as f:
        table: dict[str, Any] = tomllib.load(f)["project"]
    return table


def installed(monkeypatch: pytest.MonkeyPatch, found: dict[str, str | None]) -> None:
    """Pretend these distributions are installed at these versions (None: not installed)."""
    real = versions.installed_version
    monkeypatch.setattr(
        versions, "installed_version", lambda name: found[name] if name in found else real(name)
    )


# -- the floors: one mapping, repeated by pyproject.toml ------------------------------------


def test_pyproject_floors_are_the_minimum_versions() -> None:
    floors: dict[str, str] = {}
    for line in project()["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name in versions.MINIMUM_VERSIONS:
            lower = [s.version for s in requirement.specifier if s.operator == ">="]
            assert len(lower) == 1, f"{line!r}: one '>=' floor, please"
            floors[name] = lower[0]
    assert floors == versions.MINIMUM_VERSIONS


def test_every_floor_has_a_reason_and_a_check_id() -> None:
    assert set(versions.WHY) == set(versions.MINIMUM_VERSIONS) == set(IDS)


def test_django_classifiers_start_at_the_floor() -> None:
    classifiers = project()["classifiers"]
    declared = sorted(
        Version(m.group(1))
        for c in classifiers
        if (m := re.fullmatch(r"Framework :: Django :: ([\d.]+)", c))
    )
    assert declared, "no 'Framework :: Django :: X' classifier"
    assert declared[0] == Version(versions.MINIMUM_VERSIONS["django"])


def test_python_classifiers_start_at_requires_python() -> None:
    declared = sorted(
        Version(m.group(1))
        for c in project()["classifiers"]
        if (m := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", c))
    )
    assert declared, "no 'Programming Language :: Python :: 3.X' classifier"
    assert project()["requires-python"] == f">={declared[0]}"


# -- the system check --------------------------------------------------------------------


def test_the_installed_versions_pass() -> None:
    """Every run of the suite (each nox session) is at or above the declared floors."""
    assert check_versions() == []


def test_exactly_the_floors_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, dict(versions.MINIMUM_VERSIONS))
    assert check_versions() == []


def test_newer_releases_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(
        monkeypatch,
        {"django": "7.0", "strawberry-graphql": "1.0.0", "strawberry-graphql-django": "1.2"},
    )
    assert check_versions() == []


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("django", "4.2.30"),
        ("django", "5.2rc1"),
        ("strawberry-graphql", "0.315.7"),
        ("strawberry-graphql", "0.316.0"),
        ("strawberry-graphql-django", "0.79.2"),
    ],
)
def test_below_a_floor_is_an_error_naming_both_versions(
    monkeypatch: pytest.MonkeyPatch, name: str, found: str
) -> None:
    installed(monkeypatch, {name: found})
    (error,) = check_versions()
    needed = versions.MINIMUM_VERSIONS[name]
    assert error.id == IDS[name]
    assert error.is_serious()
    assert f"found {name} {found}" in error.msg
    assert f"needs {name}>={needed}" in error.msg
    assert f"pip install '{name}>={needed}'" in (error.hint or "")


def test_a_missing_dependency_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, {"strawberry-graphql-django": None})
    (error,) = check_versions()
    assert error.id == IDS["strawberry-graphql-django"]
    assert "strawberry-graphql-django is not installed" in error.msg


def test_a_version_that_is_not_pep_440_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, {"django": "5.2-custom-build"})
    assert check_versions() == []


def test_manage_py_check_fails_below_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is registered: ``manage.py check`` (so runserver and migrate) refuses."""
    installed(monkeypatch, {"django": "4.2.30", "strawberry-graphql": "0.300.0"})
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    text = str(caught.value)
    assert "strawberry_activity.E030" in text
    assert "found django 4.2.30" in text
    assert "strawberry_activity.E031" in text
    assert "found strawberry-graphql 0.300.0" in text
    assert "strawberry_activity.E032" not in text
