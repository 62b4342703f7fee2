#!/usr/bin/python3
"""Fails when a configuration member could be left out of a merge.

    tools/check-config-members.py [ROOT]

include/mod_ra_config.h lists every member of a section's configuration
(RA_DIR_MEMBERS) and of a server's (RA_SERVER_MEMBERS) once, with how it is
merged; the lists make the structures and src/mod_ra_config.c's create and
merge functions. This check holds that shape (mod_auth_openidc's
test/check_directives.sh does the same for its directives):
  - each structure is its list and nothing else (a member declared beside
    the list would be created and merged by no one);
  - each entry says how it merges, with a known kind; a FLAGGED entry names
    an RA_SET_* flag the header defines, a WITH entry a member of its list;
  - every RA_SET_* flag is some entry's (a flag no member reads is a merge
    rule lost);
  - create and merge expand the lists, and a MERGE_<kind> exists per kind.
Prints the problems and exits 1, or one line and exits 0.
tests/integration/test_config_members.py drives it over broken copies.
"""
import os
import re
import sys

KINDS = ("FLAGGED", "UNLESS", "WITH", "UNION", "CHECKED", "CHILD")
LISTS = (("RA_DIR_MEMBERS", "ra_dir_config_t", "ra_config_create_dir", "ra_config_merge_dir"),
         ("RA_SERVER_MEMBERS", "ra_server_config_t", "ra_config_create_server",
          "ra_config_merge_server"))


def without_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text.replace("\\\n", "\n"), flags=re.S)


def macro_body(text, name):
    """The replacement text of #define name(...), continuation lines joined."""
    m = re.search(r"^#define\s+" + name + r"\(\w+\)((?:.*\\\n)*.*)$", text, re.M)
    return None if not m else m.group(1).replace("\\\n", " ")


def split_args(text):
    """Top-level comma-separated arguments of a macro call's inside."""
    args, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    args.append(current.strip())
    return args


def entries(body):
    """The X(...) entries of a list's body, as argument lists."""
    found, i = [], 0
    while True:
        i = body.find("X(", i)
        if i < 0:
            return found
        depth, j = 0, i + 1
        while True:
            depth += body[j] == "("
            depth -= body[j] == ")"
            if depth == 0:
                break
            j += 1
        found.append(split_args(body[i + 2:j]))
        i = j


def function_body(text, name):
    m = re.search(r"\b" + name + r"\([^)]*\)\s*\{(.*?)\n\}", text, re.S)
    return None if not m else m.group(1)


def problems(header, source):
    header_code = without_comments(header)
    source_code = without_comments(source)
    flags = set(re.findall(r"\b(RA_SET_\w+)\s*=", header_code))
    used_flags, found = set(), []
    for list_name, struct, create, merge in LISTS:
        body = macro_body(header, list_name)
        if body is None:
            found.append(f"{list_name} is not defined in include/mod_ra_config.h")
            continue
        m = re.search(r"typedef\s+struct\s*\{([^{}]*)\}\s*" + struct + r"\s*;", header_code)
        if not m:
            found.append(f"{struct} is not a typedef struct of {list_name} alone")
        elif re.sub(r"\s", "", m.group(1)) != f"{list_name}(RA_CONFIG_MEMBER)":
            found.append(f"{struct} declares members beside {list_name}: "
                         f"'{' '.join(m.group(1).split())}' would be merged by no one")
        members = set()
        for args in entries(without_comments(body)):
            if len(args) != 5:
                found.append(f"{list_name}: X({', '.join(args)}) needs type, name, initial, "
                             "how and arg")
                continue
            _, name, _, how, arg = args
            if name in members:
                found.append(f"{list_name}: {name} is listed twice")
            members.add(name)
            if how not in KINDS:
                found.append(f"{list_name}: {name} merges by '{how}', not one of "
                             f"{', '.join(KINDS)}")
            elif how == "FLAGGED":
                used_flags.add(arg)
                if arg not in flags:
                    found.append(f"{list_name}: {name} is FLAGGED by {arg}, which is no "
                                 "RA_SET_* flag")
            elif how in ("CHECKED", "CHILD", "UNION") and arg != "0":
                found.append(f"{list_name}: {name} is {how}, whose arg is 0, not {arg}")
            if re.search(r"\bMERGE_" + how + r"\(", source_code) is None and how in KINDS:
                found.append(f"src/mod_ra_config.c has no MERGE_{how} for {name}")
        for args in entries(without_comments(body)):
            if len(args) == 5 and args[3] == "WITH" and args[4] not in members:
                found.append(f"{list_name}: {args[1]} travels WITH {args[4]}, which is not "
                             "a member")
        for function, expansion in ((create, "CREATE_MEMBER"), (merge, "MERGE_MEMBER")):
            code = function_body(source_code, function)
            if code is None or f"{list_name}({expansion})" not in re.sub(r"\s", "", code):
                found.append(f"src/mod_ra_config.c: {function} does not expand "
                             f"{list_name}({expansion})")
    for flag in sorted(flags - used_flags):
        found.append(f"{flag} is no member's flag: the merge does not read it")
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    with open(os.path.join(root, "include", "mod_ra_config.h")) as f:
        header = f.read()
    with open(os.path.join(root, "src", "mod_ra_config.c")) as f:
        source = f.read()
    found = problems(header, source)
    for problem in found:
        print(f"config members: {problem}")
    if found:
        return 1
    sections = len(entries(without_comments(macro_body(header, "RA_DIR_MEMBERS"))))
    servers = len(entries(without_comments(macro_body(header, "RA_SERVER_MEMBERS"))))
    print(f"config members: {sections} section and {servers} server members, "
          "each created and merged from its list")
    return 0


if __name__ == "__main__":
    sys.exit(main())
