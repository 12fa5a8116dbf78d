//! A few read-only connections kept open for the API and the live feed, each query run on the
//! blocking pool so the async runtime never waits on SQLite.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::Reader;

/// Idle connections kept at most; more concurrent queries open their own and close them after.
const MAX_IDLE: usize = 8;

#[derive(Debug, Clone)]
pub struct ReaderPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
}

impl ReaderPool {
    pub fn new(path: impl Into<PathBuf>) -> ReaderPool {
        ReaderPool {
            inner: Arc::new(PoolInner {
                path: path.into(),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs `query` with a connection, off the async runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let reader = inner.idle.lock().ok().and_then(|mut idle| idle.pop());
            let reader = match reader {
                Some(reader) => reader,
                None => Reader::open(&inner.path)?,
            };
            let result = query(&reader);
            if let Ok(mut idle) = inner.idle.lock()
                && idle.len() < MAX_IDLE
            {
                idle.push(reader);
            }
            result
        })
        .await
        .context("a store query panicked")?
    }
}
