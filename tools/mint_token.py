#!/usr/bin/python3
"""Mints a bearer token like the Microsoft identity platform issues for Graph.

Development and test tool: signs with a private key (PEM) or an HMAC secret
file. Defaults give a valid delegated token for the Create call.
  tools/mint_token.py --key var/dev-key.pem
  tools/mint_token.py --key var/dev-key.pem --roles DeviceManagementServiceConfig.ReadWrite.All --no-scp
"""
import argparse
import time
import uuid

import jwt

PERMISSION = "DeviceManagementServiceConfig.ReadWrite.All"


def mint(key_path, alg=None, kid=None, aud="https://graph.microsoft.com",
         iss="https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
         scp=PERMISSION, roles=None, lifetime=3600, tid="72f988bf-86f1-41af-91ab-2d7cd011db47",
         extra=None, secret=False):
    with open(key_path, "rb") as f:
        key = f.read()
    if secret:
        key = key.strip()
        alg = alg or "HS256"
    elif alg is None:
        alg = "ES256" if b"EC PRIVATE" in key or _is_ec(key) else "RS256"
    now = int(time.time())
    claims = {"aud": aud, "iss": iss, "iat": now, "nbf": now, "exp": now + lifetime,
              "tid": tid, "oid": str(uuid.uuid4()), "sub": "dev-user"}
    if scp is not None:
        claims["scp"] = scp
    if roles is not None:
        claims["roles"] = roles
    claims.update(extra or {})
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def _is_ec(pem):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from cryptography.hazmat.primitives.asymmetric import ec
    return isinstance(load_pem_private_key(pem, None), ec.EllipticCurvePrivateKey)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--key", required=True, help="private key PEM (or secret file with --secret)")
    ap.add_argument("--secret", action="store_true", help="--key is an HS256 secret file")
    ap.add_argument("--alg")
    ap.add_argument("--kid")
    ap.add_argument("--aud", default="https://graph.microsoft.com")
    ap.add_argument("--lifetime", type=int, default=3600, help="seconds")
    ap.add_argument("--no-scp", action="store_true", help="no delegated scp claim")
    ap.add_argument("--roles", nargs="*", help="application roles")
    a = ap.parse_args()
    print(mint(a.key, alg=a.alg, kid=a.kid, aud=a.aud, lifetime=a.lifetime,
               scp=None if a.no_scp else PERMISSION, roles=a.roles, secret=a.secret))


if __name__ == "__main__":
    main()
