"""Alembic environment, driven by Flask-Migrate (``flask db …``)."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import include_object

config = context.config
if config.config_file_name is not None:
    # Keep the application's loggers: fileConfig would disable them by default.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


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
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations on a live connection, one transaction per revision."""

    def process_revision_directives(context, revision, directives):
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
            # minutes. (Session-level, so it holds across autocommit blocks too.)
            connection.exec_driver_sql("SET statement_timeout = 0")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_db.metadata, **conf_args)
        # Data steps of migrations are schema work, not staff actions: they may touch audited
        # tables without audit rows (supportdesk.audit.listeners guards everything else).
        with context.begin_transaction(), audited_bulk():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
