#!/usr/bin/env python3
"""Writes crates/sts/tests/data/: a SAML response whose assertion signxml
(lxml/libxml2) signed, with the signing certificate, for the unit tests and
benchmark of Rampart's own XML-DSig verifier. Run again to regenerate; the
key is thrown away."""
import base64
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

OUT = Path(__file__).resolve().parents[1] / "crates" / "sts" / "tests" / "data"
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.test")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(dt.datetime(2026, 1, 1)).not_valid_after(dt.datetime(2036, 1, 1))
        .sign(key, hashes.SHA256()))
key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
cert_pem = cert.public_bytes(serialization.Encoding.PEM)
assertion = etree.fromstring(b"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_vector1" IssueInstant="2026-01-01T00:00:00Z" Version="2.0">
  <saml:Issuer>https://idp.example.test/saml</saml:Issuer>
  <saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice &amp; co</saml:NameID></saml:Subject>
  <saml:AttributeStatement>
    <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">alice</saml:AttributeValue></saml:Attribute>
  </saml:AttributeStatement>
</saml:Assertion>""")
signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                   c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
signed = signer.sign(assertion, key=key_pem, cert=cert_pem, reference_uri="_vector1")
response = etree.fromstring(b"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>""")
response.append(signed)
(OUT / "signed-response.xml").write_bytes(etree.tostring(response))
(OUT / "idp-certificate.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
print("wrote", OUT)
