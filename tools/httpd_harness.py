"""A private httpd serving mod_remoteassist, from a generated configuration.

One configuration writer for the integration tests, `make run` and the
benchmarks: a ServerRoot in a work directory, a free 127.0.0.1 port, the
module under test, and the database of choice. Run with Debian's python3
(/usr/bin/python3); httpd is /usr/sbin/apache2 called directly.
"""
import contextlib
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
DEFAULT_MODULE = os.path.join(ROOT, ".libs", "mod_remoteassist.so")
COLLECTION = "/deviceManagement/remoteAssistancePartners"
LOG_DIRECTIVE = re.compile(r'^\s*(?:ErrorLog|CustomLog|TransferLog)\s+(?:"([^"]+)"|(\S+))',
                           re.MULTILINE | re.IGNORECASE)


def free_port():
    """A port nothing listens on right now (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_user():
    """httpd refuses to serve as root: children run as nobody/nogroup then."""
    if os.geteuid() == 0:
        return "nobody", "nogroup"
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def give_to_run_user(path):
    if os.geteuid() == 0:
        user, group = run_user()
        shutil.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)


@contextlib.contextmanager
def as_run_user():
    """Runs the block with the children's user and group as the effective
    ones. SQLite makes a database's -wal and -shm files as whoever opens it
    first, and as root it hands them to the database's owner only after it
    made them: a child that opens the -shm file in between gets it
    read-only, and every write of that child then fails with "attempt to
    write a readonly database" (SQLite code 8) until it ends. A test that
    reads the database while the children start must not be that root.
    The ids are the whole process's (glibc changes every thread's), so one
    thread at a time holds them: another thread's block waits, and none can
    give root back while one is still inside."""
    with RUN_USER_LOCK:
        if os.geteuid() != 0:  # not root, or this thread's own outer block
            yield
            return
        user, group = run_user()
        try:
            os.setegid(grp.getgrnam(group).gr_gid)
            os.seteuid(pwd.getpwnam(user).pw_uid)
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)


RUN_USER_LOCK = threading.RLock()


@contextlib.contextmanager
def children_db(path, **connect_args):
    """A connection to a SQLite database the children use, opened and used
    as their user (as_run_user), committed when the block ends cleanly and
    closed: how a test reads or changes a database while httpd may be
    opening it."""
    with as_run_user(), contextlib.closing(sqlite3.connect(path, **connect_args)) as db, db:
        yield db


def sqlite_db(workdir):
    """DBDriver/DBDParams for a SQLite file in a directory the children may write."""
    d = os.path.join(workdir, "db")
    os.makedirs(d, exist_ok=True)
    give_to_run_user(d)
    return ("sqlite3", os.path.join(d, "partners.db"))


def pid_file_holds(path, pid):
    """Whether the pid file at `path` names `pid` (servers write it once bound)."""
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) == pid
    except (OSError, ValueError):
        return False


# Throttling is on, with limits no test or bench row reaches (a test of the
# limits sets its own in extra_config, which comes later and wins): requests
# pay for the check, never a 429 they did not ask for.
UNREACHED_THROTTLE = """RemoteAssistThrottleLimit tenant all 100000000 1
RemoteAssistThrottleLimit app all 100000000 1
RemoteAssistThrottleFailedAuth 100000000 1"""


def location_block(path, version, key_directive, extra=""):
    return f"""
<Location "{path}">
    SetHandler remoteassist
    RemoteAssistApiVersion {version}
    {key_directive}
{extra}
</Location>
"""


def _exited(pid):
    """A zombie, or gone altogether (also between the open and the read,
    which then fails with ESRCH)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


class Httpd:
    """httpd -DFOREGROUND with a generated httpd.conf; stop() ends it by pid."""

    # Every Httpd this process started, in order, so that a test session can
    # check all their logs (tests/integration/conftest.py does); log_origin is
    # the error log's size before the first start.
    started = []

    def __init__(self, workdir, db, key_directive, port=None, module=None,
                 locations=None, extra_config="", mpm="event", mpm_config=None,
                 log_level="info remoteassist:debug", preload=None,
                 throttle=UNREACHED_THROTTLE):
        self.workdir = os.path.abspath(workdir)
        self.port = port or free_port()
        self.module = module or os.environ.get("RA_MODULE", DEFAULT_MODULE)
        self.db = db
        self.key_directive = key_directive
        self.locations = locations
        self.extra_config = extra_config
        self.throttle = throttle
        self.mpm = mpm
        self.mpm_config = mpm_config
        self.log_level = log_level
        self.preload = preload if preload is not None else os.environ.get("RA_PRELOAD", "")
        self.proc = None
        self.conf = os.path.join(self.workdir, "httpd.conf")
        self.error_log = os.path.join(self.workdir, "error.log")
        self.pid_file = os.path.join(self.workdir, "httpd.pid")
        os.makedirs(os.path.join(self.workdir, "htdocs"), exist_ok=True)
        os.chmod(self.workdir, 0o755)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, version="v1.0"):
        return f"{self.base}/{version}{COLLECTION}"

    def default_locations(self):
        return (location_block(f"/v1.0{COLLECTION}", "v1.0", self.key_directive)
                + location_block(f"/beta{COLLECTION}", "beta", self.key_directive))

    def server_lines(self):
        """Where the server lives, listens, logs and whom it runs as: the
        start of every configuration this harness (and tools/fronts.py) writes."""
        user, group = run_user()
        return f"""ServerRoot "{self.workdir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{self.pid_file}"
ErrorLog "{self.error_log}"
LogLevel {self.log_level}
User {user}
Group {group}"""

    def render(self):
        driver, params = self.db
        mpm = self.mpm_config or """
StartServers 2
ServerLimit 2
ThreadsPerChild 25
ThreadLimit 64
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75"""
        locations = self.locations if self.locations is not None else self.default_locations()
        return f"""# generated by tools/httpd_harness.py
{self.server_lines()}
DocumentRoot "{self.workdir}/htdocs"
# as Debian's apache2.conf: sections without any of the module's directives
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "{self.workdir}/htdocs">
    Require all granted
</Directory>
Mutex file:{self.workdir}
LoadModule mpm_{self.mpm}_module {MODULES}/mod_mpm_{self.mpm}.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule dbd_module {MODULES}/mod_dbd.so
LoadModule remoteassist_module {self.module}
{mpm}
KeepAlive On
MaxKeepAliveRequests 0
DBDriver {driver}
DBDParams "{params}"
DBDMin 1
DBDKeep 4
DBDMax 16
{self.throttle}
{self.extra_config}
{locations}
"""

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self.render())

    def env(self):
        env = dict(os.environ)
        if self.preload:
            env["LD_PRELOAD"] = self.preload
            # httpd's own allocations at exit are not ours to report
            env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        return env

    def configtest(self):
        """apachectl -t on the generated file: (exit code, output)."""
        self.write_config()
        p = subprocess.run([APACHE, "-t", "-f", self.conf], capture_output=True,
                           text=True, env=self.env())
        return p.returncode, p.stdout + p.stderr

    def start(self, timeout=20, attempts=3):
        """Starts httpd; a port taken between free_port() and Listen gets a new one."""
        if self not in Httpd.started:
            self.log_origin = self.log_size()
            Httpd.started.append(self)
        for attempt in range(attempts):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == attempts - 1:
                    raise
                self.port = free_port()
        return self

    def _start(self, timeout):
        self.write_config()
        if os.path.exists(self.pid_file):
            os.unlink(self.pid_file)
        # its own session: prefork signals its whole process group on shutdown
        self.proc = subprocess.Popen([APACHE, "-f", self.conf, "-DFOREGROUND"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=self.env(), start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace")
                raise RuntimeError(f"httpd exited with {self.proc.returncode}:\n{out}\n"
                                   f"{self.read_log()}")
            # httpd writes its PidFile once its listeners are bound: a port
            # that answers could belong to another process, our pid cannot
            if self._pid_file_is_ours():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"httpd did not listen on {self.port}:\n{self.read_log()}")

    def _pid_file_is_ours(self):
        return pid_file_holds(self.pid_file, self.proc.pid)

    def graceful(self):
        """SIGUSR1: re-read the configuration, finish requests in flight."""
        os.kill(self.proc.pid, signal.SIGUSR1)

    def stop(self, timeout=20, grace=0.5):
        """Stops httpd without tearing a child down mid-request, which makes
        httpd log errors of its own (the event MPM's keep-alive hand-off
        after its pollset is gone: AH03093): a graceful stop (SIGWINCH) lets
        the children finish their requests; after at most grace seconds
        (clients may hold idle keep-alive connections) SIGTERM ends the rest
        and spares the parent its one-second polls. Past timeout, SIGKILL."""
        if not self.proc or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGWINCH)
        graceful_until = time.time() + grace
        while self.child_pids(running=True) and time.time() < graceful_until:
            time.sleep(0.02)
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # children of a killed parent would keep the port: end the group
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def child_pids(self, running=False):
        """The children's pids; running=True leaves out those that have exited
        and wait for the parent to reap them."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout
        pids = [int(p) for p in out.split()]
        return [p for p in pids if not running or not _exited(p)]

    def log_size(self):
        try:
            return os.path.getsize(self.error_log)
        except FileNotFoundError:
            return 0

    def log_files(self):
        """The files the written configuration logs to (ErrorLog, CustomLog,
        TransferLog; pipes and syslog are not files)."""
        try:
            with open(self.conf) as f:
                text = f.read()
        except FileNotFoundError:
            return [self.error_log]
        paths = (quoted or bare for quoted, bare in LOG_DIRECTIVE.findall(text))
        return [os.path.join(self.workdir, p) for p in paths
                if not p.startswith(("|", "syslog"))]

    def read_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
