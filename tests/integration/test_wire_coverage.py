"""Wire coverage: every operation of botocore's iam, sts, ec2, kms, cloudtrail, config, logs and
cloudwatch models, called through botocore with client-side validation off and empty params.

As root: the answer is either a 2xx that botocore parses, or a 4xx whose error code botocore
parses — never a 5xx, a dropped connection or an unparseable body. Every answer carries a
request id.
The ratchet: a served service lists what it does not serve yet in its crate's `unserved.txt`
(every operation of a service with no crate is unserved). A listed operation must answer
"not implemented"; any other must not. So serving an operation means taking it off the list.
As an IAM user with no policies (fail closed): nothing but sts:GetCallerIdentity (and
sts:GetSessionToken, which AWS allows without permissions) succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from rampart_testlib import Creds, error_of, is_wellformed_code, uniq

SERVICES = ["iam", "sts", "ec2", "kms", "cloudtrail", "config", "logs", "cloudwatch"]

_models = botocore.session.get_session()
CASES = [(svc, op) for svc in SERVICES for op in _models.get_service_model(svc).operation_names]

# The crate of each served service, whose `unserved.txt` lists what it does not serve yet.
CRATES = {"iam": "iam", "sts": "sts", "cloudtrail": "trail", "kms": "kms"}
_ROOT = Path(__file__).resolve().parents[2]


def _rampart_model(service: str) -> set[str]:
    """The operations of the model Rampart carries (botocore's may be newer)."""
    name = "monitoring" if service == "cloudwatch" else service
    return set(json.loads((_ROOT / "crates" / "wire" / "models" / f"{name}.json").read_text())["operations"])


def _unserved(service: str) -> set[str]:
    crate = CRATES.get(service)
    if crate is None:
        return _rampart_model(service)
    lines = (_ROOT / "crates" / crate / "unserved.txt").read_text().splitlines()
    return {line.split("#")[0].strip() for line in lines} - {""}


UNSERVED = {svc: _unserved(svc) for svc in SERVICES}
MODELLED = {svc: _rampart_model(svc) for svc in SERVICES}


def _not_implemented(e: ClientError) -> bool:
    code, _, message = error_of(e)
    return code in ("InvalidAction", "UnknownOperationException") and "does not implement" in message


# AWS: GetCallerIdentity needs no permission; GetSessionToken is documented as needing none
# either ("No permissions are required for a user to get a session token").
ALWAYS_ALLOWED = {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}


# Operations whose client-side botocore handlers cannot run on empty input (the request would
# never be sent): the smallest params that let botocore build the request.
MINIMAL_PARAMS = {
    ("ec2", "CopySnapshot"): {"SourceRegion": "us-east-1", "SourceSnapshotId": "snap-0123456789abcdef0"},
}


def _methods(client) -> dict[str, str]:
    return {api: py for py, api in client.meta.method_to_api_mapping.items()}


@pytest.fixture(scope="module")
def root_clients(rampart):
    out = {}
    for svc in SERVICES:
        c = rampart.client(svc, parameter_validation=False, read_timeout=30)
        out[svc] = (c, _methods(c))
    return out


@pytest.fixture(scope="module")
def user_creds(rampart):
    iam = rampart.client("iam")
    name = uniq("wireuser")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(k["AccessKeyId"], k["SecretAccessKey"], rampart.account_id)


def _describe(resp_or_exc) -> str:
    if isinstance(resp_or_exc, ClientError):
        code, status, msg = error_of(resp_or_exc)
        return f"HTTP {status} code={code!r} message={msg[:200]!r}"
    md = resp_or_exc.get("ResponseMetadata", {})
    return f"HTTP {md.get('HTTPStatusCode')} success"


@pytest.mark.parametrize("service,operation", CASES, ids=[f"{s}.{o}" for s, o in CASES])
def test_root_gets_wellformed_answer(root_clients, service, operation):
    client, methods = root_clients[service]
    call = getattr(client, methods[operation])
    try:
        resp = call(**MINIMAL_PARAMS.get((service, operation), {}))
    except BotoCoreError as e:  # unparseable answer, dropped connection, timeout ...
        pytest.fail(f"{service}.{operation}: {type(e).__name__}: {e}", pytrace=False)
    except ClientError as e:
        code, status, _ = error_of(e)
        assert 400 <= status < 500, f"{service}.{operation}: {_describe(e)}"
        assert is_wellformed_code(code), f"{service}.{operation}: unparseable error {_describe(e)}"
        assert e.response.get("ResponseMetadata", {}).get("RequestId"), (
            f"{service}.{operation}: error without a request id ({_describe(e)})"
        )
        if operation not in MODELLED[service]:
            pass  # newer than Rampart's copy of the model: any well-formed 4xx
        elif operation in UNSERVED[service]:
            # botocore sends operations that take no signature unsigned, and Rampart
            # authenticates every operation it does not serve.
            unsigned = client.meta.service_model.operation_model(operation).auth_type == "none"
            expected = _not_implemented(e) or (unsigned and code == "MissingAuthenticationToken")
            assert expected, f"{service}.{operation} is listed as unserved but answers {_describe(e)}"
        else:
            assert not _not_implemented(e), f"{service}.{operation} is served but answers {_describe(e)}"
    else:
        assert operation not in UNSERVED[service], f"{service}.{operation} is listed as unserved but succeeds"
        md = resp["ResponseMetadata"]
        assert 200 <= md["HTTPStatusCode"] < 300
        assert md.get("RequestId"), f"{service}.{operation}: success without a request id"


@pytest.mark.parametrize("service", SERVICES)
def test_user_without_policy_is_refused_everything(rampart, user_creds, service):
    client = rampart.client(service, user_creds, parameter_validation=False, read_timeout=30)
    methods = _methods(client)
    problems = []
    for op in _models.get_service_model(service).operation_names:
        try:
            resp = getattr(client, methods[op])(**MINIMAL_PARAMS.get((service, op), {}))
        except BotoCoreError as e:
            problems.append(f"{op}: {type(e).__name__}: {str(e)[:200]}")
        except ClientError as e:
            code, status, _ = error_of(e)
            if not (400 <= status < 500 and is_wellformed_code(code)):
                problems.append(f"{op}: {_describe(e)}")
        else:
            if (service, op) not in ALWAYS_ALLOWED:
                problems.append(f"{op}: SUCCEEDED for a user without any policy ({_describe(resp)})")
    assert not problems, f"{len(problems)} {service} operations misbehaved:\n" + "\n".join(problems)


def test_server_survived(rampart):
    rampart.assert_healthy()
    assert rampart.client("sts").get_caller_identity()["Arn"] == rampart.root_arn
    assert "Users" in rampart.client("iam").list_users()
