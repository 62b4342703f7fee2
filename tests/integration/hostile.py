"""Tools for test_hostile_inputs.py: raw HTTP/1.x exchanges for the bytes that
requests will not send, forged JWS compact tokens, and the optional JSON
summary of the suite (RA_HOSTILE_SUMMARY)."""
import base64
import collections
import hashlib
import hmac
import json
import os
import socket

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from requests.structures import CaseInsensitiveDict


# ------------------------------------------------------------- raw HTTP

class RawResponse:
    """One answer read off a socket, shaped like requests.Response as far as
    assert_graph_error needs. An HTTP/0.9 answer (no status line, no
    headers) has status_code None; interim is the 1xx statuses before it."""

    def __init__(self, status_code, headers, content, interim=()):
        self.status_code, self.headers, self.content = status_code, headers, content
        self.interim = list(interim)

    @property
    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


def http_request(method, target, fields=(), body=b"", version="HTTP/1.1"):
    """The bytes of a request. fields: (name, value) pairs (str or bytes) or
    whole field lines as bytes, sent verbatim (CRLF added). version None:
    an HTTP/0.9 request, the request line alone."""
    def line(field):
        if isinstance(field, bytes):
            return field
        return b": ".join(v if isinstance(v, bytes) else v.encode("latin-1") for v in field)
    if version is None:
        return f"{method} {target}\r\n".encode("latin-1")
    head = f"{method} {target} {version}\r\n".encode("latin-1")
    return head + b"".join(line(f) + b"\r\n" for f in fields) + b"\r\n" + body


def exchange(port, data, half_close=False, timeout=20):
    """Sends data to 127.0.0.1:port, optionally closes the sending half, and
    reads until the server closes: the answers in order."""
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return parse_responses(bytes(received))


def parse_responses(data):
    """Splits a byte stream of HTTP/1.x answers; a body without
    Content-Length runs to the end of the stream."""
    if data and not data.startswith(b"HTTP/"):
        return [RawResponse(None, CaseInsensitiveDict(), data)]
    responses, interim = [], []
    while data.startswith(b"HTTP/"):
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = CaseInsensitiveDict()
        for field in lines:
            name, _, value = field.partition(":")
            name, value = name.strip(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if 100 <= status < 200:
            interim.append(status)
            continue
        length = int(headers["Content-Length"]) if "Content-Length" in headers else len(data)
        responses.append(RawResponse(status, headers, data[:length], interim))
        data, interim = data[length:], []
    return responses


def alive(pid):
    """pid runs and is not a zombie (a crashed child the parent has not reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # gone, maybe between open and read
        return False


# ------------------------------------------------------------ forged JWS

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _json_bytes(value):
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def jws(header, claims, sign):
    """A JWS compact token over any header and claims: JSON values, or bytes
    used as they are (for duplicate members and bytes JSON cannot hold)."""
    signing_input = f"{b64url(_json_bytes(header))}.{b64url(_json_bytes(claims))}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def rs256(private_key):
    return lambda data: private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def hs256(secret):
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def with_duplicate(obj, name, first):
    """obj as JSON bytes with member name sent twice: first, then obj's own."""
    rest = json.dumps(obj)[1:]
    return f'{{{json.dumps(name)}: {json.dumps(first)}, {rest}'.encode()


# ------------------------------------------------------------- summary

class Summary:
    """A pytest plugin: counts runs per family of this suite's test functions
    (named test_hostile_<family>) and writes them as JSON when the session
    ends. cases: {family: distinct cases}. A run is one case on one backend."""

    PREFIX = "test_hostile_"

    def __init__(self, path, cases):
        self.path, self.cases = path, cases
        self.runs = collections.defaultdict(collections.Counter)
        self.failures = collections.defaultdict(list)

    def family(self, report):
        name = report.nodeid.rpartition("::")[2].partition("[")[0]
        return name[len(self.PREFIX):] if name.startswith(self.PREFIX) else None

    def pytest_runtest_logreport(self, report):
        family = self.family(report)
        if family is None or not (report.when == "call" or report.failed):
            return
        outcome = "failed" if report.failed else report.outcome
        self.runs[family][outcome] += 1
        if report.failed:
            self.failures[family].append(report.nodeid.rpartition("::")[2])

    def pytest_sessionfinish(self, session):
        families = {
            family: {"cases": count, "passed": self.runs[family]["passed"],
                     "failed": self.runs[family]["failed"],
                     "skipped": self.runs[family]["skipped"],
                     "failures": self.failures[family]}
            for family, count in self.cases.items()}
        summary = {"suite": "tests/integration/test_hostile_inputs.py",
                   "cases": sum(self.cases.values()),
                   "passed": sum(f["passed"] for f in families.values()),
                   "failed": sum(f["failed"] for f in families.values()),
                   "families": families}
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
