//! Authentication: password hashes, the gate every password check passes, and the bearer
//! tokens of oVirt's SSO.
//!
//! Why a gate: one argon2id check costs ~20 MiB and tens of milliseconds of a core, and
//! anyone who can reach the engine can ask for one (HTTP Basic on every API request, the SSO
//! password grant). [`PasswordGate`] runs at most about as many checks at once as there are
//! cores and lets a bounded number wait (beyond that: 503 at once); it slows guessing down
//! per user and per source address *before* any hash runs; an unknown user costs the same as
//! a known one (a dummy hash is checked); and a short cache of verified Basic credentials
//! spares clients that send Basic with every request (Ansible's `uri`, curl scripts) from
//! paying a hash each time.
//!
//! Why in-memory tokens: an oVirt client (the Python SDK among them) that gets a 401 asks
//! the SSO endpoint for a new token and retries once, so tokens need not survive an engine
//! restart; keeping them out of the database keeps every API request free of a token write.
//! Passwords are stored only as argon2id PHC strings.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use oxvirt_types::UserId;
use sha2::Digest as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// How long an SSO token stays valid without use (oVirt's default session timeout is 30 min).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(30 * 60);
/// How long an SSO token lives at most, however often it is used: a stolen token dies.
pub const DEFAULT_TOKEN_MAX_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

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

/// How [`PasswordGate`] admits and slows password checks.
#[derive(Debug, Clone)]
pub struct GateSettings {
    /// Checks that run at once (argon2 uses one core each).
    pub concurrent: usize,
    /// Checks that may wait for a slot; one more is refused at once (503).
    pub max_waiting: usize,
    /// Failed checks of one user, then of one source, before each further one waits.
    pub user_free_failures: u32,
    pub source_free_failures: u32,
    /// The wait doubles with each failure beyond the free ones, up to this.
    pub max_backoff: Duration,
    /// Failures older than this are forgotten.
    pub failure_memory: Duration,
    /// How long verified Basic credentials are trusted without a hash.
    pub cache_ttl: Duration,
}

impl Default for GateSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            concurrent: cores,
            max_waiting: 16 * cores,
            user_free_failures: 5,
            // Sources are often shared (NAT, a jump host running many playbooks).
            source_free_failures: 20,
            max_backoff: Duration::from_secs(60),
            failure_memory: Duration::from_secs(15 * 60),
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// Why a password check was not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error(
        "too many failed logins for {who}; try again in {} s",
        retry_after.as_secs().max(1)
    )]
    Backoff { who: String, retry_after: Duration },
    #[error(
        "the engine is busy checking passwords; try again in a moment, or log in once through SSO and use its token"
    )]
    Busy,
}

/// Failures are kept for so many users and sources at most; beyond, the oldest are dropped.
const FAILURE_ENTRIES_MAX: usize = 100_000;
/// Verified Basic credentials are kept for so many logins at most.
const CACHE_ENTRIES_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    User(String),
    /// An IPv4 address, or the /64 of an IPv6 one (what one site is usually given).
    Source(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// A verified Basic credential: whom it proved, and the hash it was checked against (a new
/// password makes the entry stale).
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Principal,
    pub password_hash: String,
    at: Instant,
}

/// Admits, slows and caches password checks (see the module doc).
#[derive(Debug)]
pub struct PasswordGate {
    settings: GateSettings,
    slots: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    failures: Mutex<HashMap<FailureKey, Failures>>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Keys the cache by a digest no one outside this process can compute.
    cache_salt: [u8; 32],
    /// Checked for unknown or disabled users, so they cost what a real check costs.
    dummy_hash: OnceLock<String>,
}

fn source_key(ip: IpAddr) -> FailureKey {
    FailureKey::Source(match ip.to_canonical() {
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    })
}

impl PasswordGate {
    pub fn new(settings: GateSettings) -> Self {
        let mut cache_salt = [0u8; 32];
        cache_salt[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        cache_salt[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            slots: tokio::sync::Semaphore::new(settings.concurrent.max(1)),
            settings,
            waiting: AtomicUsize::new(0),
            failures: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            cache_salt,
            dummy_hash: OnceLock::new(),
        }
    }

    fn cache_key(&self, login: &str, password: &str) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(self.cache_salt);
        h.update(login.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// The principal these Basic credentials proved within the cache's lifetime, if any.
    /// The caller still checks that the user exists unchanged (same hash, enabled).
    pub fn cached(&self, login: &str, password: &str) -> Option<Verified> {
        let key = self.cache_key(login, password);
        let mut cache = lock(&self.verified);
        match cache.get(&key) {
            Some(v) if v.at.elapsed() < self.settings.cache_ttl => Some(v.clone()),
            Some(_) => {
                cache.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Forgets a cached credential (its user changed).
    pub fn uncache(&self, login: &str, password: &str) {
        lock(&self.verified).remove(&self.cache_key(login, password));
    }

    /// Refuses a check while `login` or `source` is backing off after failures.
    pub fn admit(&self, login: &str, source: Option<IpAddr>) -> Result<(), GateRefusal> {
        let failures = lock(&self.failures);
        let mut keys = vec![(FailureKey::User(login.to_owned()), self.settings.user_free_failures, login.to_owned())];
        if let Some(ip) = source {
            keys.push((source_key(ip), self.settings.source_free_failures, format!("address {ip}")));
        }
        for (key, free, who) in keys {
            let Some(f) = failures.get(&key) else { continue };
            if f.last.elapsed() >= self.settings.failure_memory || f.count < free {
                continue;
            }
            let wait = self.backoff_after(f.count - free + 1);
            let elapsed = f.last.elapsed();
            if elapsed < wait {
                return Err(GateRefusal::Backoff { who, retry_after: wait - elapsed });
            }
        }
        Ok(())
    }

    /// 1 s, 2 s, 4 s … up to the maximum, for the n-th failure beyond the free ones.
    fn backoff_after(&self, n: u32) -> Duration {
        Duration::from_secs(1u64 << n.saturating_sub(1).min(20)).min(self.settings.max_backoff)
    }

    /// Checks `password` against `hash` (a dummy hash when `None`: unknown or disabled user)
    /// in a bounded slot on a blocking thread. True only for a real hash that matches.
    pub async fn verify(&self, hash: Option<String>, password: &str) -> Result<bool, GateRefusal> {
        // Count ourselves among the waiters; one too many is refused at once.
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.settings.max_waiting + self.settings.concurrent {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(GateRefusal::Busy);
        }
        let slot = self.slots.acquire().await;
        let real = hash.is_some();
        let dummy = self.dummy_hash.get().cloned();
        let password = password.to_owned();
        let outcome = tokio::task::spawn_blocking(move || {
            let hash = match hash.or(dummy) {
                Some(h) => h,
                // The first unknown user pays for the dummy's creation once.
                None => password_hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default(),
            };
            (password_verify(&hash, &password), hash)
        })
        .await;
        drop(slot);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok((ok, used)) = outcome else { return Ok(false) };
        if !real {
            let _ = self.dummy_hash.set(used);
        }
        Ok(ok && real)
    }

    /// Records a failed check of `login` from `source`.
    pub fn failed(&self, login: &str, source: Option<IpAddr>) {
        let mut failures = lock(&self.failures);
        let memory = self.settings.failure_memory;
        make_room(&mut failures, FAILURE_ENTRIES_MAX, |f| f.last.elapsed() < memory);
        let now = Instant::now();
        let mut keys = vec![FailureKey::User(login.to_owned())];
        keys.extend(source.map(source_key));
        for key in keys {
            let f = failures.entry(key).or_insert(Failures { count: 0, last: now });
            if f.last.elapsed() >= self.settings.failure_memory {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
    }

    /// Records a successful check: the user's failures are forgotten (the source's are not:
    /// one known password must not buy guesses at others) and the credential is cached.
    pub fn succeeded(&self, login: &str, password: &str, principal: Principal, password_hash: String) {
        lock(&self.failures).remove(&FailureKey::User(login.to_owned()));
        let mut cache = lock(&self.verified);
        let ttl = self.settings.cache_ttl;
        make_room(&mut cache, CACHE_ENTRIES_MAX, |v| v.at.elapsed() < ttl);
        cache.insert(self.cache_key(login, password), Verified { principal, password_hash, at: Instant::now() });
    }
}

/// Keeps `map` under `max` entries: drops the stale ones, and everything if that is not
/// enough (a flood of distinct keys must not grow memory without bound).
fn make_room<K, V>(map: &mut HashMap<K, V>, max: usize, live: impl Fn(&V) -> bool) {
    if map.len() >= max {
        map.retain(|_, v| live(v));
        if map.len() >= max {
            map.clear();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    issued: Instant,
    last_used: Instant,
}

impl Session {
    fn alive(&self, ttl: Duration, max_lifetime: Duration) -> bool {
        self.last_used.elapsed() < ttl && self.issued.elapsed() < max_lifetime
    }
}

/// Issued SSO tokens, each expiring after `ttl` without use and `max_lifetime` after issue.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    max_lifetime: Duration,
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
    pub fn new(ttl: Duration, max_lifetime: Duration) -> Self {
        Self { ttl, max_lifetime, tokens: Mutex::new(HashMap::new()) }
    }

    pub fn token_issue(&self, principal: Principal) -> IssuedToken {
        // Two v4 UUIDs: 244 random bits from the OS generator.
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut tokens = self.lock();
        let now = Instant::now();
        tokens.retain(|_, s| s.alive(self.ttl, self.max_lifetime));
        tokens.insert(token.clone(), Session { principal, issued: now, last_used: now });
        let expires_at_ms = (SystemTime::now() + self.ttl)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        IssuedToken { token, expires_at_ms }
    }

    /// The principal of a valid token (and its idle clock restarts), or `None`. The caller
    /// still checks that the principal's user may log in.
    pub fn token_check(&self, token: &str) -> Option<Principal> {
        let mut tokens = self.lock();
        let session = tokens.get_mut(token)?;
        if !session.alive(self.ttl, self.max_lifetime) {
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
        lock(&self.tokens)
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
        let sessions = Sessions::new(DEFAULT_TOKEN_TTL, DEFAULT_TOKEN_MAX_LIFETIME);
        let t = sessions.token_issue(p.clone());
        assert_eq!(sessions.token_check(&t.token), Some(p.clone()));
        assert_eq!(sessions.token_check("forged"), None);
        assert!(sessions.token_revoke(&t.token));
        assert_eq!(sessions.token_check(&t.token), None);

        let short = Sessions::new(Duration::ZERO, DEFAULT_TOKEN_MAX_LIFETIME);
        let t = short.token_issue(p.clone());
        assert_eq!(short.token_check(&t.token), None, "an idle token is refused");

        let old = Sessions::new(DEFAULT_TOKEN_TTL, Duration::ZERO);
        let t = old.token_issue(p);
        assert_eq!(old.token_check(&t.token), None, "a token past its lifetime is refused, however fresh its use");
    }

    fn principal() -> Principal {
        Principal { user_id: UserId::new_random(), login: "admin@internal".into() }
    }

    #[test]
    fn failures_back_off_the_user_then_the_source_and_success_forgets_the_user() {
        let gate = PasswordGate::new(GateSettings {
            user_free_failures: 2,
            source_free_failures: 3,
            ..GateSettings::default()
        });
        let ip: IpAddr = "192.0.2.7".parse().expect("an address");
        gate.failed("a@internal", Some(ip));
        assert_eq!(gate.admit("a@internal", Some(ip)), Ok(()), "one failure is free");
        gate.failed("a@internal", Some(ip));
        match gate.admit("a@internal", Some(ip)) {
            Err(GateRefusal::Backoff { who, retry_after }) => {
                assert_eq!(who, "a@internal");
                assert!(retry_after <= Duration::from_secs(1), "{retry_after:?}");
            }
            other => panic!("the user backs off after 2 failures: {other:?}"),
        }
        assert_eq!(gate.admit("b@internal", Some(ip)), Ok(()), "the source has one more free failure");
        gate.failed("b@internal", Some(ip));
        match gate.admit("c@internal", Some(ip)) {
            Err(GateRefusal::Backoff { who, .. }) => assert_eq!(who, "address 192.0.2.7"),
            other => panic!("the source backs off after 3 failures: {other:?}"),
        }
        assert_eq!(
            gate.admit("c@internal", Some("192.0.2.8".parse().expect("an address"))),
            Ok(()),
            "another source is free"
        );
        gate.succeeded("a@internal", "pw", principal(), "$hash".into());
        assert_eq!(gate.admit("a@internal", None), Ok(()), "a success forgets the user's failures");
        assert!(gate.admit("a@internal", Some(ip)).is_err(), "but not the source's");
    }

    #[test]
    fn ipv6_sources_count_by_their_64_bit_prefix() {
        let gate = PasswordGate::new(GateSettings { source_free_failures: 1, ..GateSettings::default() });
        gate.failed("x", Some("2001:db8:1:2::10".parse().expect("an address")));
        assert!(gate.admit("y", Some("2001:db8:1:2::99".parse().expect("an address"))).is_err(), "same /64");
        assert_eq!(gate.admit("y", Some("2001:db8:1:3::10".parse().expect("an address"))), Ok(()), "another /64");
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum() {
        let gate = PasswordGate::new(GateSettings { max_backoff: Duration::from_secs(60), ..GateSettings::default() });
        let waits: Vec<u64> = (1..=8).map(|n| gate.backoff_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(gate.backoff_after(u32::MAX).as_secs(), 60, "no overflow");
    }

    #[test]
    fn the_cache_is_keyed_by_login_and_password_and_expires() {
        let gate = PasswordGate::new(GateSettings::default());
        gate.succeeded("a@internal", "pw", principal(), "$h".into());
        assert!(gate.cached("a@internal", "pw").is_some());
        assert!(gate.cached("a@internal", "pW").is_none(), "another password is not cached");
        assert!(gate.cached("b@internal", "pw").is_none());
        gate.uncache("a@internal", "pw");
        assert!(gate.cached("a@internal", "pw").is_none());

        let brief = PasswordGate::new(GateSettings { cache_ttl: Duration::ZERO, ..GateSettings::default() });
        brief.succeeded("a@internal", "pw", principal(), "$h".into());
        assert!(brief.cached("a@internal", "pw").is_none(), "an expired entry is not used");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_users_cost_a_hash_and_never_match() {
        let gate = PasswordGate::new(GateSettings::default());
        let hash = password_hash("s3cret").expect("hash");
        assert_eq!(gate.verify(Some(hash.clone()), "s3cret").await, Ok(true));
        assert_eq!(gate.verify(Some(hash), "nope").await, Ok(false));
        assert_eq!(gate.verify(None, "s3cret").await, Ok(false), "no user, no match");
        let dummy = gate.dummy_hash.get().cloned().expect("the dummy hash was made and kept");
        assert!(dummy.starts_with("$argon2id$"), "{dummy}");
        assert_eq!(gate.verify(None, "").await, Ok(false), "not even an empty password");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_slots_and_waiters_are_refused_at_once() {
        let gate = std::sync::Arc::new(PasswordGate::new(GateSettings {
            concurrent: 1,
            max_waiting: 1,
            ..GateSettings::default()
        }));
        // Hold the only slot, and fill the only waiting place.
        let held = gate.slots.acquire().await.expect("slot");
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.verify(None, "x").await }
        });
        // The waiter counts itself before it waits.
        let deadline = Instant::now() + Duration::from_secs(10);
        while gate.waiting.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the waiter never queued");
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.verify(None, "y").await, Err(GateRefusal::Busy), "a third check is refused, not queued");
        gate.waiting.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        assert_eq!(waiter.await.expect("join"), Ok(false), "the waiter ran once the slot was free");
    }
}
