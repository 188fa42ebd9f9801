"""The SQL of the ``db`` backend's readers that PostgreSQL and SQLite spell differently.

Days are counted as integers (days since 1970-01-01) in SQL and in Python alike, so that
windows, periods and bit masks of periods are integer arithmetic on both databases.
"""

from __future__ import annotations

from datetime import date

from django.db.backends.base.base import BaseDatabaseWrapper

from strawberry_activity.periods import period_number

__all__ = [
    "EPOCH",
    "MASK_BITS",
    "bit",
    "bit_or",
    "date_of",
    "day_number",
    "epoch_day",
    "period_number_sql",
]

EPOCH = date(1970, 1, 1)


def day_number(connection: BaseDatabaseWrapper, column: str) -> str:
    """SQL for a DATE column as days since 1970-01-01 (integer arithmetic is portable)."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def period_number_sql(connection: BaseDatabaseWrapper, column: str, period: str) -> str:
    """SQL for ``periods.period_number`` of a DATE column: consecutive periods are
    consecutive integers."""
    days = day_number(connection, column)
    if period == "day":
        return days
    if period == "week":
        return f"(({days} + 3) / 7)"  # from Monday 1969-12-29; days >= -3
    if connection.vendor == "postgresql":
        return (
            f"(CAST(EXTRACT(YEAR FROM {column}) AS INTEGER) * 12"
            f" + CAST(EXTRACT(MONTH FROM {column}) AS INTEGER) - 1)"
        )
    return (
        f"(CAST(strftime('%%Y', {column}) AS INTEGER) * 12"
        f" + CAST(strftime('%%m', {column}) AS INTEGER) - 1)"
    )


#: Periods a bit mask of one BIGINT holds (bit 63 would be the sign).
MASK_BITS = 62


def bit_or(connection: BaseDatabaseWrapper, bits: str) -> str:
    """SQL aggregating distinct powers of two (``bits``, NULLs skipped) into one mask."""
    if connection.vendor == "postgresql":
        return f"BIT_OR({bits})"
    # SQLite has no BIT_OR; over distinct powers of two, a sum is the same number.
    return f"SUM(DISTINCT {bits})"


def bit(connection: BaseDatabaseWrapper, position: str) -> str:
    """SQL for the BIGINT ``1 << position``."""
    one = "CAST(1 AS BIGINT)" if connection.vendor == "postgresql" else "1"
    return f"({one} << ({position}))"


def epoch_day(day: date) -> int:
    """A day as days since 1970-01-01 (what ``day_number`` computes in SQL)."""
    return period_number(day, "day")


def date_of(connection: BaseDatabaseWrapper, number: str) -> str:
    """SQL for the DATE ``number`` days after 1970-01-01 (the inverse of ``day_number``)."""
    if connection.vendor == "postgresql":
        return f"(DATE '1970-01-01' + CAST({number} AS INTEGER))"
    return f"date(2440587.5 + ({number}))"
