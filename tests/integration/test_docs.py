"""The shipped configuration and the manual (README.md, docs/) stay in step
with the module: every directive in docs/configuration.md's table, every
message id in docs/operations.md's, every section of the README as it was
before the move to docs/ reachable from the README, every relative link and
anchor resolving."""
import os
import re
import subprocess

from conftest import ROOT, SEED_V1, Backend, Httpd, Service, sqlite_db
from httpd_harness import APACHE, DEFAULT_MODULE


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def module_sources():
    """The module's C sources: the module file and every unit under src/."""
    return ["mod_remoteassist.c"] + sorted(os.path.join("src", name)
                                           for name in os.listdir(os.path.join(ROOT, "src"))
                                           if name.endswith(".c"))


def module_directives():
    names = [n for path in module_sources()
             for n in re.findall(r'AP_INIT_\w+\("(RemoteAssist\w+)"', read(path))]
    assert len(names) >= 12
    return names


def message_ids():
    """Every RALOGNO(n) use in the sources, as (id, file)."""
    return [(f"RA{n}", path) for path in module_sources()
            for n in re.findall(r"RALOGNO\((\d+)\)", read(path))]


# where each part of the manual lives
DIRECTIVES_DOC = "docs/configuration.md"
MESSAGE_IDS_DOC = "docs/operations.md"

# Every section heading of the single-file README (until the move to docs/),
# and the file that holds it now.
FORMER_README_SECTIONS = {
    "Set-up: two commands": "README.md",
    "The API": "docs/api.md",
    "ETags and If-Match": "docs/api.md",
    "Query options": "docs/api.md",
    "Tenants": "docs/api.md",
    "Errors": "docs/api.md",
    "Configuration": "docs/configuration.md",
    "Directive reference": "docs/configuration.md",
    "Tokens": "docs/configuration.md",
    "Keys from a URL (Microsoft Entra ID)": "docs/configuration.md",
    "Installing on Debian (for administrators)": "docs/deploy.md",
    "The package": "docs/deploy.md",
    "Or from the source tree": "docs/deploy.md",
    "Keys and tokens for a test deployment": "docs/deploy.md",
    "A tenant's Microsoft signing keys": "docs/deploy.md",
    "A site that serves the API": "docs/deploy.md",
    "Backing up the SQLite database": "docs/deploy.md",
    "PostgreSQL instead of SQLite": "docs/deploy.md",
    "Several nodes, one PostgreSQL": "docs/deploy.md",
    "Behind a reverse proxy": "docs/deploy.md",
    "Pointing the Graph SDK at it": "docs/deploy.md",
    "Uninstalling": "docs/deploy.md",
    "Upgrading": "docs/deploy.md",
    "Storage and durability": "docs/operations.md",
    "Slow clients": "docs/operations.md",
    "Logging": "docs/operations.md",
    "Dependencies, and why": "docs/development.md",
    "Development": "docs/development.md",
}
README_LIMIT = 10 * 1024


def manual_files():
    return ["README.md"] + sorted(os.path.join("docs", name)
                                  for name in os.listdir(os.path.join(ROOT, "docs"))
                                  if name.endswith(".md"))


def without_code(markdown):
    """The text outside fenced blocks and code spans, where links live."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M))


def headings(markdown):
    return re.findall(r"^#{1,6} (.+?)\s*$", re.sub(r"^```.*?^```", "", markdown,
                                                    flags=re.S | re.M), re.M)


def anchor(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped,
    spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")


def relative_links(path):
    """(target file or directory, anchor or None) of each relative link in
    a manual file, the target relative to ROOT."""
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code(read(path))):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        yield target, resolved, fragment or None


def test_every_directive_is_documented_in_configuration_and_sample_conf():
    doc, conf = read(DIRECTIVES_DOC), read("conf/remoteassist.conf")
    for name in module_directives():
        assert f"| `{name}" in doc, f"{name} missing from {DIRECTIVES_DOC}'s directive table"
        assert name in conf, f"{name} missing from conf/remoteassist.conf"


def test_every_message_id_is_documented():
    doc = read(MESSAGE_IDS_DOC)
    ids = message_ids()
    assert len(ids) >= 30
    for msgid, path in ids:
        assert f"| {msgid} |" in doc, f"{msgid} ({path}) missing from {MESSAGE_IDS_DOC}'s table"


def test_every_message_id_is_used_once():
    """Stable ids, as httpd's AH numbers: one call site each."""
    seen = {}
    for msgid, path in message_ids():
        assert msgid not in seen, f"{msgid} is used in {seen[msgid]} and {path}"
        seen[msgid] = path


def test_manual_lists_only_ids_the_module_uses():
    used = {msgid for msgid, _ in message_ids()}
    listed = set(re.findall(r"^\| (RA\d{5}) \|", read(MESSAGE_IDS_DOC), re.M))
    assert listed == used, (listed - used, used - listed)
    for path in manual_files():
        if path != MESSAGE_IDS_DOC:
            assert not re.search(r"^\| RA\d{5} \|", read(path), re.M), \
                f"{path} has message id rows: they belong in {MESSAGE_IDS_DOC}"


def test_every_former_readme_section_is_reachable_from_the_readme():
    linked = {resolved for _, resolved, _ in relative_links("README.md")} | {"README.md"}
    for heading, path in FORMER_README_SECTIONS.items():
        assert heading in headings(read(path)), f"section {heading!r} is not in {path}"
        assert path in linked, f"{path} (section {heading!r}) is not linked from README.md"


def test_relative_links_and_anchors_resolve():
    checked = 0
    for path in manual_files():
        for target, resolved, fragment in relative_links(path):
            assert os.path.exists(os.path.join(ROOT, resolved)), f"{path}: {target} is missing"
            if fragment:
                assert fragment in {anchor(h) for h in headings(read(resolved))}, \
                    f"{path}: {target} names no heading of {resolved}"
            checked += 1
    assert checked >= 40, checked


def test_readme_is_a_front_page():
    size = len(read("README.md").encode())
    assert size < README_LIMIT, f"README.md is {size} bytes: move sections to docs/"


def test_only_the_jose_gate_hands_outside_bytes_to_cjose():
    """cjose's decoders assert() on some input: src/ra_jose.c checks it first."""
    gated = ("cjose_jws_import", "cjose_jwk_import", "cjose_base64url_decode")
    for d in ("src", "."):
        for name in os.listdir(os.path.join(ROOT, d)):
            if name.endswith(".c") and name != "ra_jose.c":
                text = read(os.path.join(d, name))
                for fn in gated:
                    assert fn not in text, f"{d}/{name} calls {fn} outside src/ra_jose.c"


def test_load_file_keeps_the_debian_dependency_line():
    load = read("conf/remoteassist.load").splitlines()
    assert load[0] == "# Depends: dbd"
    assert load[1] == ("LoadModule remoteassist_module "
                       "/usr/lib/apache2/modules/mod_remoteassist.so")


def test_sample_conf_uncommented_serves_both_versions(workroot, keys):
    """conf/remoteassist.{load,conf} as an administrator enables them."""
    workdir = workroot.mktemp("sample")
    _, db_path = sqlite_db(workdir)
    conf = "\n".join(line[1:] if line.startswith("#    ") else line
                     for line in read("conf/remoteassist.conf").splitlines())
    conf = (conf.replace("/etc/remoteassist/jwks.json", keys.path("jwks.json"))
                .replace("/var/lib/remoteassist/partners.db", db_path))
    load = read("conf/remoteassist.load").replace(
        "/usr/lib/apache2/modules/mod_remoteassist.so",
        os.environ.get("RA_MODULE", DEFAULT_MODULE))
    httpd = Httpd(workdir, ("sqlite3", db_path), "", locations="")
    base = "\n".join(line for line in httpd.render().splitlines()
                     if not line.startswith(("DBD", "LoadModule remoteassist")))
    text = base + "\n" + "\n".join(l for l in load.splitlines() if not l.startswith("#")) \
        + "\n" + conf + "\n"
    with open(httpd.conf, "w") as f:
        f.write(text)
    p = subprocess.run([APACHE, "-t", "-f", httpd.conf], capture_output=True, text=True,
                       env=httpd.env())
    assert p.returncode == 0 and "Syntax OK" in p.stdout + p.stderr, p.stderr
    httpd.render = lambda: text  # start exactly this file
    httpd.start()
    try:
        svc = Service(httpd, Backend("sqlite", ("sqlite3", db_path)), keys)
        for version in ("v1.0", "beta"):
            resp = svc.post(SEED_V1, version=version)
            assert resp.status_code == 201, resp.text
        assert svc.backend.count() == 2
    finally:
        httpd.stop()


def test_debian_stock_configuration_with_the_module_enabled(workroot, keys):
    """A copy of this machine's /etc/apache2, with remoteassist.load and .conf
    in mods-enabled as `make install && a2enmod remoteassist` leave them:
    `apache2 -t` passes with the shipped (commented) conf and with it enabled."""
    import shutil
    etc = os.path.join(workroot.mktemp("etc"), "apache2")
    shutil.copytree("/etc/apache2", etc, symlinks=True)
    enabled = os.path.join(etc, "mods-enabled")
    for name in ("dbd.load",):
        target = os.path.join(etc, "mods-available", name)
        if not os.path.exists(os.path.join(enabled, name)):
            os.symlink(target, os.path.join(enabled, name))
    module = os.environ.get("RA_MODULE", DEFAULT_MODULE)
    with open(os.path.join(enabled, "remoteassist.load"), "w") as f:
        f.write(read("conf/remoteassist.load").replace(
            "/usr/lib/apache2/modules/mod_remoteassist.so", module))
    _, db_path = sqlite_db(workroot.mktemp("stock-db"))
    if os.geteuid() == 0:  # Debian's User, whom apachectl -t checks it for
        shutil.chown(os.path.dirname(db_path), "www-data", "www-data")
    shipped = read("conf/remoteassist.conf")
    enabled_conf = "\n".join(line[1:] if line.startswith("#    ") else line
                             for line in shipped.splitlines())
    enabled_conf = (enabled_conf.replace("/etc/remoteassist/jwks.json", keys.path("jwks.json"))
                    .replace("/var/lib/remoteassist/partners.db", db_path))
    env = Httpd(workroot.mktemp("stock"), ("sqlite3", db_path), "").env()
    # envvars points DefaultRuntimeDir at /var/run/apache2, which only exists
    # once Debian's apache2 has been started: give this copy its own
    run_dir = workroot.mktemp("stock-run")
    for conf in (shipped, enabled_conf):
        with open(os.path.join(enabled, "remoteassist.conf"), "w") as f:
            f.write(conf)
        p = subprocess.run(["bash", "-c", f". {etc}/envvars && APACHE_RUN_DIR={run_dir} "
                            f"APACHE_LOCK_DIR={run_dir} exec {APACHE} -d {etc} -t"],
                           capture_output=True, text=True, env=env)
        assert p.returncode == 0 and "Syntax OK" in p.stderr, p.stderr
