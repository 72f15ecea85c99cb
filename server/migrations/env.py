"""Alembic environment: migrate the connection :func:`temix.server.store.migrate` passes in,
or the URL in the Alembic config's ``sqlalchemy.url`` when run from the ``alembic`` command."""

from alembic import context

from temix.server.store import metadata, open_engine

connection = context.config.attributes.get("connection")
if connection is None:
    engine = open_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.connect() as opened:
        context.configure(connection=opened, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
