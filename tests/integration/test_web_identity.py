"""AssumeRoleWithWebIdentity against a local OpenID Connect issuer.

The tests start an HTTPS issuer (`issuer.test`, certificate from a test CA)
that publishes its discovery document and JWK set, and point Rampart at it
with `--provider-host`. Tokens are signed here with `cryptography` (RS256
and ES256). Rampart must fetch the keys over TLS trusting only the
registered thumbprint, verify the signature, issuer, audience, `exp` and
`nbf`, and then let the role's trust policy decide on the token's claims.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from rampart_testlib import Creds, raises_aws, uniq, wait_for_events

ISSUER_HOST = "issuer.test"
AUDIENCE = "rampart-tests"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class Issuer:
    """Signing keys, the JWK set that publishes them, and a TLS identity."""

    def __init__(self, workdir):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0
        self.broken = False
        now = dt.datetime.now(dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rampart test CA")])
        self.ca = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER_HOST)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(ISSUER_HOST)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.thumbprint = hashlib.sha1(self.ca.public_bytes(serialization.Encoding.DER)).hexdigest()
        self.cert_path = workdir / "issuer-chain.pem"
        self.key_path = workdir / "issuer-key.pem"
        self.cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM)
                                   + self.ca.public_bytes(serialization.Encoding.PEM))
        self.key_path.write_bytes(leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def jwks(self) -> dict:
        rsa_numbers = self.rsa.public_key().public_numbers()
        ec_numbers = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
             "n": b64url(int_bytes(rsa_numbers.n)), "e": b64url(int_bytes(rsa_numbers.e))},
            {"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256",
             "x": b64url(ec_numbers.x.to_bytes(32, "big")), "y": b64url(ec_numbers.y.to_bytes(32, "big"))},
        ]}

    def token(self, *, alg: str = "RS256", kid: str | None = None, key=None, lifetime: int = 300,
              **claims) -> str:
        now = int(time.time())
        body = {"iss": f"https://{ISSUER_HOST}", "aud": AUDIENCE, "sub": "alice",
                "iat": now, "exp": now + lifetime}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": alg, "typ": "JWT", "kid": kid or ("ec1" if alg == "ES256" else "rsa1")}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
        if alg == "RS256":
            signature = (key or self.rsa).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        elif alg == "ES256":
            der = (key or self.ec).sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = b""
        return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    state = Issuer(tmp_path_factory.mktemp("issuer"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": f"https://{ISSUER_HOST}", "jwks_uri": f"https://{ISSUER_HOST}/keys"}
            elif self.path == "/keys":
                state.fetches += 1
                if state.broken:
                    self.send_error(500)
                    return
                body = state.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(state.cert_path, state.key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(module_server_factory, issuer):
    return module_server_factory(
        name="federation", extra_args=["--provider-host", f"{ISSUER_HOST}=127.0.0.1:{issuer.port}"])


@pytest.fixture(scope="module")
def provider_arn(server, issuer):
    iam = server.client("iam")
    return iam.create_open_id_connect_provider(
        Url=f"https://{ISSUER_HOST}", ClientIDList=[AUDIENCE], ThumbprintList=[issuer.thumbprint],
    )["OpenIDConnectProviderArn"]


@pytest.fixture(scope="module")
def role_arn(server, provider_arn):
    iam = server.client("iam")
    name = uniq("web")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{ISSUER_HOST}:aud": AUDIENCE, f"{ISSUER_HOST}:sub": "alice"}},
    }]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="list-roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    return arn


def assume(server, role_arn, token, **kw):
    sts = server.unsigned_client("sts")
    return sts.assume_role_with_web_identity(
        RoleArn=role_arn, RoleSessionName=kw.pop("session", "web-session"), WebIdentityToken=token, **kw)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_token_signed_by_the_issuer_assumes_the_role(server, issuer, role_arn, alg):
    out = assume(server, role_arn, issuer.token(alg=alg))
    assert out["SubjectFromWebIdentityToken"] == "alice"
    assert out["Audience"] == AUDIENCE
    assert out["Provider"] == ISSUER_HOST
    role_name = role_arn.rsplit("/", 1)[1]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{server.account_id}:assumed-role/{role_name}/web-session"
    creds = Creds.from_sts(out["Credentials"], server.account_id)
    identity = server.client("sts", creds).get_caller_identity()
    assert identity["Arn"] == out["AssumedRoleUser"]["Arn"]
    # The role's policy applies to the session, and only it.
    server.client("iam", creds).list_roles(MaxItems=1)
    with raises_aws("AccessDenied", 403):
        server.client("iam", creds).list_users()


def test_the_aws_cli_assumes_the_role_without_credentials(server, issuer, role_arn):
    result = server.cli("sts", "assume-role-with-web-identity", "--role-arn", role_arn,
                        "--role-session-name", "cli", "--web-identity-token", issuer.token(),
                        "--no-sign-request").check()
    assert result.json["SubjectFromWebIdentityToken"] == "alice"


def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("case, make, code, message", [
    ("signed by another key", lambda i: i.token(key=other_rsa_key()), "InvalidIdentityToken", "signature"),
    ("signed by another EC key", lambda i: i.token(alg="ES256", key=ec.generate_private_key(ec.SECP256R1())),
     "InvalidIdentityToken", "signature"),
    ("the RSA key named for an EC token", lambda i: i.token(alg="ES256", kid="rsa1"),
     "InvalidIdentityToken", "signature"),
    ("a key id the issuer does not publish", lambda i: i.token(kid="nope"), "InvalidIdentityToken", "signature"),
    ("unsigned (alg none)", lambda i: i.token(alg="none"), "InvalidIdentityToken", "none"),
    ("the wrong audience", lambda i: i.token(aud="someone-else"), "InvalidIdentityToken",
     "Incorrect token audience"),
    ("no audience", lambda i: i.token(aud=None), "InvalidIdentityToken", "Incorrect token audience"),
    ("an issuer with no provider", lambda i: i.token(iss="https://elsewhere.test"), "InvalidIdentityToken",
     "No OpenIDConnect provider found in your account for https://elsewhere.test"),
    ("expired", lambda i: i.token(lifetime=-10), "ExpiredTokenException", "Token expired"),
    ("no expiry", lambda i: i.token(exp=None), "InvalidIdentityToken", "exp"),
    ("not yet valid", lambda i: i.token(nbf=int(time.time()) + 600), "InvalidIdentityToken", "not yet valid"),
    ("not a JWT", lambda i: "not-a-token", "InvalidIdentityToken", "JWT"),
    ("an issuer that is not an https URL", lambda i: i.token(iss=ISSUER_HOST), "InvalidIdentityToken",
     f"No OpenIDConnect provider found in your account for {ISSUER_HOST}"),
])
def test_bad_tokens_are_refused(server, issuer, role_arn, case, make, code, message):
    with raises_aws(code, 400) as error:
        assume(server, role_arn, make(issuer))
    assert message in error.message, case


def test_a_tampered_payload_is_refused(server, issuer, role_arn):
    header, payload, signature = issuer.token(sub="mallory").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "alice"
    forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    with raises_aws("InvalidIdentityToken", 400):
        assume(server, role_arn, forged)


def test_the_trust_policy_decides_on_the_claims(server, issuer, role_arn):
    with raises_aws("AccessDenied", 403) as error:
        assume(server, role_arn, issuer.token(sub="mallory"))
    assert error.message == "Not authorized to perform sts:AssumeRoleWithWebIdentity"


def test_a_role_that_trusts_only_aws_principals_is_refused(server, issuer, provider_arn):
    iam = server.client("iam")
    name = uniq("aws-trust")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with raises_aws("AccessDenied", 403):
        assume(server, arn, issuer.token())


def test_session_policies_and_duration_limit_the_session(server, issuer, role_arn):
    deny_all = json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    out = assume(server, role_arn, issuer.token(), Policy=deny_all, DurationSeconds=900)
    assert out["PackedPolicySize"] >= 0
    expiry = out["Credentials"]["Expiration"]
    assert (expiry - dt.datetime.now(dt.timezone.utc)).total_seconds() <= 905
    creds = Creds.from_sts(out["Credentials"], server.account_id)
    with raises_aws("AccessDenied", 403):
        server.client("iam", creds).list_roles(MaxItems=1)
    with raises_aws("ValidationError", 400):
        assume(server, role_arn, issuer.token(), DurationSeconds=7200)


def test_keys_are_fetched_only_over_a_pinned_certificate(server, issuer, provider_arn, role_arn):
    iam = server.client("iam")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider_arn,
                                                   ThumbprintList=["0" * 40])
    try:
        with raises_aws("IDPCommunicationError", 400):
            assume(server, role_arn, issuer.token())
    finally:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider_arn,
                                                       ThumbprintList=[issuer.thumbprint])
    assume(server, role_arn, issuer.token())


def test_keys_are_cached_between_calls(server, issuer, role_arn):
    assume(server, role_arn, issuer.token())
    before = issuer.fetches
    for _ in range(3):
        assume(server, role_arn, issuer.token())
    # Unknown key ids refetch at most once per 30 s.
    for _ in range(3):
        with raises_aws("InvalidIdentityToken", 400):
            assume(server, role_arn, issuer.token(kid="unknown"))
    assert issuer.fetches - before <= 1


def test_the_trail_names_the_web_identity_and_the_session_it_became(server, issuer, role_arn):
    token = issuer.token()
    out = assume(server, role_arn, token, session=uniq("trail"))
    creds = Creds.from_sts(out["Credentials"], server.account_id)
    server.client("iam", creds).list_roles(MaxItems=1)
    ct = server.client("cloudtrail")
    assumed = wait_for_events(
        ct, lambda e, r: r.get("eventName") == "AssumeRoleWithWebIdentity"
        and r.get("requestParameters", {}).get("roleSessionName") == out["AssumedRoleUser"]["Arn"].rsplit("/", 1)[1])
    record = json.loads(assumed[0]["CloudTrailEvent"])
    identity = record["userIdentity"]
    assert identity["type"] == "WebIdentityUser"
    assert identity["userName"] == "alice"
    assert identity["identityProvider"].endswith(f":oidc-provider/{ISSUER_HOST}")
    assert "accessKeyId" not in identity
    text = json.dumps(record)
    assert token not in text and token.split(".")[2] not in text
    assert out["Credentials"]["SecretAccessKey"] not in text
    assert out["Credentials"]["SessionToken"] not in text
    used = wait_for_events(
        ct, lambda e, r: r.get("eventName") == "ListRoles"
        and r["userIdentity"].get("accessKeyId") == out["Credentials"]["AccessKeyId"])
    session = json.loads(used[0]["CloudTrailEvent"])["userIdentity"]["sessionContext"]
    assert session["webIdFederationData"]["federatedProvider"].endswith(f":oidc-provider/{ISSUER_HOST}")


def test_refusals_are_recorded_without_the_token(server, issuer, role_arn):
    token = issuer.token(sub="mallory")
    with raises_aws("AccessDenied", 403):
        assume(server, role_arn, token, session="refused-mallory")
    ct = server.client("cloudtrail")
    events = wait_for_events(
        ct, lambda e, r: r.get("eventName") == "AssumeRoleWithWebIdentity"
        and r.get("requestParameters", {}).get("roleSessionName") == "refused-mallory")
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["errorCode"] == "AccessDenied"
    assert record["userIdentity"]["userName"] == "mallory"
    assert token.split(".")[2] not in json.dumps(record)


def test_session_tags_from_the_token_need_tag_session_and_reach_the_session(server, issuer, provider_arn):
    iam = server.client("iam")
    name = uniq("web-tags")
    base = {"Effect": "Allow", "Principal": {"Federated": provider_arn},
            "Condition": {"StringEquals": {f"{ISSUER_HOST}:aud": AUDIENCE}}}
    trust = {"Version": "2012-10-17", "Statement": [dict(base, Action="sts:AssumeRoleWithWebIdentity")]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    # Reading roles is allowed only to sessions tagged team=blue.
    iam.put_role_policy(RoleName=name, PolicyName="abac", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}]}))
    tagged = issuer.token(**{"https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"]},
                                                            "transitive_tag_keys": ["team"]}})
    # Without sts:TagSession in the trust policy, tags are refused.
    with raises_aws("AccessDenied", 403):
        assume(server, arn, tagged)
    trust["Statement"].append(dict(base, Action="sts:TagSession"))
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    out = assume(server, arn, tagged)
    creds = Creds.from_sts(out["Credentials"], server.account_id)
    server.client("iam", creds).list_roles(MaxItems=1)
    untagged = Creds.from_sts(assume(server, arn, issuer.token())["Credentials"], server.account_id)
    with raises_aws("AccessDenied", 403):
        server.client("iam", untagged).list_roles(MaxItems=1)
    bad = issuer.token(**{"https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"]},
                                                         "transitive_tag_keys": ["nope"]}})
    with raises_aws("InvalidIdentityToken", 400):
        assume(server, arn, bad)


def test_a_failed_fetch_is_not_retried_at_once(server, issuer, provider_arn, role_arn):
    """An unsigned caller cannot make Rampart hammer a failing identity provider."""
    iam = server.client("iam")
    # Another thumbprint list: keys not yet fetched under it.
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider_arn,
                                                   ThumbprintList=[issuer.thumbprint, "1" * 40])
    issuer.broken = True
    try:
        before = issuer.fetches
        for _ in range(3):
            with raises_aws("IDPCommunicationError", 400):
                assume(server, role_arn, issuer.token())
        assert issuer.fetches - before == 1
        issuer.broken = False
        with raises_aws("IDPCommunicationError", 400):
            assume(server, role_arn, issuer.token())
    finally:
        issuer.broken = False
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=provider_arn,
                                                       ThumbprintList=[issuer.thumbprint])
    assume(server, role_arn, issuer.token())


def test_a_provider_created_without_thumbprints_gets_its_ca_thumbprint(server_factory, issuer):
    # As on AWS: IAM reads the top intermediate CA's thumbprint of the chain the issuer presents.
    srv = server_factory(name="no-thumbprint",
                         extra_args=["--provider-host", f"{ISSUER_HOST}=127.0.0.1:{issuer.port}"])
    iam = srv.client("iam")
    arn = iam.create_open_id_connect_provider(Url=f"https://{ISSUER_HOST}", ClientIDList=[AUDIENCE])[
        "OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [issuer.thumbprint]
    name = uniq("pinned")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    assert assume(srv, role, issuer.token())["SubjectFromWebIdentityToken"] == "alice"
    # An unreachable host leaves the list empty, and its tokens cannot be verified.
    other = iam.create_open_id_connect_provider(Url="https://unreachable.invalid", ClientIDList=[AUDIENCE])[
        "OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=other)["ThumbprintList"] == []
    # The node's own network is not probed unless --provider-host names it: the caller reads the answer back.
    local = iam.create_open_id_connect_provider(Url="https://localhost", ClientIDList=[AUDIENCE])[
        "OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=local)["ThumbprintList"] == []
