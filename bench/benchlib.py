"""Pieces shared by the daemon benchmarks in this folder."""
import fcntl
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def sked_revision(sked):
    """Which sked was measured: the git commit, and whether src/ had edits."""
    def git(*args):
        return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True,
                              text=True).stdout.strip()
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(sked)))
    if os.path.commonpath([os.path.abspath(sked), ROOT]) != ROOT:
        return "%s (outside this repository; binary built %s)" % (sked, built)
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " + uncommitted changes in src/" if git("status", "--porcelain", "src") else ""
    return "%s (commit %s%s; binary built %s)" % (os.path.relpath(sked, ROOT), rev, dirty, built)


def fsync_floor(folder, n=40):
    """(median, max) ms of a 4 KiB append + fdatasync in folder: the disk's
    state now. sked syncs its store before a fire's process starts, so its
    figures move with this; the other contenders do not write."""
    path = os.path.join(folder, "fsync_probe")
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    xs = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"\0" * 4096)
            os.fdatasync(fd)
            xs.append((time.perf_counter() - t) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    xs.sort()
    return xs[len(xs) // 2], xs[-1]


def one_at_a_time(out):
    """Blocks while another daemon benchmark runs on this machine (they share
    bench/out and disturb each other's timings); returns the lock's fd, held
    until this process exits."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    fd = os.open(os.path.join(parent, "daemon-bench.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("waiting for another daemon benchmark to finish (%s) ..."
              % os.path.join(parent, "daemon-bench.lock"), flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
