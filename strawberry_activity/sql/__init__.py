"""SQL for PostgreSQL set-ups beyond the package's migrations (docs/partitioning.md).

``partition_ledger.sql`` turns the daily ledger into a table partitioned by month and adds
the functions cron calls to keep it so. Run it with ``psql -1 -f``, or from a migration of
your own app::

    from django.db import migrations
    from strawberry_activity.sql import partition_ledger

    class Migration(migrations.Migration):
        dependencies = [("strawberry_activity", "0003_rollups")]  # the newest one you have
        operations = [migrations.RunPython(partition_ledger, migrations.RunPython.noop)]
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from django.db import router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

__all__ = ["partition_ledger", "read_sql"]


def read_sql(name: str) -> str:
    """The text of one of this package's SQL files, e.g. ``"partition_ledger.sql"``."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def partition_ledger(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """A ``RunPython`` function: partition the ledger by month, on PostgreSQL only (elsewhere,
    and on databases the routers keep the ledger off, nothing). Running it again only adds
    the months ahead."""
    connection = schema_editor.connection
    ledger = apps.get_model("strawberry_activity", "ActivityDay")
    if connection.vendor != "postgresql" or not router.allow_migrate_model(
        connection.alias, ledger
    ):
        return
    with connection.cursor() as cursor:
        # No parameters: the file's RAISE messages hold `%`.
        cursor.execute(read_sql("partition_ledger.sql"))
