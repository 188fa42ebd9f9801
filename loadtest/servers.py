"""The servers under load: uvicorn (AsyncGraphQLView) and gunicorn (GraphQLView)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtest.services import QUERY, ROOT

# -- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_servers(env: dict[str, str], logs: Path) -> list[Server]:
    asgi, wsgi = free_port(), free_port()
    commands = {
        "async": [
            sys.executable, "-m", "uvicorn", "loadtest.asgi:application", "--host",
            "127.0.0.1", "--port", str(asgi), "--workers", "2", "--no-access-log",
            "--timeout-keep-alive", "120",
            "--log-level", "warning",
        ],
        "sync": [
            sys.executable, "-m", "gunicorn", "loadtest.wsgi:application", "--bind",
            f"127.0.0.1:{wsgi}", "--workers", "2", "--worker-class", "gthread",
            "--threads", "4", "--keep-alive", "120", "--log-level", "warning",
        ],
    }  # fmt: skip
    servers = []
    for name, port in (("async", asgi), ("sync", wsgi)):
        path = logs / f"{name}.log"
        process = subprocess.Popen(
            commands[name],
            cwd=ROOT,
            env=env,
            stdout=path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        servers.append(Server(name, port, process, path))
    deadline = time.monotonic() + 60
    for server in servers:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} server exited:\n{server.log.read_text()}")
            try:
                r = httpx.post(
                    f"{server.url}/graphql/",
                    content=QUERY,
                    timeout=2,
                    headers={"content-type": "application/json"},
                )
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} server did not answer")
            time.sleep(0.2)
    return servers


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
