"""Security: metrics are staff-only through every door; nobody records somebody else.

Doors: the sync view, the async view, both with batching on, GET queries, aliases and
fragments, and the admin dashboard. Every refusal is checked two ways: no number in the
response, and no metric function called (a spy on the schema's metric functions, which
sees calls from any thread).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import strawberry
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import AsyncClient, Client
from django.urls import path
from strawberry.django.views import AsyncGraphQLView, GraphQLView
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from strawberry_activity import ActivityTrackingExtension, tracking
from strawberry_activity.models import UserActivity
from tests.conftest import SchemaSpy
from tests.testapp.models import User
from tests.testapp.schema import Mutation as AppMutation
from tests.testapp.schema import Query
from tests.urls import urlpatterns as app_urlpatterns


@strawberry.type
class Mutation(AppMutation):
    @strawberry.mutation
    def pay(self, info: Info, to: strawberry.ID, amount: int = 1) -> bool:
        """Names another user in its arguments; only the payer acts."""
        return User.objects.filter(pk=to).exists()


def _schema(**config: Any) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[ActivityTrackingExtension],
        config=StrawberryConfig(**config),
    )


schema = _schema()
batching = _schema(batching_config={"max_operations": 10})

urlpatterns = [
    *[p for p in app_urlpatterns if str(p.pattern) == "admin/"],
    path("graphql/", GraphQLView.as_view(schema=schema)),
    path("graphql-async/", AsyncGraphQLView.as_view(schema=schema)),
    path("graphql-batch/", GraphQLView.as_view(schema=batching)),
    path("graphql-async-batch/", AsyncGraphQLView.as_view(schema=batching)),
]

pytestmark = pytest.mark.urls(__name__)

DASHBOARD = "/admin/strawberry_activity/activitydashboard/"
DOCUMENTS = [
    "{ activeUsers { dau wau mau totalUsers stickiness } }",
    "{ activeUsers { count(days: 30) } }",
    '{ activeUsers { series(metric: MAU, start: "2026-01-01", end: "2026-01-31") { value } } }',
    '{ activeUsers(kind: "transaction") { mau } }',
    "{ hidden: activeUsers { n: mau } }",
    "{ ... on Query { activeUsers { ...M } } } fragment M on ActiveUsers { dau }",
    "query A { hello } query B { activeUsers { mau } }",
]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SchemaSpy:
    """The metric functions the fields call."""
    return SchemaSpy(
        monkeypatch, ("get_activity_metrics", "get_active_users", "get_activity_series")
    )


def body_for(document: str) -> dict[str, Any]:
    body: dict[str, Any] = {"query": document}
    if document.startswith("query A"):
        body["operationName"] = "B"
    return body


def assert_refused(payload: dict[str, Any]) -> None:
    assert payload.get("errors"), payload
    assert any("permission" in e["message"].lower() for e in payload["errors"]), payload
    data = payload.get("data") or {}
    assert not any(data.get(k) for k in ("activeUsers", "hidden")), payload


def post(client: Client, url: str, body: Any) -> Any:
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


# -- who is refused ------------------------------------------------------------------------


def _client_for(who: str) -> Client:
    client = Client()
    if who == "anonymous":
        return client
    user = User.objects.create_user(
        who, password="pw", is_staff=who in ("staff", "inactive-staff"), is_active=True
    )
    client.force_login(user)
    if who == "inactive-staff":
        User.objects.filter(pk=user.pk).update(is_active=False)  # deactivated since login
    return client


REFUSED = ["anonymous", "member", "inactive-staff"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", REFUSED)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_sync_view_refuses(who: str, document: str, spy: SchemaSpy) -> None:
    client = _client_for(who)
    assert_refused(post(client, "/graphql/", body_for(document)))
    assert spy.calls == []


@pytest.mark.django_db
@pytest.mark.parametrize("who", REFUSED)
def test_get_request_refuses(who: str, spy: SchemaSpy) -> None:
    response = _client_for(who).get("/graphql/", {"query": DOCUMENTS[0]})
    assert_refused(response.json())
    assert spy.calls == []


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/graphql-batch/"])
@pytest.mark.parametrize("who", REFUSED)
def test_batching_refuses_every_operation(who: str, url: str, spy: SchemaSpy) -> None:
    client = _client_for(who)
    payloads = post(client, url, [body_for(d) for d in DOCUMENTS])
    assert len(payloads) == len(DOCUMENTS)
    for payload in payloads:
        assert_refused(payload)
    assert spy.calls == []


@pytest.mark.django_db
def test_batched_failed_login_then_metrics_refuses(staff: User, spy: SchemaSpy) -> None:
    """A wrong password inside the batch does not lend the next operation a user."""
    payloads = post(
        Client(),
        "/graphql-batch/",
        [
            {"query": 'mutation { login(username: "admin", password: "wrong") { username } }'},
            {"query": DOCUMENTS[0]},
        ],
    )
    assert payloads[0]["errors"]
    assert_refused(payloads[1])
    assert spy.calls == []


@pytest.mark.django_db
def test_staff_gets_numbers_through_every_sync_door(staff: User, spy: SchemaSpy) -> None:
    """The positive control: the same requests from staff do run the metrics."""
    staff.user_permissions.add(Permission.objects.get(codename="view_useractivity"))
    client = Client()
    client.force_login(staff)
    payload = post(client, "/graphql/", {"query": DOCUMENTS[0]})
    assert payload["data"]["activeUsers"]["totalUsers"] == 1
    payloads = post(client, "/graphql-batch/", [{"query": DOCUMENTS[0]}, {"query": DOCUMENTS[1]}])
    assert payloads[1]["data"]["activeUsers"]["count"] == 1
    assert client.get(DASHBOARD).status_code == 200
    assert spy.calls


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/graphql-async/", "/graphql-async-batch/"])
@pytest.mark.parametrize("who", ["anonymous", "member", "staff"])
async def test_async_views(who: str, url: str, spy: SchemaSpy) -> None:
    client = AsyncClient()
    if who != "anonymous":
        user = await sync_to_async(User.objects.create_user)(
            who, password="pw", is_staff=who == "staff"
        )
        await sync_to_async(client.force_login)(user)
    batch = url.endswith("-batch/")
    body: Any = [body_for(d) for d in DOCUMENTS] if batch else body_for(DOCUMENTS[0])
    response = await client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    payloads = response.json() if batch else [response.json()]
    if who == "staff":
        assert payloads[0]["data"]["activeUsers"]["totalUsers"] == 1
        assert spy.calls
    else:
        for payload in payloads:
            assert_refused(payload)
        assert spy.calls == []
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_admin_dashboard_refuses(who: str, spy: SchemaSpy) -> None:
    response = _client_for(who).get(DASHBOARD)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert spy.calls == []


@pytest.mark.django_db
def test_admin_dashboard_refuses_staff_without_view_permission(spy: SchemaSpy) -> None:
    response = _client_for("staff").get(DASHBOARD)  # staff, but no permission granted
    assert response.status_code == 403
    assert spy.calls == []


# -- nobody records somebody else ------------------------------------------------------------


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password="pw")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", password="pw")


def recorded() -> set[str]:
    return set(UserActivity.objects.values_list("user__username", flat=True))


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    UserActivity.objects.all().delete()  # the login counted, and its cooldown with it
    tracking.reset()
    return client


@pytest.mark.django_db
def test_arguments_naming_another_user(alice_client: Client, bob: User) -> None:
    payload = post(alice_client, "/graphql/", {"query": f'mutation {{ pay(to: "{bob.pk}") }}'})
    assert payload == {"data": {"pay": True}}
    assert recorded() == {"alice"}


@pytest.mark.django_db
@pytest.mark.parametrize("as_alice", [False, True], ids=["anonymous", "alice"])
def test_forged_user_header_without_get_user(
    alice: User, bob: User, as_alice: bool, alice_client: Client
) -> None:
    client = alice_client if as_alice else Client()
    response = client.post(
        "/graphql/",
        json.dumps({"query": "mutation { sendMoney }"}),
        content_type="application/json",
        headers={"x-user": str(bob.pk)},
    )
    assert response.json() == {"data": {"sendMoney": 1}}
    assert recorded() == ({"alice"} if as_alice else set())


@pytest.mark.django_db
@pytest.mark.parametrize("as_alice", [False, True], ids=["anonymous", "alice"])
def test_login_with_a_wrong_password(
    alice: User, bob: User, as_alice: bool, alice_client: Client
) -> None:
    client = alice_client if as_alice else Client()
    payload = post(
        client,
        "/graphql/",
        {"query": 'mutation { login(username: "bob", password: "guess") { username } }'},
    )
    assert payload["errors"]
    assert "bob" not in recorded()
    # And the failed attempt did not become bob's session either.
    post(client, "/graphql/", {"query": "mutation { sendMoney }"})
    assert "bob" not in recorded()


@pytest.mark.django_db
def test_forged_session_cookie(bob: User) -> None:
    client = Client()
    client.cookies["sessionid"] = "x" * 32
    post(client, "/graphql/", {"query": "mutation { sendMoney }"})
    assert recorded() == set()


@pytest.mark.django_db
def test_batched_mutations_record_only_the_session_user(alice_client: Client, bob: User) -> None:
    post(
        alice_client,
        "/graphql-batch/",
        [
            {"query": f'mutation {{ pay(to: "{bob.pk}") }}'},
            {"query": 'mutation { login(username: "bob", password: "nope") { username } }'},
            {"query": "mutation { sendMoney }"},
        ],
    )
    assert recorded() == {"alice"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_forged_header_and_arguments() -> None:
    alice = await sync_to_async(User.objects.create_user)("alice", password="pw")
    bob = await sync_to_async(User.objects.create_user)("bob", password="pw")
    client = AsyncClient()
    await sync_to_async(client.force_login)(alice)
    await UserActivity.objects.all().adelete()
    tracking.reset()  # the login counted, and its cooldown with it
    response = await client.post(
        "/graphql-async/",
        json.dumps({"query": f'mutation {{ pay(to: "{bob.pk}") }}'}),
        content_type="application/json",
        headers={"x-user": str(bob.pk)},
    )
    assert response.json()["errors"]  # a sync resolver in an async view: still counts
    assert await sync_to_async(recorded)() == {"alice"}
    await sync_to_async(connections.close_all)()
