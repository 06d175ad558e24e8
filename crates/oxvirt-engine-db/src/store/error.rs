//! Errors of the store, and the translation of database constraint violations into them.
//!
//! Constraint violations are how the database tells us about taken names and dangling
//! references; the store turns them into messages that name the object ("a VM named 'web1'
//! already exists"). PostgreSQL names the violated constraint; SQLite names the columns of a
//! unique constraint and nothing at all for a foreign key. The schema therefore names every
//! constraint `<table>_<columns>_key` / `<table>_<column>_fkey`, so that both backends yield the
//! same key, and for SQLite's anonymous foreign key failures the store asks the database which
//! reference is missing (or which dependents exist) right after the failed statement — SQLite
//! keeps a transaction usable after a failed statement; PostgreSQL never needs to ask.

use oxvirt_types::ErrorKind;
use sqlx::AnyConnection;

/// Errors of the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend the store supports, or is malformed.
    #[error("unsupported database URL '{url}': {reason}")]
    BadUrl { url: String, reason: String },

    /// The database cannot be reached or opened.
    #[error("cannot open the database {url}: {source} (is it running and reachable, is the path writable?)")]
    Unavailable { url: String, source: sqlx::Error },

    /// Applying the schema migrations failed.
    #[error("cannot migrate the database schema of {url}: {source}")]
    Migration { url: String, source: sqlx::migrate::MigrateError },

    /// The object does not exist.
    #[error("{what} {key} does not exist")]
    NotFound { what: &'static str, key: String },

    /// A name (or id, or other unique value) is taken; the message says which.
    #[error("{0}")]
    AlreadyExists(String),

    /// The object refers to another object that does not exist.
    #[error("{object} refers to {what} {id}, which does not exist")]
    MissingReference { object: String, what: &'static str, id: String },

    /// The object cannot be removed while others refer to it.
    #[error("{object} is still used by {by}; remove those first")]
    InUse { object: String, by: String },

    /// A value cannot be stored (out of range, or an operation the store refuses).
    #[error("{0}")]
    InvalidValue(String),

    /// An operation the object's state forbids (e.g. removing the Blank template).
    #[error("{0}")]
    Refused(String),

    /// Every address of the MAC pool is in use.
    #[error("MAC pool '{pool}' is exhausted: all {total} addresses of its ranges are in use; add a range to it")]
    MacPoolExhausted { pool: String, total: u64 },

    /// A row holds a value the store cannot read back (a bug, or the database was edited).
    #[error("cannot read column '{column}': {detail}")]
    Corrupt { column: String, detail: String },

    /// Any other database failure.
    #[error("database error while {doing}: {source}")]
    Database { doing: String, source: sqlx::Error },
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::BadUrl { .. } | StoreError::InvalidValue(_) | StoreError::MissingReference { .. } => {
                ErrorKind::InvalidInput
            }
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::AlreadyExists(_)
            | StoreError::InUse { .. }
            | StoreError::Refused(_)
            | StoreError::MacPoolExhausted { .. } => ErrorKind::Conflict,
            StoreError::Database { source, .. } if is_unavailable(source) => ErrorKind::Unavailable,
            StoreError::Migration { .. } | StoreError::Corrupt { .. } | StoreError::Database { .. } => {
                ErrorKind::Internal
            }
        }
    }

    pub fn not_found(what: &'static str, key: impl std::fmt::Display) -> Self {
        StoreError::NotFound { what, key: key.to_string() }
    }

    pub(crate) fn db(doing: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        let doing = doing.into();
        move |source| StoreError::Database { doing, source }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed)
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A reference a written row makes: the foreign key and how to check the referenced row.
#[derive(Debug)]
struct Reference {
    fkey: &'static str,
    what: &'static str,
    table: &'static str,
    id: String,
}

/// Rows that may refer to a row being removed.
#[derive(Debug)]
struct Dependent {
    fkey: &'static str,
    by: &'static str,
    count_sql: &'static str,
}

/// What a write is about, to explain its constraint violations.
#[derive(Debug)]
pub(crate) struct WriteCtx {
    doing: String,
    /// The object as a message names it: "VM 'web1'", "disk attachment …".
    object: String,
    id: String,
    uniques: Vec<(String, String)>,
    references: Vec<Reference>,
    dependents: Vec<Dependent>,
}

impl WriteCtx {
    /// A write to `table`'s row `id`, shown as `object` (e.g. "VM 'web1'"). A taken primary key
    /// (`<table>_id_key`) is explained as "a {what} with id … already exists".
    pub(crate) fn new(doing: &str, table: &str, what: &str, object: String, id: impl ToString) -> Self {
        let id = id.to_string();
        let uniques = vec![(format!("{table}_id_key"), format!("a {what} with id {id} already exists"))];
        Self { doing: doing.to_owned(), object, id, uniques, references: Vec::new(), dependents: Vec::new() }
    }

    /// Explains a violation of the unique constraint `key` with `message`.
    pub(crate) fn unique(mut self, key: &str, message: String) -> Self {
        self.uniques.push((key.to_owned(), message));
        self
    }

    /// The row refers to `what` `id` in `table` through the foreign key `fkey`.
    pub(crate) fn reference(
        mut self,
        fkey: &'static str,
        what: &'static str,
        table: &'static str,
        id: impl ToString,
    ) -> Self {
        self.references.push(Reference { fkey, what, table, id: id.to_string() });
        self
    }

    pub(crate) fn reference_opt<T: ToString>(
        self,
        fkey: &'static str,
        what: &'static str,
        table: &'static str,
        id: Option<T>,
    ) -> Self {
        match id {
            Some(id) => self.reference(fkey, what, table, id),
            None => self,
        }
    }

    /// Rows counted by `count_sql` (with `$1` = this row's id) refer to this row through `fkey`.
    pub(crate) fn dependent(mut self, fkey: &'static str, by: &'static str, count_sql: &'static str) -> Self {
        self.dependents.push(Dependent { fkey, by, count_sql });
        self
    }

    /// Turns a failed write into the error that explains it.
    pub(crate) async fn explain(&self, conn: &mut AnyConnection, err: sqlx::Error) -> StoreError {
        let (kind, key) = match &err {
            sqlx::Error::Database(db) => (db.kind(), constraint_key(db.as_ref())),
            _ => return StoreError::Database { doing: self.doing.clone(), source: err },
        };
        match kind {
            sqlx::error::ErrorKind::UniqueViolation => {
                if let Some((_, message)) = key.as_deref().and_then(|k| self.uniques.iter().find(|(u, _)| u == k)) {
                    return StoreError::AlreadyExists(message.clone());
                }
                StoreError::AlreadyExists(format!(
                    "{} conflicts with an existing one ({})",
                    self.object,
                    key.as_deref().unwrap_or("unique constraint")
                ))
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => self.explain_foreign_key(conn, key.as_deref(), err).await,
            _ => StoreError::Database { doing: self.doing.clone(), source: err },
        }
    }

    async fn explain_foreign_key(&self, conn: &mut AnyConnection, key: Option<&str>, err: sqlx::Error) -> StoreError {
        if let Some(key) = key {
            if let Some(r) = self.references.iter().find(|r| r.fkey == key) {
                return self.missing(r);
            }
            if let Some(d) = self.dependents.iter().find(|d| d.fkey == key) {
                return StoreError::InUse { object: self.object.clone(), by: d.by.to_owned() };
            }
        } else {
            // SQLite does not say which foreign key failed: look.
            for r in &self.references {
                let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {} WHERE id = $1", r.table));
                if let Ok(0) = sqlx::query_scalar::<_, i64>(sql).bind(r.id.clone()).fetch_one(&mut *conn).await {
                    return self.missing(r);
                }
            }
            for d in &self.dependents {
                if let Ok(n) =
                    sqlx::query_scalar::<_, i64>(d.count_sql).bind(self.id.clone()).fetch_one(&mut *conn).await
                    && n > 0
                {
                    return StoreError::InUse { object: self.object.clone(), by: d.by.to_owned() };
                }
            }
        }
        StoreError::Database { doing: self.doing.clone(), source: err }
    }

    fn missing(&self, r: &Reference) -> StoreError {
        StoreError::MissingReference { object: self.object.clone(), what: r.what, id: r.id.clone() }
    }
}

/// The constraint's key: PostgreSQL's constraint name, or, for SQLite's
/// "UNIQUE constraint failed: t.a, t.b", `t_a_b_key`.
fn constraint_key(db: &dyn sqlx::error::DatabaseError) -> Option<String> {
    if let Some(name) = db.constraint() {
        return Some(name.to_owned());
    }
    let columns = db.message().strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = None;
    let mut names = Vec::new();
    for qualified in columns.split(',') {
        let (t, c) = qualified.trim().split_once('.')?;
        table.get_or_insert(t);
        names.push(c);
    }
    Some(format!("{}_{}_key", table?, names.join("_")))
}
