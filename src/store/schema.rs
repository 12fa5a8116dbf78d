//! The store's SQLite schema: connection pragmas and the ordered list of migrations, tracked with
//! `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::event::Severity;

/// How long a connection waits for a lock held by another connection before giving up. Readers
/// never block the writer in WAL mode, so this only matters for checkpoints and a second process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations in order: `MIGRATIONS[i]` moves the schema from version `i` to `i + 1`. Never edit a
/// released entry; append a new one instead, since existing databases have already run the old.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1. `seq` is AUTOINCREMENT so that a seq is never handed out twice, even after
    // retention has deleted the newest rows: feed consumers resume by seq and must not skip events.
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        idempotency_key TEXT UNIQUE,
        received_ms INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity INTEGER NOT NULL,
        subject TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX events_time ON events(time_ms);
    CREATE INDEX events_device_time ON events(device, time_ms);
    CREATE INDEX events_kind ON events(kind);
    CREATE INDEX events_severity ON events(severity);
    CREATE INDEX events_received ON events(received_ms);
    CREATE TABLE alarms (
        key TEXT PRIMARY KEY,
        raised INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        lease_until_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox(sink, status, next_attempt_ms);
    CREATE INDEX outbox_seq ON outbox(seq);",
    // Version 2. A row claimed by a process that then died is marked uncertain at the next start:
    // it may have been delivered, and a sink that can check its target does so before resending.
    "ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;",
    // Version 3. The history API and the live feed filter on the source name and the alarm state,
    // and the alarms API shows how many events an alarm has had. Existing rows are filled in
    // from their bodies. No new index: each one slows every append, and these filters narrow
    // scans that the seq order already bounds.
    "ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN alarmstate TEXT NOT NULL DEFAULT 'info';
    UPDATE events SET
        source = CASE WHEN json_extract(body, '$.source') LIKE '/netpulse/%'
            THEN substr(json_extract(body, '$.source'), 11)
            ELSE coalesce(json_extract(body, '$.source'), '') END,
        alarmstate = coalesce(json_extract(body, '$.alarmstate'), 'info');
    ALTER TABLE alarms ADD COLUMN events INTEGER NOT NULL DEFAULT 1;",
    // Version 4. Idempotency keys move to a table appended in seq order, checked through the
    // writer's memory of recent keys (`dedup.rs`): the UNIQUE index on `events.idempotency_key`
    // took one random page per event. The column stays (SQLite cannot drop a UNIQUE column
    // without rebuilding the table) and holds NULL from now on, which its index files in order.
    "CREATE TABLE event_keys (
        seq INTEGER PRIMARY KEY REFERENCES events(seq) ON DELETE CASCADE,
        key TEXT NOT NULL,
        received_ms INTEGER NOT NULL
    );
    INSERT INTO event_keys (seq, key, received_ms)
        SELECT seq, idempotency_key, received_ms FROM events WHERE idempotency_key IS NOT NULL;
    UPDATE events SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL;",
    // Version 5. Alarms move to a rowid table without an index on the key, looked up through the
    // writer's map of alarm keys (`alarms.rs`): the key's PRIMARY KEY index took one random
    // page per raised alarm (SD-WAN keys are uuids). Rows are copied oldest change first.
    "CREATE TABLE alarms_by_row (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        raised INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        events INTEGER NOT NULL DEFAULT 1
    );
    INSERT INTO alarms_by_row (key, raised, first_seq, last_seq, updated_ms, events)
        SELECT key, raised, first_seq, last_seq, updated_ms, events FROM alarms
        ORDER BY updated_ms, last_seq;
    DROP TABLE alarms;
    ALTER TABLE alarms_by_row RENAME TO alarms;",
    // Version 6. `events` is rebuilt with only the indexes its queries use (time, device and time,
    // type, severity): the UNIQUE index on the event id (nothing looks events up by id), the
    // always-NULL `idempotency_key` column with its UNIQUE index (superseded in version 4) and the
    // index on `received_ms` (retention walks the seq order instead, see `events::prune`) each
    // dirtied a 4 KiB page per commit. `seq` drops AUTOINCREMENT, whose `sqlite_sequence` row was
    // updated by every insert: the writer assigns seqs itself (`writer::Memory::last_seq`), and
    // retention never deletes the newest event, so the highest seq ever assigned stays in the
    // table. `seq_floor` keeps what `sqlite_sequence` knew, in case retention had already
    // deleted the newest events before this migration. The rebuild runs with foreign keys off
    // (`migrate`), so the outbox and key rows that reference events are kept as they are.
    "CREATE TABLE seq_floor (seq INTEGER NOT NULL);
    INSERT INTO seq_floor (seq) SELECT seq FROM sqlite_sequence WHERE name = 'events';
    CREATE TABLE events_v6 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity INTEGER NOT NULL,
        subject TEXT,
        body TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        alarmstate TEXT NOT NULL DEFAULT 'info'
    );
    INSERT INTO events_v6
        (seq, id, received_ms, time_ms, device, kind, severity, subject, body, source, alarmstate)
        SELECT seq, id, received_ms, time_ms, device, kind, severity, subject, body, source,
            alarmstate
        FROM events ORDER BY seq;
    DROP TABLE events;
    ALTER TABLE events_v6 RENAME TO events;
    CREATE INDEX events_time ON events(time_ms);
    CREATE INDEX events_device_time ON events(device, time_ms);
    CREATE INDEX events_kind ON events(kind);
    CREATE INDEX events_severity ON events(severity);",
    // Version 7. Webhook alarm and redelivery keys are scoped by source (`<source>:<provider>:
    // <id>`, `source::webhook::scoped`); before, they were `<provider>:<id>` (a generic mapping's
    // `generic:<source>:<id>`, a CloudEvent's alarm the sender's `alarmkey` as sent). Stored keys
    // are rewritten with the source of their event, so that a redelivery of an event stored
    // before the upgrade is still a duplicate and a clear still clears an alarm raised before it.
    // An alarm's source is that of the event that raised it (`first_seq`: a shared key may have
    // been cleared by another source), else of its last; an alarm whose events retention deleted
    // keeps its key. A device alarm key is `<source>:<subject>`: one that looks like an old
    // webhook key (a source named after a provider prefix) is told apart by its event, which has
    // no redelivery key (device events never do). Keys already in the new form, and keys of
    // events with no source name, stay. Alarms go first: a CloudEvent's alarm is recognised by
    // its event's old key.
    "CREATE TEMP TABLE old_prefixes (prefix TEXT NOT NULL);
    INSERT INTO old_prefixes (prefix) VALUES ('sdwan:'), ('meraki:'), ('catc:'), ('te:'),
        ('intersight:'), ('webex:'), ('sw:'), ('ce:');
    CREATE TEMP TABLE new_prefixes (prefix TEXT NOT NULL);
    INSERT INTO new_prefixes (prefix) SELECT prefix FROM old_prefixes UNION ALL SELECT 'generic:';
    CREATE TEMP TABLE alarm_keys AS
        SELECT alarms.id AS id, alarms.key AS key, events.source AS source,
            event_keys.key AS event_key
        FROM alarms
        JOIN events ON events.seq = coalesce(
            (SELECT seq FROM events WHERE seq = alarms.first_seq), alarms.last_seq)
        LEFT JOIN event_keys ON event_keys.seq = events.seq
        WHERE events.source <> '';
    CREATE TEMP TABLE alarm_rekeyed AS SELECT id, CASE
        WHEN source <> 'generic'
            AND substr(key, 1, length(source) + 9) = 'generic:' || source || ':'
            THEN source || ':generic:' || substr(key, length(source) + 10)
        WHEN EXISTS (SELECT 1 FROM new_prefixes WHERE substr(key, 1, length(source) + 1
            + length(prefix)) = source || ':' || prefix) THEN key
        WHEN substr(event_key, 1, 3) = 'ce:' AND substr(key, 1, length(source) + 1) <> source || ':'
            THEN source || ':' || key
        WHEN EXISTS (SELECT 1 FROM old_prefixes WHERE substr(key, 1, length(prefix)) = prefix)
            AND (event_key IS NOT NULL OR substr(key, 1, length(source) + 1) <> source || ':')
            THEN source || ':' || key
        ELSE key END AS key
        FROM alarm_keys;
    UPDATE alarms SET key = alarm_rekeyed.key FROM alarm_rekeyed
        WHERE alarm_rekeyed.id = alarms.id AND alarm_rekeyed.key <> alarms.key;
    UPDATE event_keys SET key = CASE
        WHEN substr(event_keys.key, 1, length(events.source) + 9) = 'generic:' || events.source || ':'
            THEN events.source || ':generic:' || substr(event_keys.key, length(events.source) + 10)
        ELSE events.source || ':' || event_keys.key END
        FROM events
        WHERE events.seq = event_keys.seq AND events.source <> '' AND (
            (events.source <> 'generic' AND substr(event_keys.key, 1, length(events.source) + 9)
                = 'generic:' || events.source || ':')
            OR (EXISTS (SELECT 1 FROM old_prefixes
                    WHERE substr(event_keys.key, 1, length(prefix)) = prefix)
                AND NOT EXISTS (SELECT 1 FROM new_prefixes
                    WHERE substr(event_keys.key, 1, length(events.source) + 1 + length(prefix))
                        = events.source || ':' || prefix)));
    DROP TABLE old_prefixes;
    DROP TABLE new_prefixes;
    DROP TABLE alarm_keys;
    DROP TABLE alarm_rekeyed;",
    // Version 8. The alerting router (`gateway::router`, issue 20) reads the log after its cursor
    // and needs each event's alarm updates: `events.alarms` holds them (NULL when none, else one
    // `+key` or `-key` per line, see `route.rs`). Its state rows, its decisions per event and the
    // events each notification reported live next to the log; decisions and memberships go
    // with their event when retention deletes it (foreign keys are on in the writer, see
    // `open_writer`). `notification_members` is also indexed on `notification_seq`: that is the
    // column the cascade looks up for every event retention deletes, which without an index
    // would scan the table once per deleted event. `sink_threads` remembers the message that
    // starts each group's thread in a sink (a Webex message id).
    "ALTER TABLE events ADD COLUMN alarms TEXT;
    CREATE TABLE route_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE route_trace (
        seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
        route TEXT NOT NULL,
        sink TEXT NOT NULL,
        decision TEXT NOT NULL
    );
    CREATE INDEX route_trace_seq ON route_trace(seq);
    CREATE TABLE notification_members (
        member_seq INTEGER NOT NULL,
        notification_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE
    );
    CREATE INDEX notification_members_member ON notification_members(member_seq);
    CREATE INDEX notification_members_notification ON notification_members(notification_seq);
    CREATE TABLE sink_threads (
        sink TEXT NOT NULL,
        grp TEXT NOT NULL,
        message_id TEXT NOT NULL,
        PRIMARY KEY (sink, grp)
    );",
    // 8 → 9: the operator's side of an alarm (acknowledged or closed, by whom, when, with what
    // note, through which channel) as JSON in `alarms.operator`, folded from the operator events
    // of the log in the transaction that appends them; a new raise after a clear starts over with
    // none. `webex_cards` remembers every message with buttons a Webex sink posted (Webex's
    // message id → the sink, its room and the event it reports), so that a click is acted on only
    // when it belongs to a card netpulse posted, in the room it posted it to.
    "ALTER TABLE alarms ADD COLUMN operator TEXT;
    CREATE TABLE webex_cards (
        message_id TEXT PRIMARY KEY,
        sink TEXT NOT NULL,
        room TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX webex_cards_seq ON webex_cards(seq);",
    // 9 → 10: each session-holding source's last reported view (`views.rs`), so that a restart
    // resynchronises against it instead of taking a new baseline. `view_sources` has a row per
    // source whose baseline was saved (only those fold their events), with the seq and the time
    // of the view's last change; `view_objects` holds its objects (a DME dn, a pxGrid session),
    // their attributes as one compact JSON object.
    "CREATE TABLE view_sources (
        source TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE view_objects (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        class TEXT NOT NULL,
        attributes TEXT NOT NULL,
        PRIMARY KEY (source, key)
    ) WITHOUT ROWID;",
];

/// Opens the writer's connection: applies the pragmas, switches to WAL and migrates the schema.
pub(super) fn open_writer(path: &Path, synchronous_full: bool) -> anyhow::Result<Connection> {
    create_private(path)?;
    let mut conn = Connection::open(path)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .context("cannot switch the store to WAL mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the store stayed in journal mode {mode:?} instead of WAL");
    }
    // FULL syncs the WAL on every commit, so a committed event survives a power loss; NORMAL only
    // survives a process crash, which some deployments accept for throughput.
    let synchronous = if synchronous_full { "FULL" } else { "NORMAL" };
    conn.pragma_update(None, "synchronous", synchronous)?;
    // Every command runs in a savepoint, whose journal of original pages would otherwise spill to
    // a temporary file: keep it in memory (measured: a fifth of the writer's time went there).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The checkpointer thread keeps the WAL short; the writer checkpoints only as a backstop if
    // it falls far behind (the default would make it every 1000 pages, inside a commit).
    conn.pragma_update(None, "wal_autocheckpoint", 20_000)?;
    // Off while migrating: a migration that rebuilds a table drops the old one, which with
    // foreign keys on would cascade to the rows that reference it (SQLite's documented procedure
    // for changing a table). The pragma cannot change inside a transaction, hence out here.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    migrate(&mut conn).with_context(|| format!("cannot migrate the store {}", path.display()))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates the database file, readable and writable by its owner only, unless it exists. SQLite
/// creates the `-wal` and `-shm` files with the mode of the database file, so they follow; its own
/// default would be 0644, every event readable by every local user. An existing file keeps the
/// mode its operator gave it.
fn create_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot create the store {}", path.display())),
    }
}

/// Opens a read-only connection; WAL lets it read while the writer commits.
pub(super) fn open_reader(path: &Path) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open the store {} for reading", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Runs every migration the database has not seen yet, each in its own transaction together with
/// the version bump, so a crash leaves the schema at a well-defined version.
fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two processes opening the
        // same file cannot both run the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let version = usize::try_from(version).context("negative schema version")?;
        if version > MIGRATIONS.len() {
            bail!(
                "schema version {version} is newer than this netpulse knows ({})",
                MIGRATIONS.len()
            );
        }
        let Some(migration) = MIGRATIONS.get(version) else {
            return Ok(());
        };
        tx.execute_batch(migration)
            .with_context(|| format!("migration to version {} failed", version + 1))?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()?;
        // A rebuild keeps every seq, so this finds nothing unless the file was already
        // inconsistent; say so rather than refuse to start.
        if let Some(table) = broken {
            tracing::warn!(
                version = version + 1,
                table,
                "the store has rows that reference events no longer stored"
            );
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "store schema migrated");
    }
}

/// The integer stored in `events.severity`, ordered so that `severity >= ?` selects "at least".
pub(super) fn severity_rank(severity: Severity) -> i64 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Minor => 2,
        Severity::Major => 3,
        Severity::Critical => 4,
    }
}

/// The severity stored as `rank`, if it is one.
pub(super) fn severity_from_rank(rank: i64) -> Option<Severity> {
    [
        Severity::Info,
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ]
    .into_iter()
    .find(|severity| severity_rank(*severity) == rank)
}

/// The latest schema version, for tests.
#[cfg(test)]
pub(super) fn latest_version() -> usize {
    MIGRATIONS.len()
}
