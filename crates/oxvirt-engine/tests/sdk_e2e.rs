//! End to end with the real oVirt Python SDK against a real engine process, on SQLite and on
//! PostgreSQL: SSO login (with the CA file and insecure), the API root, data centers and
//! clusters (add, get, list, search, update, remove), and faults (409, 404, bad references).
//! The checks themselves are in `tests/sdk/slice.py`.

use oxvirt_testkit::TestEngine;
use oxvirt_testkit::engine::{TEST_ADMIN_PASSWORD, engine_binary};
use oxvirt_testkit::postgres::TestPostgres;
use std::path::Path;
use std::process::Command;

fn run_slice(engine: &TestEngine) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/slice.py");
    let out = Command::new(oxvirt_testkit::sdk::sdk_python().expect("SDK venv"))
        .arg(&script)
        .arg(&engine.api_url)
        .arg(TEST_ADMIN_PASSWORD)
        .arg(&engine.ca_file)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "SDK slice failed:\n{stdout}\n{}\nengine log tail:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(engine.log_path())
            .unwrap_or_default()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn sdk_slice_on_sqlite() {
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[]).await.expect("engine");
    run_slice(&engine);
}

#[tokio::test]
async fn sdk_slice_on_postgresql() {
    let pg = TestPostgres::start().expect("postgres");
    let url = pg.create_database().expect("database");
    let engine = TestEngine::start(&engine_binary().expect("engine binary"), &[("OXVIRT_DATABASE_URL", &url)])
        .await
        .expect("engine");
    run_slice(&engine);
}
