"""Alembic environment, driven by Flask-Migrate (``flask db …``)."""

import logging
import os
import time
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from flask import current_app

from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import drop_known_differences, include_object

config = context.config
if config.config_file_name is not None:
    # Keep the application's loggers: fileConfig would disable them by default.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db

# PostgreSQL: how long one DDL statement may wait for a lock before giving up, and how
# often a revision that gave up is tried again. A migration that queues behind a long
# transaction would make every request behind it queue too; giving up after 2 s and
# retrying later keeps the desk answering while the upgrade waits for a quiet moment.
LOCK_TIMEOUT_MS = int(os.environ.get("SUPPORTDESK_MIGRATION_LOCK_TIMEOUT_MS", "2000"))
RETRIES = int(os.environ.get("SUPPORTDESK_MIGRATION_RETRIES", "10"))
LOCK_NOT_AVAILABLE = "55P03"


def get_engine():
    """Return the application's engine (Flask-SQLAlchemy 3)."""
    return target_db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    """Emit SQL to stdout (``flask db upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_db.metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    # The same guards as online (below), written into the script for whoever runs it.
    context.execute("SET statement_timeout = 0")
    context.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS:d}")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations on a live connection, one transaction per revision."""

    def process_revision_directives(context, revision, directives):
        # Differences kept on purpose are no change (flask db check and migrate alike).
        drop_known_differences(directives[0], context.dialect.name)
        # An autogenerate that finds no change writes no empty revision.
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("compare_type", True)
    conf_args.setdefault("include_object", include_object)
    conf_args.setdefault("transaction_per_migration", True)

    with get_engine().connect() as connection:
        if connection.dialect.name == "sqlite":
            # supportdesk.db emits a real BEGIN on SQLite, so DDL is transactional there too.
            conf_args.setdefault("transactional_ddl", True)
        else:
            # The app's statement_timeout (SUPPORTDESK_DB_STATEMENT_TIMEOUT_MS) guards web
            # requests; a batched backfill or a concurrent index build may rightly run for
            # minutes. lock_timeout is short instead (above). Both are session-level, so
            # they hold across autocommit blocks too.
            connection.exec_driver_sql("SET statement_timeout = 0")
            connection.exec_driver_sql(f"SET lock_timeout = {LOCK_TIMEOUT_MS:d}")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        for attempt in range(RETRIES + 1):
            try:
                # Data steps of migrations are schema work, not staff actions: they may
                # touch audited tables without audit rows (the audit guard allows it here).
                with context.begin_transaction(), audited_bulk():
                    context.run_migrations()
                return
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE or attempt == RETRIES:
                    raise
                # One transaction per revision: the revisions before this one are applied,
                # this one was rolled back whole. Wait, then go on from where it stopped.
                connection.rollback()
                pause = min(2**attempt, 30)
                logger.warning(
                    "A table is busy (lock wait over %d ms); attempt %d of %d failed, "
                    "trying again in %d s.", LOCK_TIMEOUT_MS, attempt + 1, RETRIES + 1, pause,
                )  # fmt: skip
                time.sleep(pause)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
