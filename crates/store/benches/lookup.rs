//! LookupEvents at scale: fills a store with 10⁶ audit events (as a busy
//! account's trail looks: a few hot operations, many users, some resources),
//! reporting the write rate, then times lookups by every attribute — a
//! common value, a rare one and an old one — and prints p50/p99 per lookup.
//!
//! `cargo bench -p rampart-store --bench lookup` (`EVENTS=…` to change the size).

#![allow(clippy::unwrap_used, reason = "benchmark set-up: a failure should stop the run")]

use std::time::{Duration, Instant};

use rampart_store::{Backend, Commit, EventFilter, EventQuery, EventRow, SqliteBackend};

const ACCOUNT: &str = "123456789012";
const NAMES: [&str; 8] =
    ["GetCallerIdentity", "GetUser", "ListUsers", "AssumeRole", "Decrypt", "CreateUser", "PutUserPolicy", "DeleteRole"];

/// A small deterministic generator (no dependency for a benchmark's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn event(dice: &mut Dice, i: u64, time_ms: i64) -> EventRow {
    // Skewed: most calls are the first names and the first users.
    // Half the calls are the first name, a quarter the second, …
    let name = NAMES.get((1 + dice.below(255)).trailing_zeros() as usize).copied().unwrap_or("DeleteRole");
    let spread = 1 + dice.below(1000);
    let user = dice.below(spread);
    let username = format!("user{user}");
    let resources = if name == "GetCallerIdentity" {
        vec![]
    } else {
        vec![("AWS::IAM::User".to_string(), format!("target{}", dice.below(5000)))]
    };
    let record = format!(
        r#"{{"eventVersion":"1.11","userIdentity":{{"type":"IAMUser","principalId":"AIDA{user:016}","arn":"arn:aws:iam::{ACCOUNT}:user/{username}","accountId":"{ACCOUNT}","accessKeyId":"AKIA{user:016}","userName":"{username}"}},"eventTime":"2026-12-02T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"10.0.{}.{}","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64","requestParameters":{{"userName":"target{i}"}},"responseElements":null,"requestID":"{i:032x}","eventID":"{i:032x}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"{ACCOUNT}","eventCategory":"Management"}}"#,
        user % 250,
        i % 250
    );
    EventRow {
        account: ACCOUNT.to_string(),
        event_time_ms: time_ms,
        event_id: format!("{i:032x}"),
        event_name: name.to_string(),
        event_source: "iam.amazonaws.com".to_string(),
        region: if dice.below(10) == 0 { "eu-west-1" } else { "us-east-1" }.to_string(),
        username: Some(username),
        access_key_id: Some(format!("AKIA{user:016}")),
        read_only: name.starts_with("Get") || name.starts_with("List") || name == "Decrypt",
        resources,
        record,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let total: u64 = std::env::var("EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let per_commit = 64;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteBackend::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    runtime.block_on(async {
        // Several committers at once, as requests are: the writer group-commits them.
        let mut pending = Vec::new();
        for c in 0..total / per_commit {
            let events = (0..per_commit).map(|k| {
                let i = c * per_commit + k;
                event(&mut dice, i, 1_700_000_000_000 + i as i64)
            });
            let commit = Commit { writes: vec![], events: events.collect() };
            let store = store.clone();
            pending.push(tokio::spawn(async move { store.commit(commit).await.unwrap() }));
            if pending.len() >= 32 {
                for p in pending.drain(..) {
                    p.await.unwrap();
                }
            }
        }
        for p in pending {
            p.await.unwrap();
        }
    });
    let elapsed = start.elapsed();
    println!(
        "wrote {total} events in {:.1} s: {:.0} events/s ({per_commit} per commit, 32 commits in flight)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    let q = |filter: Option<EventFilter>, region: &str| EventQuery {
        account: ACCOUNT.to_string(),
        region: region.to_string(),
        filter,
        start_ms: None,
        end_ms: None,
        after: None,
        limit: 50,
    };
    let old = 1_700_000_000_000 + (total / 100) as i64;
    let mut cases: Vec<(&str, EventQuery)> = vec![
        ("no filter (newest 50)", q(None, "us-east-1")),
        (
            "EventName common (GetCallerIdentity)",
            q(Some(EventFilter::EventName("GetCallerIdentity".into())), "us-east-1"),
        ),
        ("EventName rare (DeleteRole)", q(Some(EventFilter::EventName("DeleteRole".into())), "us-east-1")),
        ("EventName absent", q(Some(EventFilter::EventName("CreateKey".into())), "us-east-1")),
        ("Username common (user0)", q(Some(EventFilter::Username("user0".into())), "us-east-1")),
        ("Username rare (user999)", q(Some(EventFilter::Username("user999".into())), "us-east-1")),
        ("AccessKeyId rare", q(Some(EventFilter::AccessKeyId(format!("AKIA{:016}", 998))), "us-east-1")),
        ("ResourceName (one of 5000)", q(Some(EventFilter::ResourceName("target4321".into())), "us-east-1")),
        ("ResourceType", q(Some(EventFilter::ResourceType("AWS::IAM::User".into())), "us-east-1")),
        ("ReadOnly false", q(Some(EventFilter::ReadOnly(false)), "us-east-1")),
        ("EventSource", q(Some(EventFilter::EventSource("iam.amazonaws.com".into())), "us-east-1")),
        ("other region, rare user", q(Some(EventFilter::Username("user998".into())), "eu-west-1")),
    ];
    let mut old_window = q(None, "us-east-1");
    old_window.start_ms = Some(old);
    old_window.end_ms = Some(old + 1_000);
    cases.push(("time window 1 s, 1% into the past", old_window));
    let mut old_rare = q(Some(EventFilter::Username("user0".into())), "us-east-1");
    old_rare.end_ms = Some(old);
    cases.push(("Username common, ending 1% into the past", old_rare));
    println!("{:<44} {:>8} {:>10} {:>10}", "lookup (MaxResults 50)", "found", "p50", "p99");
    for (name, query) in cases {
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..50 {
            let t = Instant::now();
            found = store.lookup_events(&query).unwrap().len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<44} {found:>8} {:>8.2}ms {:>8.2}ms",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
