//! SETUP, never measured: an engine whose database holds many VMs (B3, B5).
//!
//! One VM is made through the API (so it is exactly what the engine writes), then the engine
//! is stopped and copies of it (new id, name `bench-vm-NNNNNN`) are inserted through
//! `oxvirt_engine_db::store::Store` in large transactions — thousands of times faster than the
//! API, and the benchmarks measure reads, not this.

use crate::Db;
use crate::api::{self, Api};
use anyhow::Context as _;
use oxvirt_engine_db::store::Store;
use oxvirt_testkit::TestEngine;
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::postgres::TestPostgres;
use oxvirt_types::VmId;
use serde_json::json;
use std::time::{Duration, Instant};

/// VMs inserted per transaction.
const CHUNK: usize = 10_000;

/// An engine (`TestEngine`, the sibling `oxvirt-engine`) on a fresh database: an SQLite file
/// in its data dir, or a database of a private PostgreSQL server (returned: keep it alive
/// longer than the engine). Also returns the database URL.
pub async fn engine_on(db: Db) -> anyhow::Result<(Option<TestPostgres>, TestEngine, String)> {
    let (postgres, url) = match db {
        Db::Sqlite => (None, None),
        Db::Postgres => {
            let pg = TestPostgres::start().context("starting PostgreSQL (TestPostgres)")?;
            let url = pg.create_database()?;
            (Some(pg), Some(url))
        }
    };
    let env: Vec<(&str, &str)> = url.as_deref().map(|u| vec![("OXVIRT_DATABASE_URL", u)]).unwrap_or_default();
    let engine = TestEngine::start(&engine_binary()?, &env).await.context("starting the engine")?;
    let db_url = url.unwrap_or_else(|| format!("sqlite://{}", engine.data_dir.join("engine.db").display()));
    Ok((postgres, engine, db_url))
}

/// `bench-vm-000042`.
pub fn vm_name(i: usize) -> String {
    format!("bench-vm-{i:06}")
}

/// An engine on its own database (SQLite file in its data dir, or a private PostgreSQL)
/// holding `count` VMs named `bench-vm-000000…`.
#[derive(Debug)]
pub struct Populated {
    pub db: Db,
    pub engine: TestEngine,
    pub db_url: String,
    /// The VMs' ids, in name order.
    pub vm_ids: Vec<VmId>,
    // Dropped after the engine (fields drop in order).
    _postgres: Option<TestPostgres>,
}

impl Populated {
    /// Starts the database and the engine, and makes the data center, cluster and first VM
    /// through the API.
    pub async fn start(db: Db) -> anyhow::Result<Self> {
        let (postgres, engine, db_url) = engine_on(db).await?;
        let api = Api::login(&engine.api_url, TEST_ADMIN_PASSWORD).await?;
        api::data_center_and_cluster(&api, "bench-dc", "bench-cluster").await?;
        let vm = api
            .post(
                "/vms",
                &json!({"name": vm_name(0), "cluster": {"name": "bench-cluster"}, "template": {"name": "Blank"},
                        "description": "benchmark VM", "memory": "268435456"}),
            )
            .await?;
        let id: VmId = vm["id"].as_str().context("VM without id")?.parse().context("VM id")?;
        Ok(Self { db, engine, db_url, vm_ids: vec![id], _postgres: postgres })
    }

    /// Stops the engine and inserts VMs until there are `n`; returns the time the inserts took.
    /// The engine is left stopped: restart it (`engine.restart()`) or launch it yourself.
    pub async fn grow_to(&mut self, n: usize) -> anyhow::Result<Duration> {
        self.engine.stop();
        let t0 = Instant::now();
        let store = Store::open(&self.db_url).await.context("opening the engine's database")?;
        let seed = store.vm_get(self.vm_ids[0]).await?;
        while self.vm_ids.len() < n {
            let mut tx = store.begin().await?;
            let end = n.min(self.vm_ids.len() + CHUNK);
            for i in self.vm_ids.len()..end {
                let mut vm = seed.clone();
                vm.id = VmId::new_random();
                vm.name = vm_name(i);
                tx.vm_insert(&vm).await?;
                self.vm_ids.push(vm.id);
            }
            tx.commit().await?;
        }
        store.close().await;
        Ok(t0.elapsed())
    }
}
