"""Activity kinds: ``"default"`` and the stricter ones a project names (``"transaction"``).

Model-free, so the package's public face can import what needs it while Django is still
loading apps.
"""

from __future__ import annotations

__all__ = ["DEFAULT_KIND", "KIND_MAX_LENGTH", "validate_kind"]

#: The kind every touch records; a stricter kind (``"transaction"``) is recorded beside it.
DEFAULT_KIND = "default"

KIND_MAX_LENGTH = 32


def validate_kind(kind: str | None) -> str:
    """``kind`` as stored: None means the default kind. Raises on anything else odd."""
    if kind is None:
        return DEFAULT_KIND
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string or None, not {type(kind).__name__}")
    if not kind or len(kind) > KIND_MAX_LENGTH or not kind.isprintable():
        raise ValueError(f"kind must be 1 to {KIND_MAX_LENGTH} printable characters: {kind!r}")
    return kind
