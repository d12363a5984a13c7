"""Scratch PostgreSQL clusters for tests (a pytest plugin): ``initdb`` on a free loopback
port as the postgres user, stopped and removed afterwards. PITR and the replica use them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.smtp_sink import free_port

BINDIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


@pytest.fixture
def postgresql_only(backend):
    if backend != "postgresql":
        pytest.skip("a scratch cluster is PostgreSQL's (PITR, streaming replicas)")
    if not BINDIRS:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")


def as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a server tool as the postgres user (initdb refuses root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, check=True, capture_output=True,  # noqa: S603
                          text=True, timeout=120, **kwargs)  # fmt: skip


class Cluster:
    def __init__(self, root: Path, name: str) -> None:
        self.bin = Path(BINDIRS[-1])
        self.data = root / name
        self.port = free_port()
        self.socket = root
        self.log = root / f"{name}.log"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def initdb(self) -> None:
        """Make a new, empty cluster (trust authentication on loopback)."""
        as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth=trust", "--no-sync"])  # fmt: skip

    def base_backup(self, target: Path, *options: str) -> None:
        """``pg_basebackup`` of this (running) cluster into ``target``."""
        as_postgres([str(self.bin / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port),
                     "-U", "postgres", "-D", str(target), "-X", "stream", "--checkpoint=fast",
                     *options])  # fmt: skip

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.socket}")  # fmt: skip
        as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                      "-l", str(self.log), "-w", "-t", "60", "start"])  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "stop"])  # fmt: skip

    def sql(self, statement: str, database: str = "postgres") -> object:
        engine = sa.create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.execute(sa.text(statement))
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="supportdesk-pitr-"))
    shutil.chown(root, "postgres") if os.geteuid() == 0 else None
    clusters: list[Cluster] = []
    try:
        yield root, clusters
    finally:
        for cluster in clusters:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
