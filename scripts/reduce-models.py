#!/usr/bin/env python3
"""Writes crates/wire/models/<service>.json from the installed botocore.

Each file is botocore's service-2.json (Apache-2.0, see crates/wire/models/NOTICE)
reduced to what Rampart's wire layer reads: metadata, operations and shapes with
their serialization and constraint traits. Documentation text is dropped.

Run: python3 scripts/reduce-models.py   (needs `pip install botocore`)
"""
import json
import pathlib

from botocore.loaders import Loader

# botocore's name for a service -> the file name Rampart uses.
SERVICES = {
    "iam": "iam",
    "sts": "sts",
    "ec2": "ec2",
    "kms": "kms",
    "cloudtrail": "cloudtrail",
    "config": "config",
    "logs": "logs",
    "cloudwatch": "monitoring",
}
METADATA_KEYS = {
    "apiVersion", "protocol", "protocols", "jsonVersion", "targetPrefix", "signingName",
    "endpointPrefix", "serviceId", "xmlNamespace", "globalEndpoint", "awsQueryCompatible",
}
OPERATION_KEYS = {"name", "http", "input", "output", "errors", "awsQueryError"}
SHAPE_KEYS = {
    "type", "members", "required", "min", "max", "pattern", "enum", "sensitive", "error",
    "exception", "flattened", "timestampFormat", "member", "key", "value", "locationName",
    "xmlNamespace", "box", "union", "event", "eventstream", "document",
}
MEMBER_KEYS = {
    "shape", "locationName", "queryName", "flattened", "xmlNamespace", "location",
    "xmlAttribute", "timestampFormat", "idempotencyToken", "jsonvalue",
}


def keep(d, keys):
    return {k: v for k, v in d.items() if k in keys}


def reduce_shape(shape):
    out = keep(shape, SHAPE_KEYS)
    if "members" in out:
        out["members"] = {n: keep(m, MEMBER_KEYS) for n, m in out["members"].items()}
    for ref in ("member", "key", "value"):
        if ref in out:
            out[ref] = keep(out[ref], MEMBER_KEYS)
    return out


def reduce_operation(op):
    out = keep(op, OPERATION_KEYS)
    for ref in ("input", "output"):
        if ref in out:
            out[ref] = {k: v for k, v in out[ref].items() if k in ("shape", "resultWrapper")}
    if "errors" in out:
        out["errors"] = [e["shape"] for e in out["errors"]]
    return out


def main():
    loader = Loader()
    dest = pathlib.Path(__file__).resolve().parent.parent / "crates" / "wire" / "models"
    dest.mkdir(parents=True, exist_ok=True)
    for botocore_name, name in SERVICES.items():
        model = loader.load_service_model(botocore_name, "service-2")
        reduced = {
            "metadata": keep(model["metadata"], METADATA_KEYS),
            "operations": {n: reduce_operation(o) for n, o in sorted(model["operations"].items())},
            "shapes": {n: reduce_shape(s) for n, s in sorted(model["shapes"].items())},
        }
        path = dest / f"{name}.json"
        path.write_text(json.dumps(reduced, separators=(",", ":"), sort_keys=False) + "\n")
        print(f"{path.name}: {len(reduced['operations'])} operations, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
