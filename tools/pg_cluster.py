"""A private PostgreSQL cluster on 127.0.0.1, for tests and benchmarks.

initdb and pg_ctl run as the postgres user (PostgreSQL refuses root) in a
directory of our own; stop() ends the server through pg_ctl, by its pid file.
standby() makes a streaming-replication standby of a running cluster with
pg_basebackup -R, which promote() turns into a primary; failover_params()
is the multi-host DBDParams that follows a promotion (docs/deploy.md).
"""
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

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

    def kill(self):
        """pg_ctl stop -m immediate: a crash, as far as clients can tell."""
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])

    def stop(self, mode="fast"):
        """pg_ctl stop; mode "immediate" is a crash: no shutdown checkpoint,
        clients cut off, as when the machine dies."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])

    def standby(self, workdir, name="standby", port=None):
        """A streaming-replication standby of this (running) cluster, started:
        pg_basebackup -R writes primary_conninfo and standby.signal. Its
        cluster_name is the application_name it connects with, which
        synchronous_standby_names may name."""
        standby = PgCluster(workdir, port=port,
                            settings=self.settings + [f"cluster_name={name}"])
        os.makedirs(standby.dir, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(standby.dir, "postgres", "postgres")
        _as_postgres([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", "-D", standby.data, "-R", "-X", "stream",
                      "--checkpoint=fast", "--no-sync"])
        return standby.start()

    def synchronous(self, names):
        """synchronous_standby_names, reloaded: '' makes replication asynchronous."""
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        self.psql("SELECT pg_reload_conf()")

    def promote(self):
        _as_postgres([_pg_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", "promote"])

    def pids(self):
        """The postmaster and every process it started."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        found = [postmaster]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid == postmaster:
                    found.append(int(entry))
        return found

    def freeze(self):
        """SIGSTOP to every process: a server that keeps its sockets open and
        answers nothing (a frozen VM, seen from a client on the same host,
        whose kernel still acknowledges). thaw() is SIGCONT."""
        self.frozen = self.pids()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in getattr(self, "frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def wait_replayed(self, standby, timeout=30):
        """Until the standby has replayed all the WAL this cluster has written."""
        lsn = self.psql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while standby.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") != "t":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {lsn}")
            time.sleep(0.05)

    def failover_params(self, standby, bounds="connect_timeout=2 keepalives_idle=5 "
                                              "keepalives_interval=2 keepalives_count=2 "
                                              "tcp_user_timeout=5000"):
        """DBDParams naming this cluster, then its standby: libpq tries the
        hosts in order and keeps the first that accepts writes."""
        return (f"host=127.0.0.1,127.0.0.1 port={self.port},{standby.port} "
                f"dbname={self.database} user=postgres target_session_attrs=read-write "
                f"{bounds}")

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
        self.thaw()
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()
