"""`rampart policy`: the engine offline, on files, exit code by decision."""

from __future__ import annotations

import json
import subprocess

from rampart_testlib import rampart_bin


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rampart_bin()), "policy", *args], capture_output=True, text=True, timeout=30)


def write(tmp_path, name: str, document: dict | str):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_eval_explains_allow_and_deny(tmp_path):
    policy = write(tmp_path, "p.json", {"Version": "2012-10-17", "Statement": [
        {"Sid": "Self", "Effect": "Allow", "Action": "iam:GetUser", "Resource": "arn:aws:iam::1:user/${aws:username}"},
        {"Sid": "OnlyCorp", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
    base = ["eval", "--policy", policy, "--action", "iam:GetUser", "--resource", "arn:aws:iam::1:user/bob",
            "--context", "aws:username=bob"]
    ok = run(*base, "--context", "aws:SourceIp=10.2.3.4")
    assert ok.returncode == 0 and "allowed" in ok.stdout and "Sid Self" in ok.stdout
    denied = run(*base, "--context", "aws:SourceIp=192.0.2.1")
    assert denied.returncode == 1 and "explicitDeny" in denied.stdout and "Sid OnlyCorp" in denied.stdout
    other = run("eval", "--policy", policy, "--action", "iam:GetUser", "--resource", "arn:aws:iam::1:user/eve",
                "--context", "aws:username=bob", "--context", "aws:SourceIp=10.2.3.4")
    assert other.returncode == 1 and "implicitDeny" in other.stdout


def test_boundary_and_validate(tmp_path):
    admin = write(tmp_path, "admin.json", {"Version": "2012-10-17",
                                           "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}})
    boundary = write(tmp_path, "b.json", {"Version": "2012-10-17",
                                          "Statement": {"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}})
    out = run("eval", "--policy", admin, "--boundary", boundary, "--action", "iam:DeleteUser")
    assert out.returncode == 1 and "Boundary" in out.stdout
    bad = write(tmp_path, "bad.json", "{not json")
    v = run("validate", admin, bad)
    assert v.returncode == 1
    assert f"{admin}: valid" in v.stdout and "Syntax errors in policy." in v.stdout


def test_validate_warns_from_the_action_catalog(tmp_path):
    typo = write(tmp_path, "typo.json", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetUsr", "iam:ListUsers"], "Resource": "*",
         "Condition": {"DateGreaterThan": {"aws:username": "2020-01-01"}}}]})
    clean = write(tmp_path, "clean.json", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetUser", "iam:List*", "sts:AssumeRole"], "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"}}}]})
    v = run("validate", typo, clean)
    assert v.returncode == 0, v.stdout + v.stderr
    lines = v.stdout.splitlines()
    assert f"{typo}: valid" in lines and f"{clean}: valid" in lines
    warnings = [line for line in lines if ": warning: " in line]
    assert all(line.startswith(f"{typo}: warning: ") for line in warnings), warnings
    assert any("INVALID_ACTION at Statement[0].Action[0]" in w and "`iam:GetUser`" in w for w in warnings), warnings
    assert any("TYPE_MISMATCH" in w and "aws:username" in w for w in warnings), warnings
    assert len(warnings) == 2, warnings
