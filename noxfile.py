"""The support matrix (SPEC §13, docs/versions.md): what pyproject.toml declares is tested.

    nox                      # the `tests` session: the whole suite, newest everything
    nox -s floors matrix     # every declared combination, on the compact test set (~35 runs)
    nox -t ci                # the compact subset CI runs (.ci/steps/30-matrix.sh)
    nox -l                   # list the sessions

Python 3.10-3.13 x Django 5.2 / 6.0 / 6.1 (6.x needs Python 3.12+) x strawberry-graphql
{declared minimum, newest} x strawberry-graphql-django {declared minimum, newest}: "newest"
is the newest release the resolver allows beside the other pins. The `floors` session pins
every dependency floor of pyproject.toml exactly (django==5.2, cachetools==5.3, ...).
Each session prints the versions it installed. Virtual environments are made with uv; the
Pythons are found on PATH, or in pyenv's versions folder when pyenv's shims hide them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]
nox.options.download_python = "never"  # only package registries are reachable

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# Django series -> the oldest Python it runs on.
DJANGO = {"5.2": "3.10", "6.0": "3.12", "6.1": "3.12"}
NEWEST_PYTHON = PYTHONS[-1]

# The compact test set: the tracking paths that touch Strawberry and Django internals.
COMPACT_TESTS = [
    "tests/test_versions.py",
    "tests/test_extension.py",
    "tests/test_touch.py",
    "tests/test_concurrency.py",
    "tests/test_failures.py",
    "tests/test_transactions.py",
    "tests/test_users.py",
]
REPORTED = [
    "django",
    "strawberry-graphql",
    "strawberry-graphql-django",
    "graphql-core",
    "cachetools",
    "packaging",
    "asgiref",
    "pytest",
]

ROOT = Path(__file__).resolve().parent


def _floors() -> dict[str, str]:
    """pyproject.toml's runtime dependencies, each at its `>=` floor."""
    floors: dict[str, str] = {}
    for line in nox.project.load_toml(ROOT / "pyproject.toml")["project"]["dependencies"]:
        requirement = Requirement(line)
        (floor,) = (s.version for s in requirement.specifier if s.operator == ">=")
        floors[requirement.name] = floor
    return floors


FLOORS = _floors()


def _pyenv_pythons() -> None:
    """Put pyenv's own Pythons on PATH for the versions PATH cannot run.

    pyenv's shims answer `python3.12` only for the versions `pyenv global` names; uv and nox
    then find none. An interpreter already on PATH is never overridden.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return
    try:
        root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip())
    except OSError:
        return
    prepend = []
    for version in PYTHONS:
        found = shutil.which(f"python{version}")
        works = found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0
        if works:
            continue
        # 3.12.1, not 3.12-dev or 3.12.1t: the newest plain patch release.
        candidates = sorted(
            (p for p in root.glob(f"versions/{version}.*/bin") if p.parent.name[5:].isdigit()),
            key=lambda p: int(p.parent.name.split(".")[2]),
        )
        if candidates:
            prepend.append(str(candidates[-1]))
    if prepend:
        os.environ["PATH"] = os.pathsep.join([*prepend, os.environ.get("PATH", "")])


_pyenv_pythons()


def _sqlite_env() -> dict[str, str | None]:
    # SQLite + local memory: no DATABASE_URL / REDIS_URL (None unsets them for the run).
    return {"STRAWBERRY_ACTIVITY_TEST_STACK": "sqlite", "DATABASE_URL": None, "REDIS_URL": None}


def _report(session: nox.Session) -> None:
    """Log the versions actually installed: the matrix is what ran, not what was asked."""
    script = (
        "import importlib.metadata as m, platform; print(', '.join(["
        "'Python ' + platform.python_version(), "
        f"*(n + ' ' + m.version(n) for n in {REPORTED!r})]))"
    )
    installed = session.run("python", "-c", script, silent=True)
    session.log(f"installed: {str(installed).strip()}")


def _compact(session: nox.Session, *pins: str) -> None:
    session.install("-e", ".[test]", *pins)
    _report(session)
    missing = [path for path in COMPACT_TESTS if not (ROOT / path).exists()]
    if missing:
        session.error(f"compact test files missing: {', '.join(missing)}")
    # pytest's exit code 5 (no test ran) fails the session like any other non-zero code.
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *COMPACT_TESTS,
        *session.posargs,
        env=_sqlite_env(),
    )


# The compact runs CI makes (`nox -t ci`): every Python, every Django series and every
# floor and newest release of the two Strawberry packages at least once. The floors session
# on Python 3.10 is CI's too.
CI = {
    ("3.11", "5.2", "newest", "min"),
    ("3.12", "6.0", "min", "newest"),
    ("3.12", "6.1", "min", "min"),
    ("3.13", "6.1", "newest", "newest"),
}


def _matrix() -> list[object]:
    params = []
    for python in PYTHONS:
        for django, oldest_python in DJANGO.items():
            if tuple(map(int, python.split("."))) < tuple(map(int, oldest_python.split("."))):
                continue  # Django 6.x needs Python 3.12+
            for strawberry in ("min", "newest"):
                for sgd in ("min", "newest"):
                    key = (python, django, strawberry, sgd)
                    params.append(
                        nox.param(
                            *key,
                            id=f"{python}-django{django}-strawberry_{strawberry}-sgd_{sgd}",
                            tags=["ci"] if key in CI else [],
                        )
                    )
    return params


@nox.session(python=NEWEST_PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite with the newest of everything, like scripts/test: SQLite + local
    memory, then PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set.

    The `test` extra and Playwright (the browser test), not the whole `dev` extra: its
    `compat` auth stacks (strawberry-django-auth) cap Django below 6.1, and they run in a
    suite of their own (`--ds tests.compat.settings`, docs/auth.md)."""
    session.install("-e", ".[test]", "playwright")
    _report(session)
    session.run("python", "-m", "pytest", *session.posargs, env=_sqlite_env())
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        session.run(
            "python",
            "-m",
            "pytest",
            "-m",
            "not browser",
            *session.posargs,
            env={"STRAWBERRY_ACTIVITY_TEST_STACK": "postgres"},
        )
    else:
        session.log("PostgreSQL + Redis run skipped: set DATABASE_URL and REDIS_URL to run it")


@nox.session
@nox.parametrize("python", [nox.param("3.10", tags=["ci"]), *PYTHONS[1:]])
def floors(session: nox.Session) -> None:
    """Every runtime dependency at exactly its declared floor, on the compact test set."""
    _compact(session, *(f"{name}=={version}" for name, version in FLOORS.items()))


@nox.session
@nox.parametrize(["python", "django", "strawberry", "sgd"], _matrix())
def matrix(session: nox.Session, django: str, strawberry: str, sgd: str) -> None:
    """One combination of the support matrix on the compact test set."""
    pins = [f"django~={django}.0"]
    if strawberry == "min":
        pins.append(f"strawberry-graphql=={FLOORS['strawberry-graphql']}")
    if sgd == "min":
        pins.append(f"strawberry-graphql-django=={FLOORS['strawberry-graphql-django']}")
    _compact(session, *pins)
