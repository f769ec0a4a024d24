"""`sked cron next` and `sked cron explain` through the real binary."""
import pytest


def test_next_prints_instants_with_offset(sked):
    r = sked("cron", "next", "30 2 * * *", "--tz", "America/New_York",
             "--from", "2026-03-07T00:00:00-05:00", "--count", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:00:00-04:00",  # 02:30 is in the gap: fires at its end
        "2026-03-09T02:30:00-04:00",
    ]


def test_next_default_count_is_five(sked):
    r = sked("cron", "next", "0 * * * *", "--tz", "UTC", "--from", "2026-01-01T00:00:00Z")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 5
    assert r.stdout.splitlines()[0] == "2026-01-01T01:00:00+00:00"


def test_first_instant_is_strictly_after_from(sked):
    r = sked("cron", "next", "0 0 * * *", "--tz", "UTC", "--from", "2026-01-01T00:00:00Z", "-n", "1")
    assert r.stdout.strip() == "2026-01-02T00:00:00+00:00"


def test_out_of_range_names_field_value_and_column(sked):
    r = sked("cron", "next", "61 * * * *")
    assert r.returncode == 1
    assert r.stderr.strip() == "sked: cron: minute field: 61 is out of range 0-59 (column 1)"
    assert r.stdout == ""


def test_never_firing_expression_is_an_error(sked):
    r = sked("cron", "next", "0 0 30 2 *")
    assert r.returncode == 1
    assert "never fires" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["cron", "next"],
    ["cron", "next", "* * * * *", "--bogus"],
    ["cron", "next", "* * * * *", "--tz"],
    ["cron", "next", "* * * * *", "--count", "0"],
    ["cron", "next", "* * * * *", "--count", "x"],
    ["cron"],
    ["cron", "frobnicate", "x"],
    ["nosuchcommand"],
])
def test_usage_errors_exit_2(sked, args):
    r = sked(*args)
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_unknown_zone_is_a_clear_error(sked):
    r = sked("cron", "next", "* * * * *", "--tz", "Mars/Olympus_Mons")
    assert r.returncode == 1
    assert 'unknown time zone "Mars/Olympus_Mons"' in r.stderr


@pytest.mark.parametrize("expr,text", [
    ("30 2 * * 1-5", "At 02:30 on Monday to Friday"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 0 L * *", "At 00:00 on the last day of the month"),
])
def test_explain(sked, expr, text):
    r = sked("cron", "explain", expr)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == text
