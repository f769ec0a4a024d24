"""tools/checkdeps.py on small trees: each rule it enforces fails with the
file:line and the rule, and a tree that keeps the rules passes."""
import os
import subprocess
import sys
import textwrap

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "checkdeps.py")

RULES = """\
# Internals

```checkdeps
layer base
layer mid1 mid2
layer top
{extra}
```
"""

CLEAN = {
    "src/base/base.h": "/* the base */\n",
    "src/mid1/mid1.h": '#include "../base/base.h"\n',
    "src/mid1/mid1_a.c": '#include "mid1.h"\n',
    "src/mid2/mid2.h": '#include "base/base.h"\n',
    "src/top/top.c": '#include "../mid1/mid1.h"\n#include "../mid2/mid2.h"\n',
}


def run(tmp_path, files, extra=""):
    tree = dict(CLEAN)
    tree.update(files)
    tree.setdefault("docs/internals/README.md", RULES.format(extra=textwrap.dedent(extra)))
    for path, text in tree.items():
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            full.write_text(text)
    return subprocess.run([sys.executable, TOOL, "--root", str(tmp_path)],
                          capture_output=True, text=True)


def test_a_tree_that_keeps_the_rules_passes(tmp_path):
    r = run(tmp_path, {})
    assert r.returncode == 0, r.stderr
    assert "4 modules" in r.stdout


def test_upward_include_fails_naming_file_and_line(tmp_path):
    r = run(tmp_path, {"src/base/base.c": '/* x */\n#include "../top/top.h"\n',
                       "src/top/top.h": "\n"})
    assert r.returncode == 1
    assert 'src/base/base.c:2: includes "../top/top.h": module base depends on top (upward)' \
        in r.stderr


def test_include_within_a_layer_fails(tmp_path):
    r = run(tmp_path, {"src/mid2/mid2.c": '#include "../mid1/mid1.h"\n'})
    assert r.returncode == 1
    assert "src/mid2/mid2.c:1:" in r.stderr and "sideways" in r.stderr


def test_loop_between_modules_is_named(tmp_path):
    r = run(tmp_path, {"src/base/base.c": '#include "../mid1/mid1.h"\n'})
    assert r.returncode == 1
    assert "in a loop: base -> mid1 (src/base/base.c:1), mid1 -> base" in r.stderr


def test_exception_allows_the_edge_and_its_loop(tmp_path):
    r = run(tmp_path, {"src/base/base.c": '#include "../mid1/mid1.h"\n'},
            extra="allow base -> mid1  # until the reshaping\n")
    assert r.returncode == 0, r.stderr
    assert "(1 exception)" in r.stdout


def test_exception_no_longer_needed_fails(tmp_path):
    r = run(tmp_path, {}, extra="allow base -> mid1  # until the reshaping\n")
    assert r.returncode == 1
    assert "docs/internals/README.md:7: the exception base -> mid1 is no longer needed" \
        in r.stderr


def test_exception_without_reason_fails(tmp_path):
    r = run(tmp_path, {"src/base/base.c": '#include "../mid1/mid1.h"\n'},
            extra="allow base -> mid1\n")
    assert r.returncode == 1
    assert "says no reason" in r.stderr


def test_include_of_missing_file_fails(tmp_path):
    r = run(tmp_path, {"src/top/top.c": '#include "../mid1/gone.h"\n'})
    assert r.returncode == 1
    assert 'src/top/top.c:1: #include "../mid1/gone.h" names no file' in r.stderr


def test_module_without_layer_fails(tmp_path):
    r = run(tmp_path, {"src/extra/extra.c": '#include "../base/base.h"\n'})
    assert r.returncode == 1
    assert "module extra (src/extra/) has no layer" in r.stderr


def test_stale_file_name_in_docs_and_comments_fails(tmp_path):
    r = run(tmp_path, {
        "docs/guide.md": "See `mid1_a.c` and `src/mid1/mid1_gone.c`; <stdio.h> is not ours.\n",
        "src/mid2/mid2.c": '/* formerly top_old.c */\nstatic const char *s = "base_x.c";\n',
    })
    assert r.returncode == 1
    assert "docs/guide.md:1: names src/mid1/mid1_gone.c, which does not exist" in r.stderr
    assert "src/mid2/mid2.c:1: names top_old.c" in r.stderr
    assert "base_x.c" not in r.stderr  # a string, not a comment
    assert "mid1_a.c," not in r.stderr


def test_no_rules_block_fails(tmp_path):
    r = run(tmp_path, {"docs/internals/README.md": "# no rules here\n"})
    assert r.returncode == 1
    assert "no ```checkdeps block" in r.stderr


def test_the_tree_itself_keeps_its_rules():
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    r = subprocess.run([sys.executable, TOOL, "--root", root], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
