#!/usr/bin/python3
"""Fails on an include cycle among the module's own sources, and names it.

    tools/check-includes.py [ROOT]

A unit is a name's .c in src/ (or the top directory) together with its .h in
include/: src/ra_token.c and include/ra_token.h are the unit ra_token. Unit A
depends on unit B when a file of A has `#include "B.h"`. Headers that are
not the project's own (httpd.h, the generated schema headers in build/) are
not units and are left out. Two units that depend on each other, however
far round, cannot be read, tested or moved one without the other. Each
tangle of such units is printed as its shortest cycle, with the include
lines that close it (a tangle of several cycles shows the next once that
one is broken), and the exit status is 1. With none, prints one line and
exits 0. `make check` and `make test` (tools/run-tests.sh) run it.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def source_files(root):
    """(unit, path relative to root) of every .c and .h the module is built from."""
    found = []
    for directory, suffix in (("src", ".c"), ("include", ".h"), (".", ".c")):
        full = os.path.join(root, directory)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.endswith(suffix):
                found.append((name[:-len(suffix)], os.path.normpath(os.path.join(directory, name))))
    return found


def dependencies(root):
    """unit -> {unit it includes: the first (path, line number) that includes it}."""
    files = source_files(root)
    units = {unit for unit, _ in files}
    graph = {unit: {} for unit in units}
    for unit, path in files:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = os.path.basename(m.group(1))
                target = target[:-2] if target.endswith(".h") else target
                if target in units and target != unit:
                    graph[unit].setdefault(target, (path, number))
    return graph


def components(graph):
    """The strongly connected components of more than one unit (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(unit):
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for target in sorted(graph[unit]):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in on_stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for unit in sorted(graph):
        if unit not in index:
            visit(unit)
    return sorted(found)


def cycle_in(graph, component):
    """One cycle through the component's first unit, as a list of units (the first
    repeated at the end): the shortest way back to it, by breadth-first search."""
    start, members = component[0], set(component)
    came_from = {start: None}
    queue = [start]
    while queue:
        unit = queue.pop(0)
        for target in sorted(graph[unit]):
            if target not in members:
                continue
            if target == start:
                path = [unit]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return list(reversed(path)) + [start]
            if target not in came_from:
                came_from[target] = unit
                queue.append(target)
    raise AssertionError(f"no cycle in component {component}")


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    graph = dependencies(root)
    cycles = [cycle_in(graph, c) for c in components(graph)]
    for cycle in cycles:
        print("include cycle: " + " -> ".join(cycle))
        for unit, target in zip(cycle, cycle[1:]):
            path, number = graph[unit][target]
            print(f"    {path}:{number} includes {target}.h")
    print(f"include check: {len(graph)} units, {len(cycles)} "
          f"cycle{'' if len(cycles) == 1 else 's'}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
