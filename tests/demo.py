"""The example project run as a user runs it: its own ``manage.py`` in a subprocess.

It uses the stock ``auth.User`` while this suite uses a custom user model, so it cannot
share the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"


def demo_env(database: Path) -> dict[str, str]:
    """The environment of a demo process whose SQLite file is ``database``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEMO_DATABASE": str(database),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def demo_manage(env: dict[str, str], timeout: int = 180) -> Callable[..., str]:
    """``manage(*args)``: run the demo's ``manage.py`` and return its stdout; fail the test
    with its output when it fails."""

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return manage
