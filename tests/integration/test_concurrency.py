"""Races: uniqueness and quotas must hold when many clients hit the same entity at once, and
every concurrent mutation gets exactly one audit record."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from rampart_testlib import attr, error_of, list_all_users, lookup_all, record, uniq

N = 8


def _race(rampart, fn, n: int = N):
    """Run fn(client) in n threads released together; returns list of ('ok', resp) / ('err', (code, status))."""
    clients = [rampart.client("iam") for _ in range(n)]
    barrier = threading.Barrier(n)

    def run(c):
        barrier.wait(10)
        try:
            return ("ok", fn(c))
        except ClientError as e:
            code, status, _ = error_of(e)
            return ("err", (code, status))

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(run, clients))


def test_same_name_created_once(rampart):
    name = uniq("race")
    results = _race(rampart, lambda c: c.create_user(UserName=name)["User"]["UserId"])
    oks = [r for k, r in results if k == "ok"]
    errs = [r for k, r in results if k == "err"]
    assert len(oks) == 1, results
    assert errs == [("EntityAlreadyExists", 409)] * (N - 1), errs
    assert rampart.client("iam").get_user(UserName=name)["User"]["UserId"] == oks[0]


def test_case_variants_created_once(rampart):
    base = uniq("RaceCase")
    variants = [base.lower(), base.upper(), base, base.swapcase()] * 2
    it = iter(variants)
    lock = threading.Lock()

    def create(c):
        with lock:
            n = next(it)
        return c.create_user(UserName=n)["User"]["UserName"]

    results = _race(rampart, create)
    oks = [r for k, r in results if k == "ok"]
    assert len(oks) == 1, results
    assert all(r == ("EntityAlreadyExists", 409) for k, r in results if k == "err"), results


def test_access_key_quota_under_race(rampart):
    user = uniq("keyrace")
    rampart.client("iam").create_user(UserName=user)
    results = _race(rampart, lambda c: c.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])
    oks = [r for k, r in results if k == "ok"]
    errs = [r for k, r in results if k == "err"]
    assert len(oks) == 2, results
    assert errs == [("LimitExceeded", 409)] * (N - 2), errs
    listed = rampart.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert sorted(m["AccessKeyId"] for m in listed) == sorted(oks)


def test_rename_race_to_same_name(rampart):
    iam = rampart.client("iam")
    sources = [uniq("src") for _ in range(N)]
    for s in sources:
        iam.create_user(UserName=s)
    target = uniq("target")
    it = iter(sources)
    lock = threading.Lock()

    def rename(c):
        with lock:
            s = next(it)
        c.update_user(UserName=s, NewUserName=target)
        return s

    results = _race(rampart, rename)
    winners = [r for k, r in results if k == "ok"]
    assert len(winners) == 1, results
    assert all(r == ("EntityAlreadyExists", 409) for k, r in results if k == "err"), results
    names = {u["UserName"] for u in list_all_users(iam)}
    assert target in names and winners[0] not in names
    assert set(sources) - {winners[0]} <= names


def test_parallel_creates_each_audited_once(rampart):
    names = [uniq("par") for _ in range(40)]
    clients = [rampart.client("iam") for _ in range(N)]

    def create(i):
        return clients[i % N].create_user(UserName=names[i])["ResponseMetadata"]["RequestId"]

    with ThreadPoolExecutor(N) as ex:
        request_ids = list(ex.map(create, range(len(names))))
    assert len(set(request_ids)) == len(names), "request ids must be unique"

    listed = {u["UserName"] for u in list_all_users(rampart.client("iam"))}
    assert set(names) <= listed

    events = lookup_all(rampart.client("cloudtrail"), LookupAttributes=attr("EventName", "CreateUser"))
    per_name: dict[str, list[str]] = {}
    for e in events:
        rec = record(e)
        n = (rec.get("requestParameters") or {}).get("userName")
        if n in names:
            per_name.setdefault(n, []).append(rec["requestID"])
    assert {n: len(v) for n, v in per_name.items()} == {n: 1 for n in names}
    assert {v[0] for v in per_name.values()} == set(request_ids)
