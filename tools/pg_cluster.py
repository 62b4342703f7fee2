"""A private PostgreSQL cluster on 127.0.0.1, for tests and benchmarks.

initdb and pg_ctl run as the postgres user (PostgreSQL refuses root) in a
directory of our own; stop() ends the server through pg_ctl, by its pid file.
"""
import glob
import os
import shutil
import subprocess
import tempfile

import httpd_harness


def _pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: apt-get install postgresql")
    return found[-1]


def _as_postgres(args, **kw):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def psql(port, sql, db, user="postgres"):
    """sql run by psql on 127.0.0.1:port; the unaligned, tuples-only output."""
    p = subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", user,
                        "-d", db, "-At", "-P", "null=\\N", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       check=True, capture_output=True, text=True)
    return p.stdout.strip()


class PgCluster:
    def __init__(self, workdir=None, port=None, settings=()):
        self.dir = workdir or tempfile.mkdtemp(prefix="ra-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = port or httpd_harness.free_port()
        self.settings = list(settings)
        self.log = os.path.join(self.dir, "postgres.log")
        self.database = "remoteassist"

    @property
    def dbd_params(self):
        """What DBDParams gets: libpq keywords, over TCP with trust auth."""
        return f"host=127.0.0.1 port={self.port} dbname={self.database} user=postgres"

    def _own_dir(self):
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def start(self):
        self._own_dir()
        if not os.path.exists(self.data):
            _as_postgres([_pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                          "-E", "UTF8", "--no-sync"])
        options = " ".join([f"-p {self.port}", f"-k {self.dir}",
                            "-c listen_addresses=127.0.0.1"] + [f"-c {s}" for s in self.settings])
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-o", options, "-l", self.log,
                      "-w", "-t", "60", "start"])
        # a standby has the primary's databases, and can create none
        if (not os.path.exists(os.path.join(self.data, "standby.signal"))
                and self.database not in self.psql("SELECT datname FROM pg_database",
                                                   db="postgres")):
            self.psql(f"CREATE DATABASE {self.database}", db="postgres")
        return self

    def base_backup(self, workdir=None, settings=None, args=()):
        """pg_basebackup of this (running) cluster into a new, unstarted
        cluster whose settings default to this one's; args go to
        pg_basebackup."""
        other = PgCluster(workdir, settings=self.settings if settings is None else settings)
        other._own_dir()
        _as_postgres([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", "-D", other.data, "-X", "stream", "-c", "fast"]
                     + list(args))
        return other

    def standby(self, workdir=None, settings=None, wal_sender="ra_standby"):
        """A streaming-replication standby of this cluster, made as an
        operator would (pg_basebackup -R: its primary_conninfo and
        standby.signal), started. wal_sender names it in
        synchronous_standby_names."""
        return self.base_backup(workdir, settings,
                                ["-R", "-d", f"application_name={wal_sender}"]).start()

    def promote(self):
        """pg_ctl promote: a standby becomes a primary, waiting until it is one."""
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", "promote"])

    def kill(self):
        """pg_ctl stop -m immediate: a crash, as far as clients can tell."""
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])

    def restart(self):
        """pg_ctl restart: drops every client connection, as a failover would."""
        options = " ".join([f"-p {self.port}", f"-k {self.dir}",
                            "-c listen_addresses=127.0.0.1"] + [f"-c {s}" for s in self.settings])
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-o", options, "-l", self.log,
                      "-m", "fast", "-w", "restart"])

    def psql(self, sql, db=None):
        """Runs sql; returns the unaligned, tuples-only output."""
        return psql(self.port, sql, db or self.database)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()
