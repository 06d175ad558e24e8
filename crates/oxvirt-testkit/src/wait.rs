//! Waiting on conditions with a deadline — the only way tests synchronise (never a sleep).

use crate::{Result, TestkitError};
use std::time::{Duration, Instant};

/// How often a condition is re-checked.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, or fails with a timeout naming `what`.
pub fn until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(TestkitError::Timeout { what: what.to_owned(), seconds: timeout.as_secs_f64() });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Like [`until`], but the check itself may fail hard (ending the wait at once).
pub fn until_ok<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(TestkitError::Timeout { what: what.to_owned(), seconds: timeout.as_secs_f64() });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Async form of [`until`], for checks that call async APIs.
pub async fn until_async<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(TestkitError::Timeout { what: what.to_owned(), seconds: timeout.as_secs_f64() });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
