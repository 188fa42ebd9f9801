"""The admin's pages as the dashboard's tests read them: a client allowed to see them, and
every element with its attributes, in document order."""

from __future__ import annotations

from html.parser import HTMLParser

from django.contrib.auth.models import Permission
from django.test import Client

from tests.testapp.models import User

#: The dashboard's address (URL name "admin:strawberry_activity_dashboard").
DASHBOARD = "/admin/strawberry_activity/activitydashboard/"

#: A start tag and its attributes.
Element = tuple[str, dict[str, str]]

#: The HTML elements that have no end tag.
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[Element] = []
        # The data-metric of each open element (None where it has none).
        self.metrics: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        enclosing = next((m for m in reversed(self.metrics) if m), None)
        if enclosing:
            found.setdefault("data-metric", enclosing)
        self.found.append((tag, found))
        if tag not in VOID:
            self.metrics.append(found.get("data-metric"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <line .../>: opened and closed at once.
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.metrics.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self.metrics:
            self.metrics.pop()


def elements(content: bytes) -> list[Element]:
    """Every start tag of the page ``content`` with its attributes, in document order. An
    element inside one with ``data-metric`` (a chart's line, a card) carries that
    ``data-metric`` too, so a chart's points say which line they are on.

    >>> [a for tag, a in elements(page) if tag == "circle"][0]
    {'cx': '56', 'cy': '300', 'r': '3', 'data-date': '2026-06-01', 'data-value': '3',
     'data-metric': 'dau'}
    """
    parser = _Elements()
    parser.feed(content.decode())
    parser.close()
    return parser.found


def viewer(staff: User) -> Client:
    """A client logged in as ``staff``, given the permission the dashboard asks for (to view
    user activity)."""
    staff.user_permissions.add(Permission.objects.get(codename="view_useractivity"))
    client = Client()
    client.force_login(staff)
    return client
