"""Storage through the real oVirt Python SDK: a localfs data domain created through a real
host, attached to its data center (active; the data center comes up), maintenance and
activation, a floating qcow2 disk whose file really exists with the asked virtual size, its
removal (the file goes), and faults (unknown host, taken name, detaching an active domain,
malformed bodies, cow preallocated).

Run by tests/sdk_e2e.rs:
python storage.py API_URL ADMIN_PASSWORD CA_FILE HOST_ADDRESS SECRET LOCALFS_PATH
"""
import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up, until

url, password, ca_file, address, secret, localfs = sys.argv[1:7]
GIB = 1024 ** 3
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()


def expect_fault(code, fn, *words):
    try:
        fn()
    except sdk.Error as e:
        assert e.code == code, (code, e.code, str(e))
        for w in words:
            assert w in str(e), (w, str(e))
        return e
    raise AssertionError(f"expected a {code} fault")


def raw_post(path, body, content_type="application/xml"):
    """POSTs `body` as is (the SDK cannot send malformed documents); returns (status, text)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    req = urllib.request.Request(url + path, data=body.encode(), method="POST")
    req.add_header("Content-Type", content_type)
    req.add_header("Accept", "application/xml")
    token = base64.b64encode(f"admin@internal:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


wait_for = until


dcs = system.data_centers_service()
dc = dcs.add(types.DataCenter(name="sdc", local=True))
system.clusters_service().add(types.Cluster(name="scluster", data_center=types.DataCenter(name="sdc")))
hosts = system.hosts_service()
host = host_add_up(hosts, types.Host(name="sh1", address=address, root_password=secret,
                                     cluster=types.Cluster(name="scluster")))
assert dcs.data_center_service(dc.id).get().status == types.DataCenterStatus.UNINITIALIZED

sds = system.storage_domains_service()


def local_domain(name, host_name="sh1", path=localfs):
    return types.StorageDomain(
        name=name,
        type=types.StorageDomainType.DATA,
        host=types.Host(name=host_name),
        storage=types.HostStorage(type=types.StorageType.LOCALFS, path=path),
    )


# Faults that store nothing.
e = expect_fault(400, lambda: sds.add(local_domain("nohost", host_name="nosuch")), "host 'nosuch' does not exist")
assert sds.list() == []
status, text = raw_post("/storagedomains", "<storage_domain><name>x</name>")
assert status == 400 and "<fault>" in text, (status, text)
status, text = raw_post("/storagedomains", "<storage_domain><name>x</name><type>data</type></storage_domain>")
assert status == 400 and "host" in text, (status, text)
status, text = raw_post(
    "/storagedomains",
    "<storage_domain><name>x</name><host><name>sh1</name></host><storage><type>tape</type></storage></storage_domain>",
)
assert status == 400 and "tape" in text, (status, text)
expect_fault(400, lambda: sds.add(local_domain("relative", path="not/absolute")), "absolute")
assert sds.list() == []

# A localfs data domain, created through the host.
sd = sds.add(local_domain("local1"))
assert sd.status == types.StorageDomainStatus.UNATTACHED, sd.status
assert sd.type == types.StorageDomainType.DATA and sd.storage.type == types.StorageType.LOCALFS
assert sd.storage.path == localfs and sd.available > 0 and sd.committed == 0, (sd.storage.path, sd.available)
assert os.path.isfile(os.path.join(localfs, sd.id, "dom_md", "metadata")), "the domain's metadata on the host"
expect_fault(409, lambda: sds.add(local_domain("local1")), "already exists")
assert [d.name for d in sds.list()] == ["local1"]
sd_service = sds.storage_domain_service(sd.id)
sd_service.update(types.StorageDomain(description="local data"))
assert sd_service.get().description == "local data"

# Attached: active; the data center comes up.
attached = dcs.data_center_service(dc.id).storage_domains_service()
a = attached.add(types.StorageDomain(id=sd.id))
assert a.status == types.StorageDomainStatus.ACTIVE, a.status
assert a.master, "the first data domain is the master"
assert dcs.data_center_service(dc.id).get().status == types.DataCenterStatus.UP
assert [d.name for d in attached.list()] == ["local1"]
assert [d.name for d in sds.list(search="status=active")] == ["local1"]
assert [d.name for d in sds.list(search="name=local*")] == ["local1"]
assert sds.list(search="name=other") == [] and len(sds.list(max=1)) == 1
expect_fault(409, lambda: attached.add(types.StorageDomain(id=sd.id)), "already attached")
a_service = attached.storage_domain_service(sd.id)
expect_fault(409, a_service.remove, "maintenance")
expect_fault(409, lambda: sd_service.remove(host="sh1"), "detach")

# Maintenance and back.
a_service.deactivate()
assert a_service.get().status == types.StorageDomainStatus.MAINTENANCE
assert dcs.data_center_service(dc.id).get().status == types.DataCenterStatus.MAINTENANCE
a_service.activate()
assert a_service.get().status == types.StorageDomainStatus.ACTIVE
assert dcs.data_center_service(dc.id).get().status == types.DataCenterStatus.UP

# A floating disk: 1 GiB, qcow2, thin.
disks = system.disks_service()
expect_fault(
    400,
    lambda: disks.add(types.Disk(name="thick", format=types.DiskFormat.COW, sparse=False, provisioned_size=GIB,
                                 storage_domains=[types.StorageDomain(id=sd.id)])),
    "sparse",
)
status, text = raw_post("/disks", "<disk><name>nosize</name><format>cow</format></disk>")
assert status == 400 and "provisioned_size" in text, (status, text)
disk = disks.add(types.Disk(name="d1", description="first", format=types.DiskFormat.COW, sparse=True,
                            provisioned_size=GIB, storage_domains=[types.StorageDomain(id=sd.id)]))
disk_service = disks.disk_service(disk.id)
disk = wait_for("disk d1 ok", lambda: (lambda d: d if d.status == types.DiskStatus.OK else None)(disk_service.get()))
assert disk.provisioned_size == GIB and disk.format == types.DiskFormat.COW and disk.sparse
assert disk.storage_domains[0].id == sd.id
volume = os.path.join(localfs, sd.id, "images", disk.id, disk.image_id)
assert os.path.isfile(volume), volume
info = json.loads(subprocess.check_output(["qemu-img", "info", "--output=json", "-U", volume]))
assert info["format"] == "qcow2" and info["virtual-size"] == GIB, info
assert [d.name for d in disks.list(search="name=d1")] == ["d1"]
assert sd_service.get().committed == GIB, sd_service.get().committed
expect_fault(409, lambda: sd_service.remove(host="sh1"), "detach")

# Removal deletes the file (a job: the disk is locked, then gone).
disk_service.remove()
wait_for("disk d1 to be gone", lambda: disks.list() == [])
assert not os.path.exists(volume) and not os.path.exists(os.path.dirname(volume)), "the volume is gone"
expect_fault(404, disk_service.get)
assert sd_service.get().committed == 0

# Detach (from maintenance) and remove the domain.
a_service.deactivate()
a_service.remove()
assert attached.list() == []
assert sd_service.get().status == types.StorageDomainStatus.UNATTACHED
assert dcs.data_center_service(dc.id).get().status == types.DataCenterStatus.UNINITIALIZED
sd_service.remove(host="sh1")
assert sds.list() == []

events = [e.description for e in system.events_service().list(max=100)]
for fragment in ["Storage Domain local1 was added", "was attached to Data Center sdc", "was activated",
                 "was deactivated", "disk d1 was successfully added", "Disk d1 was successfully removed",
                 "was detached from Data Center sdc", "Storage Domain local1 was removed"]:
    assert any(fragment in d for d in events), (fragment, events[:20])

conn.close()
print("OK")
