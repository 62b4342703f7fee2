"""The module's SQL, as the raw baselines of `make bench` run it.

build/bench/module_sql (bench/module_sql.c, linked with src/ra_store.c and
src/ra_sql.c) prints the statements the module prepares and the SQL ra_sql_list
generates. This turns them into script files that pgbench and
bench/sqlite_script.c both run: each of apr_dbd's placeholders becomes a
:NAME variable named after the column it is assigned to (new_<column>) or
compared with (cur_<column>), so the bench copies no statement, and a
statement whose placeholders cannot be named that way stops the run.
"""
import json
import re
import subprocess

PLACEHOLDER = re.compile(r"%(?:s|lld)")
VARIABLE = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")
# a fresh value per transaction, as the module's random ids and ETags are
RANDOM = "random(1, 9223372036854775806)"


class StatementError(Exception):
    pass


def module_sql(helper, tenant, query, limit):
    """What bench/module_sql.c prints: {"statements": {label: sql}, "list": ...}."""
    p = subprocess.run([helper, tenant, query, str(limit)], capture_output=True, text=True)
    if p.returncode != 0:
        raise StatementError(f"{helper}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def named(sql, new=()):
    """The statement with :NAME variables for its placeholders, and the names
    bound from a %lld (integers). An INSERT's values are new_<column>; in an
    UPDATE's SET, columns in new are new_<column> and the others keep the
    value read (cur_<column>); a WHERE compares with cur_<column>."""
    integers = set()

    def variable(prefix, column, mark):
        name = prefix + column
        if mark == "%lld":
            integers.add(name)
        return ":" + name

    m = re.fullmatch(r"(INSERT INTO \w+ \(([^)]*)\) VALUES \()([^)]*)(\).*)", sql)
    if m:
        columns = [c.strip() for c in m.group(2).split(",")]
        marks = [v.strip() for v in m.group(3).split(",")]
        if len(columns) != len(marks) or not all(PLACEHOLDER.fullmatch(v) for v in marks):
            raise StatementError(f"an INSERT whose values are not one placeholder per column: "
                                 f"{sql}")
        text = (m.group(1) + ", ".join(variable("new_", c, v) for c, v in zip(columns, marks))
                + m.group(4))
    else:
        head, where, condition = sql.partition(" WHERE ")

        def assign(part, prefix_of):
            return re.sub(r"\b(\w+) = (%s|%lld)",
                          lambda a: f"{a.group(1)} = "
                                    + variable(prefix_of(a.group(1)), a.group(1), a.group(2)),
                          part)
        text = (assign(head, lambda c: "new_" if c in new else "cur_") + where
                + assign(condition, lambda c: "cur_"))
    if PLACEHOLDER.search(text):
        raise StatementError(f"a placeholder that is neither an INSERT value nor "
                             f"'column = %s': {sql}")
    return text, integers


def positional(generated):
    """Generated SQL with :p1, :p2, ... for its placeholders, and their values."""
    count = iter(range(1, 1000))
    text = PLACEHOLDER.sub(lambda _: f":p{next(count)}", generated["text"])
    values = {f"p{i}": v for i, v in enumerate(generated["params"], 1)}
    if len(values) != next(count) - 1:
        raise StatementError(f"{len(values)} parameters for the placeholders of "
                             f"{generated['text']}")
    return text, values


def dollar(sql):
    """The text as apr_dbd_pgsql hands it to PostgreSQL: $1, $2, ... in order."""
    count = iter(range(1, 1000))
    return PLACEHOLDER.sub(lambda _: f"${next(count)}", sql)


def selected(sql):
    """The columns a SELECT returns, in order."""
    m = re.match(r"SELECT (.*?) FROM ", sql)
    if not m:
        raise StatementError(f"not a SELECT: {sql}")
    return [c.strip() for c in m.group(1).split(",")]


class Script:
    """A pgbench script (which bench/sqlite_script.c runs too) and the values
    its variables are defined with (-D; integers for SQLite's -I)."""

    def __init__(self, lines, values, integers=()):
        self.text = "".join(line + "\n" for line in lines)
        self.values = dict(values)
        self.integers = set(integers) | {k for k, v in values.items() if isinstance(v, int)}
        known = set(self.values)
        for line in lines:
            m = re.match(r"\\set (\w+) ", line)
            if m:
                known.add(m.group(1))
                continue
            used = set(VARIABLE.findall(line.split(" \\gset ")[0]))
            if used - known:
                raise StatementError(f"no value for {', '.join(sorted(used - known))} in "
                                     f"{line}")
            if " \\gset " in line:
                prefix = line.split(" \\gset ")[1]
                known |= {prefix + c for c in selected(line)}

    def write(self, path):
        with open(path, "w") as f:
            f.write(self.text)
        return path

    def sqlite_args(self):
        args = []
        for k, v in sorted(self.values.items()):
            args += ["-I" if k in self.integers else "-D", f"{k}={v}"]
        return args

    def pgbench_args(self):
        args = []
        for k, v in sorted(self.values.items()):
            args += ["-D", f"{k}={v}"]
        return args


def scripts(sql, dialect, create_tenant, ops_tenant, ids, written, patched_name):
    """The raw baselines' scripts, by operation, for dialect ("sqlite" or
    "pgsql"): insert (a create), get (by tenant and id), list (the generated
    page SQL) and patch (get, then replace with one property changed).
    ids: (first, count) of the rows the reads and updates pick at random;
    written: a row the module stored from the create body (column -> value),
    whose values the inserts repeat; patched_name: PATCH's new displayName."""
    statements = sql["statements"]
    get, get_ints = named(statements["remoteassist_get"])
    pick = f"\\set cur_id random({ids[0]}, {ids[0] + ids[1] - 1})"
    fresh = [f"\\set new_id {RANDOM}", f"\\set new_etag {RANDOM}"]

    insert, insert_ints = named(statements["remoteassist_insert"])
    stored = {f"new_{c}": v for c, v in written.items()
              if c not in ("tenant_id", "id", "etag", "created_date_time")}
    stored["new_tenant_id"] = create_tenant

    # PATCH writes every property: the ones read, the patched one, a new ETag
    # and the sort ticks the module derives from the (unchanged) date-times
    derived = ("last_connection_ticks", "onboarding_request_expiry_ticks")
    replace, replace_ints = named(statements["remoteassist_replace"],
                                  new=("display_name", "etag") + derived)
    patch_values = {"cur_tenant_id": ops_tenant, "new_display_name": patched_name}
    patch_values.update({f"new_{c}": written[c] for c in derived})

    list_text, list_values = positional(sql["list"][dialect])
    return {
        "insert": Script(fresh + [insert + ";"], stored, insert_ints),
        "get": Script([pick, get + ";"], {"cur_tenant_id": ops_tenant}, get_ints),
        "list": Script([list_text + ";"], list_values),
        "patch": Script([pick, fresh[1], get + " \\gset cur_", replace + ";"], patch_values,
                        replace_ints),
    }
