"""A real IMAP server for the tests: Debian's Dovecot, with a generated configuration.

One Dovecot per test session (``imap_server``), listening on free loopback ports for
IMAPS and for IMAP with STARTTLS, with a test certificate, a plain-text passwords file
and Maildirs under the session's temporary folder. Each test gets its own mailbox user
(``imap_mailbox``), so tests never see each other's mail. Skips with the reason when
Dovecot is not installed (``.ci/run`` installs dovecot-imapd).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess  # nosec B404 - starts Dovecot from PATH with fixed arguments
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from imapclient import IMAPClient

from tests.smtp_sink import free_port

PASSWORD = "imap-secret pass"  # a space and a word: URL-encoding is exercised
USERS = 200


def _user(index: int) -> str:
    return f"desk{index}@acme.example"


_users = itertools.count(1)


@dataclass
class ImapServer:
    """A running Dovecot: its ports, CA file and passwords file."""

    folder: Path
    imaps_port: int
    imap_port: int
    ca_file: Path
    passwd: Path
    mail_owner: str | None

    def next_user(self) -> str:
        """Return a mailbox user no test has used (all are in the passwords file from the
        start: Dovecot re-reads it only when its modification time changes, which a
        second write within the same second does not)."""
        index = next(_users)
        if index > USERS:
            raise RuntimeError(f"more than {USERS} IMAP mailboxes asked for; raise USERS")
        return _user(index)

    def url(self, user: str, folder: str = "INBOX", *, starttls: bool = False) -> str:
        """Return the SUPPORTDESK_IMAP_URL of ``user``'s folder."""
        scheme, port = ("imap", self.imap_port) if starttls else ("imaps", self.imaps_port)
        secret = f"{quote(user, safe='')}:{quote(PASSWORD, safe='')}"
        return f"{scheme}://{secret}@127.0.0.1:{port}/{quote(folder)}"

    def client(self, user: str) -> IMAPClient:
        """Return a logged-in IMAPS client for ``user`` (for APPEND and checks)."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = IMAPClient("127.0.0.1", port=self.imaps_port, ssl=True, ssl_context=context,
                            timeout=10)  # fmt: skip
        client.login(user, PASSWORD)
        return client


def _config(folder: Path, cert: Path, key: Path, imaps: int, imap: int, owner: str | None) -> str:
    users = (f"default_login_user = {owner or 'dovenull'}\n"
             f"default_internal_user = {owner or 'dovecot'}\n")  # fmt: skip
    mail_user = owner or "dovecot"
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain
{users}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={folder}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _wait_for(port: int, log: Path, process: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port}")


@pytest.fixture(scope="session")
def imap_server(tmp_path_factory: pytest.TempPathFactory, tls_files) -> Iterator[ImapServer]:
    dovecot = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin")
    if dovecot is None:
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
    # Not under pytest's temporary folder: it is private to the user running the tests,
    # and Dovecot's own processes (the dovecot user, when run as root) must reach in.
    folder = Path(tempfile.mkdtemp(prefix="supportdesk-dovecot-"))
    folder.chmod(0o755)
    cert, key = tls_files
    shutil.copy(cert, folder / "cert.pem")
    shutil.copy(key, folder / "key.pem")
    cert, key = folder / "cert.pem", folder / "key.pem"
    owner = None if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    for sub in ("run", "state", "mail"):
        (folder / sub).mkdir()
    passwd = folder / "passwd"
    passwd.write_text(
        "".join(f"{_user(i)}:{{PLAIN}}{PASSWORD}::::::\n" for i in range(1, USERS + 1))
    )
    if owner is None:  # root: mail is owned by the dovecot user, like a packaged install
        shutil.chown(folder / "mail", "dovecot", "dovecot")
        passwd.chmod(0o644)
    imaps, imap = free_port(), free_port()
    conf = folder / "dovecot.conf"
    conf.write_text(_config(folder, cert, key, imaps, imap, owner))
    command = [dovecot, "-F", "-c", str(conf)]  # from PATH, with the config written here
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        _wait_for(imaps, folder / "dovecot.log", process)
        _wait_for(imap, folder / "dovecot.log", process)
        yield ImapServer(folder, imaps, imap, cert, passwd, owner)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def imap_mailbox(imap_server: ImapServer) -> str:
    """A new, empty mailbox user for this test; returns the user name."""
    return imap_server.next_user()
