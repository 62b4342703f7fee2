#!/usr/bin/python3
"""Mints bearer tokens like the Microsoft identity platform issues for Graph,
and writes the JWKS that verifies them (docs/deploy.md, "Keys and tokens for a
test deployment"). The Debian package installs it as remoteassist-token.

Development and test tool: signs with a private key (PEM: RSA for RS256,
EC P-256 for ES256) or an HMAC secret file. Defaults give a valid delegated
token with DeviceManagementServiceConfig.ReadWrite.All for one hour.

examples:
  %(prog)s --key rsa-1.pem --kid rsa-1
  %(prog)s --key ec-1.pem --kid ec-1 --no-scp \\
      --roles DeviceManagementServiceConfig.ReadWrite.All
  %(prog)s --jwks rsa-1.pem ec-1.pem=ec-key > jwks.json
"""
import argparse
import json
import os
import time
import uuid

try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
except ImportError as missing:  # the package only recommends them
    raise SystemExit(f"{missing}: install python3-jwt and python3-cryptography")

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def mint(key_path, alg=None, kid=None, aud="https://graph.microsoft.com", iss=None,
         scp=PERMISSION, roles=None, lifetime=3600, tid=TENANT, extra=None, secret=False,
         key=None):
    """A signed token. key: a private key already loaded (cryptography), used
    instead of key_path's file with alg given, when minting many (loading an
    RSA key checks it, which costs more than signing)."""
    if key is not None:
        return _encode(key, alg, kid, aud, iss, scp, roles, lifetime, tid, extra)
    with open(key_path, "rb") as f:
        key = f.read()
    if secret:
        key = key.strip()
        alg = alg or "HS256"
    elif alg is None:
        alg = "ES256" if isinstance(load_pem_private_key(key, None),
                                    ec.EllipticCurvePrivateKey) else "RS256"
    return _encode(key, alg, kid, aud, iss, scp, roles, lifetime, tid, extra)


def _encode(key, alg, kid, aud, iss, scp, roles, lifetime, tid, extra):
    now = int(time.time())
    claims = {"aud": aud, "iss": iss or f"https://sts.windows.net/{tid}/", "iat": now,
              "nbf": now, "exp": now + lifetime, "tid": tid, "oid": str(uuid.uuid4()),
              "sub": "dev-user"}
    if scp is not None:
        claims["scp"] = scp
    if roles is not None:
        claims["roles"] = roles
    claims.update(extra or {})
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _b64(number, length):
    return jwt.utils.base64url_encode(number.to_bytes(length, "big")).decode()


def public_jwk(key_path, kid):
    """The public JWK of a PEM private key: RSA (RS256) or EC P-256 (ES256).
    EC coordinates keep their full 32 bytes (RFC 7518 6.2.1.2), which the
    module requires; RSA numbers use the fewest bytes (6.3.1.1)."""
    with open(key_path, "rb") as f:
        key = load_pem_private_key(f.read(), None)
    numbers = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": _b64(numbers.n, (numbers.n.bit_length() + 7) // 8),
                "e": _b64(numbers.e, (numbers.e.bit_length() + 7) // 8)}
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": _b64(numbers.x, 32), "y": _b64(numbers.y, 32)}
    raise SystemExit(f"{key_path}: an RSA or EC P-256 private key is needed")


def jwks(specs):
    """{"keys": [...]} for FILE[=KID] specs; the kid defaults to the file's
    name without its extension (rsa-1.pem: rsa-1)."""
    keys = []
    for spec in specs:
        path, _, kid = spec.partition("=")
        keys.append(public_jwk(path, kid or os.path.splitext(os.path.basename(path))[0]))
    return {"keys": keys}


def main():
    description, _, examples = __doc__.partition("\nexamples:\n")
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="examples:\n" + examples)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--key", help="private key PEM to sign with (or a secret file with "
                                    "--secret)")
    what.add_argument("--jwks", nargs="+", metavar="FILE[=KID]",
                      help="print the JWKS of these private keys' public halves")
    ap.add_argument("--secret", action="store_true", help="--key is an HS256 secret file")
    ap.add_argument("--alg", help="default: RS256 for RSA keys, ES256 for EC keys")
    ap.add_argument("--kid", help="the key's kid in the JWKS")
    ap.add_argument("--aud", default="https://graph.microsoft.com",
                    help="the audience (default %(default)s)")
    ap.add_argument("--tid", default=TENANT, help="the tenant (default %(default)s)")
    ap.add_argument("--iss", help="default: https://sts.windows.net/<tid>/")
    ap.add_argument("--lifetime", type=int, default=3600, help="seconds")
    ap.add_argument("--no-scp", action="store_true", help="no delegated scp claim")
    ap.add_argument("--roles", nargs="*", help="application roles")
    a = ap.parse_args()
    if a.jwks:
        print(json.dumps(jwks(a.jwks), indent=2))
        return
    print(mint(a.key, alg=a.alg, kid=a.kid, aud=a.aud, iss=a.iss, tid=a.tid,
               lifetime=a.lifetime, scp=None if a.no_scp else PERMISSION, roles=a.roles,
               secret=a.secret))


if __name__ == "__main__":
    main()
