"""``/metrics/activity/`` as a user routes it, plus two helpers for the test: a login
(no CSRF middleware in this site) and a view that counts one tracking failure in whichever
worker answers (and says which)."""

from __future__ import annotations

import os

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.urls import path

from strawberry_activity import counters
from strawberry_activity.prometheus import metrics_view


def login_view(request: HttpRequest) -> HttpResponse:
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        return HttpResponse(status=401)
    login(request, user)
    return HttpResponse("ok")


def fail_view(request: HttpRequest) -> HttpResponse:
    counters.count_failure("record activity", TimeoutError("test"))
    return HttpResponse(str(os.getpid()))


urlpatterns = [
    path("metrics/activity/", metrics_view),
    path("login/", login_view),
    path("fail/", fail_view),
]
