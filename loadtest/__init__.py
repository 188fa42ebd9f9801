"""The load + fault run: ``.venv/bin/python -m loadtest`` (see docs/reliability.md)."""
