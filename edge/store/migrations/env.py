"""What Alembic runs to migrate a store: on the connection `migrate.py` hands it, with no alembic.ini.

Alembic loads this file itself (`command.upgrade` runs it); nothing imports it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection), "migrate.py passes the store's connection"
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
