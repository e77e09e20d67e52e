"""The resources the new IAM operations are authorized on: a Deny on the
stored resource holds however the request spells it (MFA devices, identity
providers, server certificates, service-linked roles, the entity behind an
`Arn` member), and an Allow on a resource allows only that resource."""

from __future__ import annotations

import json

import pytest

from rampart_testlib import new_user, raises_aws, uniq


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def limited(rampart):
    """A user allowed iam:* except on the resources each test denies."""
    user = new_user(rampart, "mapped")

    def deny(*resources: str):
        rampart.client("iam").put_user_policy(UserName=user["name"], PolicyName="p", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": list(resources)}))
        return rampart.client("iam", user["creds"])
    return user, deny


def test_mfa_devices_are_authorized_on_their_serial(rampart, limited):
    user, deny = limited
    acct = rampart.account_id
    iam = deny(f"arn:aws:iam::{acct}:mfa/locked/*")
    iam.create_virtual_mfa_device(VirtualMFADeviceName=uniq("free"))
    with raises_aws("AccessDenied", 403):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=uniq("x"), Path="/locked/")
    serial = rampart.client("iam").create_virtual_mfa_device(
        VirtualMFADeviceName=uniq("x"), Path="/locked/")["VirtualMFADevice"]["SerialNumber"]
    for attempt in (lambda: iam.delete_virtual_mfa_device(SerialNumber=serial),
                    lambda: iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "k", "Value": "v"}]),
                    lambda: iam.list_mfa_device_tags(SerialNumber=serial)):
        with raises_aws("AccessDenied", 403):
            attempt()


def test_identity_providers_are_authorized_on_their_arn(rampart, limited):
    user, deny = limited
    acct = rampart.account_id
    host = f"{uniq('idp')}.example.com"
    iam = deny(f"arn:aws:iam::{acct}:oidc-provider/{host}", f"arn:aws:iam::{acct}:saml-provider/locked-*")
    with raises_aws("AccessDenied", 403):
        iam.create_open_id_connect_provider(Url=f"https://{host}", ThumbprintList=["a" * 40])
    # A trailing slash names the same provider, and is denied the same.
    with raises_aws("AccessDenied", 403):
        iam.create_open_id_connect_provider(Url=f"https://{host}/", ThumbprintList=["a" * 40])
    arn = rampart.client("iam").create_open_id_connect_provider(
        Url=f"https://{host}", ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    for attempt in (lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
                    lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="c"),
                    lambda: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)):
        with raises_aws("AccessDenied", 403):
            attempt()
    with raises_aws("AccessDenied", 403):
        iam.create_saml_provider(Name=uniq("locked"), SAMLMetadataDocument="x" * 1000)


def test_server_certificates_are_authorized_as_stored(rampart, limited):
    from test_certificates import key_and_cert
    user, deny = limited
    acct = rampart.account_id
    name = uniq("cert")
    key, body, _ = key_and_cert()
    rampart.client("iam").upload_server_certificate(ServerCertificateName=name, Path="/locked/",
                                                    CertificateBody=body, PrivateKey=key)
    iam = deny(f"arn:aws:iam::{acct}:server-certificate/locked/*")
    # IAM finds the certificate ignoring case; the Deny on its stored path holds.
    for spelled in (name, name.upper()):
        with raises_aws("AccessDenied", 403):
            iam.delete_server_certificate(ServerCertificateName=spelled)
    with raises_aws("AccessDenied", 403):
        iam.upload_server_certificate(ServerCertificateName=uniq("x"), Path="/locked/",
                                      CertificateBody=body, PrivateKey=key)
    # A move needs the destination allowed too: out of /locked/ and into it.
    with raises_aws("AccessDenied", 403):
        iam.update_server_certificate(ServerCertificateName=name, NewPath="/free/")
    free = uniq("free")
    rampart.client("iam").upload_server_certificate(ServerCertificateName=free, CertificateBody=body, PrivateKey=key)
    with raises_aws("AccessDenied", 403):
        iam.update_server_certificate(ServerCertificateName=free, NewPath="/locked/")
    iam.update_server_certificate(ServerCertificateName=free, NewServerCertificateName=free + "-2")


def test_arn_member_is_authorized_as_the_stored_entity(rampart, limited):
    user, deny = limited
    acct = rampart.account_id
    victim = rampart.client("iam").create_user(UserName=uniq("victim"))["User"]
    iam = deny(victim["Arn"])
    respelled = f"arn:aws:iam::{acct}:user/{victim['UserName'].upper()}"
    for arn in (victim["Arn"], respelled):
        with raises_aws("AccessDenied", 403):
            iam.list_policies_granting_service_access(Arn=arn, ServiceNamespaces=["s3"])


def test_service_linked_role_creation_is_authorized_on_the_role_it_makes(rampart, limited):
    user, deny = limited
    acct = rampart.account_id
    iam = deny(f"arn:aws:iam::{acct}:role/aws-service-role/*")
    with raises_aws("AccessDenied", 403):
        iam.create_service_linked_role(AWSServiceName="config.amazonaws.com")
