"""Jobs started by a signed webhook (on: {webhook: ...}), through the real
binary: the configuration's checks."""
import os
import re
import subprocess


def validate(tmp_path, yaml_text):
    (tmp_path / "sked.yaml").write_text(yaml_text)
    return subprocess.run([os.environ["SKED_BIN"], "validate", "-c", str(tmp_path / "sked.yaml")],
                          capture_output=True, text=True)


def test_webhook_config_errors_say_where(tmp_path):
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: {webhook: {secret_file: gone.secret}}\n"
                           "    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:3:33: jobs\.deploy\.on\.webhook\.secret_file: .*gone\.secret.* "
                     r"does not exist", r.stderr), r.stderr
    (tmp_path / "loose.secret").write_text("a-long-enough-secret\n")
    (tmp_path / "loose.secret").chmod(0o644)
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: {webhook: {secret_file: loose.secret}}\n"
                           "    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:3:33: .*other users may read it \(mode 0644\)", r.stderr), \
        r.stderr
    (tmp_path / "loose.secret").chmod(0o600)
    r = validate(tmp_path, "jobs:\n  deploy:\n    on:\n      - webhook: {secret_file: loose.secret,"
                           " secrte: x}\n    run: [true]\n")
    assert r.returncode == 1
    assert re.search(r"sked\.yaml:4:46: jobs\.deploy\.on\[0\]\.webhook\.secrte: unknown key", r.stderr), \
        r.stderr
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: webhook\n    run: [true]\n")
    assert r.returncode == 1 and "secret_file" in r.stderr, r.stderr
    r = validate(tmp_path, "jobs:\n  deploy:\n    on: [start, {webhook: {secret_file: loose.secret}}]\n"
                           "    run: [true]\n")
    assert r.returncode == 0, r.stderr
