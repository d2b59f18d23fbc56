"""The data layer's error, in a module of its own so that every data module can raise it.

:class:`StoreError` is importable from :mod:`fitdata.data.store` too, where most callers know it
from; it lives here because the modules below the store (the schema, the audit log's files)
raise it as well and must not import the store.
"""

from __future__ import annotations

__all__ = ["StoreError"]


class StoreError(RuntimeError):
    """A problem with the database file, with a message that says what to do about it."""
