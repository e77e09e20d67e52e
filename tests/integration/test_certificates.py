"""Server certificates (the private key must match, is stored sealed and is
never returned), signing certificates and SSH public keys: bodies parsed and
checked, fingerprints as `ssh-keygen -E md5` prints them, AWS's errors and
quotas."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import sqlite3

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from rampart_testlib import lookup_all, new_user, raises_aws, record, ua_marker, uniq


def key_and_cert(kind: str = "rsa", days: int = 90):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" \
        else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(), cert


def test_server_certificates(fresh_rampart):
    srv = fresh_rampart
    iam = srv.client("iam", user_agent_extra=(marker := ua_marker()))
    key, body, cert = key_and_cert()
    name = uniq("www")
    meta = iam.upload_server_certificate(ServerCertificateName=name, Path="/cloudfront/", CertificateBody=body,
                                         PrivateKey=key, CertificateChain=body,
                                         Tags=[{"Key": "env", "Value": "prod"}])["ServerCertificateMetadata"]
    assert meta["ServerCertificateId"].startswith("ASCA") and len(meta["ServerCertificateId"]) == 21
    assert meta["Arn"] == f"arn:aws:iam::{srv.account_id}:server-certificate/cloudfront/{name}"
    assert meta["Expiration"] == cert.not_valid_after_utc
    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert got["CertificateBody"] == body and got["CertificateChain"] == body
    assert "PrivateKey" not in json.dumps(got, default=str)
    with raises_aws("EntityAlreadyExists", 409):
        iam.upload_server_certificate(ServerCertificateName=name, CertificateBody=body, PrivateKey=key)

    other_key, _, _ = key_and_cert()
    with raises_aws("KeyPairMismatch", 400):
        iam.upload_server_certificate(ServerCertificateName=uniq("x"), CertificateBody=body, PrivateKey=other_key)
    with raises_aws("MalformedCertificate", 400):
        iam.upload_server_certificate(ServerCertificateName=uniq("x"), CertificateBody="not a certificate",
                                      PrivateKey=key)
    with raises_aws("MalformedCertificate", 400):
        iam.upload_server_certificate(ServerCertificateName=uniq("x"), CertificateBody=body, PrivateKey="nope")
    ec_key, ec_body, _ = key_and_cert("ec")
    iam.upload_server_certificate(ServerCertificateName=uniq("ec"), CertificateBody=ec_body, PrivateKey=ec_key)
    with raises_aws("KeyPairMismatch", 400):
        iam.upload_server_certificate(ServerCertificateName=uniq("x"), CertificateBody=ec_body, PrivateKey=key)

    listed = iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]
    assert [m["ServerCertificateName"] for m in listed] == [name]
    renamed = name + "-2"
    iam.update_server_certificate(ServerCertificateName=name, NewServerCertificateName=renamed, NewPath="/")
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_server_certificate(ServerCertificateName=name)
    assert e.message == f"The Server Certificate with name {name} cannot be found."
    assert iam.get_server_certificate(ServerCertificateName=renamed)["ServerCertificate"][
        "ServerCertificateMetadata"]["Path"] == "/"
    iam.tag_server_certificate(ServerCertificateName=renamed, Tags=[{"Key": "team", "Value": "web"}])
    assert {t["Key"] for t in iam.list_server_certificate_tags(ServerCertificateName=renamed)["Tags"]} == {
        "env", "team"}
    assert iam.get_account_summary()["SummaryMap"]["ServerCertificates"] == 2

    srv.restart()
    iam = srv.client("iam")
    assert iam.get_server_certificate(ServerCertificateName=renamed)["ServerCertificate"]["CertificateBody"] == body
    db = sqlite3.connect(srv.data_dir / "rampart.db")
    try:
        stored = json.dumps([v for (v,) in db.execute("SELECT value FROM records WHERE kind = 'iam-server-certificate'")])
    finally:
        db.close()
    secret_line = key.splitlines()[3]
    assert secret_line not in stored and "PRIVATE KEY" not in stored
    events = json.dumps([record(e) for e in lookup_all(srv.client("cloudtrail"))])
    assert marker in events and secret_line not in events
    iam.delete_server_certificate(ServerCertificateName=renamed)
    with raises_aws("NoSuchEntity", 404):
        iam.delete_server_certificate(ServerCertificateName=renamed)


def ssh_key(bits: int = 2048):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return openssh, pem


def test_ssh_public_keys(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "git")
    openssh, pem = ssh_key()
    uploaded = iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody=openssh + " me@laptop")["SSHPublicKey"]
    key_id = uploaded["SSHPublicKeyId"]
    assert key_id.startswith("APKA") and len(key_id) == 21 and uploaded["Status"] == "Active"
    blob = base64.b64decode(openssh.split()[1])
    assert uploaded["Fingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    assert uploaded["SSHPublicKeyBody"] == openssh
    as_pem = iam.get_ssh_public_key(UserName=user["name"], SSHPublicKeyId=key_id, Encoding="PEM")["SSHPublicKey"]
    assert serialization.load_pem_public_key(as_pem["SSHPublicKeyBody"].encode()).public_numbers() == \
        serialization.load_ssh_public_key(openssh.encode()).public_numbers()
    assert as_pem["Fingerprint"] == uploaded["Fingerprint"]
    with raises_aws("DuplicateSSHPublicKey", 400):
        iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody=pem)
    small, _ = ssh_key(1024)
    with raises_aws("InvalidPublicKey", 400):
        iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody=small)
    with raises_aws("UnrecognizedPublicKeyEncoding", 400):
        iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody="ssh-dss AAAA")
    for _ in range(4):
        iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody=ssh_key()[1])
    with raises_aws("LimitExceeded", 409):
        iam.upload_ssh_public_key(UserName=user["name"], SSHPublicKeyBody=ssh_key()[0])
    iam.update_ssh_public_key(UserName=user["name"], SSHPublicKeyId=key_id, Status="Inactive")
    listed = iam.list_ssh_public_keys(UserName=user["name"])["SSHPublicKeys"]
    assert len(listed) == 5 and {k["SSHPublicKeyId"]: k["Status"] for k in listed}[key_id] == "Inactive"
    for k in listed:
        iam.delete_ssh_public_key(UserName=user["name"], SSHPublicKeyId=k["SSHPublicKeyId"])
    with raises_aws("NoSuchEntity", 404) as e:
        iam.get_ssh_public_key(UserName=user["name"], SSHPublicKeyId=key_id, Encoding="SSH")
    assert e.message == f"The Public Key with id {key_id} cannot be found."


def test_signing_certificates(rampart):
    iam = rampart.client("iam")
    user = new_user(rampart, "signer")
    _, body, _ = key_and_cert()
    cert = iam.upload_signing_certificate(UserName=user["name"], CertificateBody=body)["Certificate"]
    assert cert["Status"] == "Active" and cert["UserName"] == user["name"] and len(cert["CertificateId"]) == 28
    with raises_aws("DuplicateCertificate", 409):
        iam.upload_signing_certificate(UserName=user["name"], CertificateBody=body)
    with raises_aws("MalformedCertificate", 400):
        iam.upload_signing_certificate(UserName=user["name"], CertificateBody="-----BEGIN CERTIFICATE-----\nAA==\n")
    iam.upload_signing_certificate(UserName=user["name"], CertificateBody=key_and_cert()[1])
    with raises_aws("LimitExceeded", 409):
        iam.upload_signing_certificate(UserName=user["name"], CertificateBody=key_and_cert()[1])
    iam.update_signing_certificate(UserName=user["name"], CertificateId=cert["CertificateId"], Status="Inactive")
    listed = iam.list_signing_certificates(UserName=user["name"])["Certificates"]
    assert {c["CertificateId"]: c["Status"] for c in listed}[cert["CertificateId"]] == "Inactive"
    iam.delete_access_key(UserName=user["name"], AccessKeyId=user["key"])
    with raises_aws("DeleteConflict", 409):
        iam.delete_user(UserName=user["name"])
    for c in listed:
        iam.delete_signing_certificate(UserName=user["name"], CertificateId=c["CertificateId"])
    with raises_aws("NoSuchEntity", 404):
        iam.delete_signing_certificate(UserName=user["name"], CertificateId=cert["CertificateId"])
    iam.delete_user(UserName=user["name"])
