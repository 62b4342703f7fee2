"""The error-log checks of conftest.py can fail: tiny generated test files run
in a pytest of their own (with this directory's conftest.py as a plugin)
against real httpds, whose logs get real error lines: authz_core's AH01630
for a site that denies everyone, and a child killed by SIGABRT."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INNER_TIMEOUT = 120

COMMON = '''
import os
import signal
import time
from urllib.parse import quote

import pytest

from conftest import Backend, make_service, sqlite_db

DENIED = '<Location "/">\\n    Require all denied\\n</Location>'


def denied(svc, path="denied"):
    """authz_core logs AH01630 at error level, with the file it refused."""
    resp = svc.session.get(f"{svc.httpd.base}/{quote(path)}")
    assert resp.status_code == 403


@pytest.fixture
def svc(private_service):
    return private_service("hygiene", extra_config=DENIED)
'''

PER_TEST = COMMON + '''

def test_undeclared_error_line(svc):
    denied(svc)


@pytest.mark.expect_log("AH01630")
def test_declared_error_line(svc):
    denied(svc)


@pytest.mark.expect_log("RA00040")
def test_error_line_declared_under_another_id(svc):
    denied(svc)


def test_child_killed_by_a_signal(svc):
    os.kill(svc.httpd.child_pids()[0], signal.SIGABRT)
    deadline = time.time() + 10
    while "exit signal" not in svc.log() and time.time() < deadline:
        time.sleep(0.05)
'''

SESSION_END = COMMON + '''

@pytest.fixture(scope="session")
def shared(workroot, keys):
    workdir = workroot.mktemp("shared")
    svc = make_service(workdir, keys, Backend("sqlite", sqlite_db(workdir)), extra_config=DENIED)
    yield svc
    try:
        denied(svc, "while-the-session-ends")
    finally:
        svc.stop()


@pytest.mark.expect_log("AH01630")
def test_secrets_reach_the_log(shared, keys):
    """AH01630 logs the refused file: put each kind of secret in a path
    (up to its first missing directory, so a PEM line without "/"; an RS256
    signature is too long for a file name)."""
    pem_line = next(line for line, what in keys.secrets().items()
                    if what.startswith("private key") and "/" not in line)
    token = keys.token(alg="ES256", kid="ec-1")
    for path in (token.rsplit(".", 1)[1], keys.secret_value, pem_line,
                 "Display Name value"):
        denied(shared, path)
'''


def run_inner(tmp_path, source):
    """Runs source as a test file; {test name: (outcome, report text)}."""
    (tmp_path / "test_inner.py").write_text(source)
    junit = tmp_path / "junit.xml"
    env = dict(os.environ, PYTHONPATH=HERE)
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p",
                        "no:cacheprovider", "-q", f"--junitxml={junit}", "test_inner.py"],
                       cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=INNER_TIMEOUT)
    assert junit.exists(), p.stdout + p.stderr
    problems = {}  # junit may list a test twice: its call, then its teardown
    for case in ET.parse(junit).iter("testcase"):
        problems.setdefault(case.get("name"), []).extend(
            c for c in case if c.tag in ("failure", "error"))
    return {name: ("/".join(c.tag for c in found) or "passed",
                   "\n".join(c.text or "" for c in found))
            for name, found in problems.items()}


@pytest.fixture(scope="module")
def per_test(tmp_path_factory):
    return run_inner(tmp_path_factory.mktemp("per-test"), PER_TEST)


@pytest.mark.slow  # the inner session it reads takes about 8 s
@pytest.mark.parametrize("name,outcome,shown", [
    ("test_undeclared_error_line", "failure", "AH01630"),
    ("test_declared_error_line", "passed", ""),
    ("test_error_line_declared_under_another_id", "failure", "AH01630"),
    ("test_child_killed_by_a_signal", "failure", "exit signal Abort"),
])
def test_a_test_fails_on_lines_it_did_not_declare(per_test, name, outcome, shown):
    got, text = per_test[name]
    assert got == outcome, text
    assert shown in text


@pytest.mark.slow
def test_session_end_fails_on_lines_between_tests_and_on_secrets(tmp_path):
    results = run_inner(tmp_path, SESSION_END)
    outcome, text = results["test_secrets_reach_the_log"]
    # the test itself passed; the session's end is reported on its teardown
    assert outcome == "error", text
    between, _, leaks = text.partition("secrets or request content in the logs")
    assert "outside any test" in between and "while-the-session-ends" in between, text
    for what in ("the signature of a token minted by Keys.token()", "the HMAC secret",
                 "private key", "request-body content"):
        assert what in leaks, text
    assert "while-the-session-ends" not in leaks, text
