//! Authentication: password hashes, and the bearer tokens of oVirt's SSO.
//!
//! Why in-memory tokens: an oVirt client (the Python SDK among them) that gets a 401 asks
//! the SSO endpoint for a new token and retries once, so tokens need not survive an engine
//! restart; keeping them out of the database keeps every API request free of a token write.
//! Passwords are stored only as argon2id PHC strings.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use oxvirt_types::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long an SSO token stays valid without use (oVirt's default session timeout is 30 min).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Hashes `password` into an argon2id PHC string (`$argon2id$v=19$…`) with a random salt.
pub fn password_hash(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// True when `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn password_verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    /// `name@profile`, e.g. `admin@internal`.
    pub login: String,
}

#[derive(Debug)]
struct Session {
    principal: Principal,
    last_used: Instant,
}

/// Issued SSO tokens, each expiring after `ttl` without use.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    tokens: Mutex<HashMap<String, Session>>,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    /// Expiry as oVirt's SSO reports it: milliseconds since the epoch.
    pub expires_at_ms: u128,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, tokens: Mutex::new(HashMap::new()) }
    }

    pub fn token_issue(&self, principal: Principal) -> IssuedToken {
        // Two v4 UUIDs: 244 random bits from the OS generator.
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut tokens = self.lock();
        let now = Instant::now();
        tokens.retain(|_, s| now.duration_since(s.last_used) < self.ttl);
        tokens.insert(token.clone(), Session { principal, last_used: now });
        let expires_at_ms = (SystemTime::now() + self.ttl)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        IssuedToken { token, expires_at_ms }
    }

    /// The principal of a valid token (and the token's clock restarts), or `None`.
    pub fn token_check(&self, token: &str) -> Option<Principal> {
        let mut tokens = self.lock();
        let session = tokens.get_mut(token)?;
        if session.last_used.elapsed() >= self.ttl {
            tokens.remove(token);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.principal.clone())
    }

    /// Forgets `token`; true when it existed.
    pub fn token_revoke(&self, token: &str) -> bool {
        self.lock().remove(token).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = password_hash("s3cret").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_verify(&hash, "s3cret"));
        assert!(!password_verify(&hash, "S3cret"));
        assert!(!password_verify("not a phc string", "s3cret"));
        assert_ne!(password_hash("s3cret").expect("hash"), hash, "salts differ");
    }

    #[test]
    fn tokens_check_revoke_and_expire() {
        let p = Principal { user_id: UserId::new_random(), login: "admin@internal".into() };
        let sessions = Sessions::new(DEFAULT_TOKEN_TTL);
        let t = sessions.token_issue(p.clone());
        assert_eq!(sessions.token_check(&t.token), Some(p.clone()));
        assert_eq!(sessions.token_check("forged"), None);
        assert!(sessions.token_revoke(&t.token));
        assert_eq!(sessions.token_check(&t.token), None);

        let short = Sessions::new(Duration::ZERO);
        let t = short.token_issue(p);
        assert_eq!(short.token_check(&t.token), None, "an expired token is refused");
    }
}
