//! Small tools the resource modules share: reading typed values out of rows, converting
//! values into what both backends store, and building the few statements whose text depends
//! on the request (list filters).
//!
//! Statement text is always made of fixed fragments written in this module tree and `$n`
//! placeholders; values are only ever bound, never spliced in.

use super::error::{Result, StoreError};
use super::filter::{NamePattern, Page};
use oxvirt_types::ByteSize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments as _, Row as _};
use std::fmt::Write as _;
use std::str::FromStr;

fn corrupt(column: &str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt { column: column.to_owned(), detail: detail.to_string() }
}

/// The statuses of `oxvirt_types` (which spell themselves but do not implement `FromStr`).
pub(crate) trait WireStatus: Sized {
    const WHAT: &'static str;
    fn from_wire(text: &str) -> Option<Self>;
}

macro_rules! wire_status {
    ($($t:ident => $what:literal),*) => {$(
        impl WireStatus for oxvirt_types::$t {
            const WHAT: &'static str = $what;
            fn from_wire(text: &str) -> Option<Self> {
                oxvirt_types::$t::from_wire(text)
            }
        }
    )*};
}

wire_status!(
    VmStatus => "VM status",
    HostStatus => "host status",
    StorageDomainStatus => "storage domain status",
    DataCenterStatus => "data center status"
);

/// Typed reads with errors that name the column.
pub(crate) trait RowExt {
    fn text(&self, col: &str) -> Result<String>;
    fn text_opt(&self, col: &str) -> Result<Option<String>>;
    fn int(&self, col: &str) -> Result<i64>;
    fn int_opt(&self, col: &str) -> Result<Option<i64>>;
    /// A boolean: `BOOLEAN` in PostgreSQL, `INTEGER` 0/1 in SQLite.
    fn flag(&self, col: &str) -> Result<bool>;

    /// An integer column as a narrower type (`u16`, `u32`, …).
    fn int_as<T: TryFrom<i64>>(&self, col: &str) -> Result<T> {
        let v = self.int(col)?;
        T::try_from(v).map_err(|_| corrupt(col, format!("{v} is out of range")))
    }

    fn int_as_opt<T: TryFrom<i64>>(&self, col: &str) -> Result<Option<T>> {
        match self.int_opt(col)? {
            Some(v) => T::try_from(v).map(Some).map_err(|_| corrupt(col, format!("{v} is out of range"))),
            None => Ok(None),
        }
    }

    fn size(&self, col: &str) -> Result<ByteSize> {
        self.int_as::<u64>(col).map(ByteSize)
    }

    /// A text column parsed into an id or an enum.
    fn parse<T: FromStr>(&self, col: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(col)?;
        text.parse().map_err(|e: T::Err| corrupt(col, e))
    }

    fn parse_opt<T: FromStr>(&self, col: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.text_opt(col)? {
            Some(text) => text.parse().map(Some).map_err(|e: T::Err| corrupt(col, e)),
            None => Ok(None),
        }
    }

    /// A status of `oxvirt_types`, in its wire spelling.
    fn status<T: WireStatus>(&self, col: &str) -> Result<T> {
        let text = self.text(col)?;
        T::from_wire(&text).ok_or_else(|| corrupt(col, format!("'{text}' is not a {}", T::WHAT)))
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        let text = self.text(col)?;
        serde_json::from_str(&text).map_err(|e| corrupt(col, e))
    }

    fn json_opt<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>> {
        match self.text_opt(col)? {
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| corrupt(col, e)),
            None => Ok(None),
        }
    }
}

impl RowExt for AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        self.try_get::<String, _>(col).map_err(|e| corrupt(col, e))
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>> {
        self.try_get::<Option<String>, _>(col).map_err(|e| corrupt(col, e))
    }
    fn int(&self, col: &str) -> Result<i64> {
        self.try_get::<i64, _>(col).map_err(|e| corrupt(col, e))
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>> {
        self.try_get::<Option<i64>, _>(col).map_err(|e| corrupt(col, e))
    }
    fn flag(&self, col: &str) -> Result<bool> {
        match self.try_get::<bool, _>(col) {
            Ok(b) => Ok(b),
            Err(_) => match self.int(col)? {
                0 => Ok(false),
                1 => Ok(true),
                v => Err(corrupt(col, format!("{v} is not a boolean (0 or 1)"))),
            },
        }
    }
}

/// A size as the database stores it (a signed 64-bit integer).
pub(crate) fn db_size(what: &str, size: ByteSize) -> Result<i64> {
    i64::try_from(size.bytes())
        .map_err(|_| StoreError::InvalidValue(format!("{what} of {} bytes is too large to store", size.bytes())))
}

/// JSON text of a value that is always serialisable (maps of strings, `serde_json::Value`).
pub(crate) fn db_json(what: &str, value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::InvalidValue(format!("cannot store {what} as JSON: {e}")))
}

/// For a pattern `prefix*` (one wildcard, last) with a non-empty ASCII prefix: the range of
/// lower-cased names that start with it, `[prefix, prefix with its last character + 1)`, in
/// the byte order both backends use for names (SQLite's BINARY, PostgreSQL's "C"). LOWER folds
/// ASCII letters only in both, as here.
fn prefix_range(pattern: &str) -> Option<(String, String)> {
    let prefix = pattern.strip_suffix('*')?;
    if prefix.is_empty() || prefix.contains('*') || !prefix.is_ascii() {
        return None;
    }
    let from = prefix.to_ascii_lowercase();
    let mut to = from.clone().into_bytes();
    let last = to.last_mut()?;
    if *last >= 0x7e {
        return None;
    }
    *last += 1;
    Some((from, String::from_utf8(to).ok()?))
}

/// Statement text plus arguments, numbering placeholders `$1, $2, …` as both backends accept.
/// (sqlx's `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL rejects.)
pub(crate) struct Sql {
    text: String,
    args: AnyArguments,
    count: usize,
    bind_error: Option<String>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self { text: text.to_owned(), args: AnyArguments::default(), count: 0, bind_error: None }
    }

    pub(crate) fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'static, Any> + sqlx::Type<Any>,
    {
        self.count += 1;
        let _ = write!(self.text, "${}", self.count);
        if let Err(e) = self.args.add(value) {
            self.bind_error.get_or_insert(e.to_string());
        }
        self
    }

    /// `AND <column> LIKE <pattern>`: case-insensitive by lower-casing both sides, else plain
    /// `LIKE` (SQLite connections run with `case_sensitive_like` so that it matches PostgreSQL).
    pub(crate) fn name_like(&mut self, column: &str, pattern: &Option<NamePattern>) -> &mut Self {
        if let Some(p) = pattern {
            // Without a wildcard, an equality: the `LOWER(name)` indexes answer it (0012).
            let exact = !p.pattern.contains('*');
            self.push(if p.negated { " AND NOT (" } else { " AND (" });
            if exact && p.case_sensitive {
                self.push(column).push(" = ").bind(p.pattern.clone());
            } else if exact {
                self.push("LOWER(").push(column).push(") = LOWER(").bind(p.pattern.clone()).push(")");
            } else if p.case_sensitive {
                self.push(column).push(" LIKE ").bind(p.to_like()).push(" ESCAPE '\\'");
            } else {
                self.push("LOWER(").push(column).push(") LIKE LOWER(").bind(p.to_like()).push(") ESCAPE '\\'");
            }
            self.push(")");
            if !p.negated && !p.case_sensitive && !exact {
                // A prefix (`web*`) also bounds LOWER(name) by a range the index answers; the
                // LIKE above stays the rule, the range only narrows what is read.
                if let Some((from, to)) = prefix_range(&p.pattern) {
                    self.push(" AND LOWER(").push(column).push(") >= ").bind(from);
                    self.push(" AND LOWER(").push(column).push(") < ").bind(to);
                }
            }
        }
        self
    }

    /// `AND <column> = <value>` when `value` is given.
    pub(crate) fn eq_opt(&mut self, column: &str, value: Option<String>) -> &mut Self {
        if let Some(v) = value {
            self.push(" AND ").push(column).push(" = ").bind(v);
        }
        self
    }

    /// `ORDER BY <column> [DESC], <then…>` then the page's `LIMIT`/`OFFSET`. `then` breaks
    /// ties (stable pages); `column` is the caller's choice for the page's `sort_by`.
    pub(crate) fn order_and_page(&mut self, column: &str, page: &Page, then: &[&str]) -> &mut Self {
        self.order_and_limit(column, page.descending, then, page.limit, page.offset)
    }

    /// [`Self::order_and_page`] for the lists that order themselves (events, jobs).
    pub(crate) fn order_and_limit(
        &mut self,
        column: &str,
        descending: bool,
        then: &[&str],
        limit: Option<u32>,
        offset: u32,
    ) -> &mut Self {
        self.push(" ORDER BY ").push(column).push(if descending { " DESC" } else { " ASC" });
        for t in then {
            if *t != column {
                self.push(", ").push(t);
            }
        }
        if limit.is_some() || offset > 0 {
            // OFFSET needs a LIMIT in SQLite; i64::MAX means "no limit" in both backends.
            let limit = limit.map(i64::from).unwrap_or(i64::MAX);
            self.push(" LIMIT ").bind(limit).push(" OFFSET ").bind(i64::from(offset));
        }
        self
    }

    /// ` AND column IN (v1, v2, …)`, each value bound; `values` must not be empty.
    pub(crate) fn and_in(&mut self, column: &str, values: &[&'static str]) -> &mut Self {
        self.push(" AND ").push(column).push(" IN (");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(*v);
        }
        self.push(")")
    }

    pub(crate) fn build(self) -> Result<sqlx::query::Query<'static, Any, AnyArguments>> {
        if let Some(e) = self.bind_error {
            return Err(StoreError::InvalidValue(format!("cannot bind a query argument: {e}")));
        }
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args))
    }
}

/// `INSERT INTO <table> (<columns>) VALUES ($1, …)`, binding in column order.
/// After a compare-and-set write that changed no row: `Ok(false)` when the row `id` of
/// `table` exists (it was not in the expected state), `NotFound` naming `what` otherwise.
pub(crate) async fn cas_missed(
    c: &mut sqlx::AnyConnection,
    table: &'static str,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<bool> {
    let n = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE id = $1")))
        .bind(id.to_string())
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::db("reading a row after a compare-and-set"))?;
    if n == 0 { Err(StoreError::not_found(what, id)) } else { Ok(false) }
}

pub(crate) fn insert_sql(table: &str, columns: &str) -> String {
    let n = columns.split(',').count();
    let values: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    format!("INSERT INTO {table} ({columns}) VALUES ({})", values.join(", "))
}

/// `UPDATE <table> SET <c2> = $2, … WHERE <c1> = $1`, binding in column order (the first
/// column is the key).
pub(crate) fn update_sql(table: &str, columns: &str) -> String {
    let names: Vec<&str> = columns.split(',').map(str::trim).collect();
    let sets: Vec<String> = names.iter().enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    format!("UPDATE {table} SET {} WHERE {} = $1", sets.join(", "), names.first().copied().unwrap_or("id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_statements_bind_in_column_order() {
        assert_eq!(insert_sql("t", "id, a, b"), "INSERT INTO t (id, a, b) VALUES ($1, $2, $3)");
        assert_eq!(update_sql("t", "id, a,\n b"), "UPDATE t SET a = $2, b = $3 WHERE id = $1");
    }

    #[test]
    fn a_prefix_pattern_bounds_lower_cased_names() {
        let range = |p: &str| prefix_range(p).map(|(a, b)| format!("{a}..{b}"));
        assert_eq!(range("Web*").as_deref(), Some("web..wec"));
        assert_eq!(range("vm-0*").as_deref(), Some("vm-0..vm-1"));
        for not_a_prefix in ["web", "*", "*web", "w*b*", "wé*", "ab~*"] {
            assert_eq!(range(not_a_prefix), None, "{not_a_prefix}");
        }
    }
}
