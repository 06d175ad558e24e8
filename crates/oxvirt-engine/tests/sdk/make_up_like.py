"""What `make up` creates, through the SDK: data center and cluster `Default`, one Up host, and
the `data` storage domain (localfs) active in `Default`.

Run by tests/readme_example.rs: python make_up_like.py URL PASSWORD CA HOST_ADDRESS SECRET DOMAIN_PATH
"""
import sys
import time

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up

url, password, ca_file, address, secret, domain_path = sys.argv[1:7]
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
dc = system.data_centers_service().add(types.DataCenter(name="Default", local=False))
system.clusters_service().add(types.Cluster(name="Default", data_center=types.DataCenter(name="Default")))
host_add_up(system.hosts_service(), types.Host(name="this-host", address=address, root_password=secret,
                                               cluster=types.Cluster(name="Default")))
sd = system.storage_domains_service().add(types.StorageDomain(
    name="data", type=types.StorageDomainType.DATA, host=types.Host(name="this-host"),
    storage=types.HostStorage(type=types.StorageType.LOCALFS, path=domain_path)))
attached = system.data_centers_service().data_center_service(dc.id).storage_domains_service()
attached.add(types.StorageDomain(id=sd.id))
deadline = time.monotonic() + 60
while attached.storage_domain_service(sd.id).get().status != types.StorageDomainStatus.ACTIVE:
    assert time.monotonic() < deadline, "the data domain did not become active"
    time.sleep(0.25)  # polling interval of a condition wait
conn.close()
print("OK")
