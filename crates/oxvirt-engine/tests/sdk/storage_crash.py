"""The engine dies in the middle of adding a disk (fault injection, see tests/sdk_e2e.rs).

python storage_crash.py API_URL ADMIN_PASSWORD CA_FILE HOST_ADDRESS SECRET LOCALFS_PATH prepare|check

prepare: data center, cluster, host, an active localfs data domain; then a disk add, which
         must fail because the engine aborts. Prints the domain's id as `SD=<id>`.
prepare-remove: the same, but adds a disk (which must succeed, printed as `DISK=<id>`) and
         removes it, which must fail because the engine aborts.
check:   (after a restart without the fault) every disk is `ok`, and a new disk can be added
         and removed.
"""
import sys
import time

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up

url, password, ca_file, address, secret, localfs, mode = sys.argv[1:8]
GIB = 1024 ** 3
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
disks = system.disks_service()

if mode in ("prepare", "prepare-remove"):
    dc = system.data_centers_service().add(types.DataCenter(name="cdc", local=True))
    system.clusters_service().add(types.Cluster(name="ccluster", data_center=types.DataCenter(name="cdc")))
    host_add_up(system.hosts_service(),
                types.Host(name="ch1", address=address, root_password=secret, cluster=types.Cluster(name="ccluster")))
    sd = system.storage_domains_service().add(types.StorageDomain(
        name="clocal", type=types.StorageDomainType.DATA, host=types.Host(name="ch1"),
        storage=types.HostStorage(type=types.StorageType.LOCALFS, path=localfs)))
    a = system.data_centers_service().data_center_service(dc.id).storage_domains_service().add(
        types.StorageDomain(id=sd.id))
    assert a.status == types.StorageDomainStatus.ACTIVE
    print(f"SD={sd.id}")
    # The add (and the remove) are accepted at once; their job pauses at the armed fault, and
    # the test kills the engine there.
    if mode == "prepare-remove":
        disk = disks.add(types.Disk(name="doomed", format=types.DiskFormat.COW, sparse=True, provisioned_size=GIB,
                                    storage_domains=[types.StorageDomain(id=sd.id)]))
        deadline = time.monotonic() + 60
        while disks.disk_service(disk.id).get().status != types.DiskStatus.OK:
            assert time.monotonic() < deadline, "disk 'doomed' never became ok"
            time.sleep(0.2)  # polling interval of a condition wait
        print(f"DISK={disk.id}")
        disks.disk_service(disk.id).remove()
    else:
        disk = disks.add(types.Disk(name="crashed", format=types.DiskFormat.COW, sparse=True, provisioned_size=GIB,
                                    storage_domains=[types.StorageDomain(id=sd.id)]))
        assert disk.status == types.DiskStatus.LOCKED, disk.status
    conn.close()
    print("OK")
    sys.exit(0)
elif mode == "check":
    for d in disks.list():
        assert d.status == types.DiskStatus.OK, (d.name, d.status)
    sd = system.storage_domains_service().list(search="name=clocal")[0]
    disk = disks.add(types.Disk(name="after", format=types.DiskFormat.RAW, sparse=True, provisioned_size=GIB,
                                storage_domains=[types.StorageDomain(id=sd.id)]))
    service = disks.disk_service(disk.id)
    deadline = time.monotonic() + 60
    while service.get().status != types.DiskStatus.OK:
        assert time.monotonic() < deadline, "disk 'after' never became ok"
        time.sleep(0.2)
    service.remove()
else:
    raise SystemExit(f"unknown mode {mode}")

conn.close()
print("OK")
