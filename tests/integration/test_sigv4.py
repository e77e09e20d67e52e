"""SigV4 authentication: header and presigned-query signatures, and every way to get them wrong.

Expected codes/statuses are AWS's (see the AWS common-errors pages and real responses):
query services (IAM/STS) answer 403 SignatureDoesNotMatch / InvalidClientTokenId /
MissingAuthenticationToken and 400 IncompleteSignature; JSON services (CloudTrail, KMS) answer
400 UnrecognizedClientException / InvalidSignatureException; EC2 answers 401 AuthFailure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from rampart_testlib import (
    FORM_CONTENT_TYPE,
    Creds,
    assert_aws_error,
    frozen_signing_time,
    presigned_get,
    raises_aws,
    send_signed,
    sign,
    ua_marker,
    uniq,
    utcnow,
    wait_for_events,
    xml_texts,
)

STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"
IAM_LIST_BODY = "Action=ListUsers&Version=2010-05-08"
SIG_MISMATCH_PREFIX = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
INVALID_TOKEN_MSG = "The security token included in the request is invalid."
TS = r"\d{8}T\d{6}Z"


@pytest.fixture(scope="module")
def user_creds(rampart):
    iam = rampart.client("iam")
    name = uniq("sigv4user")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return name, Creds(k["AccessKeyId"], k["SecretAccessKey"], rampart.account_id)


def bogus_creds() -> Creds:
    return Creds("AKIA" + "Q" * 16, "s" * 40)


def sts_raw(rampart, creds, **kw):
    return send_signed("POST", rampart.url("/"), "sts", creds, data=STS_BODY,
                       headers={"Content-Type": FORM_CONTENT_TYPE}, **kw)


# ---------------------------------------------------------------- good signatures

def test_raw_signed_request_accepted(rampart):
    r = sts_raw(rampart, rampart.creds)
    assert r.status_code == 200, r.text
    assert xml_texts(r.content, "Arn") == [rampart.root_arn]
    assert xml_texts(r.content, "RequestId")[0]


def test_get_query_request_with_authorization_header(rampart):
    url = rampart.url("/?" + IAM_LIST_BODY)
    r = send_signed("GET", url, "iam", rampart.creds)
    assert r.status_code == 200, r.text
    assert xml_texts(r.content, "IsTruncated")


def test_user_key_accepted(rampart, user_creds):
    name, creds = user_creds
    ident = rampart.client("sts", creds).get_caller_identity()
    assert ident["Arn"] == rampart.user_arn(name)


@pytest.mark.parametrize("minutes", [-4, 4])
def test_small_clock_skew_tolerated(rampart, minutes):
    with frozen_signing_time(utcnow() + dt.timedelta(minutes=minutes)):
        assert rampart.client("sts").get_caller_identity()["Account"] == rampart.account_id
        assert "Users" in rampart.client("iam").list_users(MaxItems=1)
        rampart.client("cloudtrail").lookup_events(MaxResults=1)


# ---------------------------------------------------------------- wrong / unknown credentials

@pytest.mark.parametrize("service", ["sts", "iam"])
def test_wrong_secret(rampart, service):
    client = rampart.client(service, rampart.creds.with_secret("W" * 40))
    with raises_aws("SignatureDoesNotMatch", 403) as e:
        client.get_caller_identity() if service == "sts" else client.list_users()
    assert e.message.startswith(SIG_MISMATCH_PREFIX), e.message


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_unknown_access_key(rampart, service):
    client = rampart.client(service, bogus_creds())
    with raises_aws("InvalidClientTokenId", 403) as e:
        client.get_caller_identity() if service == "sts" else client.list_users()
    assert e.message == INVALID_TOKEN_MSG


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_unsigned_request(rampart, service):
    client = rampart.unsigned_client(service)
    with raises_aws("MissingAuthenticationToken", 403) as e:
        client.get_caller_identity() if service == "sts" else client.list_users()
    assert e.message == "Request is missing Authentication Token"


def test_wrong_secret_for_user_key(rampart, user_creds):
    _, creds = user_creds
    with raises_aws("SignatureDoesNotMatch", 403):
        rampart.client("sts", creds.with_secret(rampart.creds.secret_access_key)).get_caller_identity()


def test_tampered_body(rampart):
    def mutate(u, h, b):
        return u, h, b.replace(b"GetCallerIdentity", b"GetCallerIdentitx")

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    assert_aws_error(r, "query", "SignatureDoesNotMatch", 403)


def test_tampered_signed_header(rampart):
    def mutate(u, h, b):
        h = dict(h)
        d = dt.datetime.strptime(h["X-Amz-Date"], "%Y%m%dT%H%M%SZ") + dt.timedelta(seconds=1)
        h["X-Amz-Date"] = d.strftime("%Y%m%dT%H%M%SZ")
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    assert_aws_error(r, "query", "SignatureDoesNotMatch", 403)


def test_signature_for_other_body_rejected_on_iam(rampart):
    # signed as ListUsers, sent as CreateUser: must not create anything
    name = uniq("smuggled")

    def mutate(u, h, b):
        return u, h, f"Action=CreateUser&Version=2010-05-08&UserName={name}".encode()

    r = send_signed("POST", rampart.url("/"), "iam", rampart.creds, data=IAM_LIST_BODY,
                    headers={"Content-Type": FORM_CONTENT_TYPE}, mutate=mutate)
    assert_aws_error(r, "query", "SignatureDoesNotMatch", 403)
    with raises_aws("NoSuchEntity", 404):
        rampart.client("iam").get_user(UserName=name)


# ---------------------------------------------------------------- malformed Authorization header

def test_authorization_missing_signature_and_signed_headers(rampart):
    def mutate(u, h, b):
        h = dict(h)
        cred = re.search(r"Credential=([^,]+)", h["Authorization"]).group(1)
        h["Authorization"] = f"AWS4-HMAC-SHA256 Credential={cred}"
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    pe = assert_aws_error(r, "query", "IncompleteSignature", 400)
    assert "Authorization header requires 'Signature' parameter." in pe.message
    assert "Authorization header requires 'SignedHeaders' parameter." in pe.message


@pytest.mark.parametrize(
    "value",
    [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "Basic dXNlcjpwYXNz",
    ],
    ids=["garbage", "bare-algorithm", "empty-values", "basic"],
)
def test_malformed_authorization_header(rampart, value):
    def mutate(u, h, b):
        h = dict(h)
        h["Authorization"] = value
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    assert_aws_error(r, "query", "IncompleteSignature", 400)
    rampart.assert_healthy()


def test_authorization_without_date_header(rampart):
    def mutate(u, h, b):
        h = dict(h)
        h.pop("X-Amz-Date")
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    pe = assert_aws_error(r, "query", "IncompleteSignature", 400)
    assert "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header." in pe.message


def test_unsupported_signing_algorithm(rampart):
    def mutate(u, h, b):
        h = dict(h)
        h["Authorization"] = h["Authorization"].replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1)
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    assert_aws_error(r, "query")  # refused with a well-formed 4xx; exact code unconfirmed


def test_malformed_credential_scope(rampart):
    def mutate(u, h, b):
        h = dict(h)
        h["Authorization"] = re.sub(r"Credential=[^,]+", f"Credential={rampart.creds.access_key_id}/nonsense",
                                    h["Authorization"])
        return u, h, b

    r = sts_raw(rampart, rampart.creds, mutate=mutate)
    assert_aws_error(r, "query")


# ---------------------------------------------------------------- clock skew

def test_sts_request_signed_20_minutes_ago(rampart):
    with frozen_signing_time(utcnow() - dt.timedelta(minutes=20)):
        with raises_aws("SignatureDoesNotMatch", 403) as e:
            rampart.client("sts").get_caller_identity()
    assert re.fullmatch(rf"Signature expired: {TS} is now earlier than {TS} \({TS} - 15 min\.\)",
                        e.message), e.message


def test_sts_request_signed_20_minutes_ahead(rampart):
    with frozen_signing_time(utcnow() + dt.timedelta(minutes=20)):
        with raises_aws("SignatureDoesNotMatch", 403) as e:
            rampart.client("sts").get_caller_identity()
    assert re.fullmatch(rf"Signature not yet current: {TS} is still later than {TS} \({TS} \+ 15 min\.\)",
                        e.message), e.message


def test_iam_request_signed_20_minutes_ago(rampart):
    with frozen_signing_time(utcnow() - dt.timedelta(minutes=20)):
        with raises_aws("SignatureDoesNotMatch", 403):
            rampart.client("iam").list_users()


def test_cloudtrail_request_signed_20_minutes_ago(rampart):
    with frozen_signing_time(utcnow() - dt.timedelta(minutes=20)):
        with raises_aws("InvalidSignatureException", 400) as e:
            rampart.client("cloudtrail").lookup_events(MaxResults=1)
    assert e.message.startswith("Signature expired: "), e.message


# ---------------------------------------------------------------- presigned URLs (query auth)

def test_presigned_get_caller_identity(rampart, user_creds):
    name, creds = user_creds
    url = presigned_get(rampart.client("sts", creds), "get_caller_identity", expires=900)
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and "X-Amz-Signature" in q
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert xml_texts(r.content, "Arn") == [rampart.user_arn(name)]


def test_presigned_iam_list_users(rampart):
    url = presigned_get(rampart.client("iam"), "list_users", {"MaxItems": 5}, expires=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert xml_texts(r.content, "IsTruncated")


def test_presigned_url_expired(rampart):
    with frozen_signing_time(utcnow() - dt.timedelta(minutes=30)):
        url = presigned_get(rampart.client("sts"), "get_caller_identity", expires=60)
    r = requests.get(url, timeout=30)
    # AWS: STS answers SignatureDoesNotMatch 403 "Signature expired: ..." for stale query auth
    assert_aws_error(r, "query", {"SignatureDoesNotMatch", "RequestExpired", "ExpiredToken"}, {400, 403})


def test_presigned_url_tampered_signature(rampart):
    url = presigned_get(rampart.client("sts"), "get_caller_identity", expires=300)
    parts = urlsplit(url)
    q = parse_qsl(parts.query, keep_blank_values=True)
    q = [(k, (v[:-1] + ("0" if v[-1] != "0" else "1")) if k == "X-Amz-Signature" else v) for k, v in q]
    bad = urlunsplit(parts._replace(query=urlencode(q)))
    r = requests.get(bad, timeout=30)
    assert_aws_error(r, "query", "SignatureDoesNotMatch", 403)


def test_presigned_url_tampered_parameter(rampart):
    url = presigned_get(rampart.client("iam"), "list_users", {"MaxItems": 5}, expires=300)
    r = requests.get(url.replace("MaxItems=5", "MaxItems=6"), timeout=30)
    assert_aws_error(r, "query", "SignatureDoesNotMatch", 403)


def test_presigned_url_unknown_key(rampart):
    url = presigned_get(rampart.client("sts", bogus_creds()), "get_caller_identity", expires=300)
    r = requests.get(url, timeout=30)
    assert_aws_error(r, "query", "InvalidClientTokenId", 403)


# ---------------------------------------------------------------- JSON services and EC2

@pytest.mark.parametrize("service", ["cloudtrail", "kms"])
def test_json_service_unknown_key(rampart, service):
    client = rampart.client(service, bogus_creds())
    with raises_aws("UnrecognizedClientException", 400) as e:
        client.lookup_events(MaxResults=1) if service == "cloudtrail" else client.list_keys()
    assert e.message == INVALID_TOKEN_MSG


@pytest.mark.parametrize("service", ["cloudtrail", "kms"])
def test_json_service_wrong_secret(rampart, service):
    client = rampart.client(service, rampart.creds.with_secret("W" * 40))
    with raises_aws("InvalidSignatureException", 400) as e:
        client.lookup_events(MaxResults=1) if service == "cloudtrail" else client.list_keys()
    assert e.message.startswith(SIG_MISMATCH_PREFIX), e.message


def test_json_service_unsigned(rampart):
    with raises_aws("MissingAuthenticationTokenException", {400, 403}):
        rampart.unsigned_client("cloudtrail").lookup_events(MaxResults=1)


def test_ec2_unknown_key(rampart):
    with raises_aws("AuthFailure", 401):
        rampart.client("ec2", bogus_creds()).describe_regions()


def test_ec2_wrong_secret(rampart):
    with raises_aws("AuthFailure", 401):
        rampart.client("ec2", rampart.creds.with_secret("W" * 40)).describe_regions()


# ---------------------------------------------------------------- credential scope region

def test_iam_signed_for_another_region(rampart):
    # IAM is global and AWS wants us-east-1 in the scope ("Credential should be
    # scoped to a valid region"). The SDKs sign IAM with the client's region
    # when an endpoint URL is set, so Rampart accepts any region (a documented
    # difference), verifies the signature with it, and records us-east-1.
    marker = ua_marker()
    rampart.client("iam", region="us-west-2", user_agent_extra=marker).list_users()
    with raises_aws("SignatureDoesNotMatch", 403):
        rampart.client("iam", rampart.creds.with_secret("W" * 40), region="us-west-2").list_users()
    events = wait_for_events(rampart.client("cloudtrail"), lambda e, r: marker in r.get("userAgent", ""))
    assert json.loads(events[0]["CloudTrailEvent"])["awsRegion"] == "us-east-1"


def test_sts_regional_signing_accepted(rampart):
    # regional STS endpoints are real: the region comes from the credential scope
    ident = rampart.client("sts", region="eu-west-1").get_caller_identity()
    assert ident["Arn"] == rampart.root_arn


# ---------------------------------------------------------------- key lifecycle

def test_inactive_key_refused_everywhere(rampart):
    iam = rampart.client("iam")
    name = uniq("inactive")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    rampart.client("sts", creds).get_caller_identity()
    iam.update_access_key(UserName=name, AccessKeyId=k["AccessKeyId"], Status="Inactive")
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", creds).get_caller_identity()
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("iam", creds).list_users()
    with raises_aws("UnrecognizedClientException", 400):
        rampart.client("cloudtrail", creds).lookup_events(MaxResults=1)
    url = presigned_get(rampart.client("sts", creds), "get_caller_identity", expires=300)
    assert_aws_error(requests.get(url, timeout=30), "query", "InvalidClientTokenId", 403)
    iam.update_access_key(UserName=name, AccessKeyId=k["AccessKeyId"], Status="Active")
    assert rampart.client("sts", creds).get_caller_identity()["Arn"] == rampart.user_arn(name)


def test_deleted_key_and_user_refused(rampart):
    iam = rampart.client("iam")
    name = uniq("gone")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Creds(k["AccessKeyId"], k["SecretAccessKey"])
    rampart.client("sts", creds).get_caller_identity()
    iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName=name)
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", creds).get_caller_identity()
    # a new user with the same name does not resurrect the old key
    iam.create_user(UserName=name)
    with raises_aws("InvalidClientTokenId", 403):
        rampart.client("sts", creds).get_caller_identity()


def test_server_still_healthy(rampart):
    rampart.assert_healthy()
    # a raw signed call with no content-type header at all still gets a well-formed answer
    u, h, b = sign("POST", rampart.url("/"), "sts", rampart.creds, data=STS_BODY)
    h.pop("Content-Type", None)
    r = requests.post(u, headers=h, data=b, timeout=30)
    assert r.status_code < 500
