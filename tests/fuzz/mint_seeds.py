#!/usr/bin/python3
"""Writes the seeds that need the fixed fuzzing keys, from the repository root:

    /usr/bin/python3 tests/fuzz/mint_seeds.py

tests/fuzz/keys/ holds private keys made for fuzzing only; this script makes
them when they are absent, and they are committed so that the seed tokens keep
verifying in fuzz_token. It writes corpus/fuzz_token/ (tokens of each
algorithm in an Authorization header, and header + claims inputs the target
signs itself) and the key-derived files of corpus/fuzz_keyset/ (PEM keys, a
certificate, JWK and JWKS documents). PS256 and ES256 signatures and the extra
keys are random, so a second run rewrites those files with other bytes.
"""
import datetime
import json
import os

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
NOW = 1767225600  # NOW_SEC in fuzz_token.c
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"
CLAIMS = {"aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{TENANT}/",
          "iat": NOW - 600, "nbf": NOW - 600, "exp": NOW + 3000, "tid": TENANT,
          "oid": "5b2d3f1e-0000-4000-8000-000000000001", "sub": "fuzz-user", "scp": PERMISSION}
APPLICATION = {"scp": None, "roles": [PERMISSION]}


def keys():
    """The fixed keys: made once, then read back."""
    os.makedirs(KEYS, exist_ok=True)
    paths = {name: os.path.join(KEYS, name) for name in ("rsa.jwk", "ec.jwk", "hmac.secret")}
    if not os.path.exists(paths["rsa.jwk"]):
        write_jwk(paths["rsa.jwk"], jwt.algorithms.RSAAlgorithm,
                  rsa.generate_private_key(65537, 2048), "rsa-1")
        write_jwk(paths["ec.jwk"], jwt.algorithms.ECAlgorithm,
                  ec.generate_private_key(ec.SECP256R1()), "ec-1")
        with open(paths["hmac.secret"], "w") as f:
            f.write(os.urandom(24).hex() + "\n")  # 48 characters: HS256 and HS384, not HS512
    with open(paths["rsa.jwk"]) as f:
        rsa_key = jwt.algorithms.RSAAlgorithm.from_jwk(f.read())
    with open(paths["ec.jwk"]) as f:
        ec_key = jwt.algorithms.ECAlgorithm.from_jwk(f.read())
    with open(paths["hmac.secret"]) as f:
        secret = f.read().strip().encode()
    return rsa_key, ec_key, secret


def write_jwk(path, algorithm, key, kid):
    jwk = json.loads(algorithm.to_jwk(key))
    jwk["kid"] = kid
    with open(path, "w") as f:
        json.dump(jwk, f, indent=1)
        f.write("\n")


def claims(**changes):
    out = dict(CLAIMS, **changes)
    return {k: v for k, v in out.items() if v is not None}


def write(target, name, data):
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def token_seeds(rsa_key, ec_key, secret):
    """fuzz_token: 'H' + an Authorization header, 'T' + a bare token, or
    'R'/'E'/'S' + header JSON + claims JSON for the target to sign."""
    signed = [  # name, key, alg, kid, claims
        ("rs256-delegated", rsa_key, "RS256", "rsa-1", claims()),
        ("rs512-application", rsa_key, "RS512", None, claims(**APPLICATION)),
        ("ps256-delegated", rsa_key, "PS256", "rsa-1", claims()),
        ("es256-delegated", ec_key, "ES256", "ec-1", claims()),
        ("es256-application", ec_key, "ES256", None, claims(**APPLICATION)),
        ("hs256-delegated", secret, "HS256", None, claims()),
        ("hs384-delegated", secret, "HS384", None, claims()),
        ("rs256-expired", rsa_key, "RS256", "rsa-1", claims(exp=NOW - 3600)),
        ("rs256-personal-account", rsa_key, "RS256", "rsa-1",
         claims(tid="9188040d-6c67-4c5b-b112-36a304b66dad")),
        ("es256-unknown-kid", ec_key, "ES256", "nobody", claims()),
        ("rs256-aud-array", rsa_key, "RS256", "rsa-1",
         claims(aud=["api://other", "00000003-0000-0000-c000-000000000000"])),
    ]
    for name, key, alg, kid, body in signed:
        token = jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)
        write("fuzz_token", "H-" + name, "HBearer " + token)
    write("fuzz_token", "H-bearer-lowercase-spaces",
          "Hbearer   " + jwt.encode(claims(), secret, algorithm="HS256") + "  ")
    write("fuzz_token", "T-bare-rs256",
          "T" + jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}))
    write("fuzz_token", "H-basic", "HBasic dXNlcjpwYXNz")
    write("fuzz_token", "H-alg-none", "HBearer eyJhbGciOiJub25lIn0.e30.")

    hostile = [  # name, mode, header (None: none), claims (text)
        ("valid", "R", {"alg": "RS256", "kid": "rsa-1"}, json.dumps(claims())),
        ("ps384", "R", {"alg": "PS384"}, json.dumps(claims(**APPLICATION))),
        ("valid", "E", {"alg": "ES256", "kid": "ec-1"}, json.dumps(claims())),
        ("valid", "S", {"alg": "HS256", "typ": "JWT"}, json.dumps(claims())),
        ("hs512-short-secret", "S", {"alg": "HS512"}, json.dumps(claims())),
        ("alg-the-key-cannot-make", "E", {"alg": "RS256", "kid": "ec-1"}, json.dumps(claims())),
        ("crit", "R", {"alg": "RS256", "crit": ["exp"], "exp": 1}, json.dumps(claims())),
        ("kid-number", "R", {"alg": "RS256", "kid": 7}, json.dumps(claims())),
        ("kid-unprintable", "E", {"alg": "ES256", "kid": "a\"b\r\n"}, json.dumps(claims())),
        ("no-header", "R", None, json.dumps(claims())),
        ("claims-array", "R", {"alg": "RS256"}, "[1,2,3]"),
        ("claims-not-json", "S", {"alg": "HS256"}, "exp=1"),
        ("claims-empty", "E", {"alg": "ES256"}, ""),
        ("claims-duplicate", "R", {"alg": "RS256"}, '{"exp":1,"exp":2}'),
        ("huge-times", "R", {"alg": "RS256"},
         json.dumps(claims(exp=1e300, nbf=-1e300, iat=-1e300))),
        ("times-strings", "S", {"alg": "HS256"}, json.dumps(claims(exp="2030", nbf=True))),
        ("iat-future", "E", {"alg": "ES256"}, json.dumps(claims(iat=NOW + 86400))),
        ("no-exp", "R", {"alg": "RS256"}, json.dumps(claims(exp=None))),
        ("wrong-issuer", "R", {"alg": "RS256"}, json.dumps(claims(iss="https://evil/"))),
        ("aud-object", "S", {"alg": "HS256"}, json.dumps(claims(aud={"a": 1}))),
        ("scp-number", "R", {"alg": "RS256"}, json.dumps(claims(scp=5))),
        ("scp-near-miss", "E", {"alg": "ES256"},
         json.dumps(claims(scp="x" + PERMISSION + " " + PERMISSION[:-1]))),
        ("roles-mixed", "R", {"alg": "RS256"},
         json.dumps(claims(scp=None, roles=[1, None, {}, PERMISSION + "x", PERMISSION]))),
        ("unicode", "S", {"alg": "HS256", "kid": "\u00e9\u2028"},
         json.dumps(claims(sub="\u00e9", oid=None))),
    ]
    for name, mode, header, body in hostile:
        text = (json.dumps(header) if header is not None else "") + body
        write("fuzz_token", f"{mode}-{name}", mode + text)


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz signing key")])
    start = datetime.datetime(2026, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def public_jwk(algorithm, key, **members):
    return dict(json.loads(algorithm.to_jwk(key.public_key())), **members)


def keyset_seeds(rsa_key, ec_key, secret):
    """fuzz_keyset: key files as RemoteAssistTokenKey/Secret read them."""
    rsa_jwk = public_jwk(jwt.algorithms.RSAAlgorithm, rsa_key, kid="rsa-1", use="sig")
    ec_jwk = public_jwk(jwt.algorithms.ECAlgorithm, ec_key, kid="ec-1", alg="ES256")
    p521 = ec.generate_private_key(ec.SECP521R1())
    with open(os.path.join(KEYS, "ec.jwk")) as f:
        private_ec_jwk = json.load(f)
    files = {
        "pem-rsa.pem": pem_public(rsa_key),
        "pem-ec-p256.pem": pem_public(ec_key),
        "pem-ec-p384.pem": pem_public(ec.generate_private_key(ec.SECP384R1())),
        "pem-ec-secp256k1.pem": pem_public(ec.generate_private_key(ec.SECP256K1())),
        "pem-rsa-1024.pem": pem_public(rsa.generate_private_key(65537, 1024)),
        "pem-ed25519.pem": pem_public(ed25519.Ed25519PrivateKey.generate()),
        "pem-rsa-private.pem": rsa_key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()),
        "cert-rsa.pem": certificate(rsa_key),
        "cert-ec.pem": certificate(ec_key),
        "jwks.json": json.dumps({"keys": [rsa_jwk, ec_jwk]}),
        "jwks-p521-enc.json": json.dumps({"keys": [
            public_jwk(jwt.algorithms.ECAlgorithm, p521, kid="p521"),
            dict(rsa_jwk, use="enc", kid="enc")]}),
        "jwk-single.json": json.dumps(ec_jwk),
        "jwks-pinned-mismatch.json": json.dumps({"keys": [dict(rsa_jwk, alg="HS256")]}),
        "jwks-private.json": json.dumps({"keys": [private_ec_jwk]}),
        "secret.txt": b"  " + secret + b"\n",
    }
    for name, data in files.items():
        write("fuzz_keyset", name, data)


def main():
    rsa_key, ec_key, secret = keys()
    token_seeds(rsa_key, ec_key, secret)
    keyset_seeds(rsa_key, ec_key, secret)


if __name__ == "__main__":
    main()
