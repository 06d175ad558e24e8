//! List filters: what a search layer (oVirt's `?search=name=web* and status=up`) can ask the
//! store for without writing SQL. Every filter has sensible defaults (`Default`: everything,
//! sorted by name ascending, no paging), so callers set only what they need.

use crate::model::{EventSeq, JobStatus, Severity, StorageDomainType};
use oxvirt_types::{
    ClusterId, DataCenterId, DataCenterStatus, HostId, HostStatus, StorageDomainId, StorageDomainStatus, TagId,
    TemplateId, UserId, VmId, VmStatus,
};

/// A name pattern in oVirt's search syntax: `*` matches any run of characters, everything
/// else matches itself (`%`, `_` and `\` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    pub pattern: String,
    /// oVirt's search is case-insensitive; set this to match case exactly.
    pub case_sensitive: bool,
    /// `name!=…`: the names that do not match.
    pub negated: bool,
}

impl NamePattern {
    /// A case-insensitive pattern (oVirt's default).
    pub fn new(pattern: impl Into<String>) -> Self {
        Self { pattern: pattern.into(), case_sensitive: false, negated: false }
    }

    pub fn case_sensitive(pattern: impl Into<String>) -> Self {
        Self { pattern: pattern.into(), case_sensitive: true, negated: false }
    }

    /// The names this pattern does not match.
    pub fn negate(self) -> Self {
        Self { negated: !self.negated, ..self }
    }

    /// Whether `name` matches, as the database would (`*` any run of characters).
    pub fn matches(&self, name: &str) -> bool {
        self.matches_positively(name) != self.negated
    }

    fn matches_positively(&self, name: &str) -> bool {
        let fold = |s: &str| if self.case_sensitive { s.to_owned() } else { s.to_lowercase() };
        let (pattern, name) = (fold(&self.pattern), fold(name));
        let parts: Vec<&str> = pattern.split('*').collect();
        let [first, middle @ .., last] = parts.as_slice() else { return pattern == name };
        if parts.len() == 1 {
            return pattern == name;
        }
        let Some(mut rest) = name.strip_prefix(first) else { return false };
        for part in middle {
            match rest.find(part) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }

    /// The SQL `LIKE` pattern, with `\` as the escape character.
    pub(crate) fn to_like(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len());
        for c in self.pattern.chars() {
            match c {
                '*' => out.push('%'),
                '%' | '_' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
        out
    }
}

/// Sort key of named objects that have a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Name,
    Status,
    /// Creation time (objects without one sort by name).
    Created,
}

/// Order and paging of a list, the same for every collection that pages: sorted by
/// `sort_by` (collections without a status or a creation time sort by name), `limit` rows
/// from `offset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub sort_by: SortBy,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: u32,
}

impl Page {
    /// The first `limit` rows in the default order.
    pub fn first(limit: u32) -> Self {
        Page { limit: Some(limit), ..Page::default() }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataCenterFilter {
    pub name: Option<NamePattern>,
    pub status: Option<DataCenterStatus>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFilter {
    pub name: Option<NamePattern>,
    pub data_center_id: Option<DataCenterId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub name: Option<NamePattern>,
    pub status: Option<HostStatus>,
    pub cluster_id: Option<ClusterId>,
    /// Only hosts with this tag.
    pub tag_id: Option<TagId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageDomainFilter {
    pub name: Option<NamePattern>,
    pub status: Option<StorageDomainStatus>,
    pub domain_type: Option<StorageDomainType>,
    /// Only domains attached to this data center.
    pub data_center_id: Option<DataCenterId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFilter {
    pub name: Option<NamePattern>,
    pub data_center_id: Option<DataCenterId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateFilter {
    pub name: Option<NamePattern>,
    pub id: Option<TemplateId>,
    /// Those of this data center's clusters, plus the cluster-less ones (`Blank`).
    pub data_center_id: Option<DataCenterId>,
    pub cluster_id: Option<ClusterId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmFilter {
    pub name: Option<NamePattern>,
    pub status: Option<VmStatus>,
    pub cluster_id: Option<ClusterId>,
    /// Only VMs running on this host.
    pub host_id: Option<HostId>,
    pub template_id: Option<TemplateId>,
    /// Only VMs with this tag.
    pub tag_id: Option<TagId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskFilter {
    /// Matches the disk's alias.
    pub name: Option<NamePattern>,
    pub status: Option<crate::model::DiskStatus>,
    pub storage_domain_id: Option<StorageDomainId>,
    /// Only disks attached to this VM.
    pub vm_id: Option<VmId>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub name: Option<NamePattern>,
    pub domain: Option<String>,
    pub page: Page,
}

/// Events, oldest first unless `descending`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events numbered above this one (oVirt's `from`).
    pub after: Option<EventSeq>,
    /// Only events at least this severe.
    pub min_severity: Option<Severity>,
    /// Only events at most this severe.
    pub max_severity: Option<Severity>,
    /// Only events of this code (oVirt's `type`).
    pub code: Option<i32>,
    /// Only events of this user's doing.
    pub user_id: Option<UserId>,
    pub vm_id: Option<VmId>,
    pub host_id: Option<HostId>,
    pub cluster_id: Option<ClusterId>,
    pub data_center_id: Option<DataCenterId>,
    pub storage_domain_id: Option<StorageDomainId>,
    pub correlation_id: Option<String>,
    pub descending: bool,
    pub limit: Option<u32>,
}

/// Jobs, newest first unless `oldest_first`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub correlation_id: Option<String>,
    pub oldest_first: bool,
    pub limit: Option<u32>,
    pub offset: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_like_does() {
        let p = NamePattern::new;
        assert!(p("web").matches("WEB") && !p("web").matches("web1"));
        assert!(p("web*").matches("web1") && p("*1").matches("web1") && p("w*b*1").matches("web1"));
        assert!(p("*").matches("") && p("a*a").matches("aa") && !p("a*a").matches("a"));
        assert!(!NamePattern::case_sensitive("Web").matches("web"));
    }

    #[test]
    fn star_becomes_percent_and_like_metacharacters_match_themselves() {
        assert_eq!(NamePattern::new("web*").to_like(), "web%");
        assert_eq!(NamePattern::new("*a_b%c\\*").to_like(), "%a\\_b\\%c\\\\%");
    }
}
