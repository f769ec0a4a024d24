"""tools/checksize.py on small trees: a long function or file fails with its
file:line and length, a `long:` comment allows it (and fails once it is no
longer needed), and a tree within the limits passes."""
import os
import subprocess
import sys

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "checksize.py")


def function(name, body_lines, comment=None, signature=None):
    """A clang-formatted function whose body, braces included, is body_lines
    lines long, with comment (a list of lines) directly above it."""
    assert body_lines >= 2
    text = "".join(line + "\n" for line in comment or [])
    text += (signature or "static int %s(int a)" % name) + "\n{\n"
    text += "    a++;\n" * (body_lines - 3) + "    return a;\n}\n"
    return text


def run(tmp_path, files, *args):
    for path, text in files.items():
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(text)
    return subprocess.run([sys.executable, TOOL, "--root", str(tmp_path)] + list(args),
                          capture_output=True, text=True)


def test_a_tree_within_the_limits_passes(tmp_path):
    r = run(tmp_path, {"src/a/a.c": "/* a */\n" + function("f", 120) + "\n" + function("g", 5),
                       "src/a/a.h": "static inline int h(void)\n{\n    return 1;\n}\n"})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "checksize: 1 .c files within 1200 lines, 3 functions within 120\n"


def test_long_function_fails_naming_file_line_and_length(tmp_path):
    r = run(tmp_path, {"src/a/a.c": "/* a */\n\n" + function("short", 10) + "\n" +
                       function("too_long", 121)})
    assert r.returncode == 1
    assert "src/a/a.c:15: function too_long is 121 lines (limit 120)\n" in r.stderr
    assert "short" not in r.stderr
    assert "checksize: 1 problem:" in r.stderr


def test_long_function_in_a_header_fails(tmp_path):
    sig = "static inline int\nin_header(int a, int b,\n          int c)"
    r = run(tmp_path, {"src/a/a.h": "#pragma once\n" + function("x", 130, signature=sig)})
    assert r.returncode == 1
    assert "src/a/a.h:3: function in_header is 130 lines (limit 120)" in r.stderr


def test_long_comment_allows_the_function_and_v_lists_it(tmp_path):
    comment = ["/* Does it all.", " * long: one table of cases; split, it would read worse.",
               " */"]
    r = run(tmp_path, {"src/a/a.c": function("big", 200, comment=comment)}, "-v")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("src/a/a.c:4: function big is 200 lines (limit 120), allowed: "
                               "one table of cases; split, it would read worse.\n")
    assert "(1 allowed by a `long:` comment)" in r.stdout


def test_long_comment_must_be_directly_above(tmp_path):
    text = "/* long: far away */\n\n" + function("big", 200)
    r = run(tmp_path, {"src/a/a.c": text})
    assert r.returncode == 1
    assert "function big is 200 lines" in r.stderr


def test_long_comment_without_a_reason_does_not_count(tmp_path):
    r = run(tmp_path, {"src/a/a.c": function("big", 200, comment=["/* long: */"])})
    assert r.returncode == 1
    assert "function big is 200 lines" in r.stderr


def test_long_comment_no_longer_needed_fails(tmp_path):
    r = run(tmp_path, {"src/a/a.c": function("small", 50, comment=["/* long: was big */"])})
    assert r.returncode == 1
    assert "src/a/a.c:2: function small is 50 lines, within the limit (120): its `long:` " \
        "comment is no longer needed" in r.stderr


def test_long_file_fails(tmp_path):
    r = run(tmp_path, {"src/a/big.c": "/* big */\n" + "int x;\n" * 1200,
                       "src/a/ok.c": "int y;\n" * 1200})
    assert r.returncode == 1
    assert r.stderr.startswith("src/a/big.c:1: file is 1201 lines (limit 1200)\n")
    assert "ok.c" not in r.stderr


def test_long_header_is_not_a_long_file(tmp_path):
    r = run(tmp_path, {"src/a/a.h": "int x;\n" * 2000})
    assert r.returncode == 0, r.stderr


def test_long_comment_in_the_files_first_comment_allows_it(tmp_path):
    head = "/* The table.\n *\n * long: generated-looking data, one row a line.\n */\n"
    r = run(tmp_path, {"src/a/big.c": head + "int x;\n" * 1300}, "-v")
    assert r.returncode == 0, r.stderr
    assert "src/a/big.c:1: file is 1304 lines (limit 1200), allowed: generated-looking data, " \
        "one row a line." in r.stdout


def test_long_comment_later_in_the_file_does_not_allow_it(tmp_path):
    r = run(tmp_path, {"src/a/big.c": "/* head */\nint y;\n/* long: too late */\n" +
                       "int x;\n" * 1300})
    assert r.returncode == 1
    assert "src/a/big.c:1: file is 1303 lines" in r.stderr


def test_files_outside_src_are_not_checked(tmp_path):
    r = run(tmp_path, {"tests/unit/test_a.c": function("big", 500), "src/a/a.c": "int x;\n"})
    assert r.returncode == 0, r.stderr


def test_limits_can_be_set(tmp_path):
    r = run(tmp_path, {"src/a/a.c": function("f", 11)}, "--max-function", "10")
    assert r.returncode == 1
    assert "function f is 11 lines (limit 10)" in r.stderr


def test_struct_and_initialiser_braces_are_not_functions(tmp_path):
    text = ("struct s {\n    int a;\n};\n"
            "static const int t[] = {\n" + "    1,\n" * 200 + "};\n"
            "enum e {\n    E_A,\n};\n")
    r = run(tmp_path, {"src/a/a.c": text})
    assert r.returncode == 0, r.stderr
    assert "0 functions" in r.stdout


def test_a_layout_the_check_cannot_read_fails(tmp_path):
    # An unclosed body (or one closed off column 0): the file is not
    # clang-formatted, and counting on would give wrong lengths.
    text = "static int f(void)\n{\n    return 1;\n  }\nstatic int g(void)\n{\n    return 2;\n}\n"
    r = run(tmp_path, {"src/a/a.c": text})
    assert r.returncode == 1
    assert "src/a/a.c:2: a `{` at column 0 with no `}` at column 0 before the next one" \
        in r.stderr


def test_a_first_comment_directly_above_a_function_is_the_functions(tmp_path):
    # Its `long:` allows the function, not the file (which is short anyway).
    r = run(tmp_path, {"src/a/a.c": function("big", 200, comment=["/* long: a table */"])})
    assert r.returncode == 0, r.stderr
    assert "(1 allowed by a `long:` comment)" in r.stdout


def test_the_tree_itself_is_read_whole():
    # Every `{` at column 0 in src/ opens a function the check can name: the
    # layout it relies on holds (whatever the lengths are today).
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    r = subprocess.run([sys.executable, TOOL, "--root", root], capture_output=True, text=True)
    assert "column 0" not in r.stderr, r.stderr
