"""A local identity provider for the key-URL tests: a CA made for the test
session, a certificate for 127.0.0.1 signed by it, and Python's http.server
over ssl serving an OpenID Connect discovery document and a JWKS, which the
tests change, break or take down while httpd runs. It counts what it
serves, per path."""
import collections
import datetime
import ipaddress
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from httpd_harness import free_port

METADATA_PATH = "/tenant/v2.0/.well-known/openid-configuration"
JWKS_PATH = "/tenant/discovery/v2.0/keys"
# Microsoft's multi-tenant form; the tests' tokens carry this tid by default
V1_ISSUER_TEMPLATE = "https://sts.windows.net/{tenantid}/"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signer, ca, extensions=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                              critical=False))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signer, hashes.SHA256())


class Pki:
    """A CA and a server certificate for 127.0.0.1, as PEM files in d."""

    def __init__(self, d):
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _certificate(_name("remoteassist test CA"), _name("remoteassist test CA"),
                          ca_key.public_key(), ca_key, True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _certificate(
            _name("127.0.0.1"), ca.subject, key.public_key(), ca_key, False,
            [x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                          x509.DNSName("localhost")]),
             x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
             x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())])
        self.ca_path = self._write(d, "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
        self.cert_path = self._write(d, "server.pem", cert.public_bytes(serialization.Encoding.PEM))
        self.key_path = self._write(d, "server.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    @staticmethod
    def _write(d, name, data):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)  # httpd's User reads the CA
        return path


class SigningKey:
    """An RSA signing key of the identity provider, published under kid."""

    def __init__(self, kid):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self):
        return dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key())),
                    kid=self.kid, use="sig", alg="RS256")

    def token(self, keys, **claims):
        """A token of conftest's Keys (logged for the leak scan) signed here."""
        return keys.token(kid=self.kid, key=self.private, **claims)


class KeyServer:
    """HTTPS on 127.0.0.1 serving documents that tests set per path."""

    def __init__(self, pki, issuer=V1_ISSUER_TEMPLATE):
        self.pki = pki
        self.port = free_port()
        self.documents = {}
        self.served = collections.Counter()
        self.lock = threading.Lock()
        self.httpd = None
        self.set_metadata(issuer)

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    @property
    def metadata_url(self):
        return self.url(METADATA_PATH)

    @property
    def jwks_url(self):
        return self.url(JWKS_PATH)

    def set_metadata(self, issuer):
        self.set_document(METADATA_PATH, json.dumps({
            "issuer": issuer, "jwks_uri": self.jwks_url,
            "authorization_endpoint": self.url("/tenant/oauth2/v2.0/authorize"),
            "token_endpoint": self.url("/tenant/oauth2/v2.0/token"),
            "id_token_signing_alg_values_supported": ["RS256"]}).encode())

    def set_document(self, path, body):
        with self.lock:
            self.documents[path] = body

    def publish(self, *signing_keys):
        """The JWKS holds exactly these keys from now on."""
        self.set_document(JWKS_PATH, json.dumps({"keys": [k.jwk() for k in signing_keys]})
                          .encode())

    def count(self, path=JWKS_PATH):
        with self.lock:
            return self.served[path]

    def wait_for_fetches(self, count, timeout, path=JWKS_PATH):
        """Waits until path was served count times in all; False on timeout."""
        deadline = time.time() + timeout
        while self.count(path) < count:
            if time.time() > deadline:
                return False
            time.sleep(0.02)
        return True

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    body = server.documents.get(self.path)
                    server.served[self.path] += 1
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.cert_path, self.pki.key_path)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down: the port refuses connections until start()."""
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
