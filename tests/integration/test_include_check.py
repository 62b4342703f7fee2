"""tools/check-includes.py finds every include cycle among units and only those.

Each case is a small tree of src/, include/ and a top-level .c; the check
must name exactly the expected cycles, with the include line that closes
each step, and exit 1 when there is one.
"""
import os
import subprocess
from collections import namedtuple

import pytest

from conftest import ROOT

Case = namedtuple("Case", "name files cycles")

CASES = [
    Case("no_includes", {"src/ra_a.c": "", "include/ra_a.h": ""}, []),
    Case("chain_is_not_a_cycle",
         {"src/ra_a.c": '#include "ra_a.h"\n#include "ra_b.h"\n', "include/ra_a.h": "",
          "src/ra_b.c": '#include "ra_b.h"\n#include "ra_c.h"\n', "include/ra_b.h": "",
          "include/ra_c.h": '#include "httpd.h"\n'}, []),
    Case("unit_including_its_own_header", {"src/ra_a.c": '#include "ra_a.h"\n',
                                           "include/ra_a.h": ""}, []),
    Case("header_to_source_pair",  # the shape of mod_ra_config <-> mod_ra_keys
         {"include/mod_x_config.h": '#include "mod_x_keys.h"\n',
          "src/mod_x_keys.c": '\n#include "mod_x_config.h"\n', "include/mod_x_keys.h": ""},
         ["mod_x_config -> mod_x_keys -> mod_x_config",
          "include/mod_x_config.h:1 includes mod_x_keys.h",
          "src/mod_x_keys.c:2 includes mod_x_config.h"]),
    Case("source_to_source_pair",  # the shape of ra_token <-> ra_token_cache
         {"src/ra_t.c": '#include "ra_t.h"\n#include "ra_tc.h"\n',
          "src/ra_tc.c": '#  include "ra_t.h"\n', "include/ra_t.h": "", "include/ra_tc.h": ""},
         ["ra_t -> ra_tc -> ra_t", "src/ra_t.c:2 includes ra_tc.h",
          "src/ra_tc.c:1 includes ra_t.h"]),
    Case("three_units_round",
         {"include/ra_a.h": '#include "ra_b.h"\n', "include/ra_b.h": '#include "ra_c.h"\n',
          "src/ra_c.c": '#include "ra_a.h"\n'},
         ["ra_a -> ra_b -> ra_c -> ra_a"]),
    Case("module_file_takes_part",
         {"mod_x.c": '#include "ra_a.h"\n', "include/mod_x.h": "",
          "include/ra_a.h": '#include "mod_x.h"\n'},
         ["mod_x -> ra_a -> mod_x", "mod_x.c:1 includes ra_a.h"]),
    Case("system_and_commented_includes_ignored",
         {"src/ra_a.c": '#include <ra_b.h>\n// #include "ra_b.h"\n', "include/ra_a.h": "",
          "src/ra_b.c": '#include "ra_a.h"\n'}, []),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_include_cycles_are_found_and_named(tmp_path, case):
    for path, text in case.files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    proc = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "check-includes.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=30)
    for expected in case.cycles:
        assert expected in proc.stdout, proc.stdout
    named = [line for line in proc.stdout.splitlines() if line.startswith("include cycle:")]
    assert len(named) == sum(c.count(" -> ") > 0 for c in case.cycles), proc.stdout
    assert proc.returncode == (1 if case.cycles else 0), proc.stdout
