"""The load: logged-in users sending mutations and queries, with and without the extension."""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field

import httpx

from loadtest.servers import Server
from loadtest.services import (
    DATABASE,
    MUTATION,
    QUERY,
    REDIS_OUTAGE,
    kill_connections,
    log,
    redis_start,
    redis_stop,
)

# -- the load ------------------------------------------------------------------------------


@dataclass
class Sample:
    sent: float  # wall clock
    latency: float
    server: str
    op: str
    tracked: bool
    user: int
    verdict: str  # ok | app-error | changed | transport


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)
    killed: int = 0


def classify(response: httpx.Response, expected: tuple[int, str, bytes]) -> str:
    seen = (response.status_code, response.headers.get("content-type", ""), response.content)
    if seen == expected:
        return "ok"
    if response.status_code >= 500:
        return "app-error"
    try:
        errors = json.loads(response.content).get("errors") or []
    except ValueError:
        return "changed"
    # A resolver that hit the dead database reports an error *at its field* (with a path);
    # the extension runs around the whole operation and could only add errors without one.
    if errors and all(e.get("path") for e in errors):
        return "app-error"
    return "changed"


async def post(
    client: httpx.AsyncClient,
    server: Server,
    path: str,
    body: str,
    cookie: str,
    expected: dict[tuple[str, str], tuple[int, str, bytes]],
) -> str:
    """One GraphQL POST as a logged-in user; its verdict (``classify``, or "transport")."""
    try:
        response = await client.post(
            f"{server.url}{path}",
            content=body,
            headers={"content-type": "application/json", "cookie": cookie},
        )
    except httpx.HTTPError:
        return "transport"
    return classify(response, expected[server.name, body])


async def login_all(
    client: httpx.AsyncClient, server: Server, names: list[str], concurrency: int
) -> list[str]:
    cookies: list[str] = [""] * len(names)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        body = json.dumps(
            {"query": f'mutation {{ login(username: "{names[i]}", password: "pw") }}'}
        )
        async with gate:
            for attempt in range(3):  # set-up, not measured: a dropped connection is retried
                try:
                    r = await client.post(
                        f"{server.url}/graphql-plain/",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    break
                except httpx.TransportError:
                    if attempt == 2:
                        raise
        assert r.json() == {"data": {"login": True}}, r.text
        cookies[i] = f"sessionid={r.cookies['sessionid']}"

    await asyncio.gather(*(one(i) for i in range(len(names))))
    return cookies


async def expected_responses(
    client: httpx.AsyncClient, servers: list[Server], cookie: str
) -> dict[tuple[str, str], tuple[int, str, bytes]]:
    """What each request looks like without the extension (and checks it is stable)."""
    expected = {}
    bodies = [QUERY] + [MUTATION.format(amount=a) for a in range(1, 6)]
    for server in servers:
        for body in bodies:
            seen = set()
            for path in ("/graphql-plain/", "/graphql-plain/"):
                r = await client.post(
                    f"{server.url}{path}",
                    content=body,
                    headers={"content-type": "application/json", "cookie": cookie},
                )
                seen.add((r.status_code, r.headers.get("content-type", ""), r.content))
            assert len(seen) == 1, seen
            assert next(iter(seen))[0] == 200, seen
            expected[server.name, body] = seen.pop()
    return expected


async def load(
    servers: list[Server],
    cookies: list[str],
    expected: dict[tuple[str, str], tuple[int, str, bytes]],
    client: httpx.AsyncClient,
    *,
    duration: float,
    concurrency: int,
    faults: bool,
    run: Run,
) -> None:
    start = time.monotonic()
    end = start + duration

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < end:
            user = rng.randrange(len(cookies))
            server = rng.choice(servers)
            op = "mutation" if rng.random() < 0.6 else "query"
            body = MUTATION.format(amount=rng.randint(1, 5)) if op == "mutation" else QUERY
            tracked = rng.random() < 0.5
            path = "/graphql/" if tracked else "/graphql-plain/"
            sent, t0 = time.time(), time.perf_counter()
            verdict = await post(client, server, path, body, cookies[user], expected)
            run.samples.append(
                Sample(sent, time.perf_counter() - t0, server.name, op, tracked, user, verdict)
            )

    async def inject() -> None:
        await asyncio.sleep(duration * 0.25)
        log(f"fault: Redis shut down for {REDIS_OUTAGE:.0f} s")
        run.events["redis_down"] = time.time()
        try:
            await asyncio.to_thread(redis_stop)
            await asyncio.sleep(REDIS_OUTAGE)
        finally:
            await asyncio.to_thread(redis_start)
            run.events["redis_up"] = time.time()
            log("fault: Redis restarted")
        await asyncio.sleep(max(0.0, start + duration * 0.65 - time.monotonic()))
        run.events["pg_kill"] = time.time()
        run.killed = await asyncio.to_thread(kill_connections)
        log(f"fault: pg_terminate_backend on {run.killed} connections of {DATABASE}")

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    if faults:
        tasks.append(asyncio.create_task(inject()))
    await asyncio.gather(*tasks)
