"""docs/guide.md "What sked promises" names, for each promise, the tests that
show it. Each name must be a test that exists, and each fault row it names
must be a scenario of tests/faults/faults.py: a promise whose proof was
renamed or removed is a promise nobody checks."""
import os
import re

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def section():
    with open(os.path.join(ROOT, "docs", "guide.md")) as f:
        text = f.read()
    start = text.index("## What sked promises")
    return text[start:text.index("\n## ", start + 3)]


def defined_tests():
    names = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "tests")):
        for name in files:
            if name.endswith((".py", ".c")):
                with open(os.path.join(folder, name), errors="replace") as f:
                    names.update(re.findall(r"\b(?:def|void)\s+(test_\w+)\s*\(", f.read()))
    return names


def test_every_test_a_promise_names_exists():
    cited = set(re.findall(r"`(test_\w+)`", section()))
    assert len(cited) >= 15, cited
    missing = sorted(cited - defined_tests())
    assert not missing, f"docs/guide.md promises tests that do not exist: {missing}"


def test_every_fault_row_a_promise_names_exists():
    with open(os.path.join(ROOT, "tests", "faults", "faults.py")) as f:
        faults = f.read()
    cited = []
    text = " ".join(section().split())
    for m in re.finditer(r"[Ff]ault rows? (.*?)(?:\.(?: |$)|\))", text):
        cited += re.findall(r"(?<!\*)\*([^*]+)\*(?!\*)", m.group(1))
    assert len(cited) >= 5, cited
    for name in cited:
        stem = name.rstrip("…. ").strip()
        assert stem in faults, f"docs/guide.md names a fault row that does not exist: {name!r}"
