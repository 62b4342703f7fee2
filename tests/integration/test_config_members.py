"""tools/check-config-members.py: no configuration member escapes the merge.

The check passes on the tree as it is, and fails, naming the member, on a
copy of include/mod_ra_config.h and src/mod_ra_config.c broken the ways a
new member could be left out of create or merge. No server is started.
"""
import os
import subprocess
from collections import namedtuple

import pytest

from conftest import ROOT

SCRIPT = os.path.join(ROOT, "tools", "check-config-members.py")
HEADER = os.path.join("include", "mod_ra_config.h")
SOURCE = os.path.join("src", "mod_ra_config.c")

# file, text to replace (must occur), replacement, what the failure names
Break = namedtuple("Break", "name file old new names")

BREAKS = [
    Break("server_member_beside_the_list", HEADER,
          "    RA_SERVER_MEMBERS(RA_CONFIG_MEMBER)\n",
          "    RA_SERVER_MEMBERS(RA_CONFIG_MEMBER)\n    int new_limit;\n", "int new_limit;"),
    Break("section_member_beside_the_list", HEADER,
          "    RA_DIR_MEMBERS(RA_CONFIG_MEMBER)\n",
          "    const char *new_path;\n    RA_DIR_MEMBERS(RA_CONFIG_MEMBER)\n", "new_path"),
    Break("member_without_a_merge_kind", HEADER,
          "X(int, leeway, RA_DEFAULT_LEEWAY, FLAGGED, RA_SET_LEEWAY)",
          "X(int, leeway, RA_DEFAULT_LEEWAY, COPY, RA_SET_LEEWAY)", "leeway merges by 'COPY'"),
    Break("member_missing_an_argument", HEADER,
          "X(int, leeway, RA_DEFAULT_LEEWAY, FLAGGED, RA_SET_LEEWAY)",
          "X(int, leeway, RA_DEFAULT_LEEWAY)", "X(int, leeway, RA_DEFAULT_LEEWAY)"),
    Break("flag_that_does_not_exist", HEADER,
          "X(int, leeway, RA_DEFAULT_LEEWAY, FLAGGED, RA_SET_LEEWAY)",
          "X(int, leeway, RA_DEFAULT_LEEWAY, FLAGGED, RA_SET_LEEWAYS)", "RA_SET_LEEWAYS"),
    Break("flag_no_member_reads", HEADER,
          "    RA_SET_AUDIT = 1u << 11\n",
          "    RA_SET_AUDIT = 1u << 11,\n    RA_SET_NEW = 1u << 12\n",
          "RA_SET_NEW is no member's flag"),
    Break("travels_with_no_member", HEADER,
          "X(const char *, base_url_text, NULL, WITH, base_url)",
          "X(const char *, base_url_text, NULL, WITH, base_uri)", "WITH base_uri"),
    Break("member_listed_twice", HEADER,
          "X(int, commit_batch, 0, UNLESS, 0)",
          "X(int, commit_batch, 0, UNLESS, 0) X(int, commit_batch, 0, UNLESS, 0)",
          "commit_batch is listed twice"),
    Break("merge_that_skips_the_list", SOURCE,
          "    RA_SERVER_MEMBERS(MERGE_MEMBER)\n", "    cfg->dbd_driver = add->dbd_driver;\n",
          "ra_config_merge_server does not expand RA_SERVER_MEMBERS(MERGE_MEMBER)"),
    Break("create_that_skips_the_list", SOURCE,
          "    RA_DIR_MEMBERS(CREATE_MEMBER)\n", "",
          "ra_config_create_dir does not expand RA_DIR_MEMBERS(CREATE_MEMBER)"),
    Break("kind_without_its_merge_macro", SOURCE,
          "#define MERGE_WITH(", "#define MERGE_ALONG_WITH(", "no MERGE_WITH"),
]


def check(root):
    return subprocess.run([SCRIPT, root], capture_output=True, text=True, timeout=30)


def copy_tree(tmp_path, change=None):
    for path in (HEADER, SOURCE):
        with open(os.path.join(ROOT, path)) as f:
            text = f.read()
        if change and change.file == path:
            assert change.old in text, f"{change.name}: the tree no longer holds {change.old!r}"
            text = text.replace(change.old, change.new, 1)
        os.makedirs(tmp_path / os.path.dirname(path), exist_ok=True)
        (tmp_path / path).write_text(text)
    return str(tmp_path)


def test_the_tree_passes():
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "each created and merged from its list" in result.stdout


def test_an_unchanged_copy_passes(tmp_path):
    result = check(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("change", BREAKS, ids=[b.name for b in BREAKS])
def test_a_member_left_out_fails(tmp_path, change):
    result = check(copy_tree(tmp_path, change))
    assert result.returncode == 1, result.stdout + result.stderr
    assert change.names in result.stdout, result.stdout
