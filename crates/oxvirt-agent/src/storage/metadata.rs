//! The on-disk metadata of domains and volumes: VDSM's `KEY=VALUE` text files.
//!
//! Plain text, one key per line, keys in upper case, sorted, so that an administrator can read
//! (and in an emergency repair) a domain with `cat`, and so that a domain stays self-describing
//! when it is attached to another host or to another agent. A value is everything after the
//! first `=`; values never contain line breaks (checked when writing). A line `EOF` ends the
//! file (VDSM ends volume metadata that way); unknown keys are kept and ignored, so files
//! written by a newer agent (or by VDSM) still parse.
//!
//! Every metadata file is replaced atomically ([`write_atomic`]): a reader sees the old or the
//! new content, never half of it, even after a crash.

use crate::storage::layout::ZERO_UUID;
use oxvirt_agent_api::v1::{StorageDomainType, VolumeFormat, VolumeRef};
use oxvirt_types::{ByteSize, DiskId, StorageDomainId, VolumeId};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::Path;

/// The domain format version we write. VDSM's file domains are at version 5 today; ours follow
/// its layout (not its leases), so we claim the same number.
pub const DOMAIN_VERSION: u32 = 5;

/// Why a metadata file could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError(pub String);

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(message: impl Into<String>) -> MetadataError {
    MetadataError(message.into())
}

/// Parses `KEY=VALUE` lines. Empty lines are skipped, `EOF` ends the file.
pub fn parse_key_values(text: &str) -> Result<BTreeMap<String, String>, MetadataError> {
    let mut map = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if line == "EOF" {
            break;
        }
        let (key, value) =
            line.split_once('=').ok_or_else(|| bad(format!("line {} is not KEY=VALUE: {line:?}", number + 1)))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad(format!("line {} has an empty key", number + 1)));
        }
        if map.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(bad(format!("key {key} appears twice")));
        }
    }
    Ok(map)
}

/// Formats `KEY=VALUE` lines (sorted by key), ending with `EOF` when `with_eof`.
pub fn format_key_values(map: &BTreeMap<String, String>, with_eof: bool) -> Result<String, MetadataError> {
    let mut text = String::new();
    for (key, value) in map {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
            return Err(bad(format!("metadata key {key:?} must be upper-case letters, digits or _")));
        }
        check_value(key, value)?;
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    if with_eof {
        text.push_str("EOF\n");
    }
    Ok(text)
}

/// A value must stay on its line.
pub fn check_value(key: &str, value: &str) -> Result<(), MetadataError> {
    if value.contains(['\n', '\r', '\0']) {
        return Err(bad(format!("the {key} value must not contain line breaks or NUL characters")));
    }
    Ok(())
}

fn required<'a>(map: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, MetadataError> {
    map.get(key).map(String::as_str).ok_or_else(|| bad(format!("the key {key} is missing")))
}

fn parsed<T: std::str::FromStr>(map: &BTreeMap<String, String>, key: &str) -> Result<T, MetadataError> {
    let text = required(map, key)?;
    text.trim().parse().map_err(|_| bad(format!("the value of {key} is not valid: {text:?}")))
}

/// How a domain's storage is reached, as VDSM's `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    Localfs,
    Posixfs,
    Nfs,
}

impl StorageType {
    pub const fn as_str(self) -> &'static str {
        match self {
            StorageType::Localfs => "LOCALFS",
            StorageType::Posixfs => "POSIXFS",
            StorageType::Nfs => "NFS",
        }
    }

    fn from_str(text: &str) -> Option<Self> {
        match text {
            "LOCALFS" => Some(StorageType::Localfs),
            "POSIXFS" => Some(StorageType::Posixfs),
            "NFS" => Some(StorageType::Nfs),
            _ => None,
        }
    }
}

/// VDSM's `CLASS` for a domain type (an export domain is a "Backup" domain in VDSM).
pub const fn class_name(domain_type: StorageDomainType) -> &'static str {
    match domain_type {
        StorageDomainType::Data => "Data",
        StorageDomainType::Iso => "Iso",
        StorageDomainType::Export => "Backup",
    }
}

fn class_from_name(text: &str) -> Option<StorageDomainType> {
    match text {
        "Data" => Some(StorageDomainType::Data),
        "Iso" => Some(StorageDomainType::Iso),
        "Backup" => Some(StorageDomainType::Export),
        _ => None,
    }
}

/// `<sd>/dom_md/metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainMetadata {
    /// `SDUUID`.
    pub id: StorageDomainId,
    /// `DESCRIPTION`: the domain's name.
    pub name: String,
    /// `CLASS`: `Data`, `Iso` or `Backup`.
    pub domain_type: StorageDomainType,
    /// `TYPE`: how the domain was reached when it was created.
    pub storage_type: StorageType,
    /// `VERSION`.
    pub version: u32,
    /// `CTIME`: creation time, seconds since the Unix epoch (an oxvirt addition).
    pub created: u64,
    /// `REMOTE_PATH`: the mount spec, for mounted domains.
    pub remote_path: Option<String>,
}

impl DomainMetadata {
    pub fn to_text(&self) -> Result<String, MetadataError> {
        let mut map = BTreeMap::new();
        map.insert("SDUUID".to_owned(), self.id.to_string());
        map.insert("DESCRIPTION".to_owned(), self.name.clone());
        map.insert("CLASS".to_owned(), class_name(self.domain_type).to_owned());
        map.insert("TYPE".to_owned(), self.storage_type.as_str().to_owned());
        map.insert("VERSION".to_owned(), self.version.to_string());
        map.insert("CTIME".to_owned(), self.created.to_string());
        if let Some(remote) = &self.remote_path {
            map.insert("REMOTE_PATH".to_owned(), remote.clone());
        }
        format_key_values(&map, false)
    }

    pub fn from_text(text: &str) -> Result<Self, MetadataError> {
        let map = parse_key_values(text)?;
        let class = required(&map, "CLASS")?;
        let storage_type = required(&map, "TYPE")?;
        Ok(DomainMetadata {
            id: parsed(&map, "SDUUID")?,
            name: required(&map, "DESCRIPTION")?.to_owned(),
            domain_type: class_from_name(class).ok_or_else(|| bad(format!("unknown CLASS {class:?}")))?,
            storage_type: StorageType::from_str(storage_type)
                .ok_or_else(|| bad(format!("unknown TYPE {storage_type:?}")))?,
            version: parsed(&map, "VERSION")?,
            created: map.get("CTIME").and_then(|t| t.parse().ok()).unwrap_or(0),
            remote_path: map.get("REMOTE_PATH").cloned(),
        })
    }
}

/// VDSM's `LEGALITY`: a volume is `ILLEGAL` while it is being made (or after a failure that
/// could not be cleaned up); only `LEGAL` volumes are handed to the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legality {
    Legal,
    Illegal,
}

impl Legality {
    const fn as_str(self) -> &'static str {
        match self {
            Legality::Legal => "LEGAL",
            Legality::Illegal => "ILLEGAL",
        }
    }
}

/// `<sd>/images/<image>/<volume>.meta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMetadata {
    /// `DOMAIN`.
    pub domain: StorageDomainId,
    /// `IMAGE`.
    pub image: DiskId,
    /// `VOLUUID` (an oxvirt addition: VDSM knows the id only from the file name).
    pub volume: VolumeId,
    /// `PUUID` (the zero UUID when there is none) and `PIMAGE` (an oxvirt addition: the parent's
    /// image, which VDSM does not need because it hard-links template volumes into each image).
    pub parent: Option<VolumeRef>,
    /// `FORMAT`: `COW` or `RAW`.
    pub format: VolumeFormat,
    /// `TYPE`: `SPARSE` or `PREALLOCATED`.
    pub preallocated: bool,
    /// `CAP`: the virtual size in bytes (VDSM format 5).
    pub capacity: ByteSize,
    /// `DESCRIPTION`.
    pub description: String,
    /// `CTIME`: seconds since the Unix epoch.
    pub created: u64,
    /// `LEGALITY`.
    pub legality: Legality,
}

impl VolumeMetadata {
    pub fn to_text(&self) -> Result<String, MetadataError> {
        let mut map = BTreeMap::new();
        map.insert("DOMAIN".to_owned(), self.domain.to_string());
        map.insert("IMAGE".to_owned(), self.image.to_string());
        map.insert("VOLUUID".to_owned(), self.volume.to_string());
        match &self.parent {
            Some(parent) => {
                map.insert("PUUID".to_owned(), parent.volume_id.to_string());
                map.insert("PIMAGE".to_owned(), parent.image_id.to_string());
            }
            None => {
                map.insert("PUUID".to_owned(), ZERO_UUID.to_owned());
            }
        }
        let format = match self.format {
            VolumeFormat::Cow => "COW",
            VolumeFormat::Raw => "RAW",
        };
        map.insert("FORMAT".to_owned(), format.to_owned());
        map.insert("TYPE".to_owned(), if self.preallocated { "PREALLOCATED" } else { "SPARSE" }.to_owned());
        map.insert("CAP".to_owned(), self.capacity.bytes().to_string());
        map.insert("DESCRIPTION".to_owned(), self.description.clone());
        map.insert("CTIME".to_owned(), self.created.to_string());
        map.insert("LEGALITY".to_owned(), self.legality.as_str().to_owned());
        map.insert("GEN".to_owned(), "0".to_owned());
        map.insert("DISKTYPE".to_owned(), "DATA".to_owned());
        format_key_values(&map, true)
    }

    /// Parses a `.meta` file; `image` and `volume` come from its place in the layout (files
    /// written by VDSM have no `VOLUUID`, and a missing `PIMAGE` means "same image").
    pub fn from_text(text: &str, image: DiskId, volume: VolumeId) -> Result<Self, MetadataError> {
        let map = parse_key_values(text)?;
        let recorded_image: DiskId = parsed(&map, "IMAGE")?;
        if recorded_image != image {
            return Err(bad(format!("IMAGE is {recorded_image}, but the file is in the image directory {image}")));
        }
        if let Some(recorded) = map.get("VOLUUID") {
            let recorded: VolumeId =
                recorded.parse().map_err(|_| bad(format!("the value of VOLUUID is not valid: {recorded:?}")))?;
            if recorded != volume {
                return Err(bad(format!("VOLUUID is {recorded}, but the file is named after {volume}")));
            }
        }
        let parent_text = required(&map, "PUUID")?;
        let parent = if parent_text.trim() == ZERO_UUID {
            None
        } else {
            let volume_id: VolumeId = parsed(&map, "PUUID")?;
            let image_id: DiskId = match map.get("PIMAGE") {
                Some(_) => parsed(&map, "PIMAGE")?,
                None => image,
            };
            Some(VolumeRef { image_id, volume_id })
        };
        let format = match required(&map, "FORMAT")? {
            "COW" => VolumeFormat::Cow,
            "RAW" => VolumeFormat::Raw,
            other => return Err(bad(format!("unknown FORMAT {other:?}"))),
        };
        let preallocated = match required(&map, "TYPE")? {
            "SPARSE" => false,
            "PREALLOCATED" => true,
            other => return Err(bad(format!("unknown TYPE {other:?}"))),
        };
        let legality = match required(&map, "LEGALITY")? {
            "LEGAL" => Legality::Legal,
            "ILLEGAL" | "FAKE" => Legality::Illegal,
            other => return Err(bad(format!("unknown LEGALITY {other:?}"))),
        };
        Ok(VolumeMetadata {
            domain: parsed(&map, "DOMAIN")?,
            image,
            volume,
            parent,
            format,
            preallocated,
            capacity: ByteSize(parsed(&map, "CAP")?),
            description: map.get("DESCRIPTION").cloned().unwrap_or_default(),
            created: map.get("CTIME").and_then(|t| t.parse().ok()).unwrap_or(0),
            legality,
        })
    }

    /// The reference to this volume.
    pub fn reference(&self) -> VolumeRef {
        VolumeRef { image_id: self.image, volume_id: self.volume }
    }
}

/// Replaces `path` with `content` atomically: writes a temporary file next to it, flushes it
/// to disk, renames it over `path` and flushes the directory. On error the temporary file is
/// removed and `path` is untouched.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("a metadata path has no parent directory"))?;
    let name = path.file_name().ok_or_else(|| std::io::Error::other("a metadata path has no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let temp = dir.join(temp_name);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(content)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_round_trip_and_stop_at_eof() {
        let mut map = BTreeMap::new();
        map.insert("SDUUID".to_owned(), "abc".to_owned());
        map.insert("DESCRIPTION".to_owned(), "a=b with = signs".to_owned());
        map.insert("EMPTY".to_owned(), String::new());
        let text = format_key_values(&map, true).expect("format");
        assert_eq!(text, "DESCRIPTION=a=b with = signs\nEMPTY=\nSDUUID=abc\nEOF\n");
        assert_eq!(parse_key_values(&text).expect("parse"), map);
        assert_eq!(parse_key_values("A=1\nEOF\nB=2\n").expect("parse").len(), 1);
    }

    #[test]
    fn key_values_reject_what_they_cannot_represent() {
        let mut map = BTreeMap::new();
        map.insert("DESCRIPTION".to_owned(), "two\nlines".to_owned());
        assert!(format_key_values(&map, false).is_err());
        let mut map = BTreeMap::new();
        map.insert("lower".to_owned(), "x".to_owned());
        assert!(format_key_values(&map, false).is_err());
        assert!(parse_key_values("NOEQUALS\n").is_err());
        assert!(parse_key_values("A=1\nA=2\n").is_err());
    }

    #[test]
    fn domain_metadata_round_trips() {
        let meta = DomainMetadata {
            id: StorageDomainId::new_random(),
            name: "data 1".to_owned(),
            domain_type: StorageDomainType::Export,
            storage_type: StorageType::Nfs,
            version: DOMAIN_VERSION,
            created: 1_700_000_000,
            remote_path: Some("server:/export/data".to_owned()),
        };
        let text = meta.to_text().expect("format");
        assert!(text.contains("CLASS=Backup\n"), "{text}");
        assert!(text.contains(&format!("SDUUID={}\n", meta.id)), "{text}");
        assert_eq!(DomainMetadata::from_text(&text).expect("parse"), meta);
    }

    #[test]
    fn volume_metadata_round_trips_with_and_without_parent() {
        let image = DiskId::new_random();
        let volume = VolumeId::new_random();
        let mut meta = VolumeMetadata {
            domain: StorageDomainId::new_random(),
            image,
            volume,
            parent: None,
            format: VolumeFormat::Raw,
            preallocated: true,
            capacity: ByteSize::from_mib(16),
            description: "boot disk".to_owned(),
            created: 1_700_000_001,
            legality: Legality::Legal,
        };
        let text = meta.to_text().expect("format");
        assert!(text.contains(&format!("PUUID={ZERO_UUID}\n")), "{text}");
        assert!(text.contains("CAP=16777216\n") && text.contains("TYPE=PREALLOCATED\n"), "{text}");
        assert!(text.ends_with("EOF\n"), "{text}");
        assert_eq!(VolumeMetadata::from_text(&text, image, volume).expect("parse"), meta);

        meta.parent = Some(VolumeRef { image_id: DiskId::new_random(), volume_id: VolumeId::new_random() });
        meta.format = VolumeFormat::Cow;
        meta.preallocated = false;
        meta.legality = Legality::Illegal;
        let text = meta.to_text().expect("format");
        assert_eq!(VolumeMetadata::from_text(&text, image, volume).expect("parse"), meta);
        // The file must sit where it says it belongs.
        assert!(VolumeMetadata::from_text(&text, DiskId::new_random(), volume).is_err());
        assert!(VolumeMetadata::from_text(&text, image, VolumeId::new_random()).is_err());
    }

    #[test]
    fn vdsm_volume_metadata_without_our_additions_parses() {
        let image = DiskId::new_random();
        let volume = VolumeId::new_random();
        let parent = VolumeId::new_random();
        let sd = StorageDomainId::new_random();
        let text = format!(
            "CAP=1073741824\nCTIME=1600000000\nDESCRIPTION={{\"DiskAlias\":\"d\"}}\nDISKTYPE=DATA\nDOMAIN={sd}\n\
             FORMAT=COW\nGEN=0\nIMAGE={image}\nLEGALITY=LEGAL\nPUUID={parent}\nTYPE=SPARSE\nVOLTYPE=LEAF\nEOF\n"
        );
        let meta = VolumeMetadata::from_text(&text, image, volume).expect("parse");
        assert_eq!(meta.parent, Some(VolumeRef { image_id: image, volume_id: parent }));
        assert_eq!(meta.capacity, ByteSize::from_gib(1));
        assert_eq!(meta.domain, sd);
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metadata");
        write_atomic(&path, b"A=1\n").expect("first write");
        write_atomic(&path, b"A=2\n").expect("second write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "A=2\n");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("metadata")]);
    }
}

/// Property-based fuzzing of the metadata reader: shared storage is untrusted (another host,
/// another engine, a person with an editor wrote it), so any text is a result, never a panic;
/// what the writer writes reads back the same (`make fuzz` runs 10⁷ cases).
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn uuid() -> impl Strategy<Value = uuid::Uuid> {
        any::<u128>().prop_map(uuid::Uuid::from_u128)
    }

    /// Lines like a metadata file's, with keys that exist and values of any kind.
    fn meta_text() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("DOMAIN"),
            Just("IMAGE"),
            Just("VOLUUID"),
            Just("PUUID"),
            Just("PIMAGE"),
            Just("FORMAT"),
            Just("TYPE"),
            Just("CAP"),
            Just("DESCRIPTION"),
            Just("CTIME"),
            Just("LEGALITY"),
            Just("SDUUID"),
            Just("CLASS"),
            Just("VERSION"),
            Just("EOF"),
            Just(""),
            Just(" X ")
        ];
        let value = prop_oneof![
            Just(ZERO_UUID.to_owned()),
            Just("COW".to_owned()),
            Just("SPARSE".to_owned()),
            Just("LEGAL".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("-1".to_owned()),
            uuid().prop_map(|u| u.to_string()),
            "\\PC{0,12}",
            any::<String>(),
        ];
        proptest::collection::vec((key, any::<bool>(), value), 0..14).prop_map(|lines| {
            lines.into_iter().map(|(k, eq, v)| if eq { format!("{k}={v}\n") } else { format!("{k}{v}\r\n") }).collect()
        })
    }

    proptest! {
        #[test]
        fn fuzz_volume_metadata_of_any_text_is_a_result(text in meta_text(), image in uuid(), volume in uuid()) {
            let _ = VolumeMetadata::from_text(&text, DiskId::from_uuid(image), VolumeId::from_uuid(volume));
            let _ = DomainMetadata::from_text(&text);
        }

        #[test]
        fn fuzz_metadata_of_any_bytes_is_a_result(text in any::<String>()) {
            let _ = VolumeMetadata::from_text(&text, DiskId::new_random(), VolumeId::new_random());
            let _ = DomainMetadata::from_text(&text);
        }

        #[test]
        fn fuzz_volume_metadata_round_trips(
            ids in (uuid(), uuid(), uuid()),
            parent in proptest::option::of((uuid(), uuid())),
            cow in any::<bool>(),
            preallocated in any::<bool>(),
            capacity in any::<u64>(),
            description in any::<String>(),
            created in any::<u64>(),
            legal in any::<bool>(),
        ) {
            let meta = VolumeMetadata {
                domain: StorageDomainId::from_uuid(ids.0),
                image: DiskId::from_uuid(ids.1),
                volume: VolumeId::from_uuid(ids.2),
                parent: parent.map(|(i, v)| VolumeRef { image_id: DiskId::from_uuid(i), volume_id: VolumeId::from_uuid(v) })
                    .filter(|p| p.volume_id.to_string() != ZERO_UUID),
                format: if cow { VolumeFormat::Cow } else { VolumeFormat::Raw },
                preallocated,
                capacity: ByteSize(capacity),
                description,
                created,
                legality: if legal { Legality::Legal } else { Legality::Illegal },
            };
            match meta.to_text() {
                Ok(text) => {
                    let back = VolumeMetadata::from_text(&text, meta.image, meta.volume)
                        .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
                    prop_assert_eq!(back, meta);
                }
                Err(_) => prop_assert!(meta.description.contains(['\n', '\r', '\0'])),
            }
        }
    }
}
