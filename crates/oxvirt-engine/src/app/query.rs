//! List queries in the app's own terms, and what each collection can be searched by.
//!
//! Why neutral: the app must not depend on how a frontend spells a search. The HTTP layer
//! turns oVirt's `search=`, `max=` and `case_sensitive=` into a [`ListQuery`]; the app checks
//! it against the collection's [`Searchable`] table and reduces it to a store filter
//! ([`Criteria`]). A field or order a collection does not support is refused with a message
//! that lists what it does support, never ignored.

use super::{App, AppError, Result};
use oxvirt_engine_db::store::{
    ClusterFilter, DataCenterFilter, HostFilter, NamePattern, Page, SortBy, StorageDomainFilter, VmFilter,
};
use oxvirt_types::{ClusterId, DataCenterId, HostId, StorageDomainId, TagId, VmId};

/// What a list request asked for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Matches when all conditions of any one group hold; empty matches everything.
    pub any_of: Vec<Vec<Condition>>,
    pub sort: Option<Sort>,
    /// At most this many objects (oVirt's `max`; its page size when `page` is given).
    pub max: Option<u32>,
    /// 1-based page number.
    pub page: Option<u32>,
    /// oVirt's `case_sensitive` (names here compare case-insensitively unless the request
    /// says `case_sensitive=true`).
    pub case_sensitive: bool,
}

/// One condition: `field <op> value`, the field lower-case (possibly dotted: `clusters.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub op: Comparison,
    /// The value as a pattern, `*` standing for any run of characters.
    pub pattern: String,
    /// The value when it has no wildcard.
    pub literal: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Ne => "!=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

/// What one collection can be searched and sorted by.
#[derive(Debug, Clone, Copy)]
pub struct Searchable {
    /// The collection's name in messages ("storage domains").
    pub collection: &'static str,
    /// Fields a condition may name (`=` only, joined by `and`).
    pub fields: &'static [&'static str],
    /// Cross-object fields (`datacenter=Default` on networks): the field as clients write it
    /// (lower-case) and the kind of object whose name it matches.
    pub refs: &'static [(&'static str, Ref)],
    /// Fields the list may be sorted by (`sortby name desc`).
    pub sort: &'static [&'static str],
}

/// The object a cross-object search field names (by its name, wildcards allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    DataCenter,
    Cluster,
    Host,
    StorageDomain,
    Tag,
    Vm,
}

impl Ref {
    pub const fn noun(self) -> &'static str {
        match self {
            Ref::DataCenter => "data center",
            Ref::Cluster => "cluster",
            Ref::Host => "host",
            Ref::StorageDomain => "storage domain",
            Ref::Tag => "tag",
            Ref::Vm => "VM",
        }
    }
}

impl Searchable {
    const fn named(collection: &'static str) -> Self {
        Searchable { collection, fields: &["name"], refs: &[], sort: &["name"] }
    }

    const fn with_status(collection: &'static str) -> Self {
        Searchable { collection, fields: &["name", "status"], refs: &[], sort: &["name", "status"] }
    }

    const fn refs(self, refs: &'static [(&'static str, Ref)]) -> Self {
        Searchable { refs, ..self }
    }
}

pub const DATA_CENTERS: Searchable = Searchable::with_status("data centers");
pub const CLUSTERS: Searchable = Searchable::named("clusters").refs(&[("datacenter", Ref::DataCenter)]);
pub const HOSTS: Searchable = Searchable::with_status("hosts").refs(&[("cluster", Ref::Cluster), ("tag", Ref::Tag)]);
pub const STORAGE_DOMAINS: Searchable =
    Searchable::with_status("storage domains").refs(&[("datacenter", Ref::DataCenter)]);
pub const DISKS: Searchable = Searchable::with_status("disks").refs(&[
    ("storage", Ref::StorageDomain),
    ("storage.name", Ref::StorageDomain),
    ("vm_names", Ref::Vm),
]);
pub const NETWORKS: Searchable = Searchable::named("networks").refs(&[("datacenter", Ref::DataCenter)]);
pub const TEMPLATES: Searchable = Searchable::with_status("templates").refs(&[
    ("datacenter", Ref::DataCenter),
    ("cluster", Ref::Cluster),
    ("vm.name", Ref::Vm),
]);
pub const VMS: Searchable =
    Searchable::with_status("vms").refs(&[("cluster", Ref::Cluster), ("host", Ref::Host), ("tag", Ref::Tag)]);

/// The parts of a search a collection understands, plus paging.
#[derive(Debug, Default)]
pub(crate) struct Criteria {
    pub name: Option<NamePattern>,
    /// Lower-case status text; the collection parses it into its status type.
    pub status: Option<String>,
    /// Cross-object conditions: the field as written, the kind of object, its name pattern.
    /// Resolved by [`App::scope`] into the one object they name.
    pub refs: Vec<(String, Ref, NamePattern)>,
    pub page: Page,
}

/// What a cross-object condition resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope<T> {
    /// The search does not name such an object.
    All,
    /// Only objects related to this one.
    Only(T),
    /// It names an object that does not exist: nothing matches.
    Nothing,
}

impl<T: PartialEq + Copy> Scope<T> {
    /// The scope further narrowed to `given` (the parent of a sub-collection).
    pub(crate) fn within(self, given: Option<T>) -> Scope<T> {
        match (self, given) {
            (s, None) => s,
            (Scope::All, Some(g)) => Scope::Only(g),
            (Scope::Only(x), Some(g)) if x == g => Scope::Only(g),
            _ => Scope::Nothing,
        }
    }

    /// `Some(filter value)`, or `None` when nothing can match.
    pub(crate) fn filter(self) -> Option<Option<T>> {
        match self {
            Scope::All => Some(None),
            Scope::Only(x) => Some(Some(x)),
            Scope::Nothing => None,
        }
    }
}

impl ListQuery {
    /// Reduces the search to the conditions of `table` joined by `and` (what the store filters
    /// support today); anything else is refused with a message saying what is supported.
    pub(crate) fn criteria(&self, table: &Searchable) -> Result<Criteria> {
        let collection = table.collection;
        let mut c = Criteria { page: Page { limit: self.max, ..Page::default() }, ..Criteria::default() };
        if self.any_of.len() > 1 {
            return Err(AppError::InvalidInput(format!(
                "searching {collection} with 'or' is not supported here; use 'and'"
            )));
        }
        for cond in self.any_of.first().into_iter().flatten() {
            let field = cond.field.as_str();
            let name_ne = cond.op == Comparison::Ne && field == "name" && table.fields.contains(&field);
            if cond.op != Comparison::Eq && !name_ne {
                return Err(AppError::InvalidInput(format!(
                    "searching {collection} supports only '=' (and '!=' on name) for now, not '{}' on {field}",
                    cond.op.as_str()
                )));
            }
            let reference = table.refs.iter().find(|(f, _)| *f == field).map(|&(_, r)| r);
            match (field, reference) {
                ("name", _) if table.fields.contains(&field) => {
                    if c.name.is_some() {
                        return Err(AppError::InvalidInput(format!(
                            "searching {collection} by two name conditions joined by 'and' is not supported; \
                             give one (or join them with 'or')"
                        )));
                    }
                    let pattern = cond.pattern.clone();
                    let pattern = if self.case_sensitive {
                        NamePattern::case_sensitive(pattern)
                    } else {
                        NamePattern::new(pattern)
                    };
                    c.name = Some(if name_ne { pattern.negate() } else { pattern });
                }
                ("status", _) if table.fields.contains(&field) => c.status = Some(cond.pattern.to_lowercase()),
                (_, Some(kind)) => {
                    if c.refs.iter().any(|(_, r, _)| *r == kind) {
                        return Err(AppError::InvalidInput(format!(
                            "searching {collection} by two {} conditions is not supported; give one",
                            kind.noun()
                        )));
                    }
                    let pattern = if self.case_sensitive {
                        NamePattern::case_sensitive(cond.pattern.clone())
                    } else {
                        NamePattern::new(cond.pattern.clone())
                    };
                    c.refs.push((field.to_owned(), kind, pattern));
                }
                _ => {
                    let fields: Vec<&str> =
                        table.fields.iter().chain(table.refs.iter().map(|(f, _)| f)).copied().collect();
                    return Err(AppError::InvalidInput(format!(
                        "cannot search {collection} by '{field}'; searchable fields: {}",
                        fields.join(", ")
                    )));
                }
            }
        }
        if let Some(sort) = &self.sort {
            let field = sort.field.as_str();
            c.page.sort_by = match field {
                "name" if table.sort.contains(&field) => SortBy::Name,
                "status" if table.sort.contains(&field) => SortBy::Status,
                _ => {
                    return Err(AppError::InvalidInput(format!(
                        "cannot sort {collection} by '{field}'; sortable by: {}",
                        table.sort.join(", ")
                    )));
                }
            };
            c.page.descending = sort.descending;
        }
        if let Some(page) = self.page {
            let size = self.max.unwrap_or(100);
            c.page.limit = Some(size);
            c.page.offset = page.saturating_sub(1).saturating_mul(size);
        }
        Ok(c)
    }

    /// A search with `or` as one search per group (for [`ListQuery::or_merge`]), each asked
    /// for every object up to the end of the requested page, so that their union holds the
    /// page: an object of the page ranks no lower in its own group than in the union. `None`
    /// without `or`.
    pub(crate) fn or_split(&self) -> Option<Vec<ListQuery>> {
        if self.any_of.len() < 2 {
            return None;
        }
        let (offset, limit) = self.window();
        Some(
            self.any_of
                .iter()
                .map(|group| ListQuery {
                    any_of: vec![group.clone()],
                    max: limit.map(|l| offset.saturating_add(l)),
                    page: None,
                    ..self.clone()
                })
                .collect(),
        )
    }

    /// The answers of [`ListQuery::or_split`]'s searches as one list: each object once, in the
    /// store's order (the sort field — `status` or else `name` — in the requested direction,
    /// then name and id ascending), the requested page of it. `key` gives an object's status
    /// text, name and id.
    pub(crate) fn or_merge<T>(&self, lists: Vec<Vec<T>>, key: impl Fn(&T) -> (String, String, String)) -> Vec<T> {
        let by_status = self.sort.as_ref().is_some_and(|s| s.field == "status");
        let descending = self.sort.as_ref().is_some_and(|s| s.descending);
        let mut all: Vec<((String, String, String), T)> = lists.into_iter().flatten().map(|t| (key(&t), t)).collect();
        all.sort_by(|(a, _), (b, _)| {
            let primary = if by_status { a.0.cmp(&b.0) } else { a.1.cmp(&b.1) };
            let primary = if descending { primary.reverse() } else { primary };
            primary.then_with(|| a.1.cmp(&b.1)).then_with(|| a.2.cmp(&b.2))
        });
        all.dedup_by(|(a, _), (b, _)| a.2 == b.2);
        let (offset, limit) = self.window();
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        all.into_iter().skip(offset).take(limit).map(|(_, t)| t).collect()
    }

    /// The requested slice: offset and size (`page` pages by `max`, 100 by default).
    fn window(&self) -> (u32, Option<u32>) {
        match self.page {
            Some(page) => {
                let size = self.max.unwrap_or(100);
                (page.saturating_sub(1).saturating_mul(size), Some(size))
            }
            None => (0, self.max),
        }
    }

    /// Whether the request carried a search (conditions, an order or a page).
    pub fn has_search(&self) -> bool {
        !self.any_of.is_empty() || self.sort.is_some() || self.page.is_some()
    }

    /// The only condition of the query, when it has exactly one (for cross-object searches
    /// such as `Clusters.name=Default`).
    pub(crate) fn single_condition(&self) -> Option<&Condition> {
        match self.any_of.as_slice() {
            [conditions] => match conditions.as_slice() {
                [cond] => Some(cond),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Criteria {
    fn reference(&self, kind: Ref) -> Option<(&str, &NamePattern)> {
        self.refs.iter().find(|(_, r, _)| *r == kind).map(|(f, _, p)| (f.as_str(), p))
    }
}

/// The scope of a cross-object condition from the objects its name matched (at most two
/// asked for): none is [`Scope::Nothing`], several are refused (name one).
fn scope_of<T>(field: &str, kind: Ref, pattern: &NamePattern, found: Vec<T>) -> Result<Scope<T>> {
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (None, _) => Ok(Scope::Nothing),
        (Some(one), None) => Ok(Scope::Only(one)),
        (Some(_), Some(_)) => Err(AppError::InvalidInput(format!(
            "search condition {field}={} matches more than one {}; name one",
            pattern.pattern,
            kind.noun()
        ))),
    }
}

/// Resolving cross-object conditions: each names one object by its name (store lookups
/// limited to two rows, so a wildcard matching many costs no more than one matching one).
impl App {
    pub(crate) async fn scope_data_center(&self, c: &Criteria) -> Result<Scope<DataCenterId>> {
        let Some((field, pattern)) = c.reference(Ref::DataCenter) else { return Ok(Scope::All) };
        let f = DataCenterFilter { name: Some(pattern.clone()), page: Page::first(2), ..DataCenterFilter::default() };
        let found = self.store.data_center_list(&f).await?.into_iter().map(|x| x.id).collect();
        scope_of(field, Ref::DataCenter, pattern, found)
    }

    pub(crate) async fn scope_cluster(&self, c: &Criteria) -> Result<Scope<ClusterId>> {
        let Some((field, pattern)) = c.reference(Ref::Cluster) else { return Ok(Scope::All) };
        let f = ClusterFilter { name: Some(pattern.clone()), page: Page::first(2), ..ClusterFilter::default() };
        let found = self.store.cluster_list(&f).await?.into_iter().map(|x| x.id).collect();
        scope_of(field, Ref::Cluster, pattern, found)
    }

    pub(crate) async fn scope_host(&self, c: &Criteria) -> Result<Scope<HostId>> {
        let Some((field, pattern)) = c.reference(Ref::Host) else { return Ok(Scope::All) };
        let f = HostFilter { name: Some(pattern.clone()), page: Page::first(2), ..HostFilter::default() };
        let found = self.store.host_list(&f).await?.into_iter().map(|x| x.id).collect();
        scope_of(field, Ref::Host, pattern, found)
    }

    pub(crate) async fn scope_storage_domain(&self, c: &Criteria) -> Result<Scope<StorageDomainId>> {
        let Some((field, pattern)) = c.reference(Ref::StorageDomain) else { return Ok(Scope::All) };
        let f =
            StorageDomainFilter { name: Some(pattern.clone()), page: Page::first(2), ..StorageDomainFilter::default() };
        let found = self.store.storage_domain_list(&f).await?.into_iter().map(|x| x.id).collect();
        scope_of(field, Ref::StorageDomain, pattern, found)
    }

    /// Tags are few (no paging): matched here, by oVirt's pattern rules.
    pub(crate) async fn scope_tag(&self, c: &Criteria) -> Result<Scope<TagId>> {
        let Some((field, pattern)) = c.reference(Ref::Tag) else { return Ok(Scope::All) };
        let found =
            self.store.tag_list().await?.into_iter().filter(|t| pattern.matches(&t.name)).map(|t| t.id).collect();
        scope_of(field, Ref::Tag, pattern, found)
    }

    pub(crate) async fn scope_vm(&self, c: &Criteria) -> Result<Scope<VmId>> {
        let Some((field, pattern)) = c.reference(Ref::Vm) else { return Ok(Scope::All) };
        let f = VmFilter { name: Some(pattern.clone()), page: Page::first(2), ..VmFilter::default() };
        let found = self.store.vm_list(&f).await?.into_iter().map(|x| x.id).collect();
        scope_of(field, Ref::Vm, pattern, found)
    }
}

impl App {
    /// `list` of `q`; with `or`, `list` of each group ([`ListQuery::or_split`]) merged into one
    /// page ([`ListQuery::or_merge`], `key` giving an object's status text, name and the rest
    /// of the store's order, id last).
    pub(crate) async fn list_any_of<T, F, Fut>(
        &self,
        q: &ListQuery,
        list: F,
        key: impl Fn(&T) -> (String, String, String),
    ) -> Result<Vec<T>>
    where
        F: Fn(ListQuery) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>>>,
    {
        let Some(groups) = q.or_split() else { return list(q.clone()).await };
        let mut lists = Vec::with_capacity(groups.len());
        for g in groups {
            lists.push(list(g).await?);
        }
        Ok(q.or_merge(lists, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(field: &str, value: &str) -> Condition {
        Condition { field: field.into(), op: Comparison::Eq, pattern: value.into(), literal: Some(value.into()) }
    }

    #[test]
    fn criteria_take_the_fields_of_the_table_and_refuse_others() {
        let q = ListQuery { any_of: vec![vec![eq("name", "web*"), eq("status", "UP")]], ..ListQuery::default() };
        let c = q.criteria(&VMS).expect("vms search by name and status");
        assert_eq!(c.name, Some(NamePattern::new("web*")));
        assert_eq!(c.status.as_deref(), Some("up"));

        let e = q.criteria(&CLUSTERS).expect_err("clusters have no status");
        assert!(e.to_string().contains("cannot search clusters by 'status'; searchable fields: name"), "{e}");

        let sorted = ListQuery {
            sort: Some(Sort { field: "status".into(), descending: true }),
            max: Some(10),
            page: Some(3),
            ..ListQuery::default()
        };
        let c = sorted.criteria(&HOSTS).expect("hosts sort by status");
        assert_eq!(c.page, Page { sort_by: SortBy::Status, descending: true, limit: Some(10), offset: 20 });
        let e = sorted.criteria(&NETWORKS).expect_err("networks do not sort by status");
        assert!(e.to_string().contains("sortable by: name"), "{e}");
    }

    #[test]
    fn cross_object_fields_name_their_object() {
        let q = ListQuery {
            any_of: vec![vec![eq("name", "d1"), eq("storage.name", "data*"), eq("vm_names", "web")]],
            ..ListQuery::default()
        };
        let c = q.criteria(&DISKS).expect("disks by storage domain and VM");
        assert_eq!(
            c.refs,
            vec![
                ("storage.name".to_owned(), Ref::StorageDomain, NamePattern::new("data*")),
                ("vm_names".to_owned(), Ref::Vm, NamePattern::new("web")),
            ]
        );
        let twice =
            ListQuery { any_of: vec![vec![eq("storage", "a"), eq("storage.name", "b")]], ..ListQuery::default() };
        let e = twice.criteria(&DISKS).expect_err("two storage domain conditions");
        assert!(e.to_string().contains("two storage domain conditions"), "{e}");
        let e = q.criteria(&NETWORKS).expect_err("networks have no storage");
        assert!(e.to_string().contains("searchable fields: name, datacenter"), "{e}");
        assert_eq!(Scope::Only(1).within(Some(1)), Scope::Only(1));
        assert_eq!(Scope::Only(1).within(Some(2)), Scope::Nothing);
        assert_eq!(Scope::<u8>::All.within(None).filter(), Some(None));
        assert_eq!(Scope::<u8>::Nothing.filter(), None);
    }

    #[test]
    fn criteria_refuse_or_and_other_operators() {
        let or = ListQuery { any_of: vec![vec![eq("name", "a")], vec![eq("name", "b")]], ..ListQuery::default() };
        assert!(or.criteria(&VMS).expect_err("or").to_string().contains("with 'or' is not supported"));
        let ne = |field: &str| ListQuery {
            any_of: vec![vec![Condition { op: Comparison::Ne, ..eq(field, "a") }]],
            ..ListQuery::default()
        };
        let name = ne("name").criteria(&VMS).expect("!= on name").name.expect("a name pattern");
        assert!(name.negated && !name.matches("a") && name.matches("b"), "{name:?}");
        let e = ne("status").criteria(&VMS).expect_err("!= on status").to_string();
        assert!(e.contains("(and '!=' on name) for now, not '!=' on status"), "{e}");
        let two = ListQuery { any_of: vec![vec![eq("name", "a*"), eq("name", "ab")]], ..ListQuery::default() };
        assert!(two.criteria(&VMS).expect_err("two names").to_string().contains("two name conditions"));
    }
}
