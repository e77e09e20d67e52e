"""Shared machinery for the Rampart end-to-end suite.

Starts the real `rampart serve` binary on a free loopback port, talks to it with
boto3/botocore, raw HTTP (requests + botocore's SigV4 signer) and the aws CLI.
Nothing in here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as _dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable
from unittest import mock

import boto3
import botocore.auth
import botocore.parsers
import botocore.session
import pytest
import requests
from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
# scripts/test.sh builds the `ci` profile; a plain `cargo build --release` also works.
DEFAULT_BIN = next((p for p in (REPO_ROOT / "target" / "ci" / "rampart", REPO_ROOT / "target" / "release" / "rampart")
                    if p.exists()), REPO_ROOT / "target" / "ci" / "rampart")
REGION = "us-east-1"
LOOPBACK = "127.0.0.1"

# moto-compatible defaults of `rampart serve --dev`
DEV_ACCESS_KEY_ID = "FOOBARKEY"
DEV_SECRET_ACCESS_KEY = "FOOBARSECRET"
DEV_ACCOUNT_ID = "123456789012"

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
# Audit records of read-only calls are written asynchronously in batches; the
# contract is "visible within ~3 s". A little slack for a loaded 2-core box.
AUDIT_WAIT = 5.0

SERVICE_TARGETS = {
    "cloudtrail": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
    "kms": "TrentService",
    "config": "StarlingDoveService",
    "logs": "Logs_20140328",
}
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


# --------------------------------------------------------------------------
# environment isolation
# --------------------------------------------------------------------------

def isolate_aws_env() -> None:
    """Make sure nothing from the developer's ~/.aws or environment leaks in."""
    for k in list(os.environ):
        if k.startswith("AWS_") or k.startswith("RAMPART_ROOT_") or k == "RAMPART_ACCOUNT_ID":
            del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # loopback must never go through a proxy
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(k, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


isolate_aws_env()

_BOTO_LOCK = threading.Lock()
_BOTO_SESSION = boto3.session.Session()


def rampart_bin() -> Path:
    p = Path(os.environ.get("RAMPART_BIN") or DEFAULT_BIN)
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(
            f"rampart binary not found or not executable at {p} "
            "(build it with `cargo build --release` or set RAMPART_BIN)",
            pytrace=False,
        )
    return p


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def uniq(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------
# credentials
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Creds:
    access_key_id: str
    secret_access_key: str
    account_id: str | None = None
    session_token: str | None = None

    def botocore(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)

    def with_secret(self, secret: str) -> "Creds":
        return Creds(self.access_key_id, secret, self.account_id, self.session_token)

    @staticmethod
    def from_sts(credentials: dict, account_id: str | None = None) -> "Creds":
        """The `Credentials` of an STS answer (AssumeRole, GetSessionToken)."""
        return Creds(credentials["AccessKeyId"], credentials["SecretAccessKey"], account_id,
                     credentials["SessionToken"])


def random_root_creds(account_id: str | None = None) -> Creds:
    import random
    import string

    rnd = random.SystemRandom()
    akid = "AKIA" + "".join(rnd.choice(string.ascii_uppercase + "234567") for _ in range(16))
    secret = "".join(rnd.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
    acct = account_id or "".join(rnd.choice(string.digits) for _ in range(12))
    if acct[0] == "0":
        acct = "4" + acct[1:]
    return Creds(akid, secret, acct)


def read_credentials_file(path: Path) -> Creds:
    cp = configparser.ConfigParser()
    cp.read(path)
    sec = cp["default"]
    return Creds(
        sec["aws_access_key_id"].strip(),
        sec["aws_secret_access_key"].strip(),
        sec.get("aws_account_id", "").strip() or None,
    )


# --------------------------------------------------------------------------
# boto3 clients
# --------------------------------------------------------------------------

def make_client(service: str, endpoint: str, creds: Creds | None, region: str = REGION,
                verify: Any = None, **config_kwargs):
    cfg_args: dict[str, Any] = dict(
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        inject_host_prefix=False,
    )
    cfg_args.update(config_kwargs)
    cfg = Config(**cfg_args)
    kwargs: dict[str, Any] = dict(region_name=region, endpoint_url=endpoint, config=cfg)
    if creds is not None:
        kwargs.update(aws_access_key_id=creds.access_key_id,
                      aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token)
    if verify is not None:
        kwargs["verify"] = verify
    with _BOTO_LOCK:  # session.client() is not thread-safe
        return _BOTO_SESSION.client(service, **kwargs)


def unsigned_client(service: str, endpoint: str, region: str = REGION, **config_kwargs):
    return make_client(service, endpoint, None, region, signature_version=UNSIGNED, **config_kwargs)


def error_of(exc: ClientError) -> tuple[str, int, str]:
    err = exc.response.get("Error", {})
    return (err.get("Code", ""), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0),
            err.get("Message", "") or "")


class AwsErrorInfo:
    code: str = ""
    status: int = 0
    message: str = ""
    response: dict | None = None


@contextlib.contextmanager
def raises_aws(code: str | Iterable[str], status: int | Iterable[int] | None = None):
    """Expect a botocore ClientError with the given AWS error code (and HTTP status)."""
    info = AwsErrorInfo()
    codes = {code} if isinstance(code, str) else set(code)
    with pytest.raises(ClientError) as ei:
        yield info
    info.code, info.status, info.message = error_of(ei.value)
    info.response = ei.value.response
    assert info.code in codes, (
        f"expected error code {sorted(codes)}, got {info.code!r} "
        f"(HTTP {info.status}): {info.message!r}"
    )
    if status is not None:
        statuses = {status} if isinstance(status, int) else set(status)
        assert info.status in statuses, (
            f"{info.code}: expected HTTP status {sorted(statuses)}, got {info.status}"
        )


def is_wellformed_code(code: str | None) -> bool:
    """botocore falls back to the HTTP status as the 'code' when it cannot parse an error."""
    return bool(code) and not str(code).isdigit() and code.strip() == code


# --------------------------------------------------------------------------
# raw HTTP with botocore's SigV4 signer
# --------------------------------------------------------------------------

@contextlib.contextmanager
def frozen_signing_time(when: _dt.datetime):
    """Make botocore's signers believe the current time is `when` (naive UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: when):
        yield


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def sign(method: str, url: str, service: str, creds: Creds, *, data: bytes | str = b"",
         headers: dict[str, str] | None = None, region: str = REGION,
         when: _dt.datetime | None = None) -> tuple[str, dict[str, str], bytes]:
    """Sign with botocore.auth.SigV4Auth; returns (url, headers, body) ready for requests."""
    if isinstance(data, str):
        data = data.encode()
    req = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    signer = botocore.auth.SigV4Auth(creds.botocore(), service, region)
    if when is not None:
        with frozen_signing_time(when):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    prepared = req.prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return prepared.url, dict(prepared.headers.items()), body


def send_signed(method: str, url: str, service: str, creds: Creds, *, data: bytes | str = b"",
                headers: dict[str, str] | None = None, region: str = REGION,
                when: _dt.datetime | None = None, timeout: float = 60,
                mutate: Callable[[str, dict, bytes], tuple[str, dict, bytes]] | None = None,
                verify: Any = True) -> requests.Response:
    u, h, b = sign(method, url, service, creds, data=data, headers=headers, region=region, when=when)
    if mutate is not None:
        u, h, b = mutate(u, h, b)
    return requests.request(method, u, headers=h, data=b, timeout=timeout, verify=verify)


def query_body(params: dict[str, str] | list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


@dataclass
class ParsedError:
    code: str
    message: str
    request_id: str
    status: int
    raw: dict


def parse_response(resp: requests.Response, protocol: str) -> dict:
    """Parse a raw HTTP response exactly like botocore would (protocol: query|ec2|json|smithy-rpc-v2-cbor)."""
    parser = botocore.parsers.create_parser(protocol)
    return parser.parse(
        {"status_code": resp.status_code, "headers": resp.headers, "body": resp.content},
        None,
    )


def parse_error(resp: requests.Response, protocol: str) -> ParsedError:
    parsed = parse_response(resp, protocol)
    err = parsed.get("Error", {}) or {}
    return ParsedError(
        code=err.get("Code", "") or "",
        message=err.get("Message", "") or "",
        request_id=(parsed.get("ResponseMetadata", {}) or {}).get("RequestId", "") or "",
        status=resp.status_code,
        raw=parsed,
    )


def assert_aws_error(resp: requests.Response, protocol: str, code: str | Iterable[str] | None = None,
                     status: int | Iterable[int] | None = None) -> ParsedError:
    """The response is a 4xx AWS error that botocore parses into a real error code."""
    assert 400 <= resp.status_code < 500, (
        f"expected a 4xx AWS error, got HTTP {resp.status_code}: {resp.content[:500]!r}"
    )
    pe = parse_error(resp, protocol)
    assert is_wellformed_code(pe.code), (
        f"botocore could not parse an AWS error code from HTTP {resp.status_code} "
        f"{dict(resp.headers)} {resp.content[:500]!r}"
    )
    if code is not None:
        codes = {code} if isinstance(code, str) else set(code)
        assert pe.code in codes, f"expected {sorted(codes)}, got {pe.code!r}: {pe.message!r}"
    if status is not None:
        statuses = {status} if isinstance(status, int) else set(status)
        assert resp.status_code in statuses, (
            f"{pe.code}: expected HTTP {sorted(statuses)}, got {resp.status_code}"
        )
    return pe


# --------------------------------------------------------------------------
# the server under test
# --------------------------------------------------------------------------

_LIVE_SERVERS: list["RampartServer"] = []
_LIVE_LOCK = threading.Lock()


def live_servers() -> list["RampartServer"]:
    with _LIVE_LOCK:
        return list(_LIVE_SERVERS)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    args: list[str]

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None

    def check(self) -> "CliResult":
        assert self.returncode == 0, (
            f"aws {' '.join(self.args)} exited {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"
        )
        return self


def aws_cli_command() -> list[str]:
    """The aws CLI from this venv if installed here, else the one on PATH."""
    try:
        import awscli  # noqa: F401

        return [sys.executable, "-m", "awscli"]
    except ImportError:
        exe = shutil.which("aws")
        if not exe:
            pytest.fail("aws CLI not installed (pip install awscli)", pytrace=False)
        return [exe]


class RampartServer:
    """One `rampart serve` process (re)started on a fixed loopback port and data dir."""

    def __init__(self, workdir: Path, *, dev: bool = False,
                 root_creds: Creds | None | str = "random",
                 region: str = REGION, tls: tuple[Path, Path] | None = None,
                 extra_args: Iterable[str] = (), extra_env: dict[str, str] | None = None,
                 name: str = "rampart"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "server.log"
        self.dev = dev
        self.region = region
        self.tls = tls
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})
        self.name = name
        if root_creds == "random":
            root_creds = random_root_creds()
        # env_creds: what we pass via RAMPART_ROOT_*; None means "let the server decide"
        self.env_creds: Creds | None = root_creds  # type: ignore[assignment]
        self.creds: Creds | None = None
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._log_fh = None
        with _LIVE_LOCK:
            _LIVE_SERVERS.append(self)

    # ---- addresses -------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    @property
    def verify(self) -> Any:
        return str(self.tls[0]) if self.tls else True

    @property
    def account_id(self) -> str:
        assert self.creds and self.creds.account_id, "account id unknown"
        return self.creds.account_id

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    def user_arn(self, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self.account_id}:user{path}{name}"

    # ---- lifecycle -------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [str(rampart_bin()), "serve", "--listen", f"{LOOPBACK}:{self.port}",
               "--data", str(self.data_dir), "--region", self.region,
               # an output member the model does not define fails the call (a 500)
               "--strict-outputs"]
        if self.dev:
            cmd.append("--dev")
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        return cmd + self.extra_args

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAMPART_ROOT_") and k != "RAMPART_ACCOUNT_ID"
               and not k.startswith("AWS_")}
        env.setdefault("RUST_BACKTRACE", "1")
        if self.env_creds is not None:
            env["RAMPART_ROOT_ACCESS_KEY_ID"] = self.env_creds.access_key_id
            env["RAMPART_ROOT_SECRET_ACCESS_KEY"] = self.env_creds.secret_access_key
            if self.env_creds.account_id:
                env["RAMPART_ACCOUNT_ID"] = self.env_creds.account_id
        env.update(self.extra_env)
        return env

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = STARTUP_TIMEOUT) -> "RampartServer":
        assert not self.is_running(), "already running"
        self.starts += 1
        cmd = self.command()
        if self._log_fh is None:
            self._log_fh = open(self.log_path, "ab", buffering=0)
        self._log_fh.write(
            f"\n===== [{time.strftime('%H:%M:%S')}] start #{self.starts}: {' '.join(cmd)}\n".encode()
        )
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=subprocess.STDOUT,
            env=self.environment(), cwd=str(self.workdir),
        )
        self.wait_healthy(timeout)
        self._resolve_creds()
        return self

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"rampart exited with code {self.proc.returncode} during startup\n"
                    f"{self.log_tail()}"
                )
            try:
                r = requests.get(f"{self.endpoint}/_rampart/health", timeout=2, verify=self.verify)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:  # not listening yet
                last = repr(e)
            time.sleep(0.05)
        raise RuntimeError(f"rampart not healthy after {timeout}s (last: {last})\n{self.log_tail()}")

    def _resolve_creds(self) -> None:
        if self.env_creds is not None:
            creds = self.env_creds
        elif self.dev:
            creds = Creds(DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY, DEV_ACCOUNT_ID)
        else:
            f = self.data_dir / "root-credentials"
            assert f.is_file(), f"{f} was not written on first start"
            creds = read_credentials_file(f)
        if not creds.account_id:
            ident = make_client("sts", self.endpoint, creds, verify=self.verify).get_caller_identity()
            creds = Creds(creds.access_key_id, creds.secret_access_key, ident["Account"])
        self.creds = creds

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not stop. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"rampart did not stop within {timeout}s of SIGTERM")
        return self.proc.returncode

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self, timeout: float = STARTUP_TIMEOUT) -> "RampartServer":
        if self.is_running():
            rc = self.stop()
            assert rc == 0, f"rampart exited with {rc} on SIGTERM"
        # the port is ours; give the kernel a moment if a rebind races TIME_WAIT
        return self.start(timeout)

    def close(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.send_signal(signal.SIGKILL)
                    try:
                        self.proc.wait(10)
                    except subprocess.TimeoutExpired:
                        pass
        finally:
            if self._log_fh is not None:
                self._log_fh.close()
                self._log_fh = None
            with _LIVE_LOCK:
                if self in _LIVE_SERVERS:
                    _LIVE_SERVERS.remove(self)

    # ---- diagnostics -----------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 150) -> str:
        text = self.log_text().splitlines()
        return "\n".join(text[-lines:])

    def health(self) -> int:
        return requests.get(f"{self.endpoint}/_rampart/health", timeout=5, verify=self.verify).status_code

    def assert_healthy(self) -> None:
        assert self.is_running(), f"rampart died (exit {self.proc and self.proc.returncode})"
        assert self.health() == 200

    # ---- clients ---------------------------------------------------------
    def client(self, service: str, creds: Creds | None = None, region: str = REGION, **config_kwargs):
        return make_client(service, self.endpoint, creds or self.creds, region,
                           verify=self.verify, **config_kwargs)

    def unsigned_client(self, service: str, region: str = REGION, **config_kwargs):
        return make_client(service, self.endpoint, None, region, verify=self.verify,
                           signature_version=UNSIGNED, **config_kwargs)

    def url(self, path: str = "/") -> str:
        return f"{self.endpoint}{path}"

    def query(self, service: str, params: dict | list, creds: Creds | None = None, **kw) -> requests.Response:
        """Signed AWS-query POST (IAM/STS/EC2 style)."""
        return send_signed("POST", self.url("/"), service, creds or self.creds,
                           data=query_body(params),
                           headers={"Content-Type": FORM_CONTENT_TYPE}, verify=self.verify, **kw)

    def json_call(self, service: str, operation: str, body: bytes | str | dict,
                  creds: Creds | None = None, target: str | None = None, **kw) -> requests.Response:
        """Signed JSON 1.1 POST (CloudTrail/KMS/Config/Logs style)."""
        if isinstance(body, dict):
            body = json.dumps(body)
        headers = {"Content-Type": JSON_CONTENT_TYPE,
                   "X-Amz-Target": target or f"{SERVICE_TARGETS[service]}.{operation}"}
        headers.update(kw.pop("headers", {}) or {})
        return send_signed("POST", self.url("/"), service, creds or self.creds,
                           data=body, headers=headers, verify=self.verify, **kw)

    def cli(self, *args: str, creds: Creds | None = None, timeout: float = 120,
            region: str = REGION) -> CliResult:
        creds = creds or self.creds
        assert creds is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=creds.access_key_id,
            AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
            AWS_DEFAULT_REGION=region,
            AWS_REGION=region,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_MAX_ATTEMPTS="1",
            AWS_RETRY_MODE="standard",
            AWS_PAGER="",
            AWS_EC2_METADATA_DISABLED="true",
        )
        full = ["--endpoint-url", self.endpoint, "--output", "json", "--region", region]
        if self.tls:
            full += ["--ca-bundle", str(self.tls[0])]
        cmd = aws_cli_command() + full + list(args)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return CliResult(p.returncode, p.stdout, p.stderr, list(args))


# --------------------------------------------------------------------------
# IAM helpers
# --------------------------------------------------------------------------

def create_user_with_key(server: RampartServer, name: str | None = None, path: str | None = None
                         ) -> tuple[dict, Creds]:
    iam = server.client("iam")
    name = name or uniq("user")
    kw = {"UserName": name}
    if path:
        kw["Path"] = path
    user = iam.create_user(**kw)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, Creds(key["AccessKeyId"], key["SecretAccessKey"], server.account_id)


def new_user(server: RampartServer, prefix: str) -> dict:
    """A fresh user with one access key: name, arn, id, key, secret and creds."""
    user, creds = create_user_with_key(server, uniq(prefix))
    return {
        "name": user["UserName"],
        "arn": user["Arn"],
        "id": user["UserId"],
        "key": creds.access_key_id,
        "secret": creds.secret_access_key,
        "creds": creds,
    }


def list_all_users(iam, **kw) -> list[dict]:
    users, marker = [], None
    for _ in range(10_000):
        args = dict(kw)
        if marker:
            args["Marker"] = marker
        page = iam.list_users(**args)
        users += page["Users"]
        if not page.get("IsTruncated"):
            return users
        marker = page["Marker"]
        assert marker, "IsTruncated=true without a Marker"
    raise AssertionError("ListUsers pagination did not terminate")


# --------------------------------------------------------------------------
# CloudTrail helpers
# --------------------------------------------------------------------------

def lookup_all(ct, max_pages: int = 200, **kw) -> list[dict]:
    events, token = [], None
    for _ in range(max_pages):
        args = dict(kw)
        if token:
            args["NextToken"] = token
        page = ct.lookup_events(**args)
        events += page.get("Events", [])
        token = page.get("NextToken")
        if not token:
            return events
    raise AssertionError(f"LookupEvents still paginating after {max_pages} pages")


def record(event: dict) -> dict:
    return json.loads(event["CloudTrailEvent"])


def wait_for_events(ct, predicate: Callable[[dict, dict], bool], *, timeout: float = AUDIT_WAIT,
                    min_count: int = 1, **lookup_kw) -> list[dict]:
    """Poll LookupEvents until at least `min_count` events satisfy predicate(event, record)."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while True:
        events = lookup_all(ct, **lookup_kw)
        found = [e for e in events if predicate(e, record(e))]
        if len(found) >= min_count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(found) >= min_count, (
        f"expected >= {min_count} matching audit events within {timeout}s, found {len(found)} "
        f"(lookup {lookup_kw}, {len(events)} events returned)"
    )
    return found


def ua_marker() -> str:
    """A token to put in the User-Agent so a test can find its own audit records."""
    return "rampart-it/" + uuid.uuid4().hex


def attr(key: str, value: str) -> list[dict]:
    return [{"AttributeKey": key, "AttributeValue": value}]


# --------------------------------------------------------------------------
# small helpers for raw responses and presigned URLs
# --------------------------------------------------------------------------

def xml_texts(body: bytes | str, tag: str) -> list[str]:
    """Text of every element named `tag` (namespace ignored) in an XML document."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body.encode() if isinstance(body, str) else body)
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == tag]


def presigned_get(client, method: str, params: dict | None = None, expires: int = 300) -> str:
    """A presigned URL meant to be fetched with a plain HTTP GET (signed as GET)."""
    return client.generate_presigned_url(method, Params=params or {}, ExpiresIn=expires, HttpMethod="GET")


def wait_for(predicate, timeout: float = 20.0, what: str = "files"):
    """Polls `predicate` until it returns something true, and returns that; fails the test after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


# ---- CloudTrail Lake ----------------------------------------------------------

def store_id(arn: str) -> str:
    """An event data store's id: the end of its ARN."""
    return arn.rsplit("/", 1)[1]


def run_lake_query(ct, statement: str, timeout: float = 20.0, **kw) -> tuple[dict, list[list[dict]]]:
    """Starts a Lake query, waits until it ends, and returns DescribeQuery's answer and every row."""
    qid = ct.start_query(QueryStatement=statement, **kw)["QueryId"]
    described = wait_for(lambda: (d := ct.describe_query(QueryId=qid))["QueryStatus"] not in ("QUEUED", "RUNNING") and d,
                         timeout=timeout, what="the query")
    rows, token = [], None
    while described["QueryStatus"] == "FINISHED":
        page = ct.get_query_results(QueryId=qid, **({"NextToken": token} if token else {}))
        rows += page["QueryResultRows"]
        token = page.get("NextToken")
        if not token:
            break
    return described, rows


def result_cells(rows: list[list[dict]]) -> list[list[str | None]]:
    """Query result rows as their cells' texts (None for a NULL)."""
    return [[next(iter(c.values()), None) for c in row] for row in rows]

