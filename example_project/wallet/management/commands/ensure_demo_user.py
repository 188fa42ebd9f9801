"""``manage.py ensure_demo_user``: the staff account ``demo`` / ``demo`` (idempotent), and
a ``friend`` to send money and messages to from GraphiQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from wallet.models import Wallet


class Command(BaseCommand):
    help = "Create or repair the demo staff account demo / demo (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = User.objects.get_or_create(
            username="demo", defaults={"email": "demo@example.com"}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password("demo")
        user.save()
        Wallet.objects.get_or_create(user=user, defaults={"balance": Decimal("500.00")})
        friend, _ = User.objects.get_or_create(
            username="friend", defaults={"email": "friend@example.com", "password": "!"}
        )
        Wallet.objects.get_or_create(user=friend)
        self.stdout.write(f"demo user {'created' if created else 'ready'}: demo / demo")
