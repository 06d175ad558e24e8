//! TEMPORARY stand-ins for functions being written in parallel (storage, monitor); removed at
//! merge. Not for use beyond the VM code's compilation.

use super::infra::Named;
use super::{App, AppError, Result};
use crate::auth::Principal;
use crate::model::{Disk, DiskFormat, Host};
use oxvirt_types::{ByteSize, DiskId, StorageDomainId};

#[derive(Debug, Clone)]
pub struct DiskAdd {
    pub name: String,
    pub description: String,
    pub storage_domain: Named<StorageDomainId>,
    pub format: DiskFormat,
    pub sparse: Option<bool>,
    pub provisioned_size: ByteSize,
    pub shareable: bool,
    pub wipe_after_delete: bool,
}

impl App {
    pub async fn disk_add(&self, _who: &Principal, _req: DiskAdd) -> Result<Disk> {
        Err(AppError::InvalidInput("disks are not available yet".into()))
    }
    pub async fn disk_remove(&self, _who: &Principal, _id: DiskId) -> Result<()> {
        Err(AppError::InvalidInput("disks are not available yet".into()))
    }
    pub(crate) async fn host_storage_connect(&self, _host: &Host) -> Result<()> {
        Ok(())
    }
}
