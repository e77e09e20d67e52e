//! The embedded backend: SQLite in WAL mode, one writer thread with group commit.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use crate::index::{any_event, may_hold, BatchIndex, IndexQuery};
use crate::{
    batch, Backend, BoxFuture, Commit, EventQuery, EventRow, EventScan, Record, RecordWrite, ScanStep, StoreError,
    StoredEvent,
};

/// Migrations in order; `schema_version` counts how many have run.
///
/// Audit events are stored one row per transaction (see `batch`).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE records (
        kind TEXT NOT NULL,
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, account, key)
    ) WITHOUT ROWID;
    CREATE TABLE event_batches (
        seq INTEGER PRIMARY KEY,
        events BLOB NOT NULL
    );",
    // Requests attributable to no account, apart so that they can expire.
    "CREATE TABLE unattributed_events (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        events BLOB NOT NULL
    );
    CREATE INDEX unattributed_events_time ON unattributed_events (time_ms);",
    // The lookup index (see `index`); filled from the stored batches when it
    // is created (`INDEXED_SINCE`).
    "CREATE TABLE event_filters (
        seq INTEGER PRIMARY KEY,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        filter BLOB NOT NULL
    );",
];

/// The migration that creates `event_filters`: a store migrated past it from
/// an older version has its stored batches indexed.
const INDEXED_SINCE: i64 = 3;

/// An event's position: its batch's `seq` shifted left, plus its index in the batch.
const POSITION_BITS: u32 = 20;
const POSITION_MASK: i64 = (1 << POSITION_BITS) - 1;

/// Jobs waiting longer than this many per transaction are split.
const MAX_JOBS_PER_TRANSACTION: usize = 512;
/// When a transaction would hold fewer jobs than this (but more than one, so
/// the node is busy), the writer waits `GATHER_WAIT` for more.
const GATHER_BELOW: usize = 32;
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(200);

enum Job {
    Commit(Commit, oneshot::Sender<Result<(), StoreError>>),
    /// Deletes everything, then stores these events (the reset's record).
    Wipe(Vec<EventRow>, oneshot::Sender<Result<(), StoreError>>),
    ExpireUnattributed(i64, oneshot::Sender<Result<usize, StoreError>>),
    /// Once this batch is committed: a truncating WAL checkpoint, so pages
    /// that held deleted rows (zeroed by `secure_delete`) leave no copy.
    Scrub(oneshot::Sender<Result<(), StoreError>>),
}

#[derive(Debug)]
pub struct SqliteBackend {
    jobs: mpsc::Sender<Job>,
    reader: Mutex<Connection>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL: readers never block the writer. NORMAL: a commit is in the WAL file
    // (the OS's) when it returns, so it survives the process being killed.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows are overwritten with zeros: destroyed key material must
    // not linger in free pages (KMS's crypto-shredding).
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Checkpoint less often than the default 1000 pages: audit events arrive fast.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional()?.unwrap_or(0);
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::SchemaTooNew { found: current, supported });
    }
    let tx = conn.transaction()?;
    for migration in MIGRATIONS.iter().skip(usize::try_from(current).unwrap_or_default()) {
        tx.execute_batch(migration)?;
    }
    if current < INDEXED_SINCE {
        index_stored_batches(&tx)?;
    }
    tx.execute("DELETE FROM schema_version", [])?;
    tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [supported])?;
    tx.commit()?;
    Ok(())
}

/// Indexes every stored batch (once, when the index is created).
fn index_stored_batches(tx: &Connection) -> Result<(), rusqlite::Error> {
    let mut batches = tx.prepare("SELECT seq, events FROM event_batches")?;
    let mut rows = batches.query([])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let bytes: Vec<u8> = row.get(1)?;
        let Some(events) = batch::decode(&bytes) else {
            tracing::error!(batch = seq, "an audit event batch is damaged; it is not indexed");
            continue;
        };
        let mut index = BatchIndex::default();
        events.iter().for_each(|e| index.add(e));
        insert_index(tx, seq, &index)?;
    }
    Ok(())
}

fn insert_index(tx: &Connection, seq: i64, index: &BatchIndex) -> Result<(), rusqlite::Error> {
    let (first, last) = index.span();
    tx.prepare_cached("INSERT INTO event_filters (seq, first_ms, last_ms, filter) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![seq, first, last, index.filter()])?;
    Ok(())
}

impl SqliteBackend {
    /// Opens (creating if needed) `dir/rampart.db`, migrates it and starts the writer.
    pub fn open(dir: &Path) -> Result<Arc<SqliteBackend>, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("rampart.db");
        let mut writer = open_connection(&path)?;
        migrate(&mut writer)?;
        let reader = open_connection(&path)?;
        let (jobs, rx) = mpsc::channel(4096);
        thread::Builder::new().name("store-writer".into()).spawn(move || writer_loop(writer, rx))?;
        Ok(Arc::new(SqliteBackend { jobs, reader: Mutex::new(reader) }))
    }
}

fn apply_writes(tx: &Connection, writes: &[RecordWrite]) -> Result<(), rusqlite::Error> {
    for write in writes {
        match write {
            RecordWrite::Put { kind, account, key, value } => {
                tx.prepare_cached(
                    "INSERT INTO records (kind, account, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, account, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![kind, account, key, value])?;
            }
            RecordWrite::Delete { kind, account, key } => {
                tx.prepare_cached("DELETE FROM records WHERE kind = ?1 AND account = ?2 AND key = ?3")?
                    .execute(params![kind, account, key])?;
            }
        }
    }
    Ok(())
}

fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_JOBS_PER_TRANSACTION {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Events stored in one row at most: a lookup decodes whole rows, so a row
/// must stay small even when one transaction commits thousands of events.
const MAX_EVENTS_PER_ROW: usize = 256;

/// The events of one stored row (a batch), as they are gathered.
#[derive(Default)]
struct EventRows {
    encoded: Vec<u8>,
    index: BatchIndex,
    count: usize,
}

/// The events of one transaction, as they are gathered: attributed ones in
/// rows of at most `MAX_EVENTS_PER_ROW`, unattributed ones apart.
#[derive(Default)]
struct Staged {
    rows: Vec<EventRows>,
    unattributed: Vec<u8>,
    unattributed_time: i64,
}

impl Staged {
    fn add(&mut self, events: &[EventRow]) -> Result<(), rusqlite::Error> {
        for e in events {
            if e.account.is_empty() {
                batch::encode(&mut self.unattributed, e);
                self.unattributed_time = self.unattributed_time.max(e.event_time_ms);
                continue;
            }
            let row = match self.rows.last_mut() {
                Some(row) if row.count < MAX_EVENTS_PER_ROW => row,
                _ => {
                    self.rows.push(EventRows::default());
                    self.rows.last_mut().ok_or(rusqlite::Error::InvalidQuery)?
                }
            };
            batch::encode(&mut row.encoded, e);
            row.index.add(e);
            row.count += 1;
        }
        Ok(())
    }
}

/// Runs jobs as they come, committing every job already waiting in one transaction.
/// A failing job is rolled back to its savepoint and fails alone.
fn writer_loop(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        drain(&mut rx, &mut batch);
        if batch.len() > 1 && batch.len() < GATHER_BELOW {
            // Under load, a moment's wait lets more jobs join this transaction:
            // one commit for many requests is where the throughput comes from.
            thread::sleep(GATHER_WAIT);
            drain(&mut rx, &mut batch);
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut expiries = Vec::new();
        let mut scrubs = Vec::new();
        let mut staged = Staged::default();
        let outcome = (|| -> Result<(), rusqlite::Error> {
            let mut tx = conn.transaction()?;
            for job in batch {
                match job {
                    // A job with record writes runs under a savepoint, so that
                    // its failure fails it alone; its events join the batch only
                    // if its writes held.
                    Job::Commit(commit, reply) => {
                        let result = if commit.writes.is_empty() {
                            Ok(())
                        } else {
                            let sp = tx.savepoint()?;
                            match apply_writes(&sp, &commit.writes) {
                                Ok(()) => sp.commit(),
                                Err(e) => Err(e),
                            }
                        };
                        if result.is_ok() {
                            staged.add(&commit.events)?;
                        }
                        replies.push((reply, result.err()));
                    }
                    Job::Wipe(events, reply) => {
                        staged = Staged::default();
                        let result = tx.execute_batch(
                            "DELETE FROM records; DELETE FROM event_batches; DELETE FROM event_filters;
                             DELETE FROM unattributed_events;",
                        );
                        if result.is_ok() {
                            staged.add(&events)?;
                        }
                        replies.push((reply, result.err()));
                    }
                    Job::ExpireUnattributed(before_ms, reply) => {
                        let deleted = tx.execute("DELETE FROM unattributed_events WHERE time_ms < ?1", [before_ms]);
                        expiries.push((reply, deleted));
                    }
                    Job::Scrub(reply) => scrubs.push(reply),
                }
            }
            for row in &staged.rows {
                let stored = batch::compress(&row.encoded);
                tx.prepare_cached("INSERT INTO event_batches (events) VALUES (?1)")?.execute([&stored])?;
                insert_index(&tx, tx.last_insert_rowid(), &row.index)?;
            }
            if !staged.unattributed.is_empty() {
                let stored = batch::compress(&staged.unattributed);
                tx.prepare_cached("INSERT INTO unattributed_events (time_ms, events) VALUES (?1, ?2)")?
                    .execute(params![staged.unattributed_time, &stored])?;
            }
            tx.commit()
        })();
        match outcome {
            Ok(()) => {
                for (reply, error) in replies {
                    let _ = reply.send(error.map_or(Ok(()), |e| Err(StoreError::Database(e))));
                }
                for (reply, deleted) in expiries {
                    let _ = reply.send(deleted.map_err(StoreError::Database));
                }
                if !scrubs.is_empty() {
                    let result = checkpoint_truncate(&conn);
                    for reply in scrubs {
                        let _ = reply.send(result.as_ref().map(|_| ()).map_err(|e| StoreError::Scrub(e.clone())));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store transaction failed");
                for (reply, _) in replies {
                    let _ = reply.send(Err(StoreError::WriterGone));
                }
                for (reply, _) in expiries {
                    let _ = reply.send(Err(StoreError::WriterGone));
                }
                for reply in scrubs {
                    let _ = reply.send(Err(StoreError::WriterGone));
                }
            }
        }
    }
}

/// Copies every WAL frame into the database and truncates the WAL to zero
/// bytes; fails if a reader kept it from completing.
fn checkpoint_truncate(conn: &Connection) -> Result<(), String> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    match busy {
        0 => Ok(()),
        _ => Err("a reader kept the WAL checkpoint from completing".to_string()),
    }
}

impl SqliteBackend {
    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(make(tx)).await.map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }
}

/// Every record of a kind in `dir/rampart.db`, read-only, without starting
/// a writer or migrating: for offline tools beside a running node (SQLite's
/// WAL lets them read while it writes).
pub fn read_records(dir: &Path, kind: &str) -> Result<Vec<Record>, StoreError> {
    let conn = Connection::open_with_flags(
        dir.join("rampart.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT account, key, value FROM records WHERE kind = ?1 ORDER BY account, key")?;
    let rows = stmt.query_map([kind], |r| Ok(Record { account: r.get(0)?, key: r.get(1)?, value: r.get(2)? }))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A step of a scan over `dir/rampart.db`, read-only beside a running node
/// (`rampart trail query`).
pub fn scan_events_read_only(dir: &Path, scan: &EventScan, after: i64, limit: usize) -> Result<ScanStep, StoreError> {
    let conn = Connection::open_with_flags(
        dir.join("rampart.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    scan_step(&conn, scan, after, limit)
}

/// The batches of the scan's time after `after` (skipping those whose
/// filter holds none of its regions' terms), decoded and filtered.
fn scan_step(conn: &Connection, scan: &EventScan, after: i64, limit: usize) -> Result<ScanStep, StoreError> {
    let mut batches = conn.prepare_cached(
        "SELECT seq, filter FROM event_filters WHERE seq > ?1 AND last_ms >= ?2 AND first_ms <= ?3
         ORDER BY seq LIMIT ?4",
    )?;
    let mut read = conn.prepare_cached("SELECT events FROM event_batches WHERE seq = ?1")?;
    let terms: Option<Vec<u64>> =
        scan.regions.as_ref().map(|regions| regions.iter().map(|r| any_event(&scan.account, r)).collect());
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut candidates = batches.query(params![after, scan.from_ms, scan.to_ms, limit])?;
    let (mut found, mut last, mut examined) = (Vec::new(), None, 0);
    while let Some(row) = candidates.next()? {
        let seq: i64 = row.get(0)?;
        (last, examined) = (Some(seq), examined + 1);
        let filter = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        if terms.as_ref().is_some_and(|terms| !terms.iter().any(|t| may_hold(filter, *t))) {
            continue;
        }
        let Some(bytes) = read.query_row([seq], |r| r.get::<_, Vec<u8>>(0)).optional()? else { continue };
        let Some(events) = batch::decode(&bytes) else {
            tracing::error!(batch = seq, "an audit event batch is damaged; skipping it");
            continue;
        };
        found.extend(events.into_iter().filter(|e| {
            e.account == scan.account
                && (scan.from_ms..=scan.to_ms).contains(&e.event_time_ms)
                && scan.regions.as_ref().is_none_or(|regions| regions.contains(&e.region))
        }));
    }
    Ok((found, if examined < limit { None } else { last }))
}

impl Backend for SqliteBackend {
    fn commit(&self, commit: Commit) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.submit(|reply| Job::Commit(commit, reply)))
    }

    fn wipe(&self, events: Vec<EventRow>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.submit(|reply| Job::Wipe(events, reply)))
    }

    fn expire_unattributed(&self, before_ms: i64) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.submit(move |reply| Job::ExpireUnattributed(before_ms, reply)))
    }

    fn scrub(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.submit(Job::Scrub))
    }

    fn scan(&self, kind: &str) -> Result<Vec<Record>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt =
            conn.prepare_cached("SELECT account, key, value FROM records WHERE kind = ?1 ORDER BY account, key")?;
        let rows = stmt.query_map([kind], |r| Ok(Record { account: r.get(0)?, key: r.get(1)?, value: r.get(2)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn event_batches_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, Vec<EventRow>)>, StoreError> {
        let conn = self.reader.lock();
        let mut stmt =
            conn.prepare_cached("SELECT seq, events FROM event_batches WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![after, limit])?;
        let mut batches = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            match batch::decode(bytes) {
                Some(events) => batches.push((seq, events)),
                None => tracing::error!(batch = seq, "an audit event batch is damaged; skipping it"),
            }
        }
        Ok(batches)
    }

    fn scan_events(&self, scan: &EventScan, after: i64, limit: usize) -> Result<ScanStep, StoreError> {
        scan_step(&self.reader.lock(), scan, after, limit)
    }

    fn latest_event_batch(&self) -> Result<i64, StoreError> {
        let conn = self.reader.lock();
        Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM event_batches", [], |r| r.get(0))?)
    }

    fn lookup_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader.lock();
        // The batches of the query's time whose filter may hold its term,
        // newest first; only those are read.
        let mut batches = conn.prepare_cached(
            "SELECT seq, filter FROM event_filters WHERE seq <= ?1 AND last_ms >= ?2 AND first_ms <= ?3
             ORDER BY seq DESC",
        )?;
        let mut read = conn.prepare_cached("SELECT events FROM event_batches WHERE seq = ?1")?;
        let (start_batch, start_index) = match q.after {
            Some(position) => (position >> POSITION_BITS, Some(position & POSITION_MASK)),
            None => (i64::MAX, None),
        };
        let index = IndexQuery::of(q);
        let mut candidates = batches.query(params![start_batch, index.from_ms, index.to_ms])?;
        let mut found = Vec::new();
        while let Some(row) = candidates.next()? {
            let seq: i64 = row.get(0)?;
            let filter = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if index.term.is_some_and(|term| !may_hold(filter, term)) {
                continue;
            }
            let Some(bytes) = read.query_row([seq], |r| r.get::<_, Vec<u8>>(0)).optional()? else { continue };
            let Some(events) = batch::decode(&bytes) else {
                tracing::error!(batch = seq, "an audit event batch is damaged; skipping it");
                continue;
            };
            for (index, event) in events.into_iter().enumerate().rev() {
                let index = i64::try_from(index).unwrap_or(POSITION_MASK);
                if seq == start_batch && start_index.is_some_and(|after| index >= after) {
                    continue;
                }
                let in_range = q.start_ms.is_none_or(|s| event.event_time_ms >= s)
                    && q.end_ms.is_none_or(|e| event.event_time_ms <= e);
                if event.account == q.account
                    && event.region == q.region
                    && in_range
                    && batch::matches(&event, q.filter.as_ref())
                {
                    found.push(StoredEvent { seq: (seq << POSITION_BITS) | index, row: event });
                    if found.len() >= q.limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventFilter, EventRow, EventScan};

    #[tokio::test(flavor = "multi_thread")]
    async fn batches_stored_before_the_index_are_indexed_when_it_is_made() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteBackend::open(dir.path()).unwrap();
            for t in 0..20 {
                let name = if t % 5 == 0 { "CreateUser" } else { "GetUser" };
                store.commit(Commit { writes: vec![], events: vec![event("1", t, name, vec![])] }).await.unwrap();
            }
        }
        // As a store of schema version 2 left it: batches, no index.
        let conn = Connection::open(dir.path().join("rampart.db")).unwrap();
        conn.execute_batch("DROP TABLE event_filters; UPDATE schema_version SET version = 2;").unwrap();
        drop(conn);
        let store = SqliteBackend::open(dir.path()).unwrap();
        let mut q = query("1");
        q.filter = Some(EventFilter::EventName("CreateUser".into()));
        let found: Vec<i64> = store.lookup_events(&q).unwrap().iter().map(|e| e.row.event_time_ms).collect();
        assert_eq!(found, vec![15, 10, 5, 0]);
        q.filter = None;
        assert_eq!(store.lookup_events(&q).unwrap().len(), 20);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn lookups_read_only_the_batches_of_their_term_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteBackend::open(dir.path()).unwrap();
        for t in 0..100 {
            let mut e = event("1", t * 1000, "GetUser", vec![]);
            if t == 42 {
                e.username = Some("rare".into());
                e.event_id = "018f3c2a-1b00-7abc-8def-0123456789ab".into();
            }
            store.commit(Commit { writes: vec![], events: vec![e] }).await.unwrap();
        }
        let mut q = query("1");
        q.filter = Some(EventFilter::Username("rare".into()));
        let found = store.lookup_events(&q).unwrap();
        assert_eq!(found.iter().map(|e| e.row.event_time_ms).collect::<Vec<_>>(), vec![42_000]);
        q.filter = None;
        q.start_ms = Some(10_000);
        q.end_ms = Some(12_000);
        assert_eq!(store.lookup_events(&q).unwrap().len(), 3);
        // Paging goes on after the last event returned.
        let mut q = query("1");
        q.limit = 60;
        let first = store.lookup_events(&q).unwrap();
        q.after = first.last().map(|e| e.seq);
        assert_eq!(first.len() + store.lookup_events(&q).unwrap().len(), 100);
        // An event id that is not a UUIDv7 is still found (by reading every batch).
        let mut q = query("1");
        q.filter = Some(EventFilter::EventId("id-7000".into()));
        assert_eq!(store.lookup_events(&q).unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unattributed_events_are_kept_apart_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteBackend::open(dir.path()).unwrap();
        for t in [10, 20, 30] {
            store.commit(Commit { writes: vec![], events: vec![event("", t, "GetUser", vec![])] }).await.unwrap();
        }
        assert!(store.lookup_events(&query("")).unwrap().is_empty(), "never in any account's history");
        assert_eq!(store.expire_unattributed(25).await.unwrap(), 2);
        assert_eq!(store.expire_unattributed(25).await.unwrap(), 0);
        assert_eq!(store.expire_unattributed(31).await.unwrap(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scans_read_one_account_in_its_regions_and_time_a_step_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteBackend::open(dir.path()).unwrap();
        for t in 0..10 {
            let mut west = event("1", t * 10 + 1, "GetUser", vec![]);
            west.region = "us-west-2".into();
            let events = vec![event("1", t * 10, "GetUser", vec![]), west, event("2", t * 10, "GetUser", vec![])];
            store.commit(Commit { writes: vec![], events }).await.unwrap();
        }
        let scan = |regions: Option<Vec<&str>>, from_ms, to_ms| EventScan {
            account: "1".into(),
            regions: regions.map(|r| r.into_iter().map(String::from).collect()),
            from_ms,
            to_ms,
        };
        // Every step examines at most `limit` batches; the last says there are no more.
        let all = scan(None, i64::MIN, i64::MAX);
        let (mut times, mut after, mut steps) = (Vec::new(), 0, 0);
        loop {
            let (events, next) = store.scan_events(&all, after, 3).unwrap();
            times.extend(events.iter().map(|e| e.event_time_ms));
            steps += 1;
            match next {
                Some(n) => after = n,
                None => break,
            }
        }
        assert_eq!(times.len(), 20, "account 2's events are not read");
        assert_eq!(steps, 4);
        let east = store.scan_events(&scan(Some(vec!["us-east-1"]), 20, 51), 0, 100).unwrap();
        assert_eq!(east.0.iter().map(|e| e.event_time_ms).collect::<Vec<_>>(), vec![20, 30, 40, 50]);
        assert_eq!(east.1, None);
        let nowhere = store.scan_events(&scan(Some(vec!["eu-west-1"]), i64::MIN, i64::MAX), 0, 100).unwrap();
        assert!(nowhere.0.is_empty());
        let read_only = scan_events_read_only(dir.path(), &scan(Some(vec!["us-west-2"]), 0, 30), 0, 100).unwrap();
        assert_eq!(read_only.0.iter().map(|e| e.event_time_ms).collect::<Vec<_>>(), vec![1, 11, 21]);
    }

    fn event(account: &str, time: i64, name: &str, resources: Vec<(String, String)>) -> EventRow {
        EventRow {
            account: account.into(),
            event_time_ms: time,
            event_id: format!("id-{time}"),
            event_name: name.into(),
            event_source: "iam.amazonaws.com".into(),
            region: "us-east-1".into(),
            username: Some("root".into()),
            access_key_id: Some("AKIA".into()),
            read_only: name.starts_with("Get"),
            resources,
            record: "{}".into(),
        }
    }

    fn query(account: &str) -> EventQuery {
        EventQuery {
            account: account.into(),
            region: "us-east-1".into(),
            filter: None,
            start_ms: None,
            end_ms: None,
            after: None,
            limit: 50,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn records_and_events_survive_reopen_and_page_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteBackend::open(dir.path()).unwrap();
            let put = RecordWrite::Put { kind: "user", account: "1".into(), key: "bob".into(), value: "v1".into() };
            store
                .commit(Commit {
                    writes: vec![put],
                    events: vec![event("1", 10, "CreateUser", vec![("AWS::IAM::User".into(), "bob".into())])],
                })
                .await
                .unwrap();
            for t in 11..15 {
                store.commit(Commit { writes: vec![], events: vec![event("1", t, "GetUser", vec![])] }).await.unwrap();
            }
            store.commit(Commit { writes: vec![], events: vec![event("2", 99, "GetUser", vec![])] }).await.unwrap();
        }
        let store = SqliteBackend::open(dir.path()).unwrap();
        assert_eq!(
            store.scan("user").unwrap(),
            vec![Record { account: "1".into(), key: "bob".into(), value: "v1".into() }]
        );
        let mut q = query("1");
        q.limit = 3;
        let page = store.lookup_events(&q).unwrap();
        assert_eq!(page.iter().map(|e| e.row.event_time_ms).collect::<Vec<_>>(), vec![14, 13, 12]);
        q.after = Some(page.last().unwrap().seq);
        let page = store.lookup_events(&q).unwrap();
        assert_eq!(page.iter().map(|e| e.row.event_time_ms).collect::<Vec<_>>(), vec![11, 10]);
        let mut q = query("1");
        q.filter = Some(EventFilter::ResourceName("bob".into()));
        assert_eq!(store.lookup_events(&q).unwrap().len(), 1);
        q.filter = Some(EventFilter::ResourceType("AWS::IAM::User".into()));
        assert_eq!(store.lookup_events(&q).unwrap().len(), 1);
        q.filter = Some(EventFilter::ReadOnly(true));
        assert_eq!(store.lookup_events(&q).unwrap().len(), 4);
        q.filter = None;
        q.start_ms = Some(12);
        q.end_ms = Some(13);
        assert_eq!(store.lookup_events(&q).unwrap().len(), 2);
        q.region = "eu-west-1".into();
        assert_eq!(store.lookup_events(&q).unwrap().len(), 0, "event history is regional");
        store.wipe(vec![event("1", 50, "ResetNode", Vec::new())]).await.unwrap();
        assert!(store.scan("user").unwrap().is_empty());
        q.region = "us-east-1".into();
        q.start_ms = None;
        q.end_ms = None;
        let left = store.lookup_events(&q).unwrap();
        let names: Vec<&str> = left.iter().map(|e| e.row.event_name.as_str()).collect();
        assert_eq!(names, ["ResetNode"], "only the reset's own record is left");
    }
}
