//! Version 1 of the agent API.

use serde::{Deserialize, Serialize};

/// Path prefix of this version.
pub const PREFIX: &str = "/v1";

/// `GET /v1/health`: answered by a running agent, without authentication, so that an
/// administrator (and `make up`) can tell "the agent is up" from "the agent is down".
pub const HEALTH_PATH: &str = "/v1/health";

/// Reply of [`HEALTH_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"` when the agent answers.
    pub status: String,
    /// The agent's version (crate version).
    pub version: String,
    /// The API versions this agent serves, e.g. `["v1"]`.
    pub api_versions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_json_shape_is_stable() {
        let h = Health { status: "ok".into(), version: "0.1.0".into(), api_versions: vec!["v1".into()] };
        let json = serde_json::to_value(&h).expect("serialise");
        assert_eq!(json, serde_json::json!({"status": "ok", "version": "0.1.0", "api_versions": ["v1"]}));
    }
}
