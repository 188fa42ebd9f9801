from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Record every login (admin, GraphQL, ...) as a source row, like the seeds' app did.
        from wallet import signals  # noqa: F401
