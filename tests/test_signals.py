"""Logins and logouts through any path (``strawberry_activity.signals``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.test import Client, RequestFactory

from tests.conftest import recorded
from tests.testapp.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def test_user_logged_in_counts_a_login_that_saves_no_last_login(user: User) -> None:
    # A login path that sends the signal without saving last_login (update_last_login
    # disconnected, or no last_login field).
    user_logged_in.send(sender=User, request=RequestFactory().get("/"), user=user)
    assert recorded(user)


def test_user_logged_out_counts_the_user_who_left(user: User) -> None:
    user_logged_out.send(sender=User, request=RequestFactory().get("/"), user=user)
    assert recorded(user)


def test_a_signal_without_a_user_is_ignored() -> None:
    user_logged_out.send(sender=User, request=RequestFactory().get("/"), user=None)


def test_a_last_login_save_counts(user: User) -> None:
    update_last_login(None, user)
    assert recorded(user)


def test_login_counts_without_djangos_update_last_login(user: User) -> None:
    """A project may disconnect ``update_last_login`` to save the write: the login still
    counts, through ``user_logged_in``."""
    assert user_logged_in.disconnect(dispatch_uid="update_last_login")
    try:
        assert Client().login(username="alice", password="pw")
    finally:
        user_logged_in.connect(update_last_login, dispatch_uid="update_last_login")
    assert recorded(user)
