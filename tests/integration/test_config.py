"""Configuration errors fail `apache2 -t` (and so start-up) with a message that
names the directive and the file; nothing waits for the first request."""
import os
import subprocess

import pytest

from conftest import COLLECTION, Httpd, location_block, sqlite_db
from httpd_harness import APACHE


@pytest.fixture
def make(workroot, keys):
    """Builds an Httpd whose config a test may then edit as text."""
    def _make(locations=None, **kw):
        workdir = workroot.mktemp("conf")
        key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
        if locations is None:
            locations = location_block(f"/v1.0{COLLECTION}", "v1.0", key)
        return Httpd(workdir, sqlite_db(workdir), key, locations=locations, **kw)
    return _make


def configtest(httpd, edit=None):
    text = httpd.render()
    if edit:
        text = edit(text)
    with open(httpd.conf, "w") as f:
        f.write(text)
    p = subprocess.run([APACHE, "-t", "-f", httpd.conf], capture_output=True, text=True,
                       env=httpd.env())
    return p.returncode, p.stdout + p.stderr


def write(workroot, name, data):
    path = os.path.join(workroot.mktemp("files"), name)
    with open(path, "w") as f:
        f.write(data)
    return path


def test_valid_config_is_syntax_ok(make):
    rc, out = configtest(make())
    assert rc == 0, out
    assert "Syntax OK" in out


def loc(key_line, extra=""):
    return location_block(f"/v1.0{COLLECTION}", "v1.0", key_line, extra)


@pytest.mark.parametrize("extra,words", [
    ("RemoteAssistApiVersion v2.0", ["RemoteAssistApiVersion", "v2.0"]),
    ("RemoteAssistTokenLeeway soon", ["RemoteAssistTokenLeeway"]),
    ("RemoteAssistTokenLeeway -1", ["RemoteAssistTokenLeeway"]),
    ("RemoteAssistBaseURL graph.contoso.com/v1.0", ["RemoteAssistBaseURL"]),
    ("RemoteAssistBaseURL ftp://graph.contoso.com/v1.0", ["RemoteAssistBaseURL"]),
    ("RemoteAssistMaxBody 0", ["RemoteAssistMaxBody"]),
    ("RemoteAssistMaxBody lots", ["RemoteAssistMaxBody"]),
    ("RemoteAssistPageSize 0", ["RemoteAssistPageSize", "1 to 1000"]),
    ("RemoteAssistPageSize 1001", ["RemoteAssistPageSize"]),
    ("RemoteAssistOnboardingWindow 59", ["RemoteAssistOnboardingWindow", "seconds"]),
    ("RemoteAssistOnboardingWindow soon", ["RemoteAssistOnboardingWindow"]),
])
def test_bad_directive_values_fail(make, keys, extra, words):
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    rc, out = configtest(make(locations=loc(key, extra)))
    assert rc != 0
    for w in words:
        assert w in out, out


@pytest.mark.parametrize("server_config,words", [
    ("RemoteAssistCommitBatch 0", ["RemoteAssistCommitBatch", "rows"]),
    ("RemoteAssistCommitBatch 1001", ["RemoteAssistCommitBatch"]),
    ("RemoteAssistTokenCache -1", ["RemoteAssistTokenCache", "tokens"]),
    ("<VirtualHost 127.0.0.1:80>\n    RemoteAssistTokenCache 10\n</VirtualHost>",
     ["RemoteAssistTokenCache", "main server"]),
    ("RemoteAssistLegacyTenant", ["RemoteAssistLegacyTenant"]),
])
def test_bad_server_directive_values_fail(make, server_config, words):
    rc, out = configtest(make(extra_config=server_config))
    assert rc != 0
    for w in words:
        assert w in out, out


def test_missing_key_file_fails_naming_directive_and_file(make, workroot):
    path = os.path.join(workroot.root, "no-such-dir", "jwks.json")
    rc, out = configtest(make(locations=loc(f'RemoteAssistTokenKey "{path}"')))
    assert rc != 0
    assert "RemoteAssistTokenKey" in out and path in out, out


@pytest.mark.parametrize("content", [
    "not a key at all",
    '{"keys": []}',
    '{"keys": [{"kty": "RSA", "n": "AQAB"}]}',
    '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
    '{"keys": [',
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
])
def test_invalid_key_file_fails(make, workroot, content):
    path = write(workroot, "key.json", content)
    rc, out = configtest(make(locations=loc(f'RemoteAssistTokenKey "{path}"')))
    assert rc != 0
    assert "RemoteAssistTokenKey" in out and path in out, out


def test_private_jwk_is_refused(make, workroot, keys):
    import json
    import jwt
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.rsa))
    path = write(workroot, "private.json", json.dumps({"keys": [private]}))
    rc, out = configtest(make(locations=loc(f'RemoteAssistTokenKey "{path}"')))
    assert rc != 0 and "private" in out, out


def test_small_rsa_key_is_refused(make, workroot):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    path = write(workroot, "small.pem", small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    rc, out = configtest(make(locations=loc(f'RemoteAssistTokenKey "{path}"')))
    assert rc != 0 and "1024" in out, out


def test_short_secret_is_refused(make, workroot):
    path = write(workroot, "secret.txt", "too-short\n")
    rc, out = configtest(make(locations=loc(f'RemoteAssistTokenSecret "{path}"')))
    assert rc != 0 and "RemoteAssistTokenSecret" in out and path in out, out


def test_location_without_a_key_fails(make):
    locations = (f'<Location "/v1.0{COLLECTION}">\n    SetHandler remoteassist\n'
                 f'    RemoteAssistApiVersion v1.0\n</Location>\n')
    rc, out = configtest(make(locations=locations))
    assert rc != 0
    assert "RA00002" in out and f"/v1.0{COLLECTION}" in out, out


def test_handler_without_any_module_directive_fails(make):
    locations = f'<Location "/v1.0{COLLECTION}">\n    SetHandler remoteassist\n</Location>\n'
    rc, out = configtest(make(locations=locations))
    assert rc != 0 and "RemoteAssistTokenKey" in out, out


def test_key_inherited_from_an_enclosing_location_is_enough(make, keys):
    locations = (f'<Location "/v1.0">\n    RemoteAssistTokenKey "{keys.path("jwks.json")}"\n'
                 f'</Location>\n<Location "/v1.0{COLLECTION}">\n'
                 f'    SetHandler remoteassist\n</Location>\n')
    rc, out = configtest(make(locations=locations))
    assert rc == 0, out


def test_key_at_server_level_is_inherited(make, keys):
    locations = (f'RemoteAssistTokenKey "{keys.path("jwks.json")}"\n'
                 f'<Location "/v1.0{COLLECTION}">\n    SetHandler remoteassist\n</Location>\n')
    rc, out = configtest(make(locations=locations))
    assert rc == 0, out


def test_two_keys_in_one_section_fail(make, keys):
    key = f'RemoteAssistTokenKey "{keys.path("jwks.json")}"'
    extra = f'    RemoteAssistTokenSecret "{keys.path("secret.txt")}"'
    rc, out = configtest(make(locations=loc(key, extra)))
    assert rc != 0 and "RemoteAssistTokenSecret" in out, out


def test_missing_dbdriver_fails(make):
    def drop_dbd(text):
        return "\n".join(line for line in text.splitlines()
                         if not line.startswith(("DBDriver", "DBDParams")))
    rc, out = configtest(make(), drop_dbd)
    assert rc != 0
    assert "RA00003" in out and "DBDriver" in out, out


def test_module_loaded_before_mod_dbd_fails(make):
    def swap(text):
        lines = text.splitlines()
        dbd = next(i for i, line in enumerate(lines) if "dbd_module" in line)
        ra = next(i for i, line in enumerate(lines) if "remoteassist_module" in line)
        lines[dbd], lines[ra] = lines[ra], lines[dbd]
        return "\n".join(lines)
    rc, out = configtest(make(), swap)
    assert rc != 0 and "RA00006" in out, out


def test_without_mod_dbd_the_directives_explain(make):
    def drop_dbd(text):
        return "\n".join(line for line in text.splitlines()
                         if "dbd_module" not in line and not line.startswith(("DBD")))
    rc, out = configtest(make(), drop_dbd)
    assert rc != 0 and "mod_dbd" in out, out


# A SQLite location the children cannot use: tests/integration/test_safe_reload.py
