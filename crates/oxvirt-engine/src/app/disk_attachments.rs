//! A VM's disk attachments: attach an existing disk or create one with the attachment (a
//! job), change interface/bootable/active, detach or delete.

use super::Named;
use super::vms::vm_must_be_down;
use super::{App, AppError, Result};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, Disk, DiskAttachment, DiskFormat, DiskInterface, EventRefs, Severity};
use oxvirt_engine_db::store::StoreError;
use oxvirt_types::{ByteSize, DiskId, StorageDomainId, VmId};

/// A new disk attachment: an existing disk (with what the request restates about it), or a
/// disk created with it.
#[derive(Debug, Clone)]
pub enum AttachmentDisk {
    Existing(DiskId, DiskFields),
    New(super::DiskAdd),
}

/// The fields of a disk a request gives besides its id: what an attachment of an existing
/// disk restates (the SDK sends the whole disk a client built: Ansible's `ovirt_disk` does),
/// and what a disk update (`PUT /disks/{id}`, or a disk inside an attachment update) asks.
/// Attaching changes nothing of a disk, so there each given field must be what the disk is; a
/// different value is refused, never ignored ([`App::disk_update`] says what an update may change).
#[derive(Debug, Clone, Default)]
pub struct DiskFields {
    /// The id the body gives the disk, if any (an update's must be the path's).
    pub id: Option<DiskId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub format: Option<DiskFormat>,
    pub sparse: Option<bool>,
    pub provisioned_size: Option<ByteSize>,
    pub storage_domain: Option<Named<StorageDomainId>>,
    pub shareable: Option<bool>,
    pub wipe_after_delete: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct DiskAttachmentAdd {
    pub disk: AttachmentDisk,
    pub interface: Option<DiskInterface>,
    pub bootable: Option<bool>,
    pub active: Option<bool>,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct DiskAttachmentUpdate {
    /// The attached disk's own fields (a bigger `provisioned_size` extends it).
    pub disk: Option<DiskFields>,
    pub interface: Option<DiskInterface>,
    pub bootable: Option<bool>,
    pub active: Option<bool>,
    pub read_only: Option<bool>,
}

impl App {
    /// Refuses an attachment whose restated disk fields differ from the disk's.
    async fn disk_fields_restated_check(&self, disk: &Disk, r: &DiskFields) -> Result<()> {
        let mut differ: Vec<String> = Vec::new();
        let mut check = |field: &str, given: Option<String>, is: String| {
            if let Some(given) = given.filter(|g| *g != is) {
                differ.push(format!("{field} is {given}, the disk's is {is}"));
            }
        };
        check("name", r.name.clone(), disk.alias.clone());
        check("description", r.description.clone(), disk.description.clone());
        check("format", r.format.map(|f| f.as_str().to_owned()), disk.format.as_str().to_owned());
        check("sparse", r.sparse.map(|b| b.to_string()), disk.sparse.to_string());
        check(
            "provisioned_size",
            r.provisioned_size.map(|b| b.bytes().to_string()),
            disk.provisioned_size.bytes().to_string(),
        );
        check("shareable", r.shareable.map(|b| b.to_string()), disk.shareable.to_string());
        check("wipe_after_delete", r.wipe_after_delete.map(|b| b.to_string()), disk.wipe_after_delete.to_string());
        if let Some(sd) = &r.storage_domain {
            let sd = self.storage_domain_resolve(sd).await?;
            if sd.id != disk.storage_domain_id {
                differ.push(format!("storage domain is {}, the disk is on another", sd.name));
            }
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(AppError::InvalidInput(format!(
            "attaching disk {} changes nothing of it, but the request says its {}; leave those out, or change \
             the disk itself (PUT /disks/{})",
            disk.alias,
            differ.join("; "),
            disk.id
        )))
    }

    // ---- disk attachments ------------------------------------------------------------------
    pub async fn disk_attachment_add(
        &self,
        who: &Principal,
        vm_id: VmId,
        req: DiskAttachmentAdd,
        opts: &super::JobOptions,
    ) -> Result<DiskAttachment> {
        let vm = self.store.vm_get(vm_id).await?;
        // What the attachment itself would break is checked before a new disk is made, so a
        // refusal leaves nothing behind (a race that slips past is undone below).
        if req.bootable == Some(true) {
            let attached = self.store.disk_attachment_list_for_vm(vm_id).await?;
            if let Some(boot) = attached.iter().find(|a| a.bootable) {
                let this = match &req.disk {
                    AttachmentDisk::Existing(id, _) => format!("disk {id}"),
                    AttachmentDisk::New(add) => format!("the new disk {}", add.name),
                };
                return Err(AppError::Conflict(format!(
                    "cannot attach {this} to VM {} as bootable: it already boots from disk {}, and a VM boots from \
                     one disk only; attach it with bootable=false",
                    vm.name, boot.disk_id
                )));
            }
        }
        let attachment = DiskAttachment {
            vm_id,
            disk_id: DiskId::from_uuid(uuid::Uuid::nil()),
            interface: req.interface.unwrap_or(DiskInterface::Virtio),
            bootable: req.bootable.unwrap_or(false),
            active: req.active.unwrap_or(true),
            read_only: req.read_only.unwrap_or(false),
        };
        let attachment = match req.disk {
            AttachmentDisk::New(add) => {
                // A durable `AddDisk` job that writes the attachment with the new disk's rows.
                let disk = self.disk_add_attached(who, add, Some(attachment.clone()), opts).await?;
                DiskAttachment { disk_id: disk.id, ..attachment }
            }
            AttachmentDisk::Existing(disk_id, restated) => {
                let disk = self.store.disk_get(disk_id).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => AppError::InvalidInput(format!(
                        "disk {disk_id} does not exist; give an existing disk's id or a new disk"
                    )),
                    other => other.into(),
                })?;
                self.disk_fields_restated_check(&disk, &restated).await?;
                let attachment = DiskAttachment { disk_id, ..attachment };
                self.store.disk_attachment_insert(&attachment).await.map_err(|e| match e {
                    StoreError::AlreadyExists(message) | StoreError::InUse { by: message, .. } => {
                        AppError::Conflict(format!("cannot attach disk {disk_id} to VM {}: {message}", vm.name))
                    }
                    other => other.into(),
                })?;
                attachment
            }
        };
        let disk_id = attachment.disk_id;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_ATTACH_DISK_TO_VM,
            format!("Disk {disk_id} was attached to VM {} by {}.", vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        Ok(attachment)
    }

    pub async fn disk_attachment_get(&self, vm_id: VmId, disk_id: DiskId) -> Result<DiskAttachment> {
        self.store.vm_get(vm_id).await?;
        Ok(self.store.disk_attachment_get(vm_id, disk_id).await?)
    }

    pub async fn disk_attachment_list(&self, vm_id: VmId) -> Result<Vec<DiskAttachment>> {
        self.store.vm_get(vm_id).await?;
        Ok(self.store.disk_attachment_list_for_vm(vm_id).await?)
    }

    /// Changes an attachment (its interface, boot and read-only flags only while the VM is
    /// down; `active` at any time) and, when the request carries the disk, the disk itself
    /// ([`App::disk_update`]: a bigger size extends it, live when the VM runs).
    pub async fn disk_attachment_update(
        &self,
        who: &Principal,
        vm_id: VmId,
        disk_id: DiskId,
        req: DiskAttachmentUpdate,
        opts: &super::JobOptions,
    ) -> Result<DiskAttachment> {
        let vm = self.store.vm_get(vm_id).await?;
        let mut a = self.store.disk_attachment_get(vm_id, disk_id).await?;
        // A field restated with the value it has is no change (Ansible sends them all).
        let changes = |given: Option<bool>, is: bool| given.is_some_and(|g| g != is);
        if req.interface.is_some_and(|i| i != a.interface)
            || changes(req.bootable, a.bootable)
            || changes(req.read_only, a.read_only)
        {
            vm_must_be_down(&vm, "change a disk's interface, boot flag or read-only flag")?;
        }
        let before = a.clone();
        a.interface = req.interface.unwrap_or(a.interface);
        a.bootable = req.bootable.unwrap_or(a.bootable);
        a.active = req.active.unwrap_or(a.active);
        a.read_only = req.read_only.unwrap_or(a.read_only);
        if let Some(fields) = req.disk {
            self.disk_update(who, disk_id, fields, opts).await?;
        }
        if a != before {
            self.store.disk_attachment_update(&a).await?;
            self.audit(
                who,
                Severity::Normal,
                AuditCode::USER_UPDATE_VM_DISK,
                format!("The attachment of disk {disk_id} to VM {} was updated by {}.", vm.name, who.login),
                EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
            )
            .await;
        }
        Ok(a)
    }

    /// Detaches a disk from a down VM; with `detach_only == false` deletes the disk too.
    pub async fn disk_attachment_remove(
        &self,
        who: &Principal,
        vm_id: VmId,
        disk_id: DiskId,
        detach_only: bool,
        opts: &super::JobOptions,
    ) -> Result<()> {
        let vm = self.store.vm_get(vm_id).await?;
        self.store.disk_attachment_get(vm_id, disk_id).await?;
        vm_must_be_down(&vm, "detach a disk")?;
        self.store.disk_attachment_delete(vm_id, disk_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_DETACH_DISK_FROM_VM,
            format!("Disk {disk_id} was detached from VM {} by {}.", vm.name, who.login),
            EventRefs { vm_id: Some(vm.id), ..EventRefs::default() },
        )
        .await;
        if !detach_only {
            self.disk_remove(who, disk_id, opts).await?;
        }
        Ok(())
    }
}
