//! Storage domains and volumes with real files, real qemu-img and (for POSIX domains) a real
//! ext4 file system on a loop device. Every test works in its own temporary directory; mounts
//! and loop devices are undone by Drop guards, also when a test fails.

use oxvirt_agent::storage::{STATE_FILE, StorageError, StorageManager, not_open_by_a_vm, open_by_no_vm};
use oxvirt_agent_api::v1::{
    StorageDomainConnection, StorageDomainCreate, StorageDomainType, VolumeCreate, VolumeFormat, VolumeRef,
};
use oxvirt_types::{ByteSize, DiskId, ErrorKind, StorageDomainId, VolumeId};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A manager over a fresh temporary state dir, mount root and localfs data dir.
struct Fixture {
    tmp: tempfile::TempDir,
    manager: StorageManager,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::Builder::new().prefix("oxvirt-storage-").tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("data")).expect("data dir");
        let manager = StorageManager::open(&tmp.path().join("state"), &tmp.path().join("mnt")).expect("open");
        Fixture { tmp, manager }
    }

    fn state_dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn mount_root(&self) -> PathBuf {
        self.tmp.path().join("mnt")
    }

    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn localfs(&self) -> StorageDomainConnection {
        StorageDomainConnection::Localfs { path: self.data() }
    }

    /// Drops the manager and opens a new one from the same state dir (an agent restart).
    fn restart(&mut self) {
        self.manager = StorageManager::open(&self.state_dir(), &self.mount_root()).expect("reopen");
    }

    async fn create_domain(&self, name: &str) -> StorageDomainId {
        let id = StorageDomainId::new_random();
        let req = StorageDomainCreate {
            id,
            name: name.to_owned(),
            domain_type: StorageDomainType::Data,
            connection: self.localfs(),
        };
        self.manager.domain_create(&req).await.expect("create domain");
        id
    }
}

fn volume_req(format: VolumeFormat, size: Option<ByteSize>, sparse: bool) -> VolumeCreate {
    VolumeCreate {
        image_id: DiskId::new_random(),
        volume_id: VolumeId::new_random(),
        format,
        size,
        sparse,
        parent: None,
        description: "test volume".to_owned(),
    }
}

fn reference(req: &VolumeCreate) -> VolumeRef {
    VolumeRef { image_id: req.image_id, volume_id: req.volume_id }
}

/// `qemu-img info --output=json` as qemu-img itself sees the file (format probed).
fn qemu_info(path: &Path) -> serde_json::Value {
    let output =
        Command::new("qemu-img").args(["info", "-U", "--output=json"]).arg(path).output().expect("run qemu-img info");
    assert!(output.status.success(), "qemu-img info {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("qemu-img json")
}

/// Every file and directory under `dir` with its size and content hash-ish (length + mtime
/// is not enough for metadata rewrites, so small files are read whole).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut map = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = path.symlink_metadata().expect("stat");
        let summary = if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("list") {
                pending.push(entry.expect("entry").path());
            }
            "dir".to_owned()
        } else if meta.len() <= 64 * 1024 {
            format!("file {:?}", std::fs::read(&path).expect("read"))
        } else {
            format!("file of {} bytes", meta.len())
        };
        map.insert(path.strip_prefix(dir).expect("under dir").to_path_buf(), summary);
    }
    map
}

fn kind_of<T: std::fmt::Debug>(result: Result<T, StorageError>) -> ErrorKind {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => {
            // Every message names something concrete; none is empty.
            assert!(!e.to_string().is_empty());
            e.kind()
        }
    }
}

fn is_mounted(path: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let wanted = path.to_str().expect("utf-8 path");
    mountinfo.lines().any(|line| line.split(' ').nth(4) == Some(wanted))
}

/// axum handlers need `Send` futures and a `Send + Sync` manager behind an `Arc`.
#[test]
fn the_manager_and_its_futures_can_be_shared_across_threads() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<StorageManager>();
    send_sync::<StorageError>();
    let fx = Fixture::new();
    let m = &fx.manager;
    let sd = StorageDomainId::new_random();
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(1)), true);
    let create = StorageDomainCreate {
        id: sd,
        name: "x".to_owned(),
        domain_type: StorageDomainType::Data,
        connection: fx.localfs(),
    };
    let connection = fx.localfs();
    // The futures are only built, never polled.
    send(&m.domain_create(&create));
    send(&m.domain_attach(sd, &connection));
    send(&m.domain_detach(sd));
    send(&m.domain_info(sd));
    send(&m.volume_create(sd, &req));
    send(&m.volume_info(sd, reference(&req)));
    send(&m.volume_resize(sd, reference(&req), ByteSize::from_mib(2), not_open_by_a_vm));
    send(&m.volume_delete(sd, reference(&req)));
    send(&m.volume_path(sd, reference(&req)));
    send(&m.volume_list(sd));
}

// ---------------------------------------------------------------------------------------
// Local domains
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn domain_create_writes_self_describing_metadata() {
    let fx = Fixture::new();
    let id = fx.create_domain("data one").await;

    let metadata = std::fs::read_to_string(fx.data().join(id.to_string()).join("dom_md/metadata")).expect("metadata");
    for line in [
        format!("SDUUID={id}"),
        "DESCRIPTION=data one".to_owned(),
        "CLASS=Data".to_owned(),
        "TYPE=LOCALFS".to_owned(),
        "VERSION=5".to_owned(),
    ] {
        assert!(metadata.lines().any(|l| l == line), "metadata lacks {line:?}:\n{metadata}");
    }
    assert!(metadata.lines().any(|l| l.starts_with("CTIME=") && l.len() > "CTIME=".len()), "{metadata}");
    assert!(fx.data().join(id.to_string()).join("images").is_dir());
    // Nothing else was left in the connection's directory (no temporary names).
    let entries: Vec<_> = std::fs::read_dir(fx.data()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from(id.to_string())]);

    let info = fx.manager.domain_info(id).await.expect("info");
    assert_eq!(info.id, id);
    assert_eq!(info.name, "data one");
    assert_eq!(info.domain_type, StorageDomainType::Data);
    assert_eq!(info.path, fx.data().join(id.to_string()));
    assert!(info.total.bytes() > 0 && info.available <= info.total, "{info:?}");
    assert!(info.used.bytes() > 0, "directories and metadata take space: {info:?}");
    assert_eq!(fx.manager.domain_ids(), vec![id]);
    let state = std::fs::read_to_string(fx.state_dir().join(STATE_FILE)).expect("state file");
    assert!(state.contains(&id.to_string()), "{state}");
}

#[tokio::test]
async fn qcow2_sparse_volume_is_thin_and_described() {
    let fx = Fixture::new();
    let sd = fx.create_domain("thin").await;
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_gib(1)), true);
    let info = fx.manager.volume_create(sd, &req).await.expect("create volume");

    let expected_path = fx.data().join(format!("{sd}/images/{}/{}", req.image_id, req.volume_id));
    assert_eq!(info.path, expected_path);
    assert_eq!(info.format, VolumeFormat::Cow);
    assert_eq!(info.virtual_size, ByteSize::from_gib(1));
    assert!(info.actual_size.bytes() < ByteSize::MIB, "a new qcow2 is small: {info:?}");
    assert_eq!(info.parent, None);
    assert_eq!(info.chain, vec![reference(&req)]);

    let qemu = qemu_info(&info.path);
    assert_eq!(qemu["format"], "qcow2");
    assert_eq!(qemu["virtual-size"], ByteSize::GIB);
    assert!(qemu["actual-size"].as_u64().expect("actual-size") < ByteSize::MIB, "{qemu}");
    assert!(qemu.get("backing-filename").is_none(), "{qemu}");

    let meta = std::fs::read_to_string(expected_path.with_extension("meta")).expect(".meta");
    for line in [
        "FORMAT=COW".to_owned(),
        "TYPE=SPARSE".to_owned(),
        "CAP=1073741824".to_owned(),
        "LEGALITY=LEGAL".to_owned(),
        "PUUID=00000000-0000-0000-0000-000000000000".to_owned(),
        format!("IMAGE={}", req.image_id),
        format!("VOLUUID={}", req.volume_id),
        format!("DOMAIN={sd}"),
        "DESCRIPTION=test volume".to_owned(),
        "EOF".to_owned(),
    ] {
        assert!(meta.lines().any(|l| l == line), ".meta lacks {line:?}:\n{meta}");
    }
    // The image directory holds exactly the volume and its metadata: no temporary files.
    let mut names: Vec<_> = std::fs::read_dir(expected_path.parent().expect("image dir"))
        .expect("list")
        .map(|e| e.expect("e").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![format!("{}", req.volume_id).into(), format!("{}.meta", req.volume_id).into()] as Vec<std::ffi::OsString>
    );

    let (path, format) = fx.manager.volume_path(sd, reference(&req)).await.expect("volume path");
    assert_eq!((path, format), (expected_path, VolumeFormat::Cow));
    assert_eq!(fx.manager.volume_info(sd, reference(&req)).await.expect("info again"), info);
}

#[tokio::test]
async fn raw_volumes_are_preallocated_or_sparse_as_asked() {
    let fx = Fixture::new();
    let sd = fx.create_domain("raw").await;
    let size = ByteSize::from_mib(16);

    let thick = volume_req(VolumeFormat::Raw, Some(size), false);
    let info = fx.manager.volume_create(sd, &thick).await.expect("create preallocated");
    assert_eq!(info.format, VolumeFormat::Raw);
    assert_eq!(info.virtual_size, size);
    assert!(
        info.actual_size.bytes() >= size.bytes() && info.actual_size.bytes() <= size.bytes() + ByteSize::MIB,
        "preallocated: actual ≈ 16 MiB, got {info:?}"
    );
    let qemu = qemu_info(&info.path);
    assert_eq!(qemu["format"], "raw");
    assert_eq!(qemu["virtual-size"], size.bytes());
    let meta = std::fs::read_to_string(info.path.with_extension("meta")).expect(".meta");
    assert!(meta.lines().any(|l| l == "TYPE=PREALLOCATED") && meta.lines().any(|l| l == "FORMAT=RAW"), "{meta}");

    let thin = volume_req(VolumeFormat::Raw, Some(size), true);
    let info = fx.manager.volume_create(sd, &thin).await.expect("create sparse raw");
    assert_eq!(info.virtual_size, size);
    assert!(info.actual_size.bytes() < ByteSize::MIB, "sparse raw: {info:?}");
    assert_eq!(std::fs::metadata(&info.path).expect("stat").len(), size.bytes());
}

#[tokio::test]
async fn child_volumes_chain_to_their_parent_which_cannot_be_deleted_under_them() {
    let fx = Fixture::new();
    let sd = fx.create_domain("chains").await;
    // A "template" disk in its own image.
    let base = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(64)), true);
    fx.manager.volume_create(sd, &base).await.expect("base");

    // A thin clone in another image: size inherited, backing file relative.
    let clone =
        VolumeCreate { parent: Some(reference(&base)), size: None, ..volume_req(VolumeFormat::Cow, None, true) };
    let info = fx.manager.volume_create(sd, &clone).await.expect("clone");
    assert_eq!(info.parent, Some(reference(&base)));
    assert_eq!(info.chain, vec![reference(&clone), reference(&base)]);
    assert_eq!(info.virtual_size, ByteSize::from_mib(64));
    let qemu = qemu_info(&info.path);
    assert_eq!(qemu["backing-filename"], format!("../{}/{}", base.image_id, base.volume_id));
    assert_eq!(qemu["backing-filename-format"], "qcow2");
    let meta = std::fs::read_to_string(info.path.with_extension("meta")).expect(".meta");
    assert!(meta.lines().any(|l| l == format!("PUUID={}", base.volume_id)), "{meta}");
    assert!(meta.lines().any(|l| l == format!("PIMAGE={}", base.image_id)), "{meta}");

    // A snapshot on top of the clone, in the clone's image, bigger than its parent.
    let snapshot_req = VolumeCreate {
        image_id: clone.image_id,
        parent: Some(reference(&clone)),
        size: Some(ByteSize::from_mib(128)),
        ..volume_req(VolumeFormat::Cow, None, true)
    };
    let info = fx.manager.volume_create(sd, &snapshot_req).await.expect("snapshot");
    assert_eq!(info.chain, vec![reference(&snapshot_req), reference(&clone), reference(&base)]);
    assert_eq!(info.virtual_size, ByteSize::from_mib(128));
    assert_eq!(qemu_info(&info.path)["backing-filename"], clone.volume_id.to_string());

    // The parents are protected, and nothing changes when the deletion is refused.
    let before = snapshot(&fx.data());
    for parent in [reference(&base), reference(&clone)] {
        let err = fx.manager.volume_delete(sd, parent).await.expect_err("parent in use");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(err.to_string().contains("is the parent of"), "{err}");
    }
    assert_eq!(snapshot(&fx.data()), before);

    // Leaf first, then up the chain; empty image directories go away.
    fx.manager.volume_delete(sd, reference(&snapshot_req)).await.expect("delete snapshot");
    fx.manager.volume_delete(sd, reference(&clone)).await.expect("delete clone");
    assert!(!fx.data().join(format!("{sd}/images/{}", clone.image_id)).exists());
    fx.manager.volume_delete(sd, reference(&base)).await.expect("delete base");
    let images: Vec<_> = std::fs::read_dir(fx.data().join(format!("{sd}/images"))).expect("list").collect();
    assert!(images.is_empty(), "{images:?}");
    assert_eq!(kind_of(fx.manager.volume_delete(sd, reference(&base)).await), ErrorKind::NotFound);
}

#[tokio::test]
async fn resize_grows_and_refuses_to_shrink() {
    let fx = Fixture::new();
    let sd = fx.create_domain("resize").await;
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(64)), true);
    let vol = reference(&req);
    let info = fx.manager.volume_create(sd, &req).await.expect("create");

    let grown = fx.manager.volume_resize(sd, vol, ByteSize::from_mib(128), not_open_by_a_vm).await.expect("grow");
    assert_eq!(grown.virtual_size, ByteSize::from_mib(128));
    assert_eq!(qemu_info(&info.path)["virtual-size"], ByteSize::from_mib(128).bytes());
    let meta = std::fs::read_to_string(info.path.with_extension("meta")).expect(".meta");
    assert!(meta.lines().any(|l| l == format!("CAP={}", ByteSize::from_mib(128).bytes())), "{meta}");

    let before = snapshot(&fx.data());
    assert_eq!(
        kind_of(fx.manager.volume_resize(sd, vol, ByteSize::from_mib(32), not_open_by_a_vm).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind_of(fx.manager.volume_resize(sd, vol, ByteSize(ByteSize::MIB * 200 + 1), not_open_by_a_vm).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        kind_of(fx.manager.volume_resize(sd, vol, ByteSize(0), not_open_by_a_vm).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(snapshot(&fx.data()), before, "refused resizes change nothing");
    assert_eq!(qemu_info(&info.path)["virtual-size"], ByteSize::from_mib(128).bytes());

    // A preallocated raw volume stays preallocated when it grows.
    let raw = volume_req(VolumeFormat::Raw, Some(ByteSize::from_mib(8)), false);
    fx.manager.volume_create(sd, &raw).await.expect("raw");
    let grown = fx
        .manager
        .volume_resize(sd, reference(&raw), ByteSize::from_mib(24), not_open_by_a_vm)
        .await
        .expect("grow raw");
    assert_eq!(grown.virtual_size, ByteSize::from_mib(24));
    assert!(grown.actual_size.bytes() >= ByteSize::from_mib(24).bytes(), "{grown:?}");

    // A volume a VM has open is grown by that VM's QEMU (the `live` answer), never by
    // qemu-img; the metadata follows. Here `live` only records what it was asked.
    let asked = std::sync::Mutex::new(None);
    let grown = fx
        .manager
        .volume_resize(sd, vol, ByteSize::from_mib(160), async |path: &Path| {
            *asked.lock().expect("lock") = Some(path.to_owned());
            Ok(true)
        })
        .await
        .expect("grow live");
    assert_eq!(
        asked.lock().expect("lock").as_deref(),
        Some(info.path.as_path()),
        "live is asked with the volume's file"
    );
    assert_eq!(qemu_info(&info.path)["virtual-size"], ByteSize::from_mib(128).bytes(), "qemu-img did not touch it");
    let meta = std::fs::read_to_string(info.path.with_extension("meta")).expect(".meta");
    assert!(meta.lines().any(|l| l == format!("CAP={}", ByteSize::from_mib(160).bytes())), "{meta}");
    assert_eq!(grown.virtual_size, ByteSize::from_mib(128), "the file's own size is reported: {grown:?}");

    // A live grow that fails changes nothing and names the volume.
    let before = snapshot(&fx.data());
    let err = fx
        .manager
        .volume_resize(sd, vol, ByteSize::from_mib(192), async |_: &Path| Err("block_resize refused".to_owned()))
        .await
        .expect_err("failed live grow");
    assert!(
        matches!(err, StorageError::LiveResize { .. }) && err.to_string().contains("block_resize refused"),
        "{err}"
    );
    assert_eq!(snapshot(&fx.data()), before, "a failed live grow changes nothing");
}

#[tokio::test]
async fn bad_domain_requests_change_nothing() {
    let fx = Fixture::new();
    let unknown = StorageDomainId::new_random();
    assert_eq!(kind_of(fx.manager.domain_info(unknown).await), ErrorKind::NotFound);
    assert_eq!(kind_of(fx.manager.domain_detach(unknown).await), ErrorKind::NotFound);
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(1)), true);
    assert_eq!(kind_of(fx.manager.volume_create(unknown, &req).await), ErrorKind::NotFound);
    assert_eq!(kind_of(fx.manager.volume_info(unknown, reference(&req)).await), ErrorKind::NotFound);
    assert_eq!(kind_of(fx.manager.volume_path(unknown, reference(&req)).await), ErrorKind::NotFound);

    // Local paths must be existing absolute directories.
    let missing = fx.tmp.path().join("no-such-dir");
    for path in [missing.clone(), PathBuf::from("relative/dir"), fx.tmp.path().join("a-file")] {
        if path.ends_with("a-file") {
            std::fs::write(&path, b"x").expect("file");
        }
        let req = StorageDomainCreate {
            id: StorageDomainId::new_random(),
            name: "bad".to_owned(),
            domain_type: StorageDomainType::Data,
            connection: StorageDomainConnection::Localfs { path: path.clone() },
        };
        let err = fx.manager.domain_create(&req).await.expect_err("bad local path");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "names the path: {err}");
    }
    assert!(!missing.exists());
    assert!(fx.manager.domain_ids().is_empty());
    assert!(!fx.state_dir().join(STATE_FILE).exists(), "no state written for failures");

    // Bad names.
    for name in ["", "   ", "two\nlines"] {
        let req = StorageDomainCreate {
            id: StorageDomainId::new_random(),
            name: name.to_owned(),
            domain_type: StorageDomainType::Iso,
            connection: fx.localfs(),
        };
        assert_eq!(kind_of(fx.manager.domain_create(&req).await), ErrorKind::InvalidInput);
    }
    assert_eq!(std::fs::read_dir(fx.data()).expect("list").count(), 0);

    // Creating a domain that exists: attached here, or already on the storage.
    let id = fx.create_domain("first").await;
    let before = snapshot(&fx.data());
    let again = StorageDomainCreate {
        id,
        name: "second".to_owned(),
        domain_type: StorageDomainType::Data,
        connection: fx.localfs(),
    };
    assert_eq!(kind_of(fx.manager.domain_create(&again).await), ErrorKind::Conflict);
    let other_host = StorageManager::open(&fx.tmp.path().join("state2"), &fx.tmp.path().join("mnt2")).expect("open");
    assert_eq!(kind_of(other_host.domain_create(&again).await), ErrorKind::Conflict);
    assert!(other_host.domain_ids().is_empty());
    assert_eq!(snapshot(&fx.data()), before, "the existing domain is untouched");

    // Attaching: the wrong id, or a directory holding another domain's metadata.
    let wrong = StorageDomainId::new_random();
    assert_eq!(kind_of(other_host.domain_attach(wrong, &fx.localfs()).await), ErrorKind::NotFound);
    let impostor = fx.data().join(wrong.to_string()).join("dom_md");
    std::fs::create_dir_all(&impostor).expect("impostor dir");
    std::fs::copy(fx.data().join(format!("{id}/dom_md/metadata")), impostor.join("metadata")).expect("copy");
    let err = other_host.domain_attach(wrong, &fx.localfs()).await.expect_err("id mismatch");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    std::fs::remove_dir_all(fx.data().join(wrong.to_string())).expect("remove impostor");
    // The same domain through another connection while attached.
    let elsewhere = StorageDomainConnection::Localfs { path: fx.tmp.path().to_path_buf() };
    assert_eq!(kind_of(fx.manager.domain_attach(id, &elsewhere).await), ErrorKind::Conflict);
    assert!(other_host.domain_ids().is_empty());
    assert_eq!(fx.manager.domain_ids(), vec![id]);
    assert_eq!(snapshot(&fx.data()), before);

    // Attaching from a second manager (another host on shared storage) works and sees the name.
    let info = other_host.domain_attach(id, &fx.localfs()).await.expect("attach");
    assert_eq!(info.name, "first");
}

#[tokio::test]
async fn bad_volume_requests_change_nothing() {
    let fx = Fixture::new();
    let sd = fx.create_domain("volumes").await;
    let existing = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(16)), true);
    fx.manager.volume_create(sd, &existing).await.expect("create");
    let before = snapshot(&fx.data());

    let cases: Vec<(&str, VolumeCreate, ErrorKind)> = vec![
        ("same volume again", existing.clone(), ErrorKind::Conflict),
        (
            "same volume id in another image",
            VolumeCreate { image_id: DiskId::new_random(), ..existing.clone() },
            ErrorKind::Conflict,
        ),
        (
            "missing parent",
            VolumeCreate {
                parent: Some(VolumeRef { image_id: existing.image_id, volume_id: VolumeId::new_random() }),
                ..volume_req(VolumeFormat::Cow, None, true)
            },
            ErrorKind::NotFound,
        ),
        (
            "raw with a parent",
            VolumeCreate { parent: Some(reference(&existing)), ..volume_req(VolumeFormat::Raw, None, true) },
            ErrorKind::InvalidInput,
        ),
        (
            "preallocated with a parent",
            VolumeCreate { parent: Some(reference(&existing)), ..volume_req(VolumeFormat::Cow, None, false) },
            ErrorKind::InvalidInput,
        ),
        (
            "smaller than its parent",
            VolumeCreate {
                parent: Some(reference(&existing)),
                ..volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(8)), true)
            },
            ErrorKind::InvalidInput,
        ),
        ("zero size", volume_req(VolumeFormat::Cow, Some(ByteSize(0)), true), ErrorKind::InvalidInput),
        ("no size and no parent", volume_req(VolumeFormat::Raw, None, true), ErrorKind::InvalidInput),
        ("size not in sectors", volume_req(VolumeFormat::Raw, Some(ByteSize(1000)), true), ErrorKind::InvalidInput),
        (
            "size beyond i64",
            volume_req(VolumeFormat::Raw, Some(ByteSize(u64::MAX - 511)), true),
            ErrorKind::InvalidInput,
        ),
        (
            "description with a line break",
            VolumeCreate {
                description: "a\nFORMAT=RAW".to_owned(),
                ..volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(1)), true)
            },
            ErrorKind::InvalidInput,
        ),
    ];
    for (what, req, kind) in cases {
        let err = fx.manager.volume_create(sd, &req).await.expect_err(what);
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert_eq!(snapshot(&fx.data()), before, "{what} changed the domain");
    }
    let missing = VolumeRef { image_id: existing.image_id, volume_id: VolumeId::new_random() };
    assert_eq!(kind_of(fx.manager.volume_info(sd, missing).await), ErrorKind::NotFound);
    assert_eq!(kind_of(fx.manager.volume_path(sd, missing).await), ErrorKind::NotFound);
    assert_eq!(
        kind_of(fx.manager.volume_resize(sd, missing, ByteSize::from_mib(32), not_open_by_a_vm).await),
        ErrorKind::NotFound
    );
    assert_eq!(kind_of(fx.manager.volume_delete(sd, missing).await), ErrorKind::NotFound);
    assert_eq!(snapshot(&fx.data()), before);
}

#[tokio::test]
async fn qemu_img_failure_leaves_no_half_made_volume() {
    let fx = Fixture::new();
    let sd = fx.create_domain("failures").await;
    let before = snapshot(&fx.data());

    // Fault: a size our checks accept but qemu-img refuses for qcow2 (4 EiB needs bigger clusters).
    let huge = volume_req(VolumeFormat::Cow, Some(ByteSize(4 << 60)), true);
    let err = fx.manager.volume_create(sd, &huge).await.expect_err("qemu-img must fail");
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert!(err.to_string().contains("qemu-img"), "{err}");
    assert_eq!(snapshot(&fx.data()), before, "the new image directory is gone too");

    // The same failure in an image that already has a volume: that volume and its directory stay.
    let first = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(4)), true);
    fx.manager.volume_create(sd, &first).await.expect("first");
    let before = snapshot(&fx.data());
    let second = VolumeCreate { image_id: first.image_id, ..huge.clone() };
    fx.manager.volume_create(sd, &second).await.expect_err("qemu-img must fail");
    assert_eq!(snapshot(&fx.data()), before);
    fx.manager.volume_info(sd, reference(&first)).await.expect("first is intact");
}

#[tokio::test]
async fn an_illegal_volume_is_not_handed_out_but_can_be_deleted() {
    let fx = Fixture::new();
    let sd = fx.create_domain("illegal").await;
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(4)), true);
    let info = fx.manager.volume_create(sd, &req).await.expect("create");
    // Fault injection: what a crash in the middle of a creation leaves behind.
    let meta_path = info.path.with_extension("meta");
    let meta = std::fs::read_to_string(&meta_path).expect("read .meta");
    assert!(info.legal, "a finished volume is legal");
    std::fs::write(&meta_path, meta.replace("LEGALITY=LEGAL", "LEGALITY=ILLEGAL")).expect("write .meta");

    let seen = fx.manager.volume_info(sd, reference(&req)).await.expect("an illegal volume is still described");
    assert!(!seen.legal, "volume info tells an unfinished volume");
    assert_eq!(kind_of(fx.manager.volume_path(sd, reference(&req)).await), ErrorKind::Conflict);
    let child = VolumeCreate { parent: Some(reference(&req)), ..volume_req(VolumeFormat::Cow, None, true) };
    assert_eq!(kind_of(fx.manager.volume_create(sd, &child).await), ErrorKind::Conflict);
    fx.manager.volume_delete(sd, reference(&req)).await.expect("delete the illegal volume");
    assert!(!info.path.exists() && !meta_path.exists());
}

#[tokio::test]
async fn the_volume_list_shows_every_volume_and_which_are_not_legal() {
    let fx = Fixture::new();
    let sd = fx.create_domain("listed").await;
    let listed = fx.manager.volume_list(sd).await.expect("list of an empty domain");
    assert_eq!(listed.storage_domain_id, sd);
    assert!(listed.volumes.is_empty(), "{listed:?}");

    // Complete volumes: a base and a child on top of it.
    let base = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(8)), true);
    fx.manager.volume_create(sd, &base).await.expect("base");
    let child = VolumeCreate { parent: Some(reference(&base)), ..volume_req(VolumeFormat::Cow, None, true) };
    fx.manager.volume_create(sd, &child).await.expect("child");
    // Fault injection, each what a crash leaves behind:
    // - a creation cut short after the rename, before LEGALITY=LEGAL (the file is whole);
    let illegal = volume_req(VolumeFormat::Raw, Some(ByteSize::from_mib(4)), false);
    let illegal_info = fx.manager.volume_create(sd, &illegal).await.expect("illegal");
    let meta_path = illegal_info.path.with_extension("meta");
    let meta = std::fs::read_to_string(&meta_path).expect("read .meta");
    std::fs::write(&meta_path, meta.replace("LEGALITY=LEGAL", "LEGALITY=ILLEGAL")).expect("write .meta");
    // - metadata whose volume file is gone (a deletion cut short);
    let no_file = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(4)), true);
    let no_file_info = fx.manager.volume_create(sd, &no_file).await.expect("no file");
    std::fs::remove_file(&no_file_info.path).expect("remove the volume file");
    // - a volume file without metadata, made by qemu-img directly in the base's image;
    let stray = VolumeRef { image_id: base.image_id, volume_id: VolumeId::new_random() };
    let image_dir = fx.data().join(sd.to_string()).join("images").join(base.image_id.to_string());
    let stray_path = image_dir.join(stray.volume_id.to_string());
    let made = Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&stray_path).arg("1M").output();
    let made = made.expect("run qemu-img create");
    assert!(made.status.success(), "qemu-img create: {}", String::from_utf8_lossy(&made.stderr));
    // - metadata that cannot be read;
    let damaged = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(4)), true);
    let damaged_info = fx.manager.volume_create(sd, &damaged).await.expect("damaged");
    std::fs::write(damaged_info.path.with_extension("meta"), "not metadata\n").expect("damage .meta");
    // - and names that are not volumes: a creation's temporary file, anything else.
    std::fs::write(image_dir.join(format!(".{}.creating-0123", VolumeId::new_random())), b"x").expect("temp");
    std::fs::write(image_dir.join("notes.txt"), b"x").expect("notes");

    let listed = fx.manager.volume_list(sd).await.expect("list");
    let keys: Vec<(DiskId, VolumeId)> = listed.volumes.iter().map(|e| (e.image_id, e.volume_id)).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted by image, then volume: {keys:?}");
    let by_ref: std::collections::HashMap<VolumeRef, _> = listed.volumes.iter().map(|e| (e.reference(), e)).collect();
    let want =
        [reference(&base), reference(&child), reference(&illegal), reference(&no_file), stray, reference(&damaged)];
    assert_eq!(by_ref.len(), want.len(), "{listed:#?}");
    let entry = |r: VolumeRef| *by_ref.get(&r).unwrap_or_else(|| panic!("{r:?} is listed: {listed:#?}"));

    for (r, parent) in [(reference(&base), None), (reference(&child), Some(reference(&base)))] {
        let e = entry(r);
        assert!(e.legal && e.problem.is_none(), "{e:?}");
        assert_eq!(
            (e.format, e.virtual_size, e.parent),
            (Some(VolumeFormat::Cow), Some(ByteSize::from_mib(8)), parent)
        );
        assert!(e.actual_size.bytes() > 0, "a qcow2 file has a header: {e:?}");
    }
    let e = entry(reference(&illegal));
    assert!(!e.legal && e.problem.as_deref().is_some_and(|p| p.contains("ILLEGAL")), "{e:?}");
    assert_eq!((e.format, e.virtual_size), (Some(VolumeFormat::Raw), Some(ByteSize::from_mib(4))));
    assert!(e.actual_size >= ByteSize::from_mib(4), "preallocated: {e:?}");
    let e = entry(reference(&no_file));
    assert!(!e.legal && e.problem.as_deref().is_some_and(|p| p.contains("missing")), "{e:?}");
    assert_eq!((e.format, e.actual_size), (Some(VolumeFormat::Cow), ByteSize(0)));
    let e = entry(stray);
    assert!(!e.legal && e.problem.as_deref().is_some_and(|p| p.contains("no metadata")), "{e:?}");
    assert_eq!((e.format, e.virtual_size, e.parent), (None, None, None));
    assert!(e.actual_size.bytes() > 0, "{e:?}");
    let e = entry(reference(&damaged));
    assert!(!e.legal && e.problem.as_deref().is_some_and(|p| p.contains("damaged")), "{e:?}");
    assert_eq!(e.format, None);
    for e in &listed.volumes {
        if let Some(problem) = &e.problem {
            assert!(problem.contains(&e.volume_id.to_string()), "the problem names the volume: {problem}");
            assert!(problem.contains("delete") || problem.contains("remove"), "and says what to do: {problem}");
        }
    }

    // What the problems say works: deleting the volumes that are not legal leaves the legal ones.
    for r in [reference(&illegal), reference(&no_file), stray, reference(&damaged)] {
        fx.manager.volume_delete(sd, r).await.unwrap_or_else(|e| panic!("delete {r:?}: {e}"));
    }
    let left = fx.manager.volume_list(sd).await.expect("list");
    let mut left: Vec<VolumeRef> = left.volumes.iter().filter(|e| e.legal).map(|e| e.reference()).collect();
    let mut want = vec![reference(&base), reference(&child)];
    left.sort_by_key(|r| (r.image_id, r.volume_id));
    want.sort_by_key(|r| (r.image_id, r.volume_id));
    assert_eq!(left, want);
    assert_eq!(fx.manager.volume_list(sd).await.expect("list").volumes.len(), 2, "nothing else is listed");

    // A domain this host does not have: not found (404 at the API), naming it.
    let unknown = StorageDomainId::new_random();
    let err = fx.manager.volume_list(unknown).await.expect_err("unknown domain");
    assert_eq!((err.kind(), err.kind().http_status()), (ErrorKind::NotFound, 404));
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    fx.manager.domain_detach(sd).await.expect("detach");
    assert_eq!(kind_of(fx.manager.volume_list(sd).await), ErrorKind::NotFound, "a detached domain is not listed");
}

#[tokio::test]
async fn concurrent_volume_creations_in_one_domain_all_succeed() {
    let fx = Fixture::new();
    let sd = fx.create_domain("busy").await;
    let image = DiskId::new_random();
    let reqs: Vec<VolumeCreate> = (0..6)
        .map(|i| VolumeCreate {
            image_id: if i % 2 == 0 { image } else { DiskId::new_random() },
            ..volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(8)), true)
        })
        .collect();
    let results = futures::future::join_all(reqs.iter().map(|r| fx.manager.volume_create(sd, r))).await;
    for (req, result) in reqs.iter().zip(results) {
        let info = result.expect("create");
        assert_eq!(info.chain, vec![reference(req)]);
    }
}

#[tokio::test]
async fn a_restarted_manager_knows_its_domains_and_forgets_detached_ones() {
    let mut fx = Fixture::new();
    let sd = fx.create_domain("persistent").await;
    let req = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(32)), true);
    let created = fx.manager.volume_create(sd, &req).await.expect("volume");

    fx.restart();
    assert_eq!(fx.manager.domain_ids(), vec![sd]);
    assert_eq!(fx.manager.domain_info(sd).await.expect("info").name, "persistent");
    assert_eq!(fx.manager.volume_info(sd, reference(&req)).await.expect("volume info"), created);

    // Detaching forgets the domain (also across restarts) but keeps its data.
    fx.manager.domain_detach(sd).await.expect("detach");
    assert!(fx.manager.domain_ids().is_empty());
    assert_eq!(kind_of(fx.manager.volume_info(sd, reference(&req)).await), ErrorKind::NotFound);
    fx.restart();
    assert!(fx.manager.domain_ids().is_empty());
    assert!(created.path.is_file());

    // Attaching it again finds everything.
    fx.manager.domain_attach(sd, &fx.localfs()).await.expect("attach");
    fx.restart();
    assert_eq!(fx.manager.volume_path(sd, reference(&req)).await.expect("path").0, created.path);

    // A damaged state file is reported, not silently dropped.
    std::fs::write(fx.state_dir().join(STATE_FILE), b"{ not json").expect("damage");
    let err = StorageManager::open(&fx.state_dir(), &fx.mount_root()).expect_err("damaged state");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains(STATE_FILE), "{err}");
}

// ---------------------------------------------------------------------------------------
// POSIX domains on a real ext4 file system (loop device)
// ---------------------------------------------------------------------------------------

/// A loop device over a file, detached on drop.
struct LoopDevice {
    device: String,
}

impl LoopDevice {
    fn attach(file: &Path) -> Result<Self, String> {
        let output = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(file)
            .output()
            .map_err(|e| format!("cannot run losetup: {e}"))?;
        if !output.status.success() {
            return Err(format!("losetup --find --show failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        let device = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !device.starts_with("/dev/loop") {
            return Err(format!("losetup printed {device:?}"));
        }
        Ok(LoopDevice { device })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        match Command::new("losetup").args(["-d", &self.device]).status() {
            Ok(status) if status.success() => {}
            other => eprintln!("cannot detach {}: {other:?}", self.device),
        }
    }
}

/// Unmounts `path` on drop if something is still mounted there (a failed test).
struct MountGuard {
    path: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        while is_mounted(&self.path) {
            match Command::new("umount").arg(&self.path).status() {
                Ok(status) if status.success() => {}
                other => {
                    eprintln!("cannot unmount {}: {other:?}", self.path.display());
                    break;
                }
            }
        }
    }
}

/// Makes a file system image of `size` in `dir` and attaches it; `None` (with the reason
/// printed) when loop devices are not usable here.
fn loop_device(dir: &Path, size: ByteSize, format_ext4: bool) -> Option<LoopDevice> {
    let image = dir.join("fs.img");
    std::fs::File::create(&image).and_then(|f| f.set_len(size.bytes())).expect("image file");
    if format_ext4 {
        let status = Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image).status().expect("run mkfs.ext4");
        assert!(status.success(), "mkfs.ext4 failed");
    }
    match LoopDevice::attach(&image) {
        Ok(device) => Some(device),
        Err(reason) => {
            eprintln!("SKIPPED: loop devices are not usable on this machine ({reason})");
            None
        }
    }
}

#[tokio::test]
async fn posixfs_domain_on_a_real_ext4_loop_device() {
    // Declared first so that it is dropped last: the guards below unmount and detach before
    // the temporary directory is removed.
    let mut fx = Fixture::new();
    let fs_size = ByteSize::from_mib(128);
    let Some(device) = loop_device(fx.tmp.path(), fs_size, true) else { return };
    let mount_root = fx.mount_root().canonicalize().expect("mount root");
    let mount_point = mount_root.join(device.device.replace('/', "_"));
    let _unmount = MountGuard { path: mount_point.clone() };
    let connection = StorageDomainConnection::Posixfs {
        spec: device.device.clone(),
        vfs_type: "ext4".to_owned(),
        mount_options: Some("noatime".to_owned()),
    };

    let sd = StorageDomainId::new_random();
    let req = StorageDomainCreate {
        id: sd,
        name: "on ext4".to_owned(),
        domain_type: StorageDomainType::Data,
        connection: connection.clone(),
    };
    let info = fx.manager.domain_create(&req).await.expect("create posix domain");
    assert!(is_mounted(&mount_point), "{} must be a mount point", mount_point.display());
    assert_eq!(info.path, mount_point.join(sd.to_string()));
    let metadata = std::fs::read_to_string(info.path.join("dom_md/metadata")).expect("metadata");
    assert!(metadata.lines().any(|l| l == "TYPE=POSIXFS"), "{metadata}");
    assert!(metadata.lines().any(|l| l == format!("REMOTE_PATH={}", device.device)), "{metadata}");
    // Capacity is the ext4 file system's, not the host's.
    assert!(
        info.total.bytes() <= fs_size.bytes() && info.total.bytes() >= fs_size.bytes() * 8 / 10,
        "total {} for a {fs_size} file system",
        info.total
    );
    assert!(info.available < info.total, "{info:?}");

    let vol = volume_req(VolumeFormat::Raw, Some(ByteSize::from_mib(16)), false);
    fx.manager.volume_create(sd, &vol).await.expect("preallocated volume");
    let after = fx.manager.domain_info(sd).await.expect("info");
    assert!(after.available.bytes() + ByteSize::from_mib(16).bytes() <= info.available.bytes(), "{info:?} → {after:?}");
    assert!(after.used.bytes() >= info.used.bytes() + ByteSize::from_mib(16).bytes(), "{info:?} → {after:?}");

    // Fault: a raw size beyond ext4's 16 TiB file limit. qemu-img leaves an empty file behind
    // when it fails; we must not.
    let before = snapshot(&info.path);
    let too_big = volume_req(VolumeFormat::Raw, Some(ByteSize(64 << 40)), true);
    let err = fx.manager.volume_create(sd, &too_big).await.expect_err("qemu-img must fail on ext4");
    assert_eq!(err.kind(), ErrorKind::Internal, "{err}");
    assert_eq!(snapshot(&info.path), before);

    // The mount outlives the manager; a new one knows the domain again.
    fx.restart();
    assert_eq!(fx.manager.domain_ids(), vec![sd]);
    fx.manager.volume_info(sd, reference(&vol)).await.expect("volume after restart");

    // Detach unmounts what we mounted and removes the empty mount point.
    fx.manager.domain_detach(sd).await.expect("detach");
    assert!(!is_mounted(&mount_point));
    assert!(!mount_point.exists());
    assert_eq!(kind_of(fx.manager.domain_info(sd).await), ErrorKind::NotFound);

    // Attach mounts again and finds the volume.
    fx.manager.domain_attach(sd, &connection).await.expect("attach");
    assert!(is_mounted(&mount_point));
    fx.manager.volume_info(sd, reference(&vol)).await.expect("volume after attach");

    // Lost mount (e.g. a host reboot): the domain reports Unavailable and writes nothing into
    // the bare mount-point directory; attaching again remounts.
    let status = Command::new("umount").arg(&mount_point).status().expect("umount");
    assert!(status.success());
    let err = fx.manager.domain_info(sd).await.expect_err("not mounted");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let other = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(1)), true);
    assert_eq!(kind_of(fx.manager.volume_create(sd, &other).await), ErrorKind::Unavailable);
    assert_eq!(std::fs::read_dir(&mount_point).expect("list").count(), 0);
    fx.manager.domain_attach(sd, &connection).await.expect("re-attach remounts");
    fx.manager.volume_info(sd, reference(&vol)).await.expect("volume after remount");

    fx.manager.domain_detach(sd).await.expect("detach");
    assert!(!is_mounted(&mount_point));
}

#[tokio::test]
async fn posixfs_spec_that_cannot_be_mounted_gives_a_clear_error_and_no_mount() {
    let fx = Fixture::new();
    // A loop device without a file system: the kernel refuses to mount it as ext4.
    let Some(device) = loop_device(fx.tmp.path(), ByteSize::from_mib(8), false) else { return };
    let mount_root = fx.mount_root().canonicalize().expect("mount root");
    let no_such_device = fx.tmp.path().join("no-such-device").display().to_string();
    for spec in [device.device.clone(), no_such_device] {
        let mount_point = mount_root.join(spec.replace('_', "__").replace('/', "_"));
        let _unmount = MountGuard { path: mount_point.clone() };
        let req = StorageDomainCreate {
            id: StorageDomainId::new_random(),
            name: "never".to_owned(),
            domain_type: StorageDomainType::Data,
            connection: StorageDomainConnection::Posixfs {
                spec: spec.clone(),
                vfs_type: "ext4".to_owned(),
                mount_options: None,
            },
        };
        let err = fx.manager.domain_create(&req).await.expect_err("mount must fail");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("cannot mount {spec}")) && message.contains("mount"), "{message}");
        assert!(!is_mounted(&mount_point));
        assert!(!mount_point.exists(), "the mount point directory is removed again");
        assert_eq!(kind_of(fx.manager.domain_attach(req.id, &req.connection).await), ErrorKind::Unavailable);
    }
    assert!(fx.manager.domain_ids().is_empty());
    assert!(!fx.state_dir().join(STATE_FILE).exists());
    assert_eq!(std::fs::read_dir(&mount_root).expect("list").count(), 0);

    // Specs that would escape the mount root are refused before anything runs.
    for spec in ["..", ".", "-oremount"] {
        let conn = StorageDomainConnection::Nfs { spec: spec.to_owned(), mount_options: None };
        assert_eq!(
            kind_of(fx.manager.domain_attach(StorageDomainId::new_random(), &conn).await),
            ErrorKind::InvalidInput
        );
    }
}

/// `qemu-io` on a volume (the format given, never probed).
fn qemu_io(path: &Path, format: &str, command: &str) -> String {
    let output = Command::new("qemu-io").args(["-f", format, "-c", command]).arg(path).output().expect("run qemu-io");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && !text.contains("Pattern verification failed"), "qemu-io {command}: {text}");
    text
}

fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).expect("stat").blocks() * 512
}

#[tokio::test]
async fn sparsify_gives_back_zeroed_space_keeps_the_data_and_refuses_what_it_must() {
    let fx = Fixture::new();
    let sd = fx.create_domain("sparsify").await;
    for (format, name) in [(VolumeFormat::Cow, "qcow2"), (VolumeFormat::Raw, "raw")] {
        let req = volume_req(format, Some(ByteSize::from_mib(64)), true);
        let info = fx.manager.volume_create(sd, &req).await.expect("create");
        // The guest wrote 32 MiB of zeros (allocated, as a guest without discard leaves them)
        // and 1 MiB of data after them.
        qemu_io(&info.path, name, "write -P 0 0 32M");
        qemu_io(&info.path, name, "write -P 0xab 32M 1M");
        let before = allocated(&info.path);
        assert!(before >= 33 * ByteSize::MIB, "{name}: {before} bytes allocated before");
        let mode = std::fs::metadata(&info.path).expect("stat").permissions();

        let done = fx.manager.volume_sparsify(sd, reference(&req), open_by_no_vm).await.expect("sparsify");
        let after = allocated(&info.path);
        assert!(after < 4 * ByteSize::MIB, "{name}: {after} bytes allocated after (was {before})");
        assert_eq!(done.virtual_size, ByteSize::from_mib(64), "{name}: the guest's size is kept");
        assert_eq!(done.actual_size.bytes(), after, "{name}: the answer is the new allocation");
        qemu_io(&info.path, name, "read -P 0xab 32M 1M");
        qemu_io(&info.path, name, "read -P 0 0 32M");
        assert_eq!(std::fs::metadata(&info.path).expect("stat").permissions(), mode, "{name}: same mode");
        assert!(!info.path.with_extension("sparsify").exists(), "{name}: no copy left beside it");
    }

    // Refused, changing nothing: preallocated, part of a chain, open in a running VM.
    let thick = volume_req(VolumeFormat::Raw, Some(ByteSize::from_mib(8)), false);
    fx.manager.volume_create(sd, &thick).await.expect("thick");
    let base = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(8)), true);
    fx.manager.volume_create(sd, &base).await.expect("base");
    let top =
        VolumeCreate { volume_id: VolumeId::new_random(), parent: Some(reference(&base)), size: None, ..base.clone() };
    fx.manager.volume_create(sd, &top).await.expect("top");
    let before = snapshot(&fx.data());
    for (vol, needle) in [(reference(&thick), "preallocated"), (reference(&base), "chain"), (reference(&top), "chain")]
    {
        let e = fx.manager.volume_sparsify(sd, vol, open_by_no_vm).await.expect_err(needle);
        assert!(e.kind() == ErrorKind::Conflict && e.to_string().contains(needle), "{e}");
    }
    assert_eq!(snapshot(&fx.data()), before, "refusals change nothing");
    let vm = oxvirt_types::VmId::new_random();
    let open = async |_: &Path| Ok::<_, String>(Some(vm));
    let thin = volume_req(VolumeFormat::Cow, Some(ByteSize::from_mib(8)), true);
    fx.manager.volume_create(sd, &thin).await.expect("thin");
    let before_thin = snapshot(&fx.data());
    let e = fx.manager.volume_sparsify(sd, reference(&thin), open).await.expect_err("open in a VM");
    assert!(e.to_string().contains(&vm.to_string()) && e.to_string().contains("stop the VM"), "{e}");
    assert_eq!(snapshot(&fx.data()), before_thin, "a volume a VM has open is not touched");
}
