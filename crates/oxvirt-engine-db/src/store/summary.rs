//! The counts the API root's summary shows.

use super::error::{Result, StoreError};
use super::sql::RowExt as _;
use crate::model::SummaryCounts;
use sqlx::AnyConnection;

pub(crate) async fn summary_counts(c: &mut AnyConnection) -> Result<SummaryCounts> {
    let row = sqlx::query(
        "SELECT \
           (SELECT COUNT(*) FROM vms) AS vms_total, \
           (SELECT COUNT(*) FROM vms WHERE status <> 'down') AS vms_active, \
           (SELECT COUNT(*) FROM hosts) AS hosts_total, \
           (SELECT COUNT(*) FROM hosts WHERE status = 'up') AS hosts_active, \
           (SELECT COUNT(*) FROM storage_domains) AS sds_total, \
           (SELECT COUNT(DISTINCT storage_domain_id) FROM storage_domain_attachments WHERE status = 'active') \
              AS sds_active, \
           (SELECT COUNT(*) FROM users) AS users_total, \
           (SELECT COUNT(*) FROM users WHERE enabled = $1) AS users_active",
    )
    .bind(true)
    .fetch_one(&mut *c)
    .await
    .map_err(StoreError::db("counting objects"))?;
    Ok(SummaryCounts {
        vms_total: row.int_as("vms_total")?,
        vms_active: row.int_as("vms_active")?,
        hosts_total: row.int_as("hosts_total")?,
        hosts_active: row.int_as("hosts_active")?,
        storage_domains_total: row.int_as("sds_total")?,
        storage_domains_active: row.int_as("sds_active")?,
        users_total: row.int_as("users_total")?,
        users_active: row.int_as("users_active")?,
    })
}
