"""For developers: write the next schema revision from what `tables.py` has and the revisions do not make.

    python -m floorgate.edge.store.migrations.new_revision "add the batches table"

builds a throwaway SQLite store at the current head, compares it with the tables (Alembic's autogenerate,
which the edge itself never runs), and writes `versions/rNNNN_<words>.py` with the operations that close
the difference, for a person to read and finish (a fill for existing rows, a name) before committing it.
See docs/migrations.md.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, String, create_engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import floorgate.edge.store.tables  # noqa: F401 - registers the tables with SQLModel.metadata
from floorgate.edge.store.migrate import upgrade_schema
from floorgate.edge.store.migrations import VERSIONS, head_revision

TEMPLATE = '''"""{message}

Revision ID: {revision}
Revises: {down_revision}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision: str | None = "{down_revision}"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    raise NotImplementedError("going back is restoring the copy made before the upgrade")
'''


def _plain_types(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """SQLModel's text type is SQLAlchemy's String to the database: render it so, without sqlmodel."""
    if type_ == "type" and isinstance(obj, AutoString | String) and getattr(obj, "length", None) is None:
        return "sa.String()"
    return False


def upgrade_code(conn: Connection) -> str:
    """The body of an `upgrade()` that brings the schema on `conn` to the tables' (empty: nothing to do)."""
    script = produce_migrations(MigrationContext.configure(conn), SQLModel.metadata)
    assert script.upgrade_ops is not None
    if script.upgrade_ops.is_empty():
        return ""
    # Alembic leaves the first line for the caller to indent.
    return "    " + render_python_code(script.upgrade_ops, render_item=_plain_types)


def write_revision(message: str) -> Path:
    """Write the next revision, with the operations autogenerate proposes; its path."""
    previous = head_revision()
    revision = f"{int(previous) + 1:04d}"
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'head.db'}")
        try:
            upgrade_schema(engine, remember_inbound=16, through_revisions=True)
            with engine.connect() as conn:
                body = (
                    upgrade_code(conn) or "    pass  # the tables need nothing: write what this revision does"
                )
        finally:
            engine.dispose()
    words = "_".join(re.findall(r"[a-z0-9]+", message.lower()))[:40] or "change"
    path = VERSIONS / f"r{revision}_{words}.py"
    path.write_text(
        TEMPLATE.format(message=message, revision=revision, down_revision=previous, body=body.rstrip())
    )
    head_revision.cache_clear()
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(
            'usage: python -m floorgate.edge.store.migrations.new_revision "what the revision does"',
            file=sys.stderr,
        )
        return 2
    path = write_revision(argv[0].strip())
    print(f"wrote {path}: read it, finish it, then run tests/integration/test_store_schema_upgrade.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
