"""A TCP proxy on 127.0.0.1 that can slow down or hang the service behind it.

Used by ``python -m loadtest.faults`` and ``tests/test_bounded.py`` to put Redis (or any
TCP service) in front of the code under test in three modes, switched at any time:

- ``"pass"``: bytes go through as they come (the service is healthy).
- ``"slow"``: every chunk read, in either direction, is forwarded ``delay`` seconds late
  (a congested network, a Redis swapping to disk).
- ``"hang"``: connections are accepted and whatever is sent is read and dropped; nothing
  ever comes back (a stopped process whose port still accepts, a half-open network path).

Leaving ``slow`` or ``hang`` closes every connection open at that moment, as a restart
would: the bytes held back never arrive late on a connection that is used again.

    with FaultProxy(6379) as proxy:      # proxy.port forwards to 127.0.0.1:6379
        proxy.set_mode("hang")
        ...
        proxy.set_mode("pass")

Threads only (two per connection, daemons), loopback only, every loop ends when the proxy
is closed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

__all__ = ["FaultProxy", "ProxyProcess"]

MODES = ("pass", "slow", "hang")


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.delay = 2.0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    # -- control ---------------------------------------------------------------------------

    def set_mode(self, mode: str, delay: float | None = None) -> None:
        """Switch to ``pass``, ``slow`` (``delay`` seconds per chunk) or ``hang``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if delay is not None:
            self.delay = delay
        previous, self.mode = self.mode, mode
        if previous != mode and previous != "pass":
            self.reset()

    def reset(self) -> None:
        """Close every open connection (both ends)."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def close(self) -> None:
        self._closed.set()
        _close(self._listener)
        self.reset()
        self._thread.join(timeout=2)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the proxy -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            client.settimeout(0.2)
            upstream: socket.socket | None = None
            if self.mode != "hang":
                try:
                    upstream = socket.create_connection(self.upstream, timeout=2)
                    upstream.settimeout(0.2)
                except OSError:
                    _close(client)
                    continue
            with self._lock:
                self._sockets.add(client)
                if upstream is not None:
                    self._sockets.add(upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream), daemon=True, name="fault-proxy-up"
            ).start()
            if upstream is not None:
                threading.Thread(
                    target=self._pump, args=(upstream, client), daemon=True, name="fault-proxy-dn"
                ).start()

    def _alive(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._sockets and not self._closed.is_set()

    def _pump(self, source: socket.socket, target: socket.socket | None) -> None:
        try:
            while self._alive(source):
                try:
                    chunk = source.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                mode = self.mode
                if mode == "hang" or target is None:
                    continue  # read and dropped: nothing ever answers
                if mode == "slow":
                    # Bounded: the wait ends early when the connection is reset or closed.
                    until = time.monotonic() + self.delay
                    while time.monotonic() < until and self._alive(source):
                        time.sleep(min(0.05, max(0.0, until - time.monotonic())))
                    if not self._alive(source):
                        break
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                if target is not None:
                    self._sockets.discard(target)
            _close(source)
            if target is not None:
                _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class ProxyProcess:
    """A ``FaultProxy`` in a process of its own (``python -m loadtest.netfaults``), so a
    busy load generator cannot delay the bytes it forwards; same ``port``, ``set_mode``
    and ``close`` as ``FaultProxy``."""

    def __init__(self, upstream_port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loadtest.netfaults", str(upstream_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def set_mode(self, mode: str, delay: float | None = None) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{mode} {delay if delay is not None else ''}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"fault proxy: {answer or 'exited'}")

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # the proxy ends at end of input
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    """``python -m loadtest.netfaults UPSTREAM_PORT``: prints the port, then reads
    ``MODE [DELAY]`` lines and answers ``ok`` to each; ends at end of input."""
    proxy = FaultProxy(int(sys.argv[1]))
    print(proxy.port, flush=True)
    try:
        for line in sys.stdin:
            mode, _, delay = line.strip().partition(" ")
            try:
                proxy.set_mode(mode, float(delay) if delay else None)
            except ValueError as exc:
                print(exc, flush=True)
            else:
                print("ok", flush=True)
    finally:
        proxy.close()


if __name__ == "__main__":
    main()
