//! Templates: what a new VM starts from. Every installation has `Blank`
//! ([`oxvirt_engine_db::model::BLANK_TEMPLATE_ID`], inserted by the first migration), so the SDK's
//! `template=Blank` works from the start. Making templates from VMs comes later.

use super::query::ListQuery;
use super::{App, AppError, Result};
use oxvirt_engine_db::model::Template;
use oxvirt_engine_db::store::{Page, TemplateFilter};
use oxvirt_types::TemplateId;

impl App {
    pub async fn template_get(&self, id: TemplateId) -> Result<Template> {
        Ok(self.store.template_get(id).await?)
    }

    /// Templates by name; searchable by `name` and `status`.
    pub async fn template_list(&self, q: &ListQuery) -> Result<Vec<Template>> {
        let key = |t: &Template| (t.status.as_str().to_owned(), t.name.clone(), t.id.to_string());
        self.list_any_of(q, |g| async move { self.template_list_and(&g).await }, key).await
    }

    /// [`App::template_list`] of a search without `or`.
    async fn template_list_and(&self, q: &ListQuery) -> Result<Vec<Template>> {
        let c = q.criteria(&super::query::TEMPLATES)?;
        let status = c.status.clone();
        let (Some(data_center_id), Some(cluster_id), Some(vm)) = (
            self.scope_data_center(&c).await?.filter(),
            self.scope_cluster(&c).await?.filter(),
            self.scope_vm(&c).await?.filter(),
        ) else {
            return Ok(Vec::new());
        };
        // `vm.name=`: the template the VM is based on.
        let id = match vm {
            Some(vm) => Some(self.store.vm_get(vm).await?.template_id),
            None => None,
        };
        // The store does not filter templates by status: filter here, then page.
        let filter = TemplateFilter {
            name: c.name,
            id,
            data_center_id,
            cluster_id,
            page: if status.is_some() { Page { limit: None, offset: 0, ..c.page } } else { c.page },
        };
        let mut templates = self.store.template_list(&filter).await?;
        if let Some(s) = status {
            templates.retain(|t| t.status.as_str() == s);
            let skip = usize::try_from(c.page.offset).unwrap_or(usize::MAX);
            templates = templates.into_iter().skip(skip).collect();
            if let Some(max) = c.page.limit {
                templates.truncate(usize::try_from(max).unwrap_or(usize::MAX));
            }
        }
        Ok(templates)
    }

    /// Making a template from a VM is not implemented yet; says so rather than failing later.
    pub async fn template_add(&self, _who: &crate::auth::Principal) -> Result<Template> {
        Err(AppError::InvalidInput(
            "creating templates is not supported yet by this engine; new VMs can use the Blank template".into(),
        ))
    }
}
