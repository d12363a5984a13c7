"""Full-text search: tickets.search_vector and comments.search_vector (PostgreSQL), FTS5 (SQLite).

Revision ID: d4e5f6a7b8c9
Revises: c3d4e5f6a7b8
Create Date: 2026-11-22 05:00:00

PostgreSQL: each table gets a nullable ``tsvector`` column kept up to date by a row trigger
(title weighted A, description B, comment bodies C), so every writer (the app, bulk SQL,
psql) keeps it right. Safe on a live desk: adding a nullable column is instant; the
trigger covers new writes from then on; the backfill commits batch by batch (no long row
locks); the GIN indexes are built CONCURRENTLY. Neither column is mapped in the ORM (see
supportdesk.db.SCHEMA_OUTSIDE_MODELS).

SQLite: two FTS5 tables (``ticket_fts``: title, description; ``comment_fts``: body) keyed
by rowid = ticket/comment id and kept in sync by triggers. Without FTS5 in the SQLite
build, nothing is created and search falls back to LIKE.
"""

import sqlalchemy as sa
from alembic import op

revision = "d4e5f6a7b8c9"
down_revision = "c3d4e5f6a7b8"
branch_labels = None
depends_on = None

BATCH = 5_000

PG_FUNCTIONS = {
    "tickets": """
        NEW.search_vector :=
            setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') ||
            setweight(to_tsvector('english', coalesce(NEW.description, '')), 'B');
    """,
    "comments": """
        NEW.search_vector := setweight(to_tsvector('english', coalesce(NEW.body, '')), 'C');
    """,
}
PG_WATCHED = {"tickets": "title, description", "comments": "body"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    elif _sqlite_has_fts5():
        _upgrade_sqlite()


def _upgrade_postgresql():
    # The backfill commits as it goes, so a failed run can leave this part behind; every
    # step here can run again (IF NOT EXISTS, OR REPLACE) and the rerun carries on.
    for table, body in PG_FUNCTIONS.items():
        column = sa.Column("search_vector", sa.dialects.postgresql.TSVECTOR())
        op.add_column(table, column, if_not_exists=True)
        op.execute(
            f"CREATE OR REPLACE FUNCTION {table}_search_vector() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$\nBEGIN {body} RETURN NEW; END $$"
        )
        op.execute(f"DROP TRIGGER IF EXISTS {table}_search_vector ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_search_vector BEFORE INSERT OR UPDATE OF "
            f"{PG_WATCHED[table]} ON {table} FOR EACH ROW EXECUTE FUNCTION "
            f"{table}_search_vector()"
        )
    with op.get_context().autocommit_block():
        for table in PG_FUNCTIONS:
            _backfill(table)
        for table in PG_FUNCTIONS:
            op.create_index(
                f"ix_{table}_search_vector",
                table,
                ["search_vector"],
                postgresql_using="gin",
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def _backfill(table):
    # Batches of BATCH ids, each committed on its own (this runs in an autocommit block, so
    # the DO block may COMMIT): rows are locked for one batch at a time, never for the
    # whole backfill. Setting the watched column to itself fires the trigger, which
    # computes the vector. A DO block rather than a Python loop so that `flask db upgrade
    # --sql` prints the same work.
    column = PG_WATCHED[table].split(",")[0]
    sql = f"""DO $$
DECLARE low bigint := 0; top bigint;
BEGIN
    SELECT coalesce(max(id), 0) INTO top FROM {table};
    WHILE low <= top LOOP
        UPDATE {table} SET {column} = {column}
        WHERE id >= low AND id < low + {BATCH} AND search_vector IS NULL;
        COMMIT;
        low := low + {BATCH};
    END LOOP;
END $$"""  # noqa: S608 - table and column names are this module's constants
    op.execute(sql)


def _sqlite_has_fts5():
    if op.get_context().as_sql:
        return True  # offline SQL for SQLite: assume the usual build
    return bool(op.get_bind().scalar(sa.text("SELECT sqlite_compileoption_used('ENABLE_FTS5')")))


SQLITE_SCHEMA = [
    "CREATE VIRTUAL TABLE ticket_fts USING fts5(title, description, tokenize = 'porter unicode61')",
    "CREATE VIRTUAL TABLE comment_fts USING fts5(body, tokenize = 'porter unicode61')",
    "CREATE TRIGGER ticket_fts_insert AFTER INSERT ON tickets BEGIN "
    "INSERT INTO ticket_fts (rowid, title, description) "
    "VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER ticket_fts_update AFTER UPDATE OF title, description ON tickets BEGIN "
    "UPDATE ticket_fts SET title = new.title, description = new.description "
    "WHERE rowid = new.id; END",
    "CREATE TRIGGER ticket_fts_delete AFTER DELETE ON tickets BEGIN "
    "DELETE FROM ticket_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER comment_fts_insert AFTER INSERT ON comments BEGIN "
    "INSERT INTO comment_fts (rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER comment_fts_update AFTER UPDATE OF body ON comments BEGIN "
    "UPDATE comment_fts SET body = new.body WHERE rowid = new.id; END",
    "CREATE TRIGGER comment_fts_delete AFTER DELETE ON comments BEGIN "
    "DELETE FROM comment_fts WHERE rowid = old.id; END",
    "INSERT INTO ticket_fts (rowid, title, description) SELECT id, title, description FROM tickets",
    "INSERT INTO comment_fts (rowid, body) SELECT id, body FROM comments",
]


def _upgrade_sqlite():
    for statement in SQLITE_SCHEMA:
        op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for table in PG_FUNCTIONS:
                op.drop_index(
                    f"ix_{table}_search_vector",
                    table,
                    postgresql_concurrently=True,
                    if_exists=True,
                )
        for table in PG_FUNCTIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_vector ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_search_vector()")
            op.drop_column(table, "search_vector")
    else:
        for name in ("ticket_fts_insert", "ticket_fts_update", "ticket_fts_delete",
                     "comment_fts_insert", "comment_fts_update", "comment_fts_delete"):  # fmt: skip
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS ticket_fts")
        op.execute("DROP TABLE IF EXISTS comment_fts")
