"""A private, throw-away PostgreSQL cluster for the stand-in's tests (or ECE_TEST_DATABASE_URL when set).

initdb refuses to run as root, so as root the cluster runs as the `postgres` user in a temp dir it owns.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Connection parameters of a server: either the one ECE_TEST_DATABASE_URL names or one started here."""

    def __init__(self):
        self.data_dir = None
        self.owner = None
        url = os.environ.get("ECE_TEST_DATABASE_URL")
        if url:
            parts = urllib.parse.urlparse(url)
            self.host = parts.hostname or "127.0.0.1"
            self.port = parts.port or 5432
            self.user = urllib.parse.unquote(parts.username or "postgres")
            self.password = urllib.parse.unquote(parts.password or "")
            self.dbname = (parts.path or "/postgres").lstrip("/") or "postgres"
        else:
            self._start()

    def _as_owner(self, argv):
        if self.owner:
            argv = ["runuser", "-u", self.owner, "--"] + argv
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _start(self):
        self.base = tempfile.mkdtemp(prefix="ece-dbt-standin-pg-", dir="/tmp")
        if os.geteuid() == 0:
            self.owner = "postgres"
            entry = pwd.getpwnam(self.owner)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self.data_dir = os.path.join(self.base, "data")
        self.host, self.port, self.dbname = "127.0.0.1", free_port(), "postgres"
        self.user = self.owner or pwd.getpwuid(os.geteuid()).pw_name
        self.password = ""
        self._as_owner([f"{PG_BIN}/initdb", "-D", self.data_dir, "-A", "trust", "-U", self.user, "--no-sync",
                        "-E", "UTF8", "--locale=C"])
        self._as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-w", "-l", os.path.join(self.base, "log"),
                        "-o", f"-h 127.0.0.1 -p {self.port} -k {self.base} -F", "start"])

    def stop(self):
        if self.data_dir:
            try:
                self._as_owner([f"{PG_BIN}/pg_ctl", "-D", self.data_dir, "-w", "-m", "immediate", "stop"])
            finally:
                shutil.rmtree(self.base, ignore_errors=True)
                self.data_dir = None

    def connect(self, dbname=None):
        import psycopg2
        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=dbname or self.dbname)
