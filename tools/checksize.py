#!/usr/bin/python3
"""Checks that sked's source files and functions stay short (make checksize).

It reports every .c file under src/ over 1,200 lines and every function
definition under src/ (.c and .h) over 120 lines. A function's length runs
from the line of the opening brace of its body to the line of its closing
brace, both counted; a file's is its number of lines.

It finds the functions by layout, not by parsing C: the tree is laid out by
its .clang-format (BreakBeforeBraces: Linux, checked by `make format-check`),
so the body of a top-level function, and nothing else, opens with a line
that starts with `{` at column 0 and closes at the next line that starts
with `}` at column 0 (a struct, an enum or an initialiser keeps its `{` at
the end of a line). The function's name is the identifier before the first
`(` of the lines just above the `{`, back to a blank line, a comment, a
preprocessor line or the end of the previous declaration. A `{` at column 0
whose `}` does not come before the next such `{`, or that has no name
above it, is reported as a layout the check cannot read (run `make
format`) rather than counted wrongly.

A long one may stay long when its comment says why: a line `long: REASON`
in the comment directly above the function (no blank line between), or, for
a file, in the comment the file opens with (unless that comment is directly
above a function: then it is the function's). It is then listed with -v
and does not fail. An exception that is no longer needed (the function or file is within
the limit) fails too, so the exceptions can only shrink.

It fails (exit 1) with one `FILE:LINE: ...` message per problem on stderr;
it prints one summary line and exits 0 when there is none. Python's
standard library only; it takes well under a second.
"""

import argparse
import os
import re
import sys

MAX_FILE_LINES = 1200
MAX_FUNCTION_LINES = 120
# "long: why" on a line of a /* */ comment, after any leading "/*" or "*".
LONG = re.compile(r"^\s*(?:/\*+|\*+)?\s*long:\s*(.*?)\s*(?:\*+/)?\s*$")
NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
NOT_NAMES = {"__attribute__", "__declspec", "_Alignas", "alignas"}


def source_files(root):
    """The .c and .h files under root/src, as paths relative to root, sorted."""
    out = []
    for d, dirs, files in os.walk(os.path.join(root, "src")):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, name), root).replace(os.sep, "/"))
    return out


def comment_above(lines, i):
    """The lines of the /* */ comment that ends on line i - 1 (0-based), or []."""
    j = i - 1
    if j < 0 or not lines[j].rstrip().endswith("*/"):
        return []
    while j >= 0 and "/*" not in lines[j]:
        j -= 1
    return lines[max(j, 0):i]


def first_comment(lines):
    """(the 0-based line after it, its lines) of the comment the file opens
    with (before any code), or (0, [])."""
    for i, line in enumerate(lines):
        if line.lstrip().startswith("/*"):
            for j in range(i, len(lines)):
                if "*/" in (lines[j] if j > i else line[line.index("/*") + 2:]):
                    return j + 1, lines[i:j + 1]
            return len(lines), lines[i:]
        if line.strip():
            return 0, []
    return 0, []


def long_reason(comment):
    """The REASON of a `long: REASON` line in comment, or None."""
    for line in comment:
        m = LONG.match(line)
        if m and m.group(1):
            return m.group(1)
    return None


def signature(lines, brace):
    """(first line, name line, name) of the function whose body opens on line
    brace (0-based); name is None when the lines above name no function."""
    start = brace
    while start > 0:
        above = lines[start - 1].rstrip()
        if (not above.strip() or above.endswith(("*/", ";", "}", "{")) or
                above.lstrip().startswith(("#", "//"))):
            break
        start -= 1
    for n in range(start, brace):
        for m in NAME.finditer(lines[n]):
            if m.group(1) not in NOT_NAMES:
                return start, n, m.group(1)
    return start, start, None


def functions(lines, path, errors):
    """(name, name line, length, reason, start) of each top-level function in
    lines: name line is 1-based, reason is its `long:` reason or None, start
    the 0-based line its signature begins on."""
    out = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("{"):
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].startswith(("}", "{"))), None)
        if end is None or lines[end].startswith("{"):
            errors.append("%s:%d: a `{` at column 0 with no `}` at column 0 before %s: "
                          "not laid out as .clang-format says (run `make format`)"
                          % (path, i + 1, "the next one" if end is not None else "the end"))
            i = end if end is not None else len(lines)
            continue
        start, at, name = signature(lines, i)
        if name is None:
            errors.append("%s:%d: a `{` at column 0 that opens no function the check can "
                          "name: not laid out as .clang-format says (run `make format`)"
                          % (path, i + 1))
        else:
            out.append((name, at + 1, end - i + 1, long_reason(comment_above(lines, start)),
                        start))
        i = end + 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="the checkout (default: .)")
    ap.add_argument("--max-file", type=int, default=MAX_FILE_LINES, metavar="N",
                    help="lines a .c file may have (default: %(default)s)")
    ap.add_argument("--max-function", type=int, default=MAX_FUNCTION_LINES, metavar="N",
                    help="lines a function may have (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="also list what a `long:` comment allows")
    args = ap.parse_args()

    errors, allowed = [], []
    nfiles = nfuncs = 0
    for path in source_files(args.root):
        with open(os.path.join(args.root, path), encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the text after the last newline
        funcs = functions(lines, path, errors)
        if path.endswith(".c"):
            nfiles += 1
            after, comment = first_comment(lines)
            if any(start == after for *_, start in funcs):
                comment = []  # the comment of the function right below it
            why = long_reason(comment)
            size = "file is %d lines (limit %d)" % (len(lines), args.max_file)
            if len(lines) <= args.max_file:
                if why is not None:
                    errors.append("%s:1: file is %d lines, within the limit (%d): its "
                                  "`long:` comment is no longer needed; remove it"
                                  % (path, len(lines), args.max_file))
            elif why is None:
                errors.append("%s:1: %s" % (path, size))
            else:
                allowed.append("%s:1: %s, allowed: %s" % (path, size, why))
        for name, line, n, why, _ in funcs:
            nfuncs += 1
            size = "function %s is %d lines (limit %d)" % (name, n, args.max_function)
            if n <= args.max_function:
                if why is not None:
                    errors.append("%s:%d: function %s is %d lines, within the limit (%d): its "
                                  "`long:` comment is no longer needed; remove it"
                                  % (path, line, name, n, args.max_function))
            elif why is None:
                errors.append("%s:%d: %s" % (path, line, size))
            else:
                allowed.append("%s:%d: %s, allowed: %s" % (path, line, size, why))

    if args.verbose:
        for a in allowed:
            print(a)
    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print("checksize: %d problem%s: split at a real seam, or say why in a `long:` "
              "comment (tools/checksize.py)" % (len(errors), "" if len(errors) == 1 else "s"),
              file=sys.stderr)
        return 1
    print("checksize: %d .c files within %d lines, %d functions within %d%s"
          % (nfiles, args.max_file, nfuncs, args.max_function,
             " (%d allowed by a `long:` comment)" % len(allowed) if allowed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
