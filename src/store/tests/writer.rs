//! The writer: group commit, what a rejection undoes, a full or read-only database, close.

use super::*;

// A current-thread runtime enqueues all 200 requests within a few milliseconds. Commits no longer
// wait for the fsync (the syncer does it), so without a commit interval the writer may commit
// every few requests on a fast disk; with 20 ms between commits under load they share a handful.
#[tokio::test]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    config.min_commit_interval = std::time::Duration::from_millis(20);
    let store = Store::open(config).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { append_one(&store, item(event("leaf1", Severity::Info))).await },
            )
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 200);
    let stats = store.stats();
    assert!(stats.commits < 20, "{stats:?}");
    assert_eq!(stored_events(&store), 200);
    store.close().await;
}

#[tokio::test]
async fn a_rejected_request_stores_none_of_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_info(&store, "leaf1").await;
    refuse_device(&dir, "refused");
    let result = store
        .append(&[
            item(event("leaf2", Severity::Info)),
            item(event("refused", Severity::Info)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Rejected(_))), "{result:?}");
    assert_eq!(stored_events(&store), 1);
    // The store is still writable afterwards.
    append_info(&store, "leaf3").await;
    assert_eq!(store.write_state(), WriteState::Writing);
    store.close().await;
}

#[tokio::test]
async fn opening_twice_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_info(&store, "leaf1").await;
    store.close().await;
    let store = open(&dir);
    let reader = store.reader().unwrap();
    assert_eq!(reader.user_version(), schema::latest_version());
    assert_eq!(reader.count("SELECT count(*) FROM events"), 1);
    store.close().await;
}

// `max_page_count` makes SQLite answer SQLITE_FULL exactly as a full disk would, even as root.
#[tokio::test]
async fn a_full_database_makes_appends_unavailable_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("netpulse.db"));
    // More than any disk has: the free-space check below must say "not yet".
    config.min_free_bytes = u64::MAX;
    let store = Store::open(config).unwrap();
    append_info(&store, "leaf1").await;
    let reader = store.reader().unwrap();
    let pages = reader.count("PRAGMA page_count");
    store
        .execute_on_writer(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();

    let mut big = event("leaf1", Severity::Info);
    // Incompressible, so that it needs new pages even compressed (`body.rs`).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let padding: String = (0..256 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    big.data = json!({ "padding": padding });
    let items = vec![item(event("leaf2", Severity::Info)), item(big)];
    let result = store.append(&items).await;
    assert!(matches!(result, Err(StoreError::Full(_))), "{result:?}");
    assert_eq!(reader.count("SELECT count(*) FROM events"), 1);
    assert_eq!(store.stats().failed_commits, 1);
    // /readyz measures the free space of the store's filesystem while the disk is full.
    let state = store.write_state();
    assert!(
        matches!(state, WriteState::DiskFull { available, needed: u64::MAX } if available > 0),
        "{state:?}"
    );
    assert!(!state.ready());

    // Once space is back, writes work again.
    store
        .execute_on_writer("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    append_info(&store, "leaf3").await;
    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_read_only_file_makes_appends_unavailable() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netpulse.db");
    open(&dir).close().await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        eprintln!("skipped: the file is still writable (running as root?), chmod proves nothing");
        return;
    }
    // Failing to open is as good an answer as failing to append: nothing gets acknowledged.
    let Ok(store) = Store::open(StoreConfig::new(&path)) else {
        return;
    };
    let result = append_one(&store, item(event("leaf1", Severity::Info))).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn requests_after_close_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let other = store.clone();
    store.close().await;
    let result = append_one(&other, item(event("leaf1", Severity::Info))).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_rejected_request_among_concurrent_ones_does_not_undo_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_info(&store, "leaf1").await;
    refuse_device(&dir, "refused");
    // Sent together, these requests are committed in the same batch and first tried under one
    // savepoint; the bad one must fail alone.
    let requests = (0..20).map(|index| {
        let store = store.clone();
        let event = if index == 7 {
            event("refused", Severity::Info)
        } else {
            event("leaf2", Severity::Info)
        };
        async move { append_one(&store, item(event)).await }
    });
    let results = futures_util::future::join_all(requests).await;
    let rejected: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, result)| matches!(result, Err(StoreError::Rejected(_))))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(rejected, [7]);
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(index, result)| index == 7 || result.is_ok())
    );
    assert_eq!(stored_events(&store), 20);
    store.close().await;
}

/// The database and the WAL and shared-memory files SQLite creates next to it hold every event:
/// only their owner may read them, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn the_store_files_are_created_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append_one(&store, item(event("leaf1", Severity::Major)))
        .await
        .unwrap();
    for name in ["netpulse.db", "netpulse.db-wal", "netpulse.db-shm"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: mode {mode:o}");
    }
    store.close().await;
}
