//! A keep-alive client of the engine's API, logged in with an SSO bearer token.
//!
//! A token, not HTTP Basic: with Basic auth the engine checks the password (argon2id) on
//! every request, which would dominate every latency measured here. Bodies are sent and
//! replies read as oVirt's JSON.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Api {
    /// `https://127.0.0.1:<port>/ovirt-engine/api`
    pub base: String,
    pub http: reqwest::Client,
    token: String,
}

/// The reply format asked for with `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Json => "json",
        }
    }

    fn accept(self) -> &'static str {
        match self {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        }
    }
}

/// A plain HTTPS client (the engine's certificate is its own CA's; the bench trusts it as is).
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(600))
        .build()?)
}

impl Api {
    /// Logs in as `admin@internal` (password grant) and keeps the token.
    pub async fn login(api_url: &str, password: &str) -> anyhow::Result<Self> {
        let http = http_client()?;
        let root = api_url.strip_suffix("/api").unwrap_or(api_url);
        let reply = http
            .post(format!("{root}/sso/oauth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=password&username={}&password={}&scope=ovirt-app-api",
                form_encode("admin@internal"),
                form_encode(password)
            ))
            .send()
            .await
            .context("SSO token request")?;
        let status = reply.status();
        let body: Value = reply.json().await.context("SSO token reply")?;
        let Some(token) = body["access_token"].as_str() else { bail!("login failed (HTTP {status}): {body}") };
        Ok(Self { base: api_url.to_owned(), http, token: token.to_owned() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a path (`/vms/…`) as JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let reply = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        json_reply("GET", path, reply).await
    }

    /// POST a JSON body (`root` is what oVirt's JSON leaves implicit) and read the JSON reply.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let reply = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        json_reply("POST", path, reply).await
    }

    /// A VM action (`start`, `stop`, …) with an empty `<action/>`.
    pub async fn action(&self, path: &str) -> anyhow::Result<Value> {
        self.post(path, &json!({})).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let reply = self
            .http
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .send()
            .await
            .with_context(|| format!("DELETE {path}"))?;
        json_reply("DELETE", path, reply).await.map(drop)
    }

    /// One timed GET in `format`: (latency until the whole body is read, body bytes).
    pub async fn timed_get(&self, path: &str, format: Format) -> anyhow::Result<(Duration, usize)> {
        let t0 = Instant::now();
        let reply = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .header("Accept", format.accept())
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = reply.status();
        let body = reply.bytes().await.with_context(|| format!("GET {path}: body"))?;
        let elapsed = t0.elapsed();
        if !status.is_success() {
            bail!("GET {path}: HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(2000)]));
        }
        Ok((elapsed, body.len()))
    }

    /// Polls `GET path` as fast as the engine answers (every `interval`) until `field` is
    /// `value`; returns when it was first seen.
    pub async fn wait_field(
        &self,
        path: &str,
        field: &str,
        value: &str,
        interval: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.get(path).await?;
            if v[field].as_str() == Some(value) {
                return Ok(Instant::now());
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {path} to have {field}={value} (last: {})", v[field]);
            }
            tokio::time::sleep(interval).await;
        }
    }
}

/// `application/x-www-form-urlencoded` of one value.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn json_reply(method: &str, path: &str, reply: reqwest::Response) -> anyhow::Result<Value> {
    let status = reply.status();
    let text = reply.text().await.with_context(|| format!("{method} {path}: body"))?;
    if !status.is_success() {
        bail!("{method} {path}: HTTP {status}: {text}");
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path}: unparsable JSON: {text}"))
}

/// Data center `dc` and cluster `cluster` in it (what every benchmark builds on).
pub async fn data_center_and_cluster(api: &Api, dc: &str, cluster: &str) -> anyhow::Result<()> {
    api.post("/datacenters", &json!({"name": dc, "local": "false"})).await?;
    api.post("/clusters", &json!({"name": cluster, "data_center": {"name": dc}})).await?;
    Ok(())
}

/// Adds a host (the agent's enrollment secret as `root_password`); returns its id once Up.
pub async fn host_add(api: &Api, name: &str, address: &str, secret: &str, cluster: &str) -> anyhow::Result<String> {
    let host = api
        .post(
            "/hosts",
            &json!({"name": name, "address": address, "root_password": secret, "cluster": {"name": cluster}}),
        )
        .await?;
    let id = host["id"].as_str().context("host without id")?.to_owned();
    api.wait_field(&format!("/hosts/{id}"), "status", "up", Duration::from_millis(100), Duration::from_secs(120))
        .await?;
    Ok(id)
}

/// A localfs data domain at `path` through host `host`, attached to `dc` and active.
pub async fn local_data_domain(api: &Api, name: &str, host: &str, path: &str, dc: &str) -> anyhow::Result<String> {
    let sd = api
        .post(
            "/storagedomains",
            &json!({"name": name, "type": "data", "host": {"name": host},
                    "storage": {"type": "localfs", "path": path}}),
        )
        .await?;
    let sd_id = sd["id"].as_str().context("storage domain without id")?.to_owned();
    let dcs = api.get(&format!("/datacenters?search=name%3D{dc}")).await?;
    let dc_id = dcs["data_center"][0]["id"].as_str().context("data center not found")?.to_owned();
    api.post(&format!("/datacenters/{dc_id}/storagedomains"), &json!({"id": sd_id})).await?;
    api.wait_field(
        &format!("/datacenters/{dc_id}/storagedomains/{sd_id}"),
        "status",
        "active",
        Duration::from_millis(100),
        Duration::from_secs(120),
    )
    .await?;
    Ok(sd_id)
}
