//! Refuses what another web site could make a browser send to the API.
//!
//! Why: the API accepts HTTP Basic, which browsers remember and attach to every request to the
//! engine, whichever page makes it. A page elsewhere can make a browser post an HTML form (its
//! body form-encoded, multipart or `text/plain`, the only types a form or a "simple" request
//! can carry) without the user's knowledge. The API reads only XML and JSON, so those types
//! are refused before authentication; and a browser names the page's site in `Origin`, so a
//! request whose `Origin` is not this engine is refused too. oVirt's own clients (the SDKs,
//! Ansible, curl) send neither.

use super::*;

/// Body types a browser sends without asking the server first (a form, or a CORS "simple"
/// request).
const BROWSER_FORM_TYPES: &[&str] = &["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

pub(super) async fn cross_site_check(req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let media = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if BROWSER_FORM_TYPES.contains(&media.as_str()) {
            return Failure::new(
                ErrorKind::InvalidInput,
                format!(
                    "the API reads XML or JSON bodies: send Content-Type: application/xml or application/json, \
                     not {media} (form bodies are refused so that other web sites cannot post to the engine)"
                ),
            )
            .into_response();
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        if !same_site(origin, host) {
            return Failure::new(
                ErrorKind::Forbidden,
                format!(
                    "cross-site request refused: its Origin ({origin}) is not this engine (https://{host}); \
                     call the API from the engine's own pages or from a client that sends no Origin"
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// True when `origin` (`scheme://host[:port]`) names the engine reached as `host` over HTTPS.
fn same_site(origin: &str, host: &str) -> bool {
    let Some(rest) = origin.strip_prefix("https://") else { return false };
    let host = host.trim().to_ascii_lowercase();
    let rest = rest.trim_end_matches('/').to_ascii_lowercase();
    !host.is_empty()
        && (rest == host
            || rest.strip_suffix(":443") == Some(host.as_str())
            || host.strip_suffix(":443") == Some(rest.as_str()))
}

#[cfg(test)]
mod tests {
    use super::same_site;

    #[test]
    fn only_the_engine_s_own_https_origin_is_the_same_site() {
        assert!(same_site("https://engine.example:8443", "engine.example:8443"));
        assert!(same_site("https://Engine.example", "engine.example:443"));
        assert!(same_site("https://engine.example:443", "engine.example"));
        assert!(!same_site("http://engine.example:8443", "engine.example:8443"), "plain http is another origin");
        assert!(!same_site("https://evil.example", "engine.example"));
        assert!(!same_site("https://engine.example.evil.example", "engine.example"));
        assert!(!same_site("null", "engine.example"));
        assert!(!same_site("https://engine.example", ""), "no Host, no match");
    }
}
