#!/usr/bin/env python3
"""Writes a wrk Lua script that replays one header-signed query-protocol request.

usage: sign_request.py ENDPOINT ACCESS_KEY SECRET_KEY OUT.lua [SERVICE BODY [TARGET]]
(default: sts "Action=GetCallerIdentity&Version=2011-06-15"; with TARGET, a JSON
1.1 request for that X-Amz-Target, e.g. TrentService.Encrypt).
The signature stays valid for the 15-minute clock-skew window of IAM and STS;
the benchmark runs well inside it.
"""
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    endpoint, access_key, secret_key, out = sys.argv[1:5]
    service = sys.argv[5] if len(sys.argv) > 5 else "sts"
    body = sys.argv[6] if len(sys.argv) > 6 else "Action=GetCallerIdentity&Version=2011-06-15"
    target = sys.argv[7] if len(sys.argv) > 7 else None
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if target:
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key), service, "us-east-1").add_auth(request)
    # A Lua long string: JSON bodies hold quotes.
    lines = ['wrk.method = "POST"', f"wrk.body = [[{body}]]"]
    for name, value in request.headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
