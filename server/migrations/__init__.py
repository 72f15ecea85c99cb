"""Alembic migrations of the store's schema (``temix.server.store``); run by
:func:`temix.server.store.migrate`."""
