//! The engine's periodic background work, run by one small driver.
//!
//! Why a driver: the engine grows periodic tasks — host-watcher reconciliation today; job
//! retention, HA restarts, balancing and pool sizing next — and each must be observable (is it
//! running, when did it last run, did it fail and why) without reading logs. A task is a name,
//! a period and an async body returning `Result`; the driver runs it every period (delayed,
//! never bunched, after an overrun), records the outcome of every run, and keeps going after a
//! failure. [`Background::status`] is what `GET /ovirt-engine/api/oxvirt/backgroundtasks`
//! shows (an oxvirt extension).

pub mod retention;

use oxvirt_engine_db::model::Timestamp;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What one run of a task returns; the error text is recorded and logged.
pub type TaskResult = Result<(), String>;

/// The last-run record of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub name: &'static str,
    pub period: Duration,
    /// Completed runs.
    pub runs: u64,
    /// Runs that returned an error.
    pub failures: u64,
    /// Whether a run is in progress now.
    pub running: bool,
    pub last_start: Option<Timestamp>,
    pub last_duration: Option<Duration>,
    /// The error of the last run, if it failed.
    pub last_error: Option<String>,
}

/// The registry of periodic tasks and their status.
#[derive(Default)]
pub struct Background {
    tasks: Mutex<Vec<Arc<Mutex<TaskStatus>>>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background").field("tasks", &self.status()).finish()
    }
}

impl Background {
    /// Starts `body` every `period` (the first run one period from now) on the runtime, for
    /// as long as the process lives. A name registered twice is refused (logged, not started).
    pub fn spawn<F, Fut>(&self, name: &'static str, period: Duration, body: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = TaskResult> + Send + 'static,
    {
        let status = {
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            if tasks.iter().any(|t| t.lock().unwrap_or_else(PoisonError::into_inner).name == name) {
                tracing::error!(task = name, "a background task of this name runs already; not started twice");
                return;
            }
            let status = Arc::new(Mutex::new(TaskStatus {
                name,
                period,
                runs: 0,
                failures: 0,
                running: false,
                last_start: None,
                last_duration: None,
                last_error: None,
            }));
            tasks.push(status.clone());
            status
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                run_once(&status, &body).await;
            }
        });
        tracing::info!(task = name, ?period, "background task started");
    }

    /// Every task's last-run record, in the order they were started.
    pub fn status(&self) -> Vec<TaskStatus> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.iter().map(|t| t.lock().unwrap_or_else(PoisonError::into_inner).clone()).collect()
    }
}

async fn run_once<Fut: Future<Output = TaskResult>>(status: &Mutex<TaskStatus>, body: &impl Fn() -> Fut) {
    let name = {
        let mut s = status.lock().unwrap_or_else(PoisonError::into_inner);
        s.running = true;
        s.last_start = Some(Timestamp::now());
        s.name
    };
    let started = Instant::now();
    let outcome = body().await;
    let mut s = status.lock().unwrap_or_else(PoisonError::into_inner);
    s.running = false;
    s.runs += 1;
    s.last_duration = Some(started.elapsed());
    match outcome {
        Ok(()) => s.last_error = None,
        Err(e) => {
            tracing::error!(task = name, error = %e, "background task failed; it runs again next period");
            s.failures += 1;
            s.last_error = Some(e);
        }
    }
}

impl super::App {
    /// Starts the engine's own periodic tasks (the host monitor registers its own when it
    /// starts): retention.
    pub fn background_start(self: &Arc<Self>) {
        let app = Arc::downgrade(self);
        self.background.spawn("retention", retention::PERIOD, move || {
            let app = app.clone();
            async move {
                let Some(app) = app.upgrade() else { return Ok(()) };
                app.retention_run(Timestamp::now()).await.map(|_| ()).map_err(|e| e.to_string())
            }
        });
        let app = Arc::downgrade(self);
        self.background.spawn("storage-check", super::storage_check::PERIOD, move || {
            let app = app.clone();
            async move {
                let Some(app) = app.upgrade() else { return Ok(()) };
                app.storage_check_run().await.map(|_| ()).map_err(|e| e.to_string())
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Waits (paused clock: no real time passes) until `cond` holds.
    async fn until(cond: impl Fn() -> bool) {
        for _ in 0..1000 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_run_every_period_and_record_failures_without_stopping() {
        let bg = Background::default();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        bg.spawn("flaky", Duration::from_secs(5), move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { if n == 0 { Err("first run fails".to_owned()) } else { Ok(()) } }
        });
        assert_eq!(bg.status()[0].runs, 0, "the first run waits one period");
        until(|| bg.status()[0].runs == 1).await;
        let s = bg.status()[0].clone();
        assert_eq!((s.failures, s.last_error.as_deref()), (1, Some("first run fails")));
        until(|| bg.status()[0].runs == 2).await;
        let s = bg.status()[0].clone();
        assert_eq!((s.name, s.failures, s.last_error, s.running), ("flaky", 1, None, false));

        bg.spawn("flaky", Duration::from_secs(1), || async { Ok(()) });
        assert_eq!(bg.status().len(), 1, "a name runs once");
    }
}
