#!/usr/bin/env python3
"""Writes crates/iam/data/aws-managed-policies.json from the installed moto.

moto (Apache-2.0, see crates/iam/data/NOTICE) carries AWS's managed policies as
scraped from AWS (`moto.iam.aws_managed_policies.aws_managed_policies_data`).
Rampart carries all of them. For each one the output has its name, path,
default version id, create and update dates (epoch seconds, from the ISO
dates given), a policy id and the default version's document as a minified
JSON object (which the binary reads in place, without copying). The output is
a JSON array sorted by name, one policy per line, so a refresh reads as a diff.

Run: python3 scripts/aws-managed-policies.py   (needs `pip install moto`)
"""
import base64
import datetime
import hashlib
import json
import pathlib

import moto
from moto.iam.aws_managed_policies import aws_managed_policies_data

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/iam/data/aws-managed-policies.json"

# Base32 (A-Z, 2-7): the alphabet of AWS's unique ids and of rampart_core::ids.
ID_LENGTH = 17


def epoch_seconds(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso).timestamp())


def policy_id(name: str, given: str | None) -> str:
    """moto's policy id when it has one. Otherwise (moto 5.2.1 has none) a made-up
    id in AWS's shape, `ANPA` + 17 base32 characters, taken from a SHA-256 of the
    name so that it is stable across runs and releases; it is not AWS's id."""
    if given:
        return given
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    return "ANPA" + digest[:ID_LENGTH]


def main() -> None:
    data = json.loads(aws_managed_policies_data)
    out = []
    for name in sorted(data):
        p = data[name]
        out.append({
            "name": name,
            "path": p["Path"],
            "policy_id": policy_id(name, p.get("PolicyId")),
            "default_version": p["DefaultVersionId"],
            "create_date": epoch_seconds(p["CreateDate"]),
            "update_date": epoch_seconds(p["UpdateDate"]),
            "document": p["Document"],
        })
    lines = [json.dumps(p, separators=(",", ":"), sort_keys=False) for p in out]
    text = "[\n" + ",\n".join(lines) + "\n]\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"{OUT.relative_to(OUT.parents[3])}: {len(out)} policies, {len(text.encode())} bytes (moto {moto.__version__})")


if __name__ == "__main__":
    main()
