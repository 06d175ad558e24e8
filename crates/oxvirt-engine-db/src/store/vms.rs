//! VMs, and the configuration columns VMs and templates share.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{SortBy, VmFilter};
use super::sql::{RowExt as _, Sql, cas_missed, db_json, db_size, insert_sql, update_sql};
use crate::model::{
    BootConfig, BootDevice, CpuTopology, HighAvailability, Placement, SerialNumber, Timestamp, Vm, VmConfig, VmRuntime,
};
use oxvirt_types::{ByteSize, HostId, VmId, VmStatus};
use sqlx::AnyConnection;
use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};

type Query = sqlx::query::Query<'static, sqlx::Any, AnyArguments>;

/// The configuration columns templates and VMs share, in bind order.
macro_rules! config_columns {
    () => {
        "memory, memory_guaranteed, memory_max, cpu_sockets, cpu_cores, cpu_threads, os_type, vm_type, machine, \
         boot_devices, kernel, initrd, cmdline, display, ha_enabled, ha_priority, custom_properties, \
         serial_number_policy, serial_number, console_enabled"
    };
}
pub(super) use config_columns;

pub(super) fn config_from_row(r: &AnyRow) -> Result<VmConfig> {
    let boot_devices = r.text("boot_devices")?;
    let devices = boot_devices
        .split(',')
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<BootDevice>()
                .map_err(|e| StoreError::Corrupt { column: "boot_devices".into(), detail: e.to_string() })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(VmConfig {
        memory: r.size("memory")?,
        memory_guaranteed: r.size("memory_guaranteed")?,
        memory_max: r.size("memory_max")?,
        cpu: CpuTopology {
            sockets: r.int_as("cpu_sockets")?,
            cores: r.int_as("cpu_cores")?,
            threads: r.int_as("cpu_threads")?,
        },
        os_type: r.text("os_type")?,
        vm_type: r.parse("vm_type")?,
        machine: r.text_opt("machine")?,
        boot: BootConfig {
            devices,
            kernel: r.text_opt("kernel")?,
            initrd: r.text_opt("initrd")?,
            cmdline: r.text_opt("cmdline")?,
        },
        display: r.parse_opt("display")?,
        high_availability: HighAvailability { enabled: r.flag("ha_enabled")?, priority: r.int_as("ha_priority")? },
        custom_properties: r.json("custom_properties")?,
        serial_number: match r.parse_opt("serial_number_policy")? {
            None => None,
            Some(policy) => Some(SerialNumber { policy, value: r.text_opt("serial_number")? }),
        },
        console_enabled: r.flag("console_enabled")?,
    })
}

pub(super) fn bind_config(q: Query, cfg: &VmConfig) -> Result<Query> {
    let boot_devices: Vec<&str> = cfg.boot.devices.iter().map(|d| d.as_str()).collect();
    Ok(q.bind(db_size("memory", cfg.memory)?)
        .bind(db_size("guaranteed memory", cfg.memory_guaranteed)?)
        .bind(db_size("maximum memory", cfg.memory_max)?)
        .bind(i64::from(cfg.cpu.sockets))
        .bind(i64::from(cfg.cpu.cores))
        .bind(i64::from(cfg.cpu.threads))
        .bind(cfg.os_type.clone())
        .bind(cfg.vm_type.as_str())
        .bind(cfg.machine.clone())
        .bind(boot_devices.join(","))
        .bind(cfg.boot.kernel.clone())
        .bind(cfg.boot.initrd.clone())
        .bind(cfg.boot.cmdline.clone())
        .bind(cfg.display.map(|d| d.as_str()))
        .bind(cfg.high_availability.enabled)
        .bind(i64::from(cfg.high_availability.priority))
        .bind(db_json("custom properties", &cfg.custom_properties)?)
        .bind(cfg.serial_number.as_ref().map(|s| s.policy.as_str()))
        .bind(cfg.serial_number.as_ref().and_then(|s| s.value.clone()))
        .bind(cfg.console_enabled))
}

const VM_COLUMNS: &str = concat!(
    "id, name, description, comment, cluster_id, template_id, ",
    config_columns!(),
    ", placement_affinity, placement_host_id, delete_protected, created, ",
    "status, host_id, migrating_to_host_id, start_time, stop_time, stop_reason, config_version"
);

/// The columns a configuration write sets (after `id`): never the runtime the monitor owns.
const VM_CONFIG_COLUMNS: &str = concat!(
    "id, name, description, comment, ",
    config_columns!(),
    ", placement_affinity, placement_host_id, delete_protected"
);

fn vm_from_row(r: &AnyRow) -> Result<Vm> {
    Ok(Vm {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        cluster_id: r.parse("cluster_id")?,
        template_id: r.parse("template_id")?,
        config: config_from_row(r)?,
        placement: Placement { affinity: r.parse("placement_affinity")?, host_id: r.parse_opt("placement_host_id")? },
        delete_protected: r.flag("delete_protected")?,
        created: Timestamp(r.int("created")?),
        runtime: runtime_from_row(r)?,
        config_version: r.int("config_version")?,
    })
}

fn runtime_from_row(r: &AnyRow) -> Result<VmRuntime> {
    Ok(VmRuntime {
        status: r.status("status")?,
        host_id: r.parse_opt("host_id")?,
        migrating_to_host_id: r.parse_opt("migrating_to_host_id")?,
        start_time: r.int_opt("start_time")?.map(Timestamp),
        stop_time: r.int_opt("stop_time")?.map(Timestamp),
        stop_reason: r.text_opt("stop_reason")?,
    })
}

fn bind_runtime(q: Query, rt: &VmRuntime) -> Query {
    q.bind(rt.status.as_str())
        .bind(rt.host_id.map(|id| id.to_string()))
        .bind(rt.migrating_to_host_id.map(|id| id.to_string()))
        .bind(rt.start_time.map(|t| t.0))
        .bind(rt.stop_time.map(|t| t.0))
        .bind(rt.stop_reason.clone())
}

fn vm_ctx(doing: &str, vm: &Vm) -> WriteCtx {
    WriteCtx::new(doing, "vms", "VM", format!("VM '{}'", vm.name), vm.id)
        .unique("vms_name_key", format!("a VM named '{}' already exists; choose another name", vm.name))
        .reference("vms_cluster_id_fkey", "cluster", "clusters", vm.cluster_id)
        .reference("vms_template_id_fkey", "template", "templates", vm.template_id)
        .reference_opt("vms_host_id_fkey", "host", "hosts", vm.runtime.host_id)
        .reference_opt("vms_migrating_to_host_id_fkey", "host", "hosts", vm.runtime.migrating_to_host_id)
        .reference_opt("vms_placement_host_id_fkey", "host", "hosts", vm.placement.host_id)
}

async fn vm_write(c: &mut AnyConnection, sql: String, vm: &Vm, doing: &str) -> Result<u64> {
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(vm.id.to_string())
        .bind(vm.name.clone())
        .bind(vm.description.clone())
        .bind(vm.comment.clone())
        .bind(vm.cluster_id.to_string())
        .bind(vm.template_id.to_string());
    let q = bind_config(q, &vm.config)?
        .bind(vm.placement.affinity.as_str())
        .bind(vm.placement.host_id.map(|id| id.to_string()))
        .bind(vm.delete_protected)
        .bind(vm.created.0);
    match bind_runtime(q, &vm.runtime).bind(vm.config_version).execute(&mut *c).await {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => Err(vm_ctx(doing, vm).explain(c, e).await),
    }
}

/// Writes the VM's configuration (name, description, comment, configuration, placement, delete
/// protection) only if its configuration version is still `vm.config_version`, and bumps it;
/// the runtime is left alone. Returns whether it was written (false: another write came first).
pub(crate) async fn vm_config_update(c: &mut AnyConnection, vm: &Vm) -> Result<bool> {
    let names: Vec<&str> = VM_CONFIG_COLUMNS.split(',').map(str::trim).collect();
    let sets: Vec<String> = names.iter().enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    let sql = format!(
        "UPDATE vms SET {}, config_version = config_version + 1 WHERE id = $1 AND config_version = ${}",
        sets.join(", "),
        names.len() + 1
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(vm.id.to_string())
        .bind(vm.name.clone())
        .bind(vm.description.clone())
        .bind(vm.comment.clone());
    let q = bind_config(q, &vm.config)?
        .bind(vm.placement.affinity.as_str())
        .bind(vm.placement.host_id.map(|id| id.to_string()))
        .bind(vm.delete_protected)
        .bind(vm.config_version);
    match q.execute(&mut *c).await {
        Ok(r) if r.rows_affected() > 0 => Ok(true),
        Ok(_) => cas_missed(c, "vms", "VM", vm.id).await,
        Err(e) => Err(vm_ctx("updating a VM's configuration", vm).explain(c, e).await),
    }
}

pub(crate) async fn vm_insert(c: &mut AnyConnection, vm: &Vm) -> Result<()> {
    vm_write(c, insert_sql("vms", VM_COLUMNS), vm, "adding a VM").await.map(drop)
}

pub(crate) async fn vm_get(c: &mut AnyConnection, id: VmId) -> Result<Vm> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VM_COLUMNS} FROM vms WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a VM"))?;
    vm_from_row(&row.ok_or_else(|| StoreError::not_found("VM", id))?)
}

pub(crate) async fn vm_get_by_name(c: &mut AnyConnection, name: &str) -> Result<Vm> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {VM_COLUMNS} FROM vms WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a VM"))?;
    vm_from_row(&row.ok_or_else(|| StoreError::not_found("VM", format!("'{name}'")))?)
}

pub(crate) async fn vm_list(c: &mut AnyConnection, f: &VmFilter) -> Result<Vec<Vm>> {
    let mut q = Sql::new(&format!("SELECT {VM_COLUMNS} FROM vms WHERE 1 = 1"));
    q.name_like("name", &f.name)
        .eq_opt("status", f.status.map(|s| s.as_str().to_owned()))
        .eq_opt("cluster_id", f.cluster_id.map(|id| id.to_string()))
        .eq_opt("host_id", f.host_id.map(|id| id.to_string()))
        .eq_opt("template_id", f.template_id.map(|id| id.to_string()));
    if let Some(tag) = f.tag_id {
        q.push(" AND id IN (SELECT vm_id FROM vm_tags WHERE tag_id = ").bind(tag.to_string()).push(")");
    }
    let column = match f.page.sort_by {
        SortBy::Name => "name",
        SortBy::Status => "status",
        SortBy::Created => "created",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing VMs"))?;
    rows.iter().map(vm_from_row).collect()
}

/// Replaces every column of the VM (configuration and runtime).
pub(crate) async fn vm_update(c: &mut AnyConnection, vm: &Vm) -> Result<()> {
    if vm_write(c, update_sql("vms", VM_COLUMNS), vm, "updating a VM").await? == 0 {
        return Err(StoreError::not_found("VM", vm.id));
    }
    Ok(())
}

/// Sets what the VM is doing, leaving its configuration alone. With `expected` statuses, only
/// when the VM is in one of them (compare-and-set); returns whether it was changed.
pub(crate) async fn vm_runtime_set(
    c: &mut AnyConnection,
    id: VmId,
    runtime: &VmRuntime,
    expected: Option<&[VmStatus]>,
) -> Result<bool> {
    let mut q = Sql::new("UPDATE vms SET status = ");
    q.bind(runtime.status.as_str())
        .push(", host_id = ")
        .bind(runtime.host_id.map(|id| id.to_string()))
        .push(", migrating_to_host_id = ")
        .bind(runtime.migrating_to_host_id.map(|id| id.to_string()))
        .push(", start_time = ")
        .bind(runtime.start_time.map(|t| t.0))
        .push(", stop_time = ")
        .bind(runtime.stop_time.map(|t| t.0))
        .push(", stop_reason = ")
        .bind(runtime.stop_reason.clone())
        .push(" WHERE id = ")
        .bind(id.to_string());
    if let Some(expected) = expected {
        if expected.is_empty() {
            return Ok(false);
        }
        let expected: Vec<&'static str> = expected.iter().map(|s| s.as_str()).collect();
        q.and_in("status", &expected);
    }
    let res = q.build()?.execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() > 0 => Ok(true),
        // Missing, or not in an expected status.
        Ok(_) => cas_missed(c, "vms", "VM", id).await,
        Err(e) => {
            let ctx = WriteCtx::new("setting a VM's status", "vms", "VM", format!("VM {id}"), id)
                .reference_opt("vms_host_id_fkey", "host", "hosts", runtime.host_id)
                .reference_opt("vms_migrating_to_host_id_fkey", "host", "hosts", runtime.migrating_to_host_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

/// Removes a VM with its NICs and disk attachments (not its disks).
pub(crate) async fn vm_delete(c: &mut AnyConnection, id: VmId) -> Result<()> {
    let r = sqlx::query("DELETE FROM vms WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a VM"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("VM", id));
    }
    Ok(())
}

/// Removes a VM (with its NICs and disk attachments) only while its status is `status`
/// (compare-and-set); returns whether it was removed. A missing VM is `NotFound`.
pub(crate) async fn vm_delete_in_status(c: &mut AnyConnection, id: VmId, status: VmStatus) -> Result<bool> {
    let r = sqlx::query("DELETE FROM vms WHERE id = $1 AND status = $2")
        .bind(id.to_string())
        .bind(status.as_str())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a VM"))?;
    if r.rows_affected() > 0 { Ok(true) } else { cas_missed(c, "vms", "VM", id).await }
}

/// Guaranteed memory of the VMs that hold a host's memory (any status but down), summed per
/// host: what the scheduler subtracts from each host's schedulable memory, in one query.
pub(crate) async fn host_memory_committed(c: &mut AnyConnection) -> Result<Vec<(HostId, ByteSize)>> {
    let rows = sqlx::query(
        "SELECT host_id, CAST(COALESCE(SUM(memory_guaranteed), 0) AS BIGINT) AS committed FROM vms \
         WHERE host_id IS NOT NULL AND status <> 'down' GROUP BY host_id",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(StoreError::db("summing the memory VMs hold on hosts"))?;
    rows.iter()
        .map(|r| {
            let committed: i64 = r.try_get("committed").map_err(StoreError::db("reading committed memory"))?;
            Ok((r.parse("host_id")?, ByteSize(u64::try_from(committed).unwrap_or(0))))
        })
        .collect()
}
