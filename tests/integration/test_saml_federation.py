"""AssumeRoleWithSAML with responses an identity provider signs.

The tests play the identity provider: a signing certificate published in
the SAML provider's metadata, and responses signed with signxml (lxml and
libxml2's canonicalization, independent of Rampart's). Rampart must verify
the signature against the metadata's certificate only, the issuer, the
recipient, the audience and the validity window, and the Role attribute;
then the role's trust policy decides on the `saml:*` keys.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

from rampart_testlib import Creds, raises_aws, uniq, wait_for_events

ENTITY_ID = "https://idp.example.test/saml"
SIGN_IN = "https://signin.aws.amazon.com/saml"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


def self_signed():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


class IdentityProvider:
    def __init__(self):
        self.key, self.cert, self.der = self_signed()

    def metadata(self) -> str:
        cert = base64.b64encode(self.der).decode()
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def assertion_xml(self, role_arn, provider_arn, *, subject="alice", issuer=ENTITY_ID, recipient=SIGN_IN,
                      audience=SIGN_IN, lifetime=300, session_name="alice-session", roles=None,
                      assertion_id=None, extra_attributes="", session_ends_in=None) -> str:
        now = dt.datetime.now(dt.timezone.utc)
        stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        until = stamp(now + dt.timedelta(seconds=lifetime))
        roles = roles if roles is not None else [f"{role_arn},{provider_arn}"]
        role_values = "".join(f"<saml:AttributeValue>{r}</saml:AttributeValue>" for r in roles)
        authn = "" if session_ends_in is None else (
            f'<saml:AuthnStatement AuthnInstant="{stamp(now)}" '
            f'SessionNotOnOrAfter="{stamp(now + dt.timedelta(seconds=session_ends_in))}"><saml:AuthnContext>'
            "<saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            "</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>")
        return f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{assertion_id or '_' + uuid.uuid4().hex}" IssueInstant="{stamp(now)}" Version="2.0">
  <saml:Issuer>{issuer}</saml:Issuer>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{subject}</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{recipient}"/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotBefore="{stamp(now - dt.timedelta(seconds=60))}" NotOnOrAfter="{until}">
    <saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  {authn}
  <saml:AttributeStatement>
    <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">{role_values}</saml:Attribute>
    <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>{session_name}</saml:AttributeValue></saml:Attribute>
    {extra_attributes}
  </saml:AttributeStatement>
</saml:Assertion>"""

    def sign(self, element, reference_id, key=None, cert=None):
        signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256",
                           digest_algorithm="sha256", c14n_algorithm=EXC_C14N)
        return signer.sign(element, key=key or self.key, cert=cert or self.cert, reference_uri=reference_id)

    def response(self, role_arn, provider_arn, *, sign="assertion", key=None, tamper=None, **kw) -> str:
        assertion = etree.fromstring(self.assertion_xml(role_arn, provider_arn, **kw).encode())
        if sign == "assertion":
            assertion = self.sign(assertion, assertion.get("ID"), key=key)
        if tamper:
            tamper(assertion)
        response_id = "_" + uuid.uuid4().hex
        response = etree.fromstring(f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" Destination="{SIGN_IN}">
  <saml:Issuer>{ENTITY_ID}</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
</samlp:Response>""".encode())
        response.append(assertion)
        if sign == "response":
            response = self.sign(response, response_id, key=key)
        return base64.b64encode(etree.tostring(response)).decode()


@pytest.fixture(scope="module")
def idp():
    return IdentityProvider()


@pytest.fixture(scope="module")
def provider(rampart, idp):
    iam = rampart.client("iam")
    name = uniq("idp")
    arn = iam.create_saml_provider(Name=name, SAMLMetadataDocument=idp.metadata())["SAMLProviderArn"]
    return arn, name


@pytest.fixture(scope="module")
def role_arn(rampart, provider):
    iam = rampart.client("iam")
    name = uniq("saml")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider[0]}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": SIGN_IN, "saml:sub": "alice"}},
    }]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="list-roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
    return arn


def assume(rampart, role_arn, provider_arn, assertion, **kw):
    return rampart.unsigned_client("sts").assume_role_with_saml(
        RoleArn=role_arn, PrincipalArn=provider_arn, SAMLAssertion=assertion, **kw)


@pytest.mark.parametrize("sign", ["assertion", "response"])
def test_a_signed_response_assumes_the_role(rampart, idp, provider, role_arn, sign):
    out = assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], sign=sign))
    assert out["Subject"] == "alice"
    assert out["SubjectType"] == "persistent"
    assert out["Issuer"] == ENTITY_ID
    assert out["Audience"] == SIGN_IN
    qualifier = base64.b64encode(hashlib.sha1(
        f"{ENTITY_ID}{rampart.account_id}/{provider[1]}".encode()).digest()).decode()
    assert out["NameQualifier"] == qualifier
    role_name = role_arn.rsplit("/", 1)[1]
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{rampart.account_id}:assumed-role/{role_name}/alice-session"
    creds = Creds.from_sts(out["Credentials"], rampart.account_id)
    assert rampart.client("sts", creds).get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    rampart.client("iam", creds).list_roles(MaxItems=1)
    with raises_aws("AccessDenied", 403):
        rampart.client("iam", creds).list_users()


def test_the_aws_cli_assumes_the_role(rampart, idp, provider, role_arn):
    result = rampart.cli("sts", "assume-role-with-saml", "--role-arn", role_arn, "--principal-arn", provider[0],
                         "--saml-assertion", idp.response(role_arn, provider[0]), "--no-sign-request").check()
    assert result.json["Subject"] == "alice"


def other_key():
    return self_signed()[0]


def set_subject(value):
    def tamper(assertion):
        assertion.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID").text = value
    return tamper


@pytest.mark.parametrize("case, kw, code", [
    ("signed by another key", dict(key=other_key()), "InvalidIdentityToken"),
    ("response signed by another key", dict(sign="response", key=other_key()), "InvalidIdentityToken"),
    ("unsigned", dict(sign=None), "InvalidIdentityToken"),
    ("altered after signing", dict(tamper=set_subject("alice ")), "InvalidIdentityToken"),
    ("another issuer", dict(issuer="https://evil.example.test/saml"), "IDPRejectedClaim"),
    ("another recipient", dict(recipient="https://sp.example.test/acs"), "IDPRejectedClaim"),
    ("another audience", dict(audience="https://sp.example.test"), "IDPRejectedClaim"),
    ("expired", dict(lifetime=-30), "ExpiredTokenException"),
    ("the role not granted", dict(roles=[]), "AccessDenied"),
    ("no session name", dict(session_name=""), "InvalidIdentityToken"),
])
def test_bad_responses_are_refused(rampart, idp, provider, role_arn, case, kw, code):
    with raises_aws(code):
        assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], **kw))


def test_an_altered_signed_subject_is_refused_even_with_a_matching_trust_policy(rampart, idp, provider, role_arn):
    assertion = idp.response(role_arn, provider[0], subject="mallory", tamper=set_subject("alice"))
    with raises_aws("InvalidIdentityToken", 400):
        assume(rampart, role_arn, provider[0], assertion)


def test_the_trust_policy_decides_on_the_subject(rampart, idp, provider, role_arn):
    with raises_aws("AccessDenied", 403) as error:
        assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], subject="mallory"))
    assert error.message == "Not authorized to perform sts:AssumeRoleWithSAML"


def test_an_unknown_provider_is_refused(rampart, idp, provider, role_arn):
    ghost = f"arn:aws:iam::{rampart.account_id}:saml-provider/ghost"
    with raises_aws("InvalidIdentityToken", 400):
        assume(rampart, role_arn, ghost, idp.response(role_arn, ghost))


def test_signature_wrapping_is_refused(rampart, idp, provider, role_arn):
    """A genuine signed assertion for mallory, and a forged one for alice beside or around it."""
    genuine = etree.fromstring(base64.b64decode(idp.response(role_arn, provider[0], subject="mallory")))
    ns = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion"}
    signed = genuine.find("saml:Assertion", ns)
    forged_same_id = etree.fromstring(idp.assertion_xml(role_arn, provider[0], assertion_id=signed.get("ID")).encode())
    forged = etree.fromstring(idp.assertion_xml(role_arn, provider[0]).encode())
    # 1. A second assertion beside the signed one.
    beside = etree.fromstring(etree.tostring(genuine))
    beside.insert(2, etree.fromstring(etree.tostring(forged)))
    # 2. The forged assertion carries the signed one's ID, and the signed one is hidden inside it.
    hidden = etree.fromstring(etree.tostring(genuine))
    original = hidden.find("saml:Assertion", ns)
    hidden.remove(original)
    wrapper = etree.fromstring(etree.tostring(forged_same_id))
    wrapper.append(original)
    hidden.append(wrapper)
    # 3. The forged assertion alone, with the genuine signature moved into it.
    moved = etree.fromstring(etree.tostring(genuine))
    original = moved.find("saml:Assertion", ns)
    signature = original.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    moved.remove(original)
    forged_copy = etree.fromstring(etree.tostring(forged_same_id))
    forged_copy.append(signature)
    moved.append(forged_copy)
    for document in (beside, hidden, moved):
        with raises_aws(["InvalidIdentityToken", "AccessDenied"]):
            assume(rampart, role_arn, provider[0], base64.b64encode(etree.tostring(document)).decode())


def test_the_trail_names_the_saml_user_without_the_assertion(rampart, idp, provider, role_arn):
    assertion = idp.response(role_arn, provider[0], session_name="trail-saml")
    out = assume(rampart, role_arn, provider[0], assertion)
    ct = rampart.client("cloudtrail")
    events = wait_for_events(
        ct, lambda e, r: r.get("eventName") == "AssumeRoleWithSAML"
        and ((r.get("responseElements") or {}).get("assumedRoleUser") or {}).get("arn", "").endswith("/trail-saml"))
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["userIdentity"]["type"] == "SAMLUser"
    assert record["userIdentity"]["userName"] == "alice"
    assert record["userIdentity"]["identityProvider"] == out["NameQualifier"]
    text = json.dumps(record)
    assert assertion[:200] not in text
    assert out["Credentials"]["SessionToken"] not in text


def test_a_large_assertion_is_read_in_full(rampart, idp, provider, role_arn):
    """Assertions of users in many groups pass 64 KB; the model allows 100,000 characters."""
    groups = "".join(f"<saml:AttributeValue>group-{i:05d}-{'x' * 40}</saml:AttributeValue>" for i in range(700))
    extra = f'<saml:Attribute Name="https://example.test/groups">{groups}</saml:Attribute>'
    assertion = idp.response(role_arn, provider[0], extra_attributes=extra)
    assert 70_000 < len(assertion) <= 100_000
    out = assume(rampart, role_arn, provider[0], assertion)
    assert out["Subject"] == "alice"


def test_principal_tags_and_source_identity_from_the_assertion(rampart, idp, provider):
    iam = rampart.client("iam")
    name = uniq("saml-tags")
    base = {"Effect": "Allow", "Principal": {"Federated": provider[0]}}
    trust = {"Version": "2012-10-17", "Statement": [dict(base, Action="sts:AssumeRoleWithSAML")]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="abac", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}]}))
    extra = ('<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/PrincipalTag:team">'
             '<saml:AttributeValue>blue</saml:AttributeValue></saml:Attribute>'
             '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SourceIdentity">'
             '<saml:AttributeValue>alice@example.test</saml:AttributeValue></saml:Attribute>')
    with raises_aws("AccessDenied", 403):
        assume(rampart, arn, provider[0], idp.response(arn, provider[0], extra_attributes=extra))
    trust["Statement"].append(dict(base, Action=["sts:TagSession", "sts:SetSourceIdentity"]))
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    out = assume(rampart, arn, provider[0], idp.response(arn, provider[0], extra_attributes=extra))
    assert out["SourceIdentity"] == "alice@example.test"
    creds = Creds.from_sts(out["Credentials"], rampart.account_id)
    rampart.client("iam", creds).list_roles(MaxItems=1)


def test_the_idp_session_limit_ends_the_role_session_sooner(rampart, idp, provider, role_arn):
    # SessionNotOnOrAfter 20 minutes away, DurationSeconds an hour: the session ends with the IdP's.
    before = dt.datetime.now(dt.timezone.utc)
    out = assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], session_ends_in=1200),
                 DurationSeconds=3600)
    left = (out["Credentials"]["Expiration"] - before).total_seconds()
    assert 1190 <= left <= 1205, left
    # A later limit leaves DurationSeconds in charge.
    out = assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], session_ends_in=7200),
                 DurationSeconds=900)
    left = (out["Credentials"]["Expiration"] - before).total_seconds()
    assert 890 <= left <= 905, left
    # A limit already past refuses the response, and so does one that is not a time.
    with raises_aws("ExpiredTokenException", 400):
        assume(rampart, role_arn, provider[0], idp.response(role_arn, provider[0], session_ends_in=-5))

    def unreadable_limit(assertion):
        for statement in assertion.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AuthnStatement"):
            statement.set("SessionNotOnOrAfter", "soon")
    with raises_aws("InvalidIdentityToken", 400):
        assume(rampart, role_arn, provider[0],
               idp.response(role_arn, provider[0], sign="response", session_ends_in=600, tamper=unreadable_limit))
