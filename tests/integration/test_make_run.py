"""`make run` (tools/run-dev.sh): http and https side by side, and what it
prints works as printed: the curl command over http, and the Microsoft Graph
JavaScript SDK snippet over https with the development certificate. Runs
with its own var/ directory and free ports, and is stopped by its pid."""
import contextlib
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import COLLECTION, ROOT, lines_report, unexpected_line
from httpd_harness import free_port
from test_graph_js_client import NODE_TIMEOUT, _ensure_client

pytestmark = pytest.mark.slow

RUN_DEV = os.path.join(ROOT, "tools", "run-dev.sh")
START_TIMEOUT = 30
LAST_LINE = "Press Ctrl-C to stop."


class DevServer:
    """tools/run-dev.sh --var DIR PORT TLS_PORT, its output until it waits."""

    def __init__(self, var):
        self.var, self.port, self.tls_port = var, free_port(), free_port()
        self.proc = subprocess.Popen([RUN_DEV, "--var", var, str(self.port), str(self.tls_port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
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
    with sqlite3.connect(os.path.join(dev.var, "db", "partners.db")) as db:
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


def test_stops_on_sigterm_and_logged_no_errors(dev):
    dev.stop()
    assert dev.proc.returncode == 0
    with open(os.path.join(dev.var, "httpd", "error.log"), errors="replace") as f:
        bad = [line for line in f.read().splitlines() if unexpected_line(line, ())]
    assert not bad, lines_report("make run's httpd logged", bad)
    for port in (dev.port, dev.tls_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
