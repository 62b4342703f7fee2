"""`make reliability`, CI-sized: every fault scenario of
tests/reliability/load_with_faults.py (the same driver) with a small paced
load, on SQLite and PostgreSQL, under the event and prefork MPMs. Each run
must lose no id that got a 201, crash no child, answer every 5xx with a Graph
503 and Retry-After, and create again within RECOVERY_BOUND of the fault's end."""
import os
import sys

import pytest

from conftest import ROOT, PgCluster

sys.path.insert(0, os.path.join(ROOT, "tests", "reliability"))
import load_with_faults as lf  # noqa: E402

pytestmark = pytest.mark.slow

# 8 clients at 150 creates/s: a few hundred creates a run. The wait for
# recovery outlasts the bound, so a slow recovery is measured, not cut off.
CI = lf.Settings(clients=8, rate=150, max_requests=5000, before=1.0, settle=1.0,
                 recovery_limit=lf.RECOVERY_BOUND + 3, outage=3.0, hold=1.0, bite_limit=10.0,
                 restart_gap=0.7)

# What each fault makes the module and mod_dbd log at error while it lasts:
# the failed statement (RA00041) or connection (RA00040, and mod_dbd's own
# AH00629/AH00633/AH00636/AH00639/AH02655), a connection that could not be
# set up (RA00016), and each 503 answered (RA00030).
DATABASE_DOWN = ("RA00016", "RA00030", "RA00040", "RA00041", "AH00629", "AH00633",
                 "AH00636", "AH00639", "AH02655")
EXPECTED_LOGS = {
    "pg-restart": DATABASE_DOWN,
    "pg-outage": DATABASE_DOWN,
    "disk-full": ("RA00030", "RA00041"),
    "disk-full-simulated": ("RA00030", "RA00041"),
}

CASES = [pytest.param(scenario, backend, mpm, id=f"{backend}-{mpm}-{scenario.name}",
                      marks=pytest.mark.expect_log(*EXPECTED_LOGS.get(scenario.name, ())))
         for backend in lf.BOTH for mpm in ("event", "prefork")
         for scenario in lf.SCENARIOS if backend in scenario.backends and scenario.ci]


@pytest.fixture(scope="module")
def fault_pg(workroot):
    """A cluster of this module's own: its scenarios stop and restart it."""
    with PgCluster(workroot.mktemp("pg-reliability")) as cluster:
        yield cluster


@pytest.mark.parametrize("scenario, backend, mpm", CASES)
def test_creates_survive_the_fault(scenario, backend, mpm, keys, workroot, request):
    pg = request.getfixturevalue("fault_pg") if backend == "pgsql" else None
    result = lf.run_scenario(scenario, backend, mpm, CI, keys,
                             workroot.mktemp(f"{backend}-{mpm}-{scenario.name}"), pg=pg)
    if "not_run" in result:
        pytest.skip(result["not_run"])
    assert not lf.problems(result), result
