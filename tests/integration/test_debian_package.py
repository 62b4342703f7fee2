"""`make deb`, and the package on this machine's real Apache as
docs/deploy.md tells an administrator: dpkg -i, a2enmod, its single-site
example (TLS, v1.0 and beta), apachectl configtest, the first start with
`service apache2 start`, a create on each version served by the system
Apache (the beta one with a token from the installed remoteassist-token),
a2dismod, dpkg --purge, and nothing of the package left. The package ships
the manual (README.md, docs/*.md) and remoteassist-token with its manual
page. Also `make install` and `make uninstall` under a DESTDIR.

The package test changes the live system, so SystemApache restores it in a
finally, whatever fails: /etc/apache2 and a2enmod's state in
/var/lib/apache2 file by file, anything of an earlier `make install` it
had to move aside, the directories apache2ctl creates, and the system Apache
stopped. The system Apache listens only on a free 127.0.0.1 port: the test
replaces ports.conf (Listen 80) while it runs. One such test runs at a time
on the machine (a lock under /run/lock)."""
import contextlib
import fcntl
import grp
import os
import pwd
import re
import shutil
import sqlite3
import stat
import subprocess
import time

import pytest
import requests

from conftest import COLLECTION, ROOT, SEED_BETA, SEED_V1, lines_report, unexpected_line
from devcert import self_signed
from httpd_harness import free_port

pytestmark = pytest.mark.slow

PACKAGE = "libapache2-mod-remoteassist"
SITE = "remoteassist-test"
ETC = "/etc/apache2"
STATE = "/var/lib/apache2"  # a2enmod's enabled_by_admin/maint records
DATA = "/var/lib/remoteassist"
MODULE_SO = "/usr/lib/apache2/modules/mod_remoteassist.so"
DOC_DIR = f"/usr/share/doc/{PACKAGE}"
TOKEN_COMMAND = "/usr/bin/remoteassist-token"
TOKEN_MANUAL = "/usr/share/man/man1/remoteassist-token.1.gz"
DEPLOY_DOC = os.path.join(ROOT, "docs", "deploy.md")
# what an earlier `make install` may have put outside /etc/apache2
INSTALLED_BY_MAKE = [MODULE_SO, DATA]
# created by apache2ctl on first start; removed again if the test made them
RUNTIME_DIRS = ["/run/apache2", "/run/lock/apache2"]
PID_FILE = "/run/apache2/apache2.pid"
ERROR_LOG = "/var/log/apache2/error.log"
LOCK = "/run/lock/mod-remoteassist-system-apache.lock"
LOCK_WAIT = 600


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if check:
        assert p.returncode == 0, f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}"
    return p


def package_status():
    """dpkg's status of the package: "" when dpkg has never heard of it."""
    return run("dpkg-query", "-W", "-f=${Status}", PACKAGE, check=False).stdout


def package_present():
    """Installed, half-installed or its conffiles left: anything but gone."""
    return package_status() not in ("", "unknown ok not-installed")


def module_version():
    with open(os.path.join(ROOT, "include", "mod_remoteassist.h")) as f:
        return re.search(r'#define RA_MODULE_VERSION "([^"]+)"', f.read()).group(1)


def deb_version():
    with open(os.path.join(ROOT, "debian", "changelog")) as f:
        return re.match(r"\S+ \(([^)]+)\)", f.readline()).group(1)


# ------------------------------------------------------- snapshots of trees

def snapshot(root):
    """{path: what it is} for everything under root: type, owner, mode,
    and a file's bytes or a link's target."""
    entries = {}
    for path in [root] + [os.path.join(d, n) for d, dirs, files in os.walk(root)
                          for n in dirs + files]:
        st = os.lstat(path)
        owner = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        if stat.S_ISLNK(st.st_mode):
            entries[path] = ("link", owner, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            entries[path] = ("dir", owner, None)
        else:
            with open(path, "rb") as f:
                entries[path] = ("file", owner, f.read())
    return entries


def restore(root, saved):
    """Makes root what snapshot(root) saw: removes what is new, puts back
    what changed or went away."""
    now = snapshot(root)
    for path in sorted(set(now) - set(saved), reverse=True):
        if now[path][0] == "dir":
            shutil.rmtree(path)
        else:
            os.unlink(path)
    for path in sorted(saved):
        kind, (uid, gid, mode), data = saved[path]
        if now.get(path) == saved[path]:
            continue
        if path in now and now[path][0] != kind:
            (shutil.rmtree if now[path][0] == "dir" else os.unlink)(path)
        if kind == "dir":
            os.makedirs(path, exist_ok=True)
        elif kind == "link":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            os.symlink(data, path)
        else:
            with open(path, "wb") as f:
                f.write(data)
        os.lchown(path, uid, gid)
        if kind != "link":
            os.chmod(path, mode)


# ---------------------------------------------------------- the live system

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def system_apache_pid():
    try:
        with open(PID_FILE) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


class SystemApache:
    """The machine's Apache and package state, put back as found on exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.moved = {}      # path -> where an earlier `make install` copy waits
        self.snapshots = {}
        self.created_runtime = []
        self.lock = None

    def __enter__(self):
        self.lock = open(LOCK, "w")
        deadline = time.time() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > deadline:
                    pytest.fail(f"another test held {LOCK} for {LOCK_WAIT} s", pytrace=False)
                time.sleep(1)
        try:
            if package_present():
                pytest.fail(f"{PACKAGE} is installed on this machine; this test installs and "
                            f"purges it, so remove it first", pytrace=False)
            if system_apache_pid():
                pytest.fail(f"the system Apache is running (pid file {PID_FILE}); this test "
                            f"starts and stops it, so stop it first", pytrace=False)
            self.snapshots = {root: snapshot(root) for root in (ETC, STATE)}
            self.created_runtime = [d for d in RUNTIME_DIRS if not os.path.exists(d)]
            for path in INSTALLED_BY_MAKE:
                if os.path.lexists(path):
                    self.moved[path] = os.path.join(self.workdir, path.strip("/").replace("/", "_"))
                    shutil.move(path, self.moved[path])
            # dpkg would ask about conffiles it finds unowned: take them away now
            for name in ("remoteassist.load", "remoteassist.conf"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(ETC, "mods-available", name))
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self):
        """The first start as docs/deploy.md gives it."""
        self.log_origin = os.path.getsize(ERROR_LOG) if os.path.exists(ERROR_LOG) else 0
        run("service", "apache2", "start")
        deadline = time.time() + 20
        while time.time() < deadline and not system_apache_pid():
            time.sleep(0.1)
        assert system_apache_pid(), "the system Apache did not start"

    def stop(self):
        pid = system_apache_pid()
        if not pid:
            return
        run("bash", "-c", ". /etc/apache2/envvars && exec apache2ctl -k stop", check=False)
        deadline = time.time() + 20
        while time.time() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if pid_alive(pid):  # only the pid this test started
            os.kill(pid, 9)

    def new_log_lines(self):
        with open(ERROR_LOG, errors="replace") as f:
            f.seek(self.log_origin)
            return f.read().splitlines()

    def __exit__(self, *exc):
        try:
            self.stop()
            if package_present():
                run("a2dismod", "-q", "-f", "remoteassist", check=False)
                run("dpkg", "--purge", PACKAGE, check=False)
            for root, saved in self.snapshots.items():
                restore(root, saved)
                assert snapshot(root) == saved, f"{root} could not be restored"
            for path, aside in self.moved.items():
                if os.path.lexists(path):
                    (shutil.rmtree if os.path.isdir(path) else os.unlink)(path)
                shutil.move(aside, path)
            for d in self.created_runtime:
                shutil.rmtree(d, ignore_errors=True)
        finally:
            if self.lock:
                self.lock.close()


@pytest.fixture(scope="module")
def deb():
    """make deb: the package file, once lintian passed."""
    assert deb_version() == module_version(), "debian/changelog and RA_MODULE_VERSION differ"
    p = subprocess.run(["make", "--no-print-directory", "deb"], cwd=ROOT, capture_output=True,
                       text=True)
    assert p.returncode == 0, f"make deb exited {p.returncode}:\n{p.stdout[-4000:]}{p.stderr}"
    arch = run("dpkg", "--print-architecture").stdout.strip()
    path = os.path.join(ROOT, "build", "deb", f"{PACKAGE}_{deb_version()}_{arch}.deb")
    assert os.path.exists(path), p.stdout[-2000:]
    return path


def test_package_contents_and_dependencies(deb):
    files = run("dpkg-deb", "-c", deb).stdout
    for path in (MODULE_SO, "/etc/apache2/mods-available/remoteassist.load",
                 "/etc/apache2/mods-available/remoteassist.conf", DATA + "/",
                 "/usr/share/libapache2-mod-remoteassist/schema-pgsql.sql",
                 "/usr/share/libapache2-mod-remoteassist/schema-sqlite.sql",
                 DOC_DIR + "/copyright", TOKEN_COMMAND, TOKEN_MANUAL):
        assert f" .{path}\n" in files, (path, files)
    assert re.search(rf"^-rwxr-xr-x .* \.{TOKEN_COMMAND}$", files, re.M), files
    for doc in shipped_docs():
        # dh_compress compresses what is over 4 KiB
        assert f" .{DOC_DIR}/{doc}.gz\n" in files or f" .{DOC_DIR}/{doc}\n" in files, (doc, files)
    recommends = run("dpkg-deb", "-f", deb, "Recommends").stdout
    assert {"python3", "python3-jwt", "python3-cryptography"} <= \
        {d.strip().split()[0] for d in recommends.split(",")}, recommends
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout
    names = {d.split()[0] for alt in depends.split(",") for d in alt.split("|")}
    assert any(n.startswith("apache2-api-") for n in names), depends
    assert {"libaprutil1-dbd-sqlite3", "libaprutil1-dbd-pgsql"} <= names, depends
    assert "apache2" not in names, depends
    conffiles = run("dpkg-deb", "-I", deb, "conffiles").stdout.split()
    assert sorted(conffiles) == ["/etc/apache2/mods-available/remoteassist.conf",
                                 "/etc/apache2/mods-available/remoteassist.load"]


def shipped_docs():
    """The manual's files as the package names them: README.md and docs/*.md,
    side by side in its documentation directory."""
    docs = os.path.join(ROOT, "docs")
    return ["README.md"] + sorted(n for n in os.listdir(docs) if n.endswith(".md"))


def readme_site(port, tls, key_path):
    """docs/deploy.md's single-site example, on this test's port and files."""
    with open(DEPLOY_DOC) as f:
        blocks = re.findall(r"```apache\n(.*?)```", f.read(), re.S)
    site, = [b for b in blocks if "<VirtualHost *:443>" in b and "SetHandler remoteassist" in b]
    cert, key = tls
    for public, ours in (("*:443", f"127.0.0.1:{port}"), ("/etc/remoteassist/jwks.json", key_path),
                         ("/etc/ssl/certs/graph.contoso.com.pem", cert),
                         ("/etc/ssl/private/graph.contoso.com.key", key)):
        assert public in site, public
        site = site.replace(public, ours)
    return f"Listen 127.0.0.1:{port}\n{site}"


# the typo's database cannot be set up (RA00015), nor can mod_dbd's
# children open it (AH00629, AH00633, AH00636)
TYPO_LOG = ("RA00015", "AH00629", "AH00633", "AH00636")


def typo_in_dbdparams_survives(system, port, tls, keys):
    """A typo in DBDParams's directory: `apachectl graceful` refuses it (it
    runs -t first) and the site serves on; `apache2ctl -k graceful`, which
    does not, restarts into it and the server lives, the module answering
    503; the typo corrected, a graceful restart serves again."""
    site_conf = os.path.join(ETC, "sites-available", SITE + ".conf")
    with open(site_conf) as f:
        good = f.read()
    typo = good.replace(f"DBDParams {DATA}/partners.db", "DBDParams /var/lib/remoteasist/partners.db")
    assert typo != good
    pid = system_apache_pid()
    api = f"https://127.0.0.1:{port}/v1.0{COLLECTION}"

    def create():
        return requests.post(api, json=SEED_V1, verify=tls[0], timeout=30,
                             headers={"Authorization": f"Bearer {keys.token()}"})

    def wait_for_generation(count):
        deadline = time.time() + 30
        while time.time() < deadline and sum("resuming normal operations" in line
                                              for line in system.new_log_lines()) < count:
            time.sleep(0.1)

    generations = sum("resuming normal operations" in l for l in system.new_log_lines())
    with open(site_conf, "w") as f:
        f.write(typo)
    refused = run("apache2ctl", "graceful", check=False)
    assert refused.returncode != 0, refused
    out = refused.stdout + refused.stderr
    assert "RA00071" in out and "/var/lib/remoteasist" in out and "does not exist" in out, out
    assert system_apache_pid() == pid and pid_alive(pid)
    created = create()
    assert created.status_code == 201, created.text
    run("bash", "-c", ". /etc/apache2/envvars && exec apache2ctl -k graceful")
    wait_for_generation(generations + 1)
    assert system_apache_pid() == pid and pid_alive(pid)
    unavailable = create()
    assert unavailable.status_code == 503 and unavailable.headers.get("Retry-After"), \
        unavailable.text
    assert requests.get(f"https://127.0.0.1:{port}/", verify=tls[0], timeout=30).status_code \
        in (200, 403, 404)  # httpd's own answer, not the module's
    with open(site_conf, "w") as f:
        f.write(good)
    run("apache2ctl", "graceful")
    wait_for_generation(generations + 2)
    again = create()
    assert again.status_code == 201, again.text
    # the two creates that worked are rows too; the caller checks the first two
    requests.delete(f"{api}/{created.json()['id']}", verify=tls[0], timeout=30,
                    headers={"Authorization": f"Bearer {keys.token()}"}).raise_for_status()
    requests.delete(f"{api}/{again.json()['id']}", verify=tls[0], timeout=30,
                    headers={"Authorization": f"Bearer {keys.token()}"}).raise_for_status()


def test_install_enable_serve_purge(deb, workroot, keys):
    with SystemApache(workroot.mktemp("system-apache")) as system:
        run("dpkg", "-i", deb)
        assert package_status() == "install ok installed"
        owned = run("dpkg", "-L", PACKAGE).stdout.split()
        st = os.stat(DATA)
        assert (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
                stat.S_IMODE(st.st_mode)) == ("www-data", "www-data", 0o750)
        # installed, not enabled: a2query -m answers 1 for "not enabled"
        assert run("a2query", "-m", "remoteassist", check=False).returncode != 0
        run("a2enmod", "remoteassist")
        for name in ("remoteassist.load", "remoteassist.conf", "dbd.load"):
            assert os.path.exists(os.path.join(ETC, "mods-enabled", name)), name

        port = free_port()
        tls = self_signed(workroot.mktemp("system-apache-tls"), "site")
        with open(os.path.join(ETC, "ports.conf"), "w") as f:
            f.write("# test_debian_package.py: only the port of its site while it runs\n")
        with open(os.path.join(ETC, "sites-available", SITE + ".conf"), "w") as f:
            f.write(readme_site(port, tls, keys.path("jwks.json")))
        run("a2enmod", "ssl")
        run("a2ensite", SITE)
        out = run("apache2ctl", "configtest")
        assert "Syntax OK" in out.stdout + out.stderr

        # the installed command, as docs/deploy.md runs it, signs with the
        # key whose public half is the site's jwks.json (rsa-1)
        installed_token = run(TOKEN_COMMAND, "--key", keys.path("rsa.pem"),
                              "--kid", "rsa-1").stdout.strip()
        keys.minted.append(installed_token)
        for doc in shipped_docs():
            assert any(os.path.exists(f"{DOC_DIR}/{doc}{gz}") for gz in ("", ".gz")), doc
        system.start()
        answers = [requests.post(f"https://127.0.0.1:{port}/{version}{COLLECTION}", json=seed,
                                 headers={"Authorization": f"Bearer {token}"},
                                 verify=tls[0], timeout=30)
                   for version, seed, token in (("v1.0", SEED_V1, keys.token()),
                                                ("beta", SEED_BETA, installed_token))]
        typo_in_dbdparams_survives(system, port, tls, keys)
        system.stop()
        for resp, version in zip(answers, ("v1.0", "beta")):
            assert resp.status_code == 201, resp.text
            assert resp.headers["Location"].startswith(
                f"https://127.0.0.1:{port}/{version}{COLLECTION}("), resp.headers["Location"]
        with contextlib.closing(sqlite3.connect(f"{DATA}/partners.db")) as db:
            rows = db.execute("SELECT id FROM remote_assistance_partners").fetchall()
        assert sorted(rows) == sorted((resp.json()["id"],) for resp in answers)
        assert pwd.getpwuid(os.stat(f"{DATA}/partners.db").st_uid).pw_name == "www-data"
        logged = system.new_log_lines()
        bad = [line for line in logged if unexpected_line(line, TYPO_LOG)]
        assert not bad, lines_report(f"the system Apache logged in {ERROR_LOG}", bad)
        # the site's LogLevel remoteassist:info: one line per create
        assert len([line for line in logged if "RA00020" in line]) == 4, logged  # 2 + the typo test's 2

        # as docs/deploy.md's "Uninstalling": disable, then purge
        run("a2dismod", "remoteassist")
        run("dpkg", "--purge", PACKAGE)
        assert not package_present(), package_status()
        left = [p for p in owned if os.path.lexists(p) and not os.path.isdir(p)]
        assert left == [], left
        assert not os.path.exists(DATA)
        assert not os.path.exists("/usr/share/libapache2-mod-remoteassist")
        assert not [n for n in os.listdir(os.path.join(ETC, "mods-enabled"))
                    if n.startswith("remoteassist")]
        assert run("a2query", "-m", "remoteassist", check=False).returncode != 0
        state = [os.path.join(d, n) for d, _, files in os.walk(STATE) for n in files
                 if n == "remoteassist"]
        assert state == [], state


# --------------------------------------------- make install / make uninstall

@pytest.fixture
def destdir(workroot):
    return workroot.mktemp("destdir")


def make(target, destdir, check=True):
    p = subprocess.run(["make", "--no-print-directory", target, f"DESTDIR={destdir}"], cwd=ROOT,
                       capture_output=True, text=True)
    if check:
        assert p.returncode == 0, f"make {target} exited {p.returncode}:\n{p.stdout}{p.stderr}"
    return p


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, _, files in os.walk(root) for n in files)


def test_make_uninstall_removes_what_make_install_put(destdir):
    make("install", destdir)
    assert files_under(destdir) == ["etc/apache2/mods-available/remoteassist.conf",
                                    "etc/apache2/mods-available/remoteassist.load",
                                    MODULE_SO.lstrip("/")]
    assert os.path.isdir(os.path.join(destdir, DATA.lstrip("/")))
    make("uninstall", destdir)
    assert files_under(destdir) == []
    assert not os.path.exists(os.path.join(destdir, DATA.lstrip("/")))


def test_make_uninstall_keeps_an_edited_conf_and_the_database(destdir):
    make("install", destdir)
    conf = os.path.join(destdir, "etc/apache2/mods-available/remoteassist.conf")
    database = os.path.join(destdir, DATA.lstrip("/"), "partners.db")
    for path in (conf, database):
        with open(path, "a") as f:
            f.write("# the administrator's\n")
    out = make("uninstall", destdir).stdout
    assert files_under(destdir) == [os.path.relpath(p, destdir) for p in (conf, database)]
    assert "kept" in out and conf in out and os.path.dirname(database) in out, out


def test_make_uninstall_refuses_while_the_module_is_enabled(destdir):
    make("install", destdir)
    enabled = os.path.join(destdir, "etc/apache2/mods-enabled")
    os.makedirs(enabled)
    os.symlink("../mods-available/remoteassist.load", os.path.join(enabled, "remoteassist.load"))
    p = make("uninstall", destdir, check=False)
    assert p.returncode != 0 and "a2dismod remoteassist" in p.stderr, p.stderr
    assert os.path.exists(os.path.join(destdir, MODULE_SO.lstrip("/")))
