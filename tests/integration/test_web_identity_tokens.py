"""Outbound web identity federation: GetWebIdentityToken signs a JWT naming
the caller with the account issuer's key (RS256 or ES384); the issuer's JWK
set is published at /.well-known/jwks.json for the issuer's host, and the
token verifies against it with an independent implementation (cryptography).
"""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from rampart_testlib import Creds, new_user, raises_aws, uniq, wait_for_events

AUDIENCE = "https://api.example.com"


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwks_of(server, issuer: str) -> dict:
    host = issuer.removeprefix("https://")
    resp = requests.get(server.url("/.well-known/jwks.json"), headers={"Host": host}, verify=server.verify, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def verify(token: str, jwks: dict) -> tuple[dict, dict]:
    """Checks the token's signature against the JWK set; returns header and claims."""
    head, body, sig = token.split(".")
    header = json.loads(b64decode(head))
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert key["alg"] == header["alg"] and key["use"] == "sig"
    signed = f"{head}.{body}".encode()
    signature = b64decode(sig)
    if header["alg"] == "RS256":
        public = rsa.RSAPublicNumbers(int.from_bytes(b64decode(key["e"]), "big"),
                                      int.from_bytes(b64decode(key["n"]), "big")).public_key()
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert header["alg"] == "ES384" and key["crv"] == "P-384" and len(signature) == 96
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(b64decode(key["x"]), "big"),
                                               int.from_bytes(b64decode(key["y"]), "big"),
                                               ec.SECP384R1()).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
        public.verify(der, signed, ec.ECDSA(hashes.SHA384()))
    return header, json.loads(b64decode(body))


@pytest.fixture
def enabled(fresh_rampart):
    issuer = fresh_rampart.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    return fresh_rampart, issuer


def token_user(server, condition: dict | None = None, actions: tuple[str, ...] = (
        "sts:GetWebIdentityToken", "sts:TagGetWebIdentityToken")) -> dict:
    user = new_user(server, "vend")
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    server.client("iam").put_user_policy(UserName=user["name"], PolicyName="vend", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]}))
    return user


def test_disabled_feature_is_refused(fresh_rampart):
    with raises_aws("OutboundWebIdentityFederationDisabledException", 403):
        fresh_rampart.client("sts").get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_a_token_verifies_against_the_published_keys(enabled, alg):
    server, issuer = enabled
    iam = server.client("iam")
    user = token_user(server)
    iam.tag_user(UserName=user["name"], Tags=[{"Key": "team", "Value": "data"}])
    sts = server.client("sts", user["creds"])
    before = int(time.time())
    out = sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm=alg,
                                     Tags=[{"Key": "job", "Value": "nightly"}])
    header, claims = verify(out["WebIdentityToken"], jwks_of(server, issuer))
    assert header["typ"] == "JWT"
    assert claims["iss"] == issuer
    assert claims["sub"] == user["arn"]
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 300 and abs(claims["iat"] - before) <= 5
    assert int(out["Expiration"].timestamp()) == claims["exp"]
    assert claims["jti"]
    aws = claims["https://sts.amazonaws.com/"]
    assert aws["aws_account"] == server.account_id
    assert aws["source_region"] == "us-east-1"
    assert aws["principal_tags"] == {"team": "data"}
    assert aws["request_tags"] == {"job": "nightly"}


def test_the_discovery_document_names_the_issuer_and_its_keys(enabled):
    server, issuer = enabled
    host = issuer.removeprefix("https://")
    resp = requests.get(server.url("/.well-known/openid-configuration"), headers={"Host": host},
                        verify=server.verify, timeout=10)
    doc = resp.json()
    assert doc["issuer"] == issuer and doc["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert sorted(doc["id_token_signing_alg_values_supported"]) == ["ES384", "RS256"]
    assert sorted(k["alg"] for k in jwks_of(server, issuer)["keys"]) == ["ES384", "RS256"]
    # No private half is published.
    assert all("d" not in k and "p" not in k for k in jwks_of(server, issuer)["keys"])
    # Another host names no issuer.
    other = requests.get(server.url("/.well-known/jwks.json"),
                         headers={"Host": "00000000-0000-0000-0000-000000000000.tokens.sts.global.api.aws"},
                         verify=server.verify, timeout=10)
    assert other.status_code != 200


def test_a_role_session_is_named_by_its_role_and_cannot_outlive_itself(enabled):
    server, _ = enabled
    iam = server.client("iam")
    user = new_user(server, "assumer")
    name = uniq("vending")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user["arn"]}, "Action": "sts:AssumeRole"}]}))["Role"]
    iam.put_role_policy(RoleName=name, PolicyName="vend", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*"}]}))
    iam.put_user_policy(UserName=user["name"], PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    session = server.client("sts", user["creds"]).assume_role(RoleArn=role["Arn"], RoleSessionName="job",
                                                              DurationSeconds=900)
    sts = server.client("sts", Creds.from_sts(session["Credentials"], server.account_id))
    token = sts.get_web_identity_token(Audience=[AUDIENCE, "other"], SigningAlgorithm="ES384")["WebIdentityToken"]
    claims = json.loads(b64decode(token.split(".")[1]))
    assert claims["sub"] == role["Arn"]
    assert claims["aud"] == [AUDIENCE, "other"]
    with raises_aws("SessionDurationEscalationException", 403):
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="ES384", DurationSeconds=3600)


def test_policies_decide_on_audience_and_duration(enabled):
    server, _ = enabled
    user = token_user(server, {"ForAllValues:StringEquals": {"sts:IdentityTokenAudience": AUDIENCE},
                               "NumericLessThanEquals": {"sts:DurationSeconds": "600"}})
    sts = server.client("sts", user["creds"])
    sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256", DurationSeconds=600)
    with raises_aws("AccessDenied", 403):
        sts.get_web_identity_token(Audience=[AUDIENCE, "https://evil.example"], SigningAlgorithm="RS256",
                                   DurationSeconds=600)
    with raises_aws("AccessDenied", 403):
        sts.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256", DurationSeconds=900)
    # Request tags need sts:TagGetWebIdentityToken as well.
    untagged = server.client("sts", token_user(server, actions=("sts:GetWebIdentityToken",))["creds"])
    untagged.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    with raises_aws("AccessDenied", 403) as e:
        untagged.get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256",
                                        Tags=[{"Key": "job", "Value": "x"}])
    assert "sts:TagGetWebIdentityToken" in e.message
    nobody = new_user(server, "nobody")
    with raises_aws("AccessDenied", 403):
        server.client("sts", nobody["creds"]).get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")


@pytest.mark.parametrize("args,code", [
    ({"Audience": [AUDIENCE], "SigningAlgorithm": "HS256"}, "ValidationError"),
    ({"Audience": [AUDIENCE], "SigningAlgorithm": "RS256", "DurationSeconds": 59}, "ValidationError"),
    ({"Audience": [AUDIENCE], "SigningAlgorithm": "RS256", "DurationSeconds": 3601}, "ValidationError"),
    ({"Audience": [], "SigningAlgorithm": "RS256"}, "ValidationError"),
])
def test_bad_input_is_refused(enabled, args, code):
    server, _ = enabled
    with raises_aws(code, 400):
        server.client("sts", parameter_validation=False).get_web_identity_token(**args)


def test_the_token_is_never_recorded_and_cannot_federate_back(enabled):
    server, issuer = enabled
    user = token_user(server)
    out = server.client("sts", user["creds"]).get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    token = out["WebIdentityToken"]
    events = wait_for_events(server.client("cloudtrail"), lambda e, r: r.get("eventName") == "GetWebIdentityToken"
                             and r["userIdentity"].get("arn") == user["arn"])
    text = json.dumps(json.loads(events[0]["CloudTrailEvent"]))
    assert token.split(".")[2] not in text
    assert token not in server.log_text()
    # AWS: these tokens are not for AssumeRoleWithWebIdentity.
    with raises_aws("InvalidIdentityToken", 400):
        server.unsigned_client("sts").assume_role_with_web_identity(
            RoleArn=f"arn:aws:iam::{server.account_id}:role/any", RoleSessionName="back", WebIdentityToken=token)


def test_disabling_withdraws_the_keys(enabled):
    server, issuer = enabled
    iam = server.client("iam")
    iam.disable_outbound_web_identity_federation()
    resp = requests.get(server.url("/.well-known/jwks.json"), headers={"Host": issuer.removeprefix("https://")},
                        verify=server.verify, timeout=10)
    assert resp.status_code != 200
    with raises_aws("OutboundWebIdentityFederationDisabledException", 403):
        server.client("sts").get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="RS256")
    # Enabling again publishes new keys under the same issuer.
    assert iam.enable_outbound_web_identity_federation()["IssuerIdentifier"] == issuer
    out = server.client("sts").get_web_identity_token(Audience=[AUDIENCE], SigningAlgorithm="ES384")
    verify(out["WebIdentityToken"], jwks_of(server, issuer))
