"""The shipped configuration and the README stay in step with the module."""
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


def test_every_directive_is_documented_in_readme_and_sample_conf():
    readme, conf = read("README.md"), read("conf/remoteassist.conf")
    for name in module_directives():
        assert f"| `{name}" in readme, f"{name} missing from README's directive table"
        assert name in conf, f"{name} missing from conf/remoteassist.conf"


def test_every_message_id_is_documented():
    readme = read("README.md")
    ids = message_ids()
    assert len(ids) >= 30
    for msgid, path in ids:
        assert f"| {msgid} |" in readme, f"{msgid} ({path}) missing from README's table"


def test_every_message_id_is_used_once():
    """Stable ids, as httpd's AH numbers: one call site each."""
    seen = {}
    for msgid, path in message_ids():
        assert msgid not in seen, f"{msgid} is used in {seen[msgid]} and {path}"
        seen[msgid] = path


def test_readme_lists_only_ids_the_module_uses():
    used = {msgid for msgid, _ in message_ids()}
    listed = set(re.findall(r"^\| (RA\d{5}) \|", read("README.md"), re.M))
    assert listed == used, (listed - used, used - listed)


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
