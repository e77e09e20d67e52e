"""Wire coverage: every operation of botocore's iam, sts, ec2, kms, cloudtrail, config, logs and
cloudwatch models, called through botocore with client-side validation off and empty params.

As root: the answer is either a 2xx that botocore parses, or a 4xx whose error code botocore
parses — never a 5xx, a dropped connection or an unparseable body. Every answer carries a
request id.
As an IAM user with no policies (fail closed): nothing but sts:GetCallerIdentity (and
sts:GetSessionToken, which AWS allows without permissions) succeeds.
"""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from rampart_testlib import Creds, error_of, is_wellformed_code, uniq

SERVICES = ["iam", "sts", "ec2", "kms", "cloudtrail", "config", "logs", "cloudwatch"]

_models = botocore.session.get_session()
CASES = [(svc, op) for svc in SERVICES for op in _models.get_service_model(svc).operation_names]


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
    else:
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
