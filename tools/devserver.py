#!/usr/bin/python3
"""`make run`: a private httpd with mod_remoteassist on 127.0.0.1, http on
PORT and https on TLS_PORT.

SQLite under var/, a development RSA key pair and a TLS certificate under
var/ (made once), the v1.0 and beta collections, a ready curl command with a
valid token, and a Microsoft Graph JavaScript SDK snippet that works as
printed (the SDK sends tokens only over https).
"""
import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devcert  # noqa: E402
import httpd_harness  # noqa: E402
import mint_token  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

TOOLS = os.path.dirname(os.path.abspath(__file__))
GRAPH_JS = os.path.join(httpd_harness.ROOT, "tests", "graph-js")
CERT_DAYS = 365

SEED_BODY = """{
  "@odata.type": "#microsoft.graph.remoteAssistancePartner",
  "displayName": "Display Name value",
  "onboardingUrl": "https://example.com/onboardingUrl/",
  "onboardingStatus": "onboarding",
  "lastConnectionDateTime": "2016-12-31T23:58:36.6670033-08:00"
}"""


def ensure_dev_key(var):
    private = os.path.join(var, "dev-key.pem")
    public = os.path.join(var, "dev-key.pub.pem")
    if os.path.exists(private) and os.path.exists(public):
        return private, public
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(private, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(private, 0o600)
    with open(public, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def ensure_dev_certificate(var):
    """var/dev-tls-cert.pem and -key.pem, made again only when it expires
    within a day."""
    cert = os.path.join(var, "dev-tls-cert.pem")
    if devcert.valid_for(cert, days=1):
        return cert, os.path.join(var, "dev-tls-key.pem")
    return devcert.self_signed(var, "dev-tls", days=CERT_DAYS)


def tls_config(workdir, tls_port, cert, key):
    """mod_ssl on a second port; the server-level <Location>s apply there too."""
    modules = httpd_harness.MODULES
    return f"""LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
LoadModule ssl_module {modules}/mod_ssl.so
Listen 127.0.0.1:{tls_port}
SSLSessionCache "shmcb:{workdir}/ssl_scache(512000)"
<VirtualHost 127.0.0.1:{tls_port}>
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
</VirtualHost>
"""


def sdk_snippet(tls_base, cert, private_key):
    """Shell lines that create a partner through the Graph JavaScript SDK:
    customHosts takes the bare host name (no port, no scheme), and
    NODE_EXTRA_CA_CERTS makes node trust the development certificate."""
    host = tls_base.split("://", 1)[1].rsplit(":", 1)[0]
    return f"""cd {GRAPH_JS}
test -d node_modules || npm ci --no-audit --no-fund    # once: the SDK version the tests pin
GRAPH_TOKEN="$(/usr/bin/python3 {TOOLS}/mint_token.py --key {private_key})" \\
NODE_EXTRA_CA_CERTS={cert} node --input-type=module <<'EOF'
import {{ Client }} from "@microsoft/microsoft-graph-client";
const client = Client.init({{
  authProvider: (done) => done(null, process.env.GRAPH_TOKEN),
  baseUrl: "{tls_base}",
  defaultVersion: "v1.0",
  customHosts: new Set(["{host}"]),
}});
const partner = await client.api("/deviceManagement/remoteAssistancePartners").post({{
  "@odata.type": "#microsoft.graph.remoteAssistancePartner",
  displayName: "Contoso remote help",
  onboardingUrl: "https://example.com/onboardingUrl/",
}});
console.log(JSON.stringify(partner, null, 2));
EOF"""


def main():
    ap = argparse.ArgumentParser(description="make run: a private httpd serving the module")
    ap.add_argument("port", type=int, nargs="?", default=8080, help="http port")
    ap.add_argument("tls_port", type=int, nargs="?", default=8443, help="https port")
    ap.add_argument("--var", default=os.path.join(httpd_harness.ROOT, "var"),
                    help="where the database, keys, certificate and logs live")
    a = ap.parse_args()
    var = os.path.abspath(a.var)
    os.makedirs(var, exist_ok=True)
    os.chmod(var, 0o755)  # httpd's User reads the public key and the database here
    private, public = ensure_dev_key(var)
    cert, key = ensure_dev_certificate(var)
    workdir = os.path.join(var, "httpd")
    server = httpd_harness.Httpd(workdir, httpd_harness.sqlite_db(var),
                                 f'RemoteAssistTokenKey "{public}"', port=a.port,
                                 extra_config=tls_config(workdir, a.tls_port, cert, key),
                                 throttle="")  # the documented defaults, as installed
    server.start()
    tls_base = f"https://127.0.0.1:{a.tls_port}"
    collection = httpd_harness.COLLECTION
    token = mint_token.mint(private)
    body = SEED_BODY.replace("'", "'\\''")
    print(f"""mod_remoteassist is serving (SQLite: {server.db[1]})
  v1.0: {server.url('v1.0')}
        {tls_base}/v1.0{collection}
  beta: {server.url('beta')}
        {tls_base}/beta{collection}
  https uses a development certificate: {cert}
  error log: {server.error_log}

Try it (the token is valid for an hour; `make token` prints another):

curl -i -X POST '{server.url('v1.0')}' \\
  -H 'Authorization: Bearer {token}' \\
  -H 'Content-Type: application/json' \\
  -d '{body}'

The Microsoft Graph JavaScript SDK sends its token only over https, to Graph
hosts and the bare host names in customHosts. Paste this into a shell:

{sdk_snippet(tls_base, cert, private)}

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
