"""The acceptance smoke of an installed strawberry-activity (run by ``scripts/smoke``).

Run with the Python of a fresh virtual environment where only the built wheel (and its
dependencies) is installed; it uses the standard library alone. In a temporary directory:

1. ``django-admin startproject mysite``: a stock project (CSRF middleware on, SQLite).
2. The set-up of docs/getting-started.md, from the very files that page includes
   (docs/snippets/getting-started/): INSTALLED_APPS, schema.py with the extension,
   urls.py with the CSRF step, ``python manage.py migrate``. The README's set-up blocks are
   checked against those files first, so the README and the page cannot drift apart.
3. ``manage.py runserver`` on a loopback port, then over HTTP: a POST without the CSRF
   token is refused (403); a logged-in member's mutation (with the token) is recorded; the
   member is refused ``activeUsers``; a staff user logged in through the admin's login
   form reads ``activeUsers``, equal to ``get_activity_metrics()``.

Exit status 0 when all of it holds; the first failure raises with what was seen.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ROOT / "docs" / "snippets" / "getting-started"
PYTHON = Path(sys.executable)
STAFF_PASSWORD = "smoke-Staff-pw-1"


def check(condition: object, seen: object) -> None:
    """Stop the smoke with what was seen unless ``condition`` holds."""
    if not condition:
        raise SystemExit(f"smoke failed: {seen}")


def log(message: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, args))}\n{done.stdout}{done.stderr}")
    return done.stdout


# -- the README and the page say the same -----------------------------------------------------


def snippet(name: str) -> str:
    return (SNIPPETS / name).read_text()


def installed_apps(source: str) -> list[str]:
    match = re.search(r"INSTALLED_APPS = \[(.*?)\]", source, re.S)
    check(match, "no INSTALLED_APPS list")
    return re.findall(r"\"([^\"]+)\"", match.group(1))


def readme_blocks() -> dict[str, list[str]]:
    """The README's set-up code, by file: ``{"settings.py": lines, "schema.py": ...,
    "urls.py": ..., "shell": ...}``."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it in your project", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        current = "shell" if language == "bash" else None
        for line in body.splitlines():
            header = re.match(r"# (\w+\.py)\b", line)
            if header:
                current = header.group(1)
                continue
            if current is not None:
                blocks.setdefault(current, []).append(line)
    return blocks


def check_readme() -> None:
    """Every line of the README's set-up is in the files the smoke runs. ``...`` stands for
    what a project already has: ``[..., X]`` means X is added to what is there."""
    blocks = readme_blocks()
    for name in ("settings.py", "schema.py", "urls.py", "shell"):
        check(name in blocks, f"README's 'Use it in your project' has no {name} block")
    apps = installed_apps(snippet("settings.py"))
    settings_lines = [line for line in blocks["settings.py"] if line.startswith("INSTALLED_APPS")]
    check(settings_lines, "README's settings.py block has no INSTALLED_APPS")
    for line in settings_lines:
        added = re.findall(r"\"([^\"]+)\"", line.split("...,", 1)[1])
        check(added and all(app in apps for app in added), (line, apps))
    check(
        "python manage.py migrate" in [line.strip() for line in blocks["shell"]],
        "README's set-up has no `python manage.py migrate`",
    )
    for name in ("schema.py", "urls.py"):
        ours = snippet(name)
        lines = {line.strip() for line in ours.splitlines()}
        for line in blocks[name]:
            code = line.strip()
            if not code or code == "..." or code.startswith("#"):
                continue
            if "[...," in code:
                part = code.split("[...,", 1)[1].strip().removesuffix("]").strip()
                check(part in ours, f"README's {name} line {code!r} is not in {name}")
            else:
                check(code in lines, f"README's {name} line {code!r} is not in the snippet")
    page = (ROOT / "docs" / "getting-started.md").read_text()
    for name in ("settings.py", "schema.py", "urls.py", "mutation.graphql", "query.graphql"):
        check(f'--8<-- "getting-started/{name}"' in page, f"getting-started.md lost {name}")
    log("README's set-up == docs/getting-started.md's files")


# -- the project --------------------------------------------------------------------------------


def make_project(workdir: Path) -> tuple[Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    run(PYTHON.parent / "django-admin", "startproject", "mysite", cwd=workdir, env=env)
    project = workdir / "mysite"
    settings = project / "mysite" / "settings.py"
    stock = settings.read_text()
    wanted = snippet("settings.py")
    stock_apps, wanted_apps = installed_apps(stock), installed_apps(wanted)
    # The page shows startproject's own list with the app added: check it still is.
    check(wanted_apps[: len(stock_apps)] == stock_apps, (stock_apps, wanted_apps))
    block = re.search(r"INSTALLED_APPS = \[.*?\]", wanted, re.S)
    if block is None:
        raise SystemExit("smoke failed: no INSTALLED_APPS in the settings snippet")
    settings.write_text(
        re.sub(r"INSTALLED_APPS = \[.*?\]", block.group(0), stock, count=1, flags=re.S)
    )
    for name in ("schema.py", "urls.py"):
        shutil.copy(SNIPPETS / name, project / "mysite" / name)
    log("startproject + the page's INSTALLED_APPS, schema.py, urls.py")
    return project, env


def manage(project: Path, env: dict[str, str], *args: str) -> str:
    return run(PYTHON, "manage.py", *args, cwd=project, env=env)


SETUP = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
import strawberry_activity
User = get_user_model()
User.objects.create_user("staff", password=%r, is_staff=True)
member = User.objects.create_user("member", password="member-pw")
# The member's session, made without login(): a login is activity itself, so only the
# mutation can have recorded the member.
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(member.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = member.get_session_auth_hash()
session.create()
print(strawberry_activity.__file__)
print(session.session_key)
""".replace("%r", repr(STAFF_PASSWORD))

NUMBERS = """
import json
from strawberry_activity import get_activity_metrics
from strawberry_activity.models import UserActivity
m = get_activity_metrics()
users = sorted(UserActivity.objects.values_list("user__username", flat=True))
print(json.dumps({"dau": m["dau"], "wau": m["wau"], "mau": m["mau"], "users": users}))
"""


def numbers(project: Path, env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(manage(project, env, "shell", "-c", NUMBERS).splitlines()[-1])
    return data


# -- over HTTP ----------------------------------------------------------------------------------


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def set_cookie(self, name: str, value: str) -> None:
        host = urllib.parse.urlsplit(self.base).hostname or ""
        self.jar.set_cookie(
            http.cookiejar.Cookie(
                0, name, value, None, False, host, False, False, "/", True, False,
                None, False, None, None, {},
            )
        )  # fmt: skip

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def graphql(self, query: str, *, csrf: bool = True) -> tuple[int, Any]:
        if csrf and self.cookie("csrftoken") is None:
            self.request("/graphql/", headers={"Accept": "text/html"})  # sets csrftoken
        headers = {"Content-Type": "application/json"}
        if csrf:
            # Read afresh: a login rotates the token.
            headers["X-CSRFToken"] = self.cookie("csrftoken") or ""
        status, body = self.request(
            "/graphql/", json.dumps({"query": query}).encode(), headers=headers
        )
        return status, (json.loads(body) if status == 200 else body)

    def admin_login(self, username: str, password: str) -> None:
        status, page = self.request("/admin/login/")
        check(status == 200, status)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        check(match, "no CSRF token in the admin's login form")
        form = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": match.group(1),
                "username": username,
                "password": password,
                "next": "/admin/",
            }
        ).encode()
        status, page = self.request("/admin/login/?next=/admin/", form)
        check(status == 200 and self.cookie("sessionid"), (status, page[:500]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(project: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise SystemExit("runserver exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("runserver did not start") from None
            time.sleep(0.2)


def main() -> int:
    started = time.monotonic()
    check_readme()
    mutation, query = snippet("mutation.graphql").strip(), snippet("query.graphql").strip()
    workdir = Path(tempfile.mkdtemp(prefix="strawberry-activity-smoke-"))
    server = None
    try:
        project, env = make_project(workdir)
        manage(project, env, "migrate")
        manage(project, env, "check", "--fail-level", "WARNING")
        log("migrate; check: no issue")
        module, session_key = manage(project, env, "shell", "-c", SETUP).splitlines()[-2:]
        check(not module.startswith(str(ROOT)), f"the package came from the checkout: {module}")
        log(f"strawberry_activity from the wheel: {module}")

        port = free_port()
        server = serve(project, env, port)
        base = f"http://127.0.0.1:{port}"
        log(f"runserver on {base}")

        member = Browser(base)
        member.set_cookie("sessionid", session_key)
        status, body = member.graphql(mutation, csrf=False)
        check(status == 403 and "CSRF" in body, (status, body[:300]))
        check(numbers(project, env)["users"] == [], "a request refused by CSRF was recorded")
        log("a POST without the CSRF token: 403, nothing recorded")

        status, result = member.graphql(mutation)
        check(status == 200 and result == {"data": {"sendMessage": "hello"}}, (status, result))
        after = numbers(project, env)
        check(after["users"] == ["member"] and after["dau"] == 1, after)
        log(f"the member's mutation: {result['data']}, recorded (DAU {after['dau']})")

        status, result = member.graphql(query)
        check(result["data"] is None and "permission" in result["errors"][0]["message"], result)
        log("the member asks activeUsers: a permission error")

        staff = Browser(base)
        staff.admin_login("staff", STAFF_PASSWORD)
        status, result = staff.graphql(query)
        check(status == 200 and "errors" not in result, result)
        seen = result["data"]["activeUsers"]
        expected = numbers(project, env)
        check(expected["users"] == ["member", "staff"], expected)  # the login counted too
        check(
            {k: seen[k] for k in ("dau", "wau", "mau")}
            == {k: expected[k] for k in ("dau", "wau", "mau")},
            (seen, expected),
        )
        check(seen["totalUsers"] == 2 and seen["dau"] == 2, seen)
        log(f"staff (logged in through the admin) reads activeUsers: {seen}")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"smoke passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
