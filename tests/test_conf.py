"""``activity_settings``: defaults, the user's dict, imports, reloads on ``setting_changed``."""

from __future__ import annotations

import pytest
from django.test import override_settings

from strawberry_activity.backends.memory import MemoryBackend
from strawberry_activity.conf import DEFAULTS, activity_settings
from tests.hooks import is_staff


def test_defaults_without_a_setting() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={}):
        assert activity_settings.COOLDOWN == DEFAULTS["COOLDOWN"] == 300
        assert set(activity_settings.TRACK_OPERATIONS) == {"mutation"}
        assert activity_settings.GET_USER is None


def test_the_users_values_win_and_dotted_paths_are_imported() -> None:
    with override_settings(
        STRAWBERRY_ACTIVITY={
            "COOLDOWN": 60,
            "EXCLUDE": "tests.hooks.is_staff",
            "BACKEND": "strawberry_activity.backends.memory.MemoryBackend",
        }
    ):
        assert activity_settings.COOLDOWN == 60
        assert activity_settings.EXCLUDE is is_staff
        assert activity_settings.BACKEND is MemoryBackend


def test_day_timezone_follows_time_zone_unless_set() -> None:
    with override_settings(TIME_ZONE="America/Bogota", STRAWBERRY_ACTIVITY={}):
        assert activity_settings.DAY_TIMEZONE == "America/Bogota"
    with override_settings(STRAWBERRY_ACTIVITY={"DAY_TIMEZONE": "Asia/Tokyo"}):
        assert activity_settings.DAY_TIMEZONE == "Asia/Tokyo"


def test_a_cached_value_is_reloaded_when_settings_change() -> None:
    with override_settings(STRAWBERRY_ACTIVITY={"COOLDOWN": 10}):
        assert activity_settings.COOLDOWN == 10
        with override_settings(STRAWBERRY_ACTIVITY={"COOLDOWN": 20}):
            assert activity_settings.COOLDOWN == 20
        assert activity_settings.COOLDOWN == 10


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Invalid strawberry-activity setting"):
        _ = activity_settings.NOT_A_SETTING
