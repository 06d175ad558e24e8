//! Tags (`/tags`): free labels in one tree under `root`, assigned to VMs and hosts
//! (`/vms/{id}/tags`, `/hosts/{id}/tags`) and searched by (`tag=web` on VMs and hosts).
//!
//! Why a tree with unique names: oVirt's tags are that — clients name a tag, its parent and
//! assigned tags by name (Ansible's `ovirt_tag` does, and searches `tag=` to find what carries
//! one). Assigning a tag twice changes nothing; removing a tag removes its subtags and their
//! assignments.

use super::{App, AppError, ListQuery, Named, Result, missing_reference};
use crate::auth::Principal;
use oxvirt_engine_db::model::{ROOT_TAG_ID, Tag};
use oxvirt_types::{HostId, TagId, VmId};

/// What tags (and affinity labels) are assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Vm(VmId),
    Host(HostId),
}

impl Tagged {
    pub fn noun(self) -> &'static str {
        match self {
            Tagged::Vm(_) => "VM",
            Tagged::Host(_) => "host",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TagAdd {
    pub name: String,
    pub description: Option<String>,
    /// `root` when not given.
    pub parent: Option<Named<TagId>>,
}

#[derive(Debug, Clone, Default)]
pub struct TagUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub parent: Option<Named<TagId>>,
}

/// A tag's name: what oVirt allows (letters, digits, `-`, `_`, `.`, and spaces inside).
fn tag_name_check(name: &str) -> Result<()> {
    let ok = !name.trim().is_empty()
        && name.trim() == name
        && name.len() <= 50
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        return Ok(());
    }
    Err(AppError::InvalidInput(format!(
        "'{name}' is not a tag name: use up to 50 letters, digits, '-', '_', '.' or inner spaces"
    )))
}

impl App {
    pub(super) async fn tag_resolve(&self, named: &Named<TagId>) -> Result<Tag> {
        let found = match named {
            Named::Id(id) => self.store.tag_get(*id).await,
            Named::Name(n) => self.store.tag_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "tag", named))
    }

    /// Every tag, `root` included, by name; `max` limits the list (tags cannot be searched,
    /// as in oVirt).
    pub async fn tag_list(&self, q: &ListQuery) -> Result<Vec<Tag>> {
        if q.has_search() {
            return Err(AppError::InvalidInput("tags cannot be searched; list them all (max= limits the list)".into()));
        }
        let mut tags = self.store.tag_list().await?;
        tags.truncate(q.max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX)));
        Ok(tags)
    }

    pub async fn tag_get(&self, id: TagId) -> Result<Tag> {
        Ok(self.store.tag_get(id).await?)
    }

    pub async fn tag_add(&self, _who: &Principal, req: TagAdd) -> Result<Tag> {
        tag_name_check(&req.name)?;
        let parent = match &req.parent {
            Some(p) => self.tag_resolve(p).await?.id,
            None => ROOT_TAG_ID,
        };
        let tag = Tag {
            id: TagId::new_random(),
            name: req.name,
            description: req.description.unwrap_or_default(),
            parent_id: Some(parent),
        };
        self.store.tag_insert(&tag).await?;
        Ok(tag)
    }

    /// Renames a tag, changes its description or moves it under another parent (never under
    /// itself or one of its subtags). `root` cannot be changed.
    pub async fn tag_update(&self, _who: &Principal, id: TagId, req: TagUpdate) -> Result<Tag> {
        let mut tag = self.store.tag_get(id).await?;
        if tag.id == ROOT_TAG_ID {
            return Err(AppError::Conflict("the root tag cannot be changed; add tags under it".into()));
        }
        if let Some(name) = req.name {
            tag_name_check(&name)?;
            tag.name = name;
        }
        if let Some(d) = req.description {
            tag.description = d;
        }
        if let Some(p) = &req.parent {
            let parent = self.tag_resolve(p).await?;
            let all = self.store.tag_list().await?;
            // Walk up from the new parent: meeting this tag would make a cycle.
            let mut at = Some(parent.id);
            while let Some(a) = at {
                if a == tag.id {
                    return Err(AppError::InvalidInput(format!(
                        "tag {} cannot go under {}, which is itself or one of its subtags",
                        tag.name, parent.name
                    )));
                }
                at = all.iter().find(|t| t.id == a).and_then(|t| t.parent_id);
            }
            tag.parent_id = Some(parent.id);
        }
        self.store.tag_update(&tag).await?;
        Ok(tag)
    }

    /// Removes a tag, its subtags and their assignments. `root` stays.
    pub async fn tag_remove(&self, _who: &Principal, id: TagId) -> Result<()> {
        if id == ROOT_TAG_ID {
            return Err(AppError::Conflict("the root tag cannot be removed".into()));
        }
        Ok(self.store.tag_delete(id).await?)
    }

    /// The tags assigned to a VM or host, by name.
    pub async fn tagged_list(&self, object: Tagged) -> Result<Vec<Tag>> {
        self.tagged_name(object).await?;
        Ok(match object {
            Tagged::Vm(vm) => self.store.vm_tag_list(vm).await?,
            Tagged::Host(host) => self.store.host_tag_list(host).await?,
        })
    }

    /// Assigns a tag (by id or name) to a VM or host; again changes nothing.
    pub async fn tagged_add(&self, _who: &Principal, object: Tagged, tag: &Named<TagId>) -> Result<Tag> {
        self.tagged_name(object).await?;
        let tag = self.tag_resolve(tag).await?;
        match object {
            Tagged::Vm(vm) => self.store.vm_tag_add(vm, tag.id).await?,
            Tagged::Host(host) => self.store.host_tag_add(host, tag.id).await?,
        };
        Ok(tag)
    }

    pub async fn tagged_get(&self, object: Tagged, tag: TagId) -> Result<Tag> {
        let name = self.tagged_name(object).await?;
        self.tagged_list(object)
            .await?
            .into_iter()
            .find(|t| t.id == tag)
            .ok_or_else(|| AppError::NotFound(format!("{name} has no tag {tag}")))
    }

    pub async fn tagged_remove(&self, _who: &Principal, object: Tagged, tag: TagId) -> Result<()> {
        let name = self.tagged_name(object).await?;
        let removed = match object {
            Tagged::Vm(vm) => self.store.vm_tag_remove(vm, tag).await?,
            Tagged::Host(host) => self.store.host_tag_remove(host, tag).await?,
        };
        if !removed {
            return Err(AppError::NotFound(format!("{name} has no tag {tag}")));
        }
        Ok(())
    }

    /// "VM web1" or "host h1", after checking that it exists.
    async fn tagged_name(&self, object: Tagged) -> Result<String> {
        Ok(match object {
            Tagged::Vm(vm) => format!("VM {}", self.store.vm_get(vm).await?.name),
            Tagged::Host(host) => format!("host {}", self.store.host_get(host).await?.name),
        })
    }
}
