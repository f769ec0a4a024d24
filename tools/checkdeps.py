#!/usr/bin/python3
"""Checks that sked's modules depend one way (make checkdeps).

A module is a folder of src/ (src/main.c is the module "main"). The rules
are read from the fenced ```checkdeps block of docs/internals/README.md, so
the page and the check cannot drift:

    layer NAME...            one line per layer, lowest first; a module may
                             depend on modules of lower layers only (not on
                             its own layer's other modules, not upward)
    allow FROM -> TO  # why  an exception: FROM may depend on TO although the
                             layers say no (also where it closes a loop). It
                             must still be needed: an exception no edge uses
                             is an error too, so the list can only shrink.

The edges come from every `#include "..."` in src/ (resolved as the
compiler does: beside the file, then under src/), and, with --lib, from the
calls the object files make across modules (nm of the library: a symbol one
module's object uses and another module's object defines), so that a
declaration written by hand instead of an include is seen too.

It fails (exit 1) with FILE:LINE: messages when a module depends on one its
layer does not allow, when modules depend on each other in a loop, when an
include names no file, when a module has no layer, or when an exception is
stale. It also fails when docs/ (or README.md, or a comment in src/) names
one of sked's source files that does not exist, such as a file since
renamed: a name counts as sked's when it has a folder of the checkout in it
or starts with a module's name (cron_, cmd_, test_, ...).
Python's standard library (and nm, for --lib) only; it takes well under a
second.
"""

import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
FILE_REF = re.compile(r"(?<![\w.$/-])((?:\.\./|[\w-]+/)*[A-Za-z_][\w-]*\.[ch])(?![\w.-])")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"", re.S)
OUR_PREFIXES = ("cmd_", "cli_", "test_", "fuzz_", "bench_")
OUR_FOLDERS = ("src/", "tests/", "tools/", "bench/", "../")
RULES_FENCE = "```checkdeps"


def module_of(path):
    """src/cron/cron_next.c -> cron; src/main.c -> main; None outside src/."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != "src":
        return None
    return "main" if len(parts) == 2 else parts[1]


def read_rules(path, doc):
    """The layers (module -> rank), the exceptions ((from, to) -> line) and
    the errors found in the block itself; messages name the file doc."""
    rank, allow, errors = {}, {}, []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as e:
        return rank, allow, ["%s: cannot read the rules: %s" % (doc, e.strerror)]
    start = next((i for i, l in enumerate(lines) if l.strip() == RULES_FENCE), None)
    if start is None:
        return rank, allow, ["%s: no %s block holds the rules" % (doc, RULES_FENCE)]
    layer = 0
    for i in range(start + 1, len(lines)):
        line = lines[i].split("#", 1)[0].split()
        where = "%s:%d" % (doc, i + 1)
        if lines[i].strip() == "```":
            break
        if not line:
            continue
        if line[0] == "layer" and len(line) > 1:
            for m in line[1:]:
                if m in rank:
                    errors.append("%s: module %s is in two layers" % (where, m))
                rank[m] = layer
            layer += 1
        elif line[0] == "allow" and len(line) == 4 and line[2] == "->":
            if "#" not in lines[i]:
                errors.append("%s: the exception %s -> %s says no reason (# why)"
                              % (where, line[1], line[3]))
            allow[(line[1], line[3])] = where
        else:
            errors.append("%s: cannot read this rule: %s" % (where, lines[i].strip()))
    else:
        errors.append("%s:%d: the %s block is not closed" % (doc, start + 1, RULES_FENCE))
    for (a, b), where in allow.items():
        for m in (a, b):
            if m not in rank:
                errors.append("%s: the exception names %s, which has no layer" % (where, m))
    return rank, allow, errors


def source_files(root):
    out = []
    for d, dirs, files in os.walk(os.path.join(root, "src")):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, name), root).replace(os.sep, "/"))
    return out


def include_edges(root, files, errors):
    """(from_module, to_module, "file:line") for each include across modules."""
    edges = []
    for path in files:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                name = m.group(1)
                here = os.path.normpath(os.path.join(os.path.dirname(path), name))
                under_src = os.path.normpath(os.path.join("src", name))
                target = next((p for p in (here, under_src)
                               if os.path.isfile(os.path.join(root, p))), None)
                if target is None:
                    errors.append('%s:%d: #include "%s" names no file' % (path, n, name))
                    continue
                a, b = module_of(path), module_of(target.replace(os.sep, "/"))
                if b is None:
                    errors.append('%s:%d: #include "%s" reaches outside src/' % (path, n, name))
                elif a != b:
                    edges.append((a, b, "%s:%d" % (path, n), 'includes "%s"' % name))
    return edges


def symbol_edges(root, lib, files, errors):
    """(from, to, "file:line", what) for each call (or use) of a symbol that
    another module's object file defines, from `nm` of the library."""
    try:
        out = subprocess.run(["nm", "-A", lib], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        errors.append("%s: nm failed: %s" % (lib, e))
        return []
    by_object = {}  # alert_command.o -> src/alert/alert_command.c
    for p in files:
        if p.endswith(".c"):
            obj = os.path.basename(p)[:-2] + ".o"
            if obj in by_object:
                errors.append("%s: has the name of %s: in the library, their calls cannot be "
                              "told apart; rename one" % (p, by_object[obj]))
            by_object[obj] = p
    defined, used = {}, []
    for line in out.splitlines():
        # "build/libsked.a:alert_command.o:0000000000000000 T sk_alert_command"
        # or, undefined, "build/libsked.a:alert_command.o:                 U sk_xmalloc"
        head, _, rest = line.rpartition(":")
        obj = head.rpartition(":")[2]
        fields = rest.split()
        if len(fields) < 2 or obj not in by_object:
            continue
        kind, sym = fields[-2], fields[-1]
        if kind == "U":
            used.append((by_object[obj], sym))
        elif kind in "TDBRC" and kind.isupper():
            defined[sym] = by_object[obj]
    edges = []
    for path, sym in used:
        src = defined.get(sym)
        if src is None:
            continue
        a, b = module_of(path), module_of(src)
        if a != b:
            edges.append((a, b, "%s:%d" % (path, line_of(root, path, sym)),
                          "uses %s (%s)" % (sym, src)))
    return edges


def line_of(root, path, sym):
    """The first line of path that names sym (1 when none does)."""
    word = re.compile(r"\b%s\b" % re.escape(sym))
    with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if word.search(line):
                return n
    return 1


def tree_files(root):
    """Every file of the checkout as a set of paths, and of base names (build
    output, .git and virtual environments left out)."""
    paths = set()
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not (x.startswith(("build", ".")) or x == "node_modules")]
        for name in files:
            paths.add(os.path.relpath(os.path.join(d, name), root).replace(os.sep, "/"))
    return paths, {p.rsplit("/", 1)[-1] for p in paths}


def stale_refs(root, files, modules, errors):
    """FILE:LINE: for each name of one of sked's source files that no file
    has, in the docs, README.md and the comments of src/."""
    paths, names = tree_files(root)
    prefixes = tuple(m + "_" for m in modules) + OUR_PREFIXES
    whole = tuple(m + ext for m in modules for ext in (".c", ".h"))
    texts = sorted(p for p in paths if p.endswith(".md") and (p.startswith("docs/") or
                                                                "/" not in p))
    for path in texts + files:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        if path.endswith((".c", ".h")):
            # Only the comments: blank out code and strings, keeping lines.
            out = [ch if ch == "\n" else " " for ch in text]
            for m in COMMENT.finditer(text):
                if not m.group(0).startswith('"'):
                    out[m.start():m.end()] = m.group(0)
            text = "".join(out)
        for n, line in enumerate(text.split("\n"), 1):
            if INCLUDE.match(line):
                continue
            for m in FILE_REF.finditer(line):
                ref = m.group(1)
                base = ref.rsplit("/", 1)[-1]
                if not (base.startswith(prefixes) or base in whole or
                        ref.startswith(OUR_FOLDERS)):
                    continue
                if base in names:
                    continue
                errors.append("%s:%d: names %s, which does not exist (renamed or removed?)"
                              % (path, n, ref))


def find_loop(graph):
    """One cycle of module names in graph (module -> set of modules), or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="the checkout (default: .)")
    ap.add_argument("--rules", default="docs/internals/README.md")
    ap.add_argument("--lib", help="also check the calls across modules in this library (nm)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the module graph")
    args = ap.parse_args()

    doc = args.rules
    rank, allow, errors = read_rules(os.path.join(args.root, doc), doc)
    files = source_files(args.root)
    for m in sorted({module_of(p) for p in files} - set(rank)):
        errors.append("%s: module %s (src/%s) has no layer in the rules"
                      % (doc, m, "main.c" if m == "main" else m + "/"))
    modules = {module_of(p) for p in files}
    stale_refs(args.root, files, modules - {"main"}, errors)
    edges = include_edges(args.root, files, errors)
    if args.lib:
        edges += symbol_edges(args.root, args.lib, files, errors)

    used_allow = set()
    graph = {}
    reported = set()
    for a, b, where, what in edges:
        if (a, b) in allow:
            used_allow.add((a, b))
            continue
        graph.setdefault(a, set()).add(b)
        if a not in rank or b not in rank or rank[b] < rank[a]:
            continue
        if (a, b, where) in reported:
            continue
        reported.add((a, b, where))
        how = "upward" if rank[b] > rank[a] else "sideways, within one layer"
        errors.append("%s: %s: module %s depends on %s (%s): a module may depend only on "
                      "lower layers (%s)" % (where, what, a, b, how, doc))
    for pair, where in sorted(allow.items(), key=lambda kv: kv[1]):
        if pair not in used_allow:
            errors.append("%s: the exception %s -> %s is no longer needed: nothing in src/ "
                          "uses it; remove it" % (where, pair[0], pair[1]))

    loop = find_loop(graph)
    if loop:
        steps = []
        for a, b in zip(loop, loop[1:]):
            where = next(w for x, y, w, _ in edges if (x, y) == (a, b))
            steps.append("%s -> %s (%s)" % (a, b, where))
        errors.append("%s: modules depend on each other in a loop: %s"
                      % (steps[0].split("(")[1].rstrip(")"), ", ".join(steps)))

    if args.verbose:
        for a, b in sorted(used_allow):
            graph.setdefault(a, set()).add(b)
        for m in sorted(graph, key=lambda m: (rank.get(m, -1), m)):
            print("%s -> %s" % (m, " ".join(sorted(graph[m], key=lambda x: (rank.get(x, -1), x)))))
    if errors:
        for e in errors:
            print("checkdeps: " + e, file=sys.stderr)
        print("checkdeps: %d problem%s; the rules are in %s"
              % (len(errors), "" if len(errors) == 1 else "s", doc), file=sys.stderr)
        return 1
    print("checkdeps: %d modules, %d dependencies across them, one way%s"
          % (len({module_of(p) for p in files}), sum(len(v) for v in graph.values()),
             " (%d exception%s)" % (len(allow), "" if len(allow) == 1 else "s") if allow else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
