"""`make run` (tools/run-dev.sh): http and https side by side, and what it
prints works as printed: the curl command over http, and the Microsoft Graph
JavaScript SDK snippet over https with the development certificate. The
clients of issue 19 work against it unmodified with the token `make token`
mints: the generic OData client (@odata/client: $metadata, a filtered,
ordered and paged list, create, update, delete), the Graph JavaScript
client's whole cycle and its BatchRequestContent/BatchResponseContent. Runs
the command make's own recipe gives (`make -n run`) with its own var/
directory (VAR=) and free ports, and is stopped by its pid."""
import contextlib
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import COLLECTION, ROOT, lines_report, unexpected_line
from httpd_harness import children_db, free_port
from mint_token import TENANT
from test_graph_js_client import (BATCH_SCRIPT, CYCLE_SCRIPT, NODE_TIMEOUT, _ensure_client,
                                  check_batch, run_script)
from test_graph_js_client import check_cycle as check_graph_cycle
from test_odata_js_client import check_cycle as check_odata_cycle
from test_odata_js_client import odata_js, run  # noqa: F401 (odata_js: a fixture)

pytestmark = pytest.mark.slow

START_TIMEOUT = 30
LAST_LINE = "Press Ctrl-C to stop."


def make(*args):
    p = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, *args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"make {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
    return p.stdout


def make_run_command(var, port, tls_port):
    """What `make run VAR=var PORT=port TLS_PORT=tls_port` starts once its
    dependencies are installed and the module built: the Makefile's own
    recipe line, as make -n prints it (make itself would stand between the
    test and the server's pid)."""
    recipe = make("-n", "run", f"VAR={var}", f"PORT={port}", f"TLS_PORT={tls_port}")
    (line,) = [line for line in recipe.splitlines() if line.startswith("tools/run-dev.sh ")]
    argv = shlex.split(line)
    assert argv == ["tools/run-dev.sh", "--var", str(var), str(port), str(tls_port)], line
    return [os.path.join(ROOT, argv[0]), *argv[1:]]


class DevServer:
    """make run's command on VAR=var and free ports, its output until it waits."""

    def __init__(self, var):
        self.var, self.port, self.tls_port = var, free_port(), free_port()
        self.proc = subprocess.Popen(make_run_command(var, self.port, self.tls_port),
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.output = self._read_until(LAST_LINE)

    def _read_until(self, last):
        """Lines until last, read in a thread (a pipe's buffered reader
        hides lines from select)."""
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout],
                         daemon=True).start()
        out = []
        deadline = time.time() + START_TIMEOUT
        with contextlib.suppress(queue.Empty):
            while not out or out[-1].strip() != last:
                out.append(lines.get(timeout=max(0, deadline - time.time())))
            return "".join(out)
        self.stop()
        pytest.fail(f"make run did not get ready:\n{''.join(out)}", pytrace=False)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def between(self, start, end):
        """The printed text from the line that starts with start up to the
        line before the one that starts with end."""
        lines = self.output.splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith(start))
        last = next(i for i in range(first + 1, len(lines)) if lines[i].startswith(end))
        return "\n".join(lines[first:last]).strip()


@pytest.fixture(scope="module")
def dev(workroot):
    server = DevServer(workroot.mktemp("make-run-var"))
    yield server
    server.stop()


def bash(script, timeout):
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"exited {p.returncode}:\n{script}\n{p.stdout}\n{p.stderr}"
    return p.stdout


def stored_ids(dev):
    with children_db(os.path.join(dev.var, "db", "partners.db")) as db:
        return {row[0] for row in db.execute("SELECT id FROM remote_assistance_partners")}


def test_prints_http_and_https_urls(dev):
    for scheme, port in (("http", dev.port), ("https", dev.tls_port)):
        for version in ("v1.0", "beta"):
            assert f"{scheme}://127.0.0.1:{port}/{version}{COLLECTION}" in dev.output, dev.output
    assert os.path.join(dev.var, "dev-tls-cert.pem") in dev.output


def test_printed_curl_command_creates_a_partner(dev):
    out = bash(dev.between("curl -i", "The Microsoft Graph"), 30)
    assert out.startswith("HTTP/1.1 201"), out
    created = json.loads(out.split("\n\n", 1)[1])  # text mode: CRLF became \\n
    assert created["id"] in stored_ids(dev)


def test_printed_graph_sdk_snippet_creates_a_partner_over_https(dev):
    _ensure_client()
    snippet = dev.between(f"cd {ROOT}/tests/graph-js", LAST_LINE)
    created = json.loads(bash(snippet, NODE_TIMEOUT))
    root = f"https://127.0.0.1:{dev.tls_port}/v1.0"
    assert created["@odata.context"] == f"{root}/$metadata#deviceManagement/" \
                                        "remoteAssistancePartners/$entity", created
    assert created["displayName"] == "Contoso remote help"
    assert created["id"] in stored_ids(dev)


def tenant_names(dev):
    """The displayNames make run's database holds for the tenant of make
    token's tokens."""
    with children_db(os.path.join(dev.var, "db", "partners.db")) as db:
        return [row[0] for row in db.execute(
            "SELECT display_name FROM remote_assistance_partners WHERE tenant_id = ?",
            (TENANT,))]


@pytest.fixture(scope="module")
def dev_token(dev):
    """The token `make token VAR=...` prints for this make run."""
    return make("token", f"VAR={dev.var}").strip()


@pytest.mark.parametrize("scheme,version", [("http", "v1.0"), ("https", "beta")])
def test_generic_odata_client_against_make_run(dev, dev_token, odata_js, scheme, version):
    root = f"{scheme}://127.0.0.1:{dev.port if scheme == 'http' else dev.tls_port}"
    prefix = f"odata-{scheme}-{version}-"
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.path.join(dev.var, "dev-tls-cert.pem"))
    seen = run(odata_js, "client.mjs", f"{root}/{version}", dev_token, prefix, env=env)
    check_odata_cycle(seen, root, version, prefix)
    # make token's tenant is every test's here: count what it holds
    assert seen["count"] == len(tenant_names(dev))


@pytest.mark.parametrize("script,check", [(BATCH_SCRIPT, check_batch),
                                          (CYCLE_SCRIPT, check_graph_cycle)],
                         ids=["batch", "cycle"])
def test_graph_js_client_against_make_run(dev, dev_token, script, check):
    """Over make run's https port with its development certificate, the
    host in customHosts as the printed snippet has it; the nextLinks and
    contexts name that port (no RemoteAssistBaseURL: TLS ends in httpd)."""
    _ensure_client()
    base = f"https://127.0.0.1:{dev.tls_port}"
    prefix = f"JS {os.path.basename(script)}"
    out = run_script(script, base, dev_token, prefix,
                     os.path.join(dev.var, "dev-tls-cert.pem"))
    check(out, base, prefix, [n for n in tenant_names(dev) if n and n.startswith(prefix)])


def test_stops_on_sigterm_and_logged_no_errors(dev):
    dev.stop()
    assert dev.proc.returncode == 0
    with open(os.path.join(dev.var, "httpd", "error.log"), errors="replace") as f:
        bad = [line for line in f.read().splitlines() if unexpected_line(line, ())]
    assert not bad, lines_report("make run's httpd logged", bad)
    for port in (dev.port, dev.tls_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
