from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A custom user with the optional ``USER_FIELD`` column."""

    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)


class Transfer(models.Model):
    sender = models.ForeignKey(User, on_delete=models.CASCADE, related_name="transfers")
    amount = models.IntegerField(default=1)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.sender_id} sent {self.amount}"


class Message(models.Model):
    author = models.ForeignKey(User, on_delete=models.CASCADE, related_name="messages")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.author_id} wrote"
