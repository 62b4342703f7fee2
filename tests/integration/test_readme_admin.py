"""The manual for administrators says what the module does: the directive
reference (docs/configuration.md) matches the module and
conf/remoteassist.conf, defaults and contexts included, and the shell blocks
an administrator copies from docs/deploy.md (keys and tokens, the SQLite
backup) work as written. (The single-site example runs in
test_debian_package.py, the proxy settings in test_proxy_fronts.py.)"""
import contextlib
import os
import re
import sqlite3
import subprocess

import jwt
import pytest

from conftest import COLLECTION, ROOT, SEED_V1, Backend, location_block, make_service
from httpd_harness import give_to_run_user
from pg_cluster import PgCluster
from test_docs import DIRECTIVES_DOC, module_directives, module_sources, read

DEPLOY_DOC = "docs/deploy.md"
# httpd's words for where a directive may stand; "directory" is
# RSRC_CONF | ACCESS_CONF, the others RSRC_CONF alone
CONTEXTS = ("server config", "server config, virtual host",
            "server config, virtual host, directory")


def directive_rows():
    """{name: (default, context, example)} from the directive reference table."""
    section = read(DIRECTIVES_DOC).split("## Directive reference\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(RemoteAssist\w+)[^`]*` \| ([^|]*) \| ([^|]*) \| `([^`]*)` \|",
                      section, re.M)
    return {name: (default, context, example) for name, default, context, example in rows}


def directive_table():
    """{name: default} from the directive reference table."""
    return {name: row[0] for name, row in directive_rows().items()}


def source_contexts():
    """{name: True when a <Location>/<Directory> may hold it} from the
    command table (RA_CONF adds ACCESS_CONF to RSRC_CONF)."""
    return {name: ctx == "RA_CONF" for path in module_sources()
            for name, ctx in re.findall(r'AP_INIT_\w+\("(RemoteAssist\w+)",[^;]*?,\s*(\w+),\s*"',
                                        read(path))}


def help_defaults():
    """{name: X} for the directives whose help string says "(default X)"."""
    found = {}
    for path in module_sources():
        text = re.sub(r'"\s*\n\s*"', "", read(path))  # join adjacent string literals
        for chunk in text.split("AP_INIT_")[1:]:
            name = re.match(r'\w+\("(RemoteAssist\w+)"', chunk)
            default = re.search(r"\(default:? ([^)]+)\)", chunk)
            if name and default:
                found[name.group(1)] = default.group(1)
    return found


def test_directive_table_lists_exactly_the_module_directives():
    assert sorted(directive_table()) == sorted(module_directives())


def test_directive_table_gives_each_a_context_and_an_example():
    in_sections = source_contexts()
    assert sorted(in_sections) == sorted(module_directives())
    for name, (_, context, example) in directive_rows().items():
        assert context in CONTEXTS, (name, context)
        assert ("directory" in context) == in_sections[name], (name, context)
        assert example.split()[0] == name and len(example.split()) > 1, (name, example)


def test_sample_conf_shows_every_directive_with_its_default():
    conf = read("conf/remoteassist.conf")
    for name, default in directive_table().items():
        lines = [line for line in conf.splitlines() if re.search(rf"\b{name}\b", line)]
        assert lines, f"{name} is not in conf/remoteassist.conf"
        for value in re.findall(r"`([^`]+)`", default):
            assert any(value in line for line in lines), (name, value, lines)


def test_help_strings_name_the_documented_defaults():
    table = directive_table()
    helps = help_defaults()
    assert len(helps) >= 5, helps
    for name, default in helps.items():
        first_word = default.split()[0].rstrip(",")
        assert first_word in table[name], (name, default, table[name])


def shell_block(after_heading):
    """The first ```sh block below a heading of docs/deploy.md."""
    section = read(DEPLOY_DOC).split(after_heading + "\n", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_keys_and_tokens_work(workroot, private_service):
    """With remoteassist-token as the package installs it: tools/mint_token.py
    under that name on PATH."""
    keys_dir, etc = workroot.mktemp("admin-keys"), workroot.mktemp("admin-etc")
    bin_dir = workroot.mktemp("admin-bin")
    os.symlink(os.path.join(ROOT, "tools", "mint_token.py"),
               os.path.join(bin_dir, "remoteassist-token"))
    script = (shell_block("## Keys and tokens for a test deployment")
              .replace("KEYS=~/remoteassist-keys", f"KEYS={keys_dir}/keys")
              .replace("/etc/remoteassist", etc))
    assert "remoteassist-token --jwks" in script, script
    p = subprocess.run(["bash", "-euc", script], cwd=workroot.mktemp("admin-cwd"),
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    assert p.returncode == 0, f"{script}\n{p.stdout}\n{p.stderr}"
    tokens = p.stdout.split()
    assert [jwt.get_unverified_header(t)["alg"] for t in tokens] == ["RS256", "ES256"]
    svc = private_service("admin-jwks", locations=location_block(
        f"/v1.0{COLLECTION}", "v1.0", f'RemoteAssistTokenKey "{etc}/jwks.json"'))
    for token in tokens:
        resp = svc.post(SEED_V1, token=token)
        assert resp.status_code == 201, resp.text


def test_backup_copies_a_serving_database(workroot, private_service):
    svc = private_service("admin-backup")
    for _ in range(3):
        assert svc.post(SEED_V1).status_code == 201
    backup = os.path.join(workroot.mktemp("admin-backup-copy"), "partners.db")
    script = (shell_block("## Backing up the SQLite database")
              .replace("/var/lib/remoteassist/partners.db", svc.backend.dbd[1])
              .replace("/var/backups/remoteassist-partners.db", backup))
    subprocess.run(["bash", "-euc", script], check=True, capture_output=True, timeout=60)
    assert svc.post(SEED_V1).status_code == 201  # still serving
    with contextlib.closing(sqlite3.connect(backup)) as db:
        copied = {r[0] for r in db.execute("SELECT id FROM remote_assistance_partners")}
    live = {r[0] for r in svc.backend.rows("SELECT id FROM remote_assistance_partners")}
    assert len(copied) == 3 and copied < live


def test_postgresql_password_comes_from_a_passfile(workroot, keys):
    """The PostgreSQL example of docs/deploy.md: libpq reads the password from a mode 600
    passfile the children's user owns; DBDParams names only the file."""
    pg = PgCluster(workroot.mktemp("pg-passfile"))
    pg.start()
    try:
        pg.psql("CREATE ROLE remoteassist LOGIN PASSWORD 'not-in-the-config'", db="postgres")
        pg.psql("CREATE DATABASE ra_passfile OWNER remoteassist", db="postgres")
        with open(os.path.join(pg.data, "pg_hba.conf"), "r+") as f:
            rules = f.read()
            f.seek(0)
            f.write("host all remoteassist 127.0.0.1/32 scram-sha-256\n" + rules)
        pg.psql("SELECT pg_reload_conf()", db="postgres")
        refused = subprocess.run(["psql", "-X", "-w", "-h", "127.0.0.1", "-p", str(pg.port),
                                  "-U", "remoteassist", "-d", "ra_passfile", "-c", "SELECT 1"],
                                 capture_output=True, text=True)
        assert refused.returncode != 0 and "password" in refused.stderr, refused.stderr

        passfile = os.path.join(workroot.mktemp("pgpass"), "pgpass")
        with open(passfile, "w") as f:
            f.write(f"127.0.0.1:{pg.port}:ra_passfile:remoteassist:not-in-the-config\n")
        os.chmod(passfile, 0o600)
        give_to_run_user(passfile)
        params = (f"host=127.0.0.1 port={pg.port} dbname=ra_passfile user=remoteassist "
                  f"passfile={passfile}")
        svc = make_service(workroot.mktemp("passfile"), keys, Backend("pgsql", ("pgsql", params)))
        try:
            resp = svc.post(SEED_V1)
        finally:
            svc.stop()
        assert resp.status_code == 201, resp.text
        assert pg.psql("SELECT id FROM remote_assistance_partners", db="ra_passfile") == \
            resp.json()["id"]
    finally:
        pg.destroy()
