#!/usr/bin/python3
"""The $batch cell (issue 19): 20 creates in one JSON $batch against 20
separate creates, on one keep-alive connection to one httpd on SQLite as
tools/httpd_harness.py configures it (the integration tests' server). Both sides create the
same partners' bodies; each round runs the two sides in turn (A-B-A...) so
the machine's drift falls on both. Prints each side's partners per second
(median of the rounds) and the ratio batch ÷ separate (above 1: the batch is
faster), and checks every partner was stored.

Usage: bench/batch_cell.py [ROUNDS]   (default 20; make bench's settings do
not apply: this is a short cell run on its own)."""
import http.client
import json
import os
import statistics
import sqlite3
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

import httpd_harness  # noqa: E402
import mint_token  # noqa: E402

PARTNERS = "/deviceManagement/remoteAssistancePartners"
PER_ROUND = 20


def body(i):
    return {"id": f"bench-{uuid.uuid4().hex}", "displayName": f"Partner {i}",
            "onboardingUrl": "https://partner.example/onboard",
            "onboardingStatus": "notOnboarded"}


def separate(conn, headers):
    for i in range(PER_ROUND):
        conn.request("POST", "/v1.0" + PARTNERS, json.dumps(body(i)), headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201, resp.status


def batched(conn, headers):
    requests = [{"id": str(i), "method": "POST", "url": PARTNERS,
                 "headers": {"Content-Type": "application/json"}, "body": body(i)}
                for i in range(PER_ROUND)]
    conn.request("POST", "/v1.0/$batch", json.dumps({"requests": requests}), headers)
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    assert resp.status == 200, resp.status
    assert [r["status"] for r in answer["responses"]] == [201] * PER_ROUND, answer


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = tempfile.mkdtemp(prefix="ra-bench-batch-")
    os.chmod(work, 0o755)
    key = ec.generate_private_key(ec.SECP256R1())
    key_path = os.path.join(work, "key.pem")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    jwks_path = os.path.join(work, "jwks.json")
    with open(jwks_path, "w") as f:
        json.dump(mint_token.jwks([f"{key_path}=bench"]), f)
    os.chmod(jwks_path, 0o644)
    db = httpd_harness.sqlite_db(work)
    httpd = httpd_harness.Httpd(work, db, f'RemoteAssistTokenKey "{jwks_path}"',
                                log_level="warn")
    httpd.start()
    try:
        headers = {"Content-Type": "application/json",
                   "Authorization": "Bearer " + mint_token.mint(key_path, kid="bench")}
        conn = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=60)
        batched(conn, headers)  # warm: the token cache, the statements
        separate(conn, headers)
        times = {"separate": [], "batch": []}
        for _ in range(rounds):
            for side, run in (("separate", separate), ("batch", batched)):
                start = time.perf_counter()
                run(conn, headers)
                times[side].append(time.perf_counter() - start)
        conn.close()
        with sqlite3.connect(db[1]) as c:
            stored = c.execute("SELECT count(*) FROM remote_assistance_partners").fetchone()[0]
        assert stored == 2 * PER_ROUND * (rounds + 1), stored
    finally:
        httpd.stop()
    rate = {side: PER_ROUND / statistics.median(t) for side, t in times.items()}
    print(f"$batch cell, SQLite, one connection, {rounds} rounds of {PER_ROUND} creates "
          f"each way ({stored} partners stored):")
    print(f"  20 separate creates: {rate['separate']:.0f} partners/s")
    print(f"  one $batch of 20:    {rate['batch']:.0f} partners/s")
    print(f"  batch ÷ separate:    {rate['batch'] / rate['separate']:.2f}")


if __name__ == "__main__":
    main()
