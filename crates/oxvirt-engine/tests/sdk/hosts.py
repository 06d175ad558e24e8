"""Hosts through the real oVirt Python SDK: adding one enrolls its agent and brings it Up;
maintenance and activation; removal only from maintenance; a wrong secret stores nothing.

Run by tests/sdk_e2e.rs: python hosts.py API_URL ADMIN_PASSWORD CA_FILE HOST_ADDRESS SECRET
"""
import sys

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up

url, password, ca_file, address, secret = sys.argv[1:6]
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
system.data_centers_service().add(types.DataCenter(name="hdc", local=False))
system.clusters_service().add(types.Cluster(name="hcluster", data_center=types.DataCenter(name="hdc")))
hosts = system.hosts_service()

# A wrong enrollment secret: refused, nothing stored.
try:
    hosts.add(types.Host(name="h1", address=address, root_password="wrong", cluster=types.Cluster(name="hcluster")))
    raise AssertionError("a wrong secret must be refused")
except sdk.Error as e:
    assert e.code == 401, e
assert hosts.list() == []

host = host_add_up(hosts, types.Host(name="h1", address=address, root_password=secret,
                                     cluster=types.Cluster(name="hcluster")))
assert host.memory > 0 and host.cpu.topology.cores >= 1, (host.memory, host.cpu)
assert [h.name for h in hosts.list(search="status=up")] == ["h1"]
service = hosts.host_service(host.id)

# Removal needs maintenance first.
try:
    service.remove()
    raise AssertionError("removing an Up host must be refused")
except sdk.Error as e:
    assert e.code == 409 and "maintenance" in str(e), e
service.deactivate()
assert service.get().status == types.HostStatus.MAINTENANCE
service.activate()
assert service.get().status == types.HostStatus.UP
service.deactivate()
service.remove()
assert hosts.list() == []

# The same agent can be added again by the engine that enrolled it.
again = host_add_up(hosts, types.Host(name="h1-again", address=address, root_password=secret,
                                      cluster=types.Cluster(name="hcluster")))
assert again.status == types.HostStatus.UP and again.id == host.id

conn.close()
print("OK")
