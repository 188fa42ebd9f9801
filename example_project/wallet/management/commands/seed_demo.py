"""``manage.py seed_demo``: a believable wallet population, and its activity history.

The source rows (logins, transfers, messages) are generated and bulk-inserted; the
activity is then derived from them by the package itself (``backend.backfill``, the same
set-based path as ``backfill_last_activity``): the default kind from all three sources,
``"transaction"`` from transfers only. So the demo's numbers are what the package computes.

The population: sign-ups grow over the period, activity follows the week (Friday is payday,
Sunday is quiet), engagement is heavy-tailed (a few daily users, many occasional ones),
users drift away, and some users only ever log in while others move money.

And a story for the growth analytics (the dashboard's retention, lifecycle and power-user
charts): a new onboarding ships a little past the middle of the period, and the cohorts
that sign up after it stay far longer; three weeks before today a win-back
e-mail brings a share of the lapsed users back for a few weeks (a wave of resurrected
users, the quick ratio jumps); and a small core uses the wallet nearly every day.

Running it again does nothing when the demo population exists (``--reset`` rebuilds it).
The random seed is fixed: on a given day, every machine gets the same population.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from strawberry_activity.backends import get_backend
from strawberry_activity.conf import activity_settings
from wallet.models import Login, Message, Transfer, Wallet

#: Seeded users have addresses here; their presence means "already seeded".
DOMAIN = "wallet.example"

FIRST = ("ana", "carlos", "lucia", "mateo", "sofia", "diego", "camila", "juan", "laura")
LAST = ("garcia", "lopez", "perez", "torres", "rivera", "gomez", "diaz", "reyes", "rojas")
NOTES = ("rent", "lunch", "groceries", "taxi", "thanks!", "birthday", "coffee", "", "", "")
TEXTS = ("hi! sending it now", "received, thanks", "can you pay me back?", "done", "on my way")
# Monday .. Sunday: Friday is payday, weekends are quieter.
WEEKDAY = (1.0, 0.95, 0.95, 1.0, 1.25, 0.8, 0.6)
# Mean days a user stays before drifting away, for sign-ups before and after the new
# onboarding; the share of lapsed users the win-back e-mail brings back, and for how long.
STAY_BEFORE, STAY_AFTER = 12, 90
WIN_BACK, WIN_BACK_STAY = 0.3, 18


class Command(BaseCommand):
    help = "Seed the demo wallet: users, logins, transfers, messages, and their activity."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=2000)
        parser.add_argument("--days", type=int, default=120)
        parser.add_argument("--seed", type=int, default=7, help="random seed (reproducible)")
        parser.add_argument("--reset", action="store_true", help="delete the demo population first")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        seeded = User.objects.filter(email__endswith=f"@{DOMAIN}")
        with transaction.atomic():
            if options["reset"]:
                deleted = seeded.count()
                seeded.delete()
                self.stdout.write(f"reset: deleted {deleted} demo users and their rows")
            elif seeded.exists():
                self.stdout.write(
                    f"already seeded ({seeded.count()} demo users): nothing to do "
                    "(--reset rebuilds the demo)"
                )
                return
            self.seed(options["users"], options["days"], random.Random(options["seed"]))
        self.stdout.write(self.style.SUCCESS(f"seeded in {time.monotonic() - started:.1f}s"))

    def seed(self, n_users: int, days: int, rng: random.Random) -> None:
        now = timezone.now()
        zone = ZoneInfo(activity_settings.DAY_TIMEZONE)
        today = now.astimezone(zone).date()
        first_day = today - timedelta(days=days - 1)

        # Sign-ups: a fifth of the users predate the period; the rest arrive ever faster.
        growth = 2.0
        joined = sorted(
            0.0 if rng.random() < 0.2 else math.log1p(rng.random() * math.expm1(growth)) / growth
            for _ in range(n_users)
        )
        users = [
            User(
                username=f"{rng.choice(FIRST)}.{rng.choice(LAST)}{i}",
                email=f"user{i}@{DOMAIN}",
                password=make_password(None),
                date_joined=datetime.combine(
                    first_day + timedelta(days=int(share * (days - 1))),
                    datetime.min.time(),
                    zone,
                ),
            )
            for i, share in enumerate(joined)
        ]
        User.objects.bulk_create(users, batch_size=1000)
        self.stdout.write(f"users: {len(users)}")

        logins: list[Login] = []
        transfers: list[Transfer] = []
        messages: list[Message] = []
        balances = {u.pk: Decimal(rng.randint(50, 2000)) for u in users}
        joined_days = [(u.date_joined.astimezone(zone).date() - first_day).days for u in users]
        # The story's two dates, as offsets from first_day.
        onboarding = int(days * 0.55)
        campaign = max(1, days - 21)
        self.stdout.write(
            f"story: new onboarding on {first_day + timedelta(onboarding)}, "
            f"win-back e-mail on {first_day + timedelta(campaign)}"
        )
        for index, user in enumerate(users):
            # Heavy tail: most users come by now and then, a few every day.
            engagement = min(0.9, 0.035 * rng.paretovariate(1.3))
            moves_money = rng.random() < 0.6
            chats = rng.random() < 0.5
            start = joined_days[index]
            # Users drift away: after their "lifetime" they come back rarely. Since the new
            # onboarding, new users stay longer.
            stay = STAY_AFTER if start >= onboarding else STAY_BEFORE
            lifetime = rng.expovariate(1 / stay)
            core = rng.random() < 0.05  # the wallet is their bank: nearly every day
            if core:
                engagement, lifetime = rng.uniform(0.8, 0.95), float(days)
            answers = rng.random() < WIN_BACK  # to the win-back e-mail, if lapsed by then
            for offset in range(start, days):
                age = offset - start
                if offset == campaign and answers and age > lifetime:
                    lifetime = age + rng.expovariate(1 / WIN_BACK_STAY)
                    p = 1.0  # opened the e-mail and came back that day
                else:
                    p = (
                        1.0
                        if age == 0
                        else engagement * WEEKDAY[(first_day + timedelta(offset)).weekday()]
                    )
                    if age > lifetime:
                        p *= 0.1
                if rng.random() >= p:
                    continue
                day = first_day + timedelta(days=offset)
                at = self.moment(rng, day, zone, now)
                logins.append(Login(user=user, created_at=at))
                # Someone who had joined by this day, to pay or to talk to.
                known = bisect.bisect_right(joined_days, offset)
                if moves_money and known > 1 and rng.random() < 0.55:
                    for _ in range(1 + int(rng.expovariate(1.5))):
                        other = users[rng.randrange(known)]
                        if other.pk == user.pk:
                            continue
                        amount = Decimal(round(rng.lognormvariate(3, 0.8), 2)).quantize(
                            Decimal("0.01")
                        )
                        balances[user.pk] -= amount
                        balances[other.pk] += amount
                        transfers.append(
                            Transfer(
                                sender=user,
                                recipient=other,
                                amount=amount,
                                note=rng.choice(NOTES),
                                created_at=min(now, at + timedelta(minutes=rng.randint(1, 20))),
                            )
                        )
                if chats and known > 1 and rng.random() < 0.35:
                    other = users[rng.randrange(known)]
                    if other.pk != user.pk:
                        messages.append(
                            Message(
                                sender=user,
                                recipient=other,
                                text=rng.choice(TEXTS),
                                created_at=min(now, at + timedelta(minutes=rng.randint(1, 30))),
                            )
                        )
            if (index + 1) % 500 == 0 or index + 1 == len(users):
                self.stdout.write(f"activity generated: {index + 1}/{len(users)} users")

        for model, rows in ((Login, logins), (Transfer, transfers), (Message, messages)):
            model.objects.bulk_create(rows, batch_size=2000)
            self.stdout.write(f"{model._meta.verbose_name_plural}: {len(rows)}")
        Wallet.objects.bulk_create(
            [Wallet(user_id=pk, balance=balance) for pk, balance in balances.items()],
            batch_size=2000,
        )

        # The history, derived by the package from the source rows.
        sources = activity_settings.ACTIVITY_SOURCES
        transfers_only = [s for s in sources if s["model"] == "wallet.Transfer"]
        since = datetime.combine(first_day, datetime.min.time(), zone)
        for kind, kind_sources in (("default", sources), ("transaction", transfers_only)):
            counts = get_backend().backfill(
                kind_sources,
                since,
                kind,
                day_timezone=activity_settings.DAY_TIMEZONE,
                batch_size=1000,
                progress=lambda upper, totals, kind=kind: self.stdout.write(
                    f"backfill {kind}: {totals['users']} users, {totals['days']} user-days"
                ),
            )
            self.stdout.write(
                f"activity ({kind}): {counts['updated']} users, {counts['days']} user-days"
            )

    @staticmethod
    def moment(rng: random.Random, day: Any, zone: ZoneInfo, now: datetime) -> datetime:
        """A time of day on ``day``: mostly daytime, never in the future."""
        hour = min(23.99, max(0.0, rng.gauss(14, 4.5)))
        earlier = timedelta(minutes=rng.randint(1, 120))  # drawn always: same stream each run
        at = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=hour)
        return at if at <= now else now - earlier
