"""Concurrency, on SQLite and PostgreSQL: keyset paging while others write,
and optimistic updates racing on one ETag. Bounded in count and time."""
import concurrent.futures
import threading
import time

import pytest

from graph_calls import Caller

PARTNERS = 1000
PAGE = 50


@pytest.mark.slow
@pytest.mark.parametrize("orderby", [None, "displayName desc", "lastConnectionDateTime"])
def test_paging_while_others_insert_and_delete(service, orderby):
    """A client walks 1,000 partners page by page while a second client
    inserts new ones and deletes others: no partner is seen twice, and every
    partner that existed for the whole walk is seen."""
    reader = Caller(service)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        created = list(pool.map(
            lambda i: Caller(service, tenant=reader.tenant).create(
                displayName=f"partner {i % 37:02d}",
                lastConnectionDateTime=f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z")["id"],
            range(PARTNERS)))
    doomed = set(created[::7])
    stable = set(created) - doomed
    writer = Caller(service, tenant=reader.tenant)
    stop = threading.Event()
    writes = {"inserted": 0, "deleted": 0}

    def write():
        victims = iter(sorted(doomed))
        i = 0
        while not stop.is_set():
            writer.create(displayName=f"partner {i % 37:02d} new",
                          lastConnectionDateTime="2024-01-15T12:00:00Z")
            writes["inserted"] += 1
            victim = next(victims, None)
            if victim:
                assert writer.delete(victim).status_code == 204
                writes["deleted"] += 1
            i += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        params = {"$top": str(PAGE)}
        if orderby:
            params["$orderby"] = orderby
        seen = reader.ids(max_pages=PARTNERS, **params)
    finally:
        stop.set()
        thread.join(60)
    assert writes["inserted"] > 0 and writes["deleted"] > 0, writes
    assert len(seen) == len(set(seen)), "a partner was listed twice"
    missing = stable - set(seen)
    assert not missing, f"{len(missing)} partners that existed all along were skipped"


def test_concurrent_patches_with_one_etag_let_exactly_one_through(service):
    caller = Caller(service)
    created = caller.create(displayName="start")
    pid, etag = created["id"], created["@odata.etag"]
    barrier = threading.Barrier(20)

    def patch(i):
        barrier.wait(10)
        return caller.patch(pid, {"displayName": f"writer {i}"}, headers={"If-Match": etag})

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(patch, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19, statuses
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert caller.get(pid).json() == winner


def test_concurrent_patches_without_if_match_all_land(service):
    """Without If-Match every write lands, one after the other: each reads
    again when another got in between, so none is lost or half applied."""
    caller = Caller(service)
    pid = caller.create(displayName="start")["id"]
    props = ["displayName", "onboardingUrl"]

    def patch(i):
        return caller.patch(pid, {props[i % 2]: f"value {i}"})

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        statuses = [r.status_code for r in pool.map(patch, range(10))]
    assert statuses == [200] * 10, statuses
    final = caller.get(pid).json()
    assert final["displayName"].startswith("value ") and final["onboardingUrl"].startswith(
        "value ")


def test_delete_racing_patches(service):
    caller = Caller(service)
    pid = caller.create()["id"]
    deadline = time.time() + 30

    def patch(_):
        return caller.patch(pid, {"displayName": "x"}).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(patch, i) for i in range(10)]
        deleted = caller.delete(pid).status_code
        statuses = [f.result(timeout=max(1, deadline - time.time())) for f in futures]
    assert deleted == 204
    assert set(statuses) <= {200, 404}, statuses
    assert service.backend.row(pid) is None
