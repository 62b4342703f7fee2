#!/usr/bin/python3
"""`make run`: a private httpd with mod_remoteassist on 127.0.0.1:PORT.

SQLite under var/, a development RSA key pair under var/ (made once), the
v1.0 and beta collections, and a ready curl command with a valid token.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpd_harness  # noqa: E402
import mint_token  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

VAR = os.path.join(httpd_harness.ROOT, "var")
PRIVATE = os.path.join(VAR, "dev-key.pem")
PUBLIC = os.path.join(VAR, "dev-key.pub.pem")

SEED_BODY = """{
  "@odata.type": "#microsoft.graph.remoteAssistancePartner",
  "displayName": "Display Name value",
  "onboardingUrl": "https://example.com/onboardingUrl/",
  "onboardingStatus": "onboarding",
  "lastConnectionDateTime": "2016-12-31T23:58:36.6670033-08:00"
}"""


def ensure_dev_key():
    if os.path.exists(PRIVATE) and os.path.exists(PUBLIC):
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(PRIVATE, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(PRIVATE, 0o600)
    with open(PUBLIC, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    os.makedirs(VAR, exist_ok=True)
    ensure_dev_key()
    server = httpd_harness.Httpd(os.path.join(VAR, "httpd"),
                                 httpd_harness.sqlite_db(VAR), f'RemoteAssistTokenKey "{PUBLIC}"',
                                 port=port)
    server.start()
    token = mint_token.mint(PRIVATE)
    body = SEED_BODY.replace("'", "'\\''")
    print(f"""mod_remoteassist is serving on {server.base} (SQLite: {server.db[1]})
  v1.0: {server.url('v1.0')}
  beta: {server.url('beta')}
  error log: {server.error_log}

Try it (the token is valid for an hour; `make token` prints another):

curl -i -X POST '{server.url('v1.0')}' \\
  -H 'Authorization: Bearer {token}' \\
  -H 'Content-Type: application/json' \\
  -d '{body}'

Press Ctrl-C to stop.""", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
