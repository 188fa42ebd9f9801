"""The wallet's GraphQL API, with strawberry-activity registered the documented way.

Every mutation below (``login`` and ``logout`` included) is activity of the default kind;
``sendMoney`` is also activity of the kind ``"transaction"`` (``MUTATION_KINDS``). Queries
are never activity. ``activeUsers`` (from ``ActivityQuery``) is for staff only.
"""

from __future__ import annotations

from decimal import Decimal

import strawberry
import strawberry_django
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from strawberry_activity import ActivityTrackingExtension
from strawberry_activity.schema import ActivityQuery
from wallet.models import Message, Transfer, Wallet


@strawberry_django.type(User)
class UserType:
    id: strawberry.auto
    username: strawberry.auto


@strawberry_django.type(Transfer)
class TransferType:
    id: strawberry.auto
    sender: UserType
    recipient: UserType
    amount: strawberry.auto
    note: strawberry.auto
    created_at: strawberry.auto


@strawberry_django.type(Message)
class MessageType:
    id: strawberry.auto
    sender: UserType
    recipient: UserType
    text: strawberry.auto
    created_at: strawberry.auto


def signed_in(info: Info) -> User:
    user = info.context.request.user
    if not user.is_authenticated:
        raise PermissionError("Log in first: mutation { login(username: ..., password: ...) }")
    return user


@strawberry.type
class Query(ActivityQuery):
    @strawberry_django.field
    def me(self, info: Info) -> UserType | None:
        user = info.context.request.user
        return user if user.is_authenticated else None

    @strawberry_django.field
    def balance(self, info: Info) -> Decimal:
        wallet, _ = Wallet.objects.get_or_create(user=signed_in(info))
        return wallet.balance

    @strawberry_django.field
    def transfers(self, info: Info, limit: int = 10) -> list[TransferType]:
        user = signed_in(info)
        mine = Transfer.objects.filter(Q(sender=user) | Q(recipient=user))
        return list(mine.select_related("sender", "recipient").order_by("-created_at")[:limit])

    @strawberry_django.field
    def messages(self, info: Info, limit: int = 10) -> list[MessageType]:
        user = signed_in(info)
        mine = Message.objects.filter(Q(sender=user) | Q(recipient=user))
        return list(mine.select_related("sender", "recipient").order_by("-created_at")[:limit])


@strawberry.type
class Mutation:
    login: UserType = strawberry_django.auth.login()
    logout = strawberry_django.auth.logout()

    @strawberry_django.mutation
    def send_money(self, info: Info, to: str, amount: Decimal, note: str = "") -> TransferType:
        sender = signed_in(info)
        if amount <= 0:
            raise ValueError("amount must be positive")
        recipient = User.objects.filter(username=to).exclude(pk=sender.pk).first()
        if recipient is None:
            raise ValueError(f"no other user named {to!r}")
        with transaction.atomic():
            Wallet.objects.get_or_create(user=recipient)
            wallet, _ = Wallet.objects.select_for_update().get_or_create(user=sender)
            if wallet.balance < amount:
                raise ValueError(f"insufficient funds: balance is {wallet.balance}")
            Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") - amount)
            Wallet.objects.filter(user=recipient).update(balance=F("balance") + amount)
            return Transfer.objects.create(
                sender=sender, recipient=recipient, amount=amount, note=note
            )

    @strawberry_django.mutation
    def send_message(self, info: Info, to: str, text: str) -> MessageType:
        sender = signed_in(info)
        recipient = User.objects.filter(username=to).exclude(pk=sender.pk).first()
        if recipient is None:
            raise ValueError(f"no other user named {to!r}")
        return Message.objects.create(sender=sender, recipient=recipient, text=text)


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    # Set-up step 2 of 3: the extension, beside Strawberry's caches.
    extensions=[ActivityTrackingExtension, ParserCache, ValidationCache],
)
