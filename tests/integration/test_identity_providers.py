"""OpenID Connect and SAML identity providers: AWS's validation, ARNs,
errors and tags; SAML metadata parsed (the identity provider's certificate
must be in it) rather than stored blindly."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from rampart_testlib import raises_aws, uniq

THUMB = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


def idp_certificate() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def metadata(cert_der: bytes, valid_until: str = "2031-01-01T00:00:00Z") -> str:
    b64 = base64.b64encode(cert_der).decode()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/metadata" validUntil="{valid_until}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


def test_oidc_provider_lifecycle(rampart):
    iam = rampart.client("iam")
    host = f"{uniq('issuer')}.example.com"
    url = f"https://{host}/tenant"
    arn = iam.create_open_id_connect_provider(
        Url=url, ClientIDList=["sts.amazonaws.com", "app", "app"], ThumbprintList=[THUMB],
        Tags=[{"Key": "team", "Value": "id"}])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{rampart.account_id}:oidc-provider/{host}/tenant"
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == f"{host}/tenant"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app"] and got["ThumbprintList"] == [THUMB]
    assert got["Tags"] == [{"Key": "team", "Value": "id"}]
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    with raises_aws("EntityAlreadyExists", 409) as e:
        iam.create_open_id_connect_provider(Url=url, ThumbprintList=[THUMB])
    assert e.message == f"Provider with url {url} already exists."

    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="second")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="app")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == [
        "sts.amazonaws.com", "second"]
    other = "0" * 40
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[other, THUMB])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [other, THUMB]
    with raises_aws("InvalidInput", 400) as e:
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[THUMB] * 6)
    assert e.message == "Thumbprint list must contain fewer than 5 entries."
    with raises_aws("InvalidInput", 400):
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=["z" * 40])

    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["team"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}]

    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert e.message == f"OpenIDConnect Provider not found for arn {arn}"
    # Idempotent, as AWS documents it: a second delete succeeds.
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert arn not in [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]


@pytest.mark.parametrize("url", ["http://plain.example.com", "plain.example.com", "https://example.com:8443",
                                 "https://example.com/?q=1", "https://"])
def test_oidc_provider_url_must_be_https_without_port_or_query(rampart, url):
    with raises_aws("ValidationError", 400) as e:
        rampart.client("iam").create_open_id_connect_provider(Url=url, ThumbprintList=[THUMB])
    assert e.message == "Invalid Open ID Connect Provider URL"


def test_saml_provider_lifecycle(rampart):
    iam = rampart.client("iam")
    name = uniq("corp-idp")
    document = metadata(idp_certificate())
    out = iam.create_saml_provider(Name=name, SAMLMetadataDocument=document, Tags=[{"Key": "k", "Value": "v"}])
    arn = out["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{rampart.account_id}:saml-provider/{name}"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == document
    assert got["ValidUntil"] == datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    assert got["Tags"] == [{"Key": "k", "Value": "v"}] and got["AssertionEncryptionMode"] == "Allowed"
    assert len(got["SAMLProviderUUID"]) >= 17
    listed = [p for p in iam.list_saml_providers()["SAMLProviderList"] if p["Arn"] == arn]
    assert listed and listed[0]["ValidUntil"] == got["ValidUntil"]
    with raises_aws("EntityAlreadyExists", 409):
        iam.create_saml_provider(Name=name, SAMLMetadataDocument=document)

    renewed = metadata(idp_certificate(), valid_until="2032-06-01T00:00:00Z")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=renewed)["SAMLProviderArn"] == arn
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ValidUntil"].year == 2032
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "z", "Value": "1"}])
    assert {t["Key"] for t in iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"]} == {"k", "z"}

    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Providers"] >= 1
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert e.message == f"Manifest not found for arn {arn}"


def test_saml_metadata_is_parsed(rampart):
    iam = rampart.client("iam")
    good = metadata(idp_certificate())
    bad_documents = [
        "x" * 1200,                                                      # not XML
        good.replace("IDPSSODescriptor", "SPSSODescriptor"),             # a service provider's metadata
        good.replace(base64.b64encode(b"").decode() or "MII", "%%%", 1),  # a certificate that is not base64
        good[: len(good) - 40] + " " * 40,                               # cut short
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + good,  # a DTD, refused outright
    ]
    for document in bad_documents:
        with raises_aws("InvalidInput", 400) as e:
            iam.create_saml_provider(Name=uniq("bad"), SAMLMetadataDocument=document)
        assert e.message == "Could not parse metadata"
