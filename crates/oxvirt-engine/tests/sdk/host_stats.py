"""A host's statistics and NICs through the real oVirt Python SDK.

Run by tests/sdk_e2e.rs in two phases:
  python host_stats.py API_URL ADMIN_PASSWORD CA_FILE HOST_ADDRESS SECRET up
      adds the host; its statistics (oVirt's names, kinds, types, units) and NICs read fine.
  python host_stats.py API_URL ADMIN_PASSWORD CA_FILE HOST_ADDRESS SECRET down
      (after the test stopped the agent) statistics are a 409 fault naming the host; NICs,
      recorded at enrollment, still read.
"""
import sys

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up

url, password, ca_file, address, secret, phase = sys.argv[1:7]
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
hosts = system.hosts_service()

if phase == "up":
    system.data_centers_service().add(types.DataCenter(name="sdc", local=False))
    system.clusters_service().add(types.Cluster(name="scluster", data_center=types.DataCenter(name="sdc")))
    host = host_add_up(hosts, types.Host(name="stats-host", address=address, root_password=secret,
                                         cluster=types.Cluster(name="scluster")))
else:
    [host] = hosts.list(search="name=stats-host")
service = hosts.host_service(host.id)

# NICs come from the capabilities recorded at enrollment: the host's eth0 with its address.
nics = service.nics_service().list()
by_name = {n.name: n for n in nics}
assert "eth0" in by_name, [n.name for n in nics]
eth0 = by_name["eth0"]
assert eth0.status == types.NicStatus.UP, eth0.status
assert eth0.mac is not None and len(eth0.mac.address.split(":")) == 6, eth0.mac
assert eth0.ip is not None and eth0.ip.address == address, (eth0.ip and eth0.ip.address, address)
assert eth0.ip.netmask == "255.255.255.0" and eth0.ip.version == types.IpVersion.V4, eth0.ip.netmask
assert eth0.bridged is False
assert service.nics_service().nic_service(eth0.id).get().name == "eth0"
assert "lo" not in by_name

if phase == "up":
    stats = {s.name: s for s in service.statistics_service().list()}
    for name in ("memory.total", "memory.used", "memory.free"):
        s = stats[name]
        assert s.kind == types.StatisticKind.GAUGE and s.type == types.ValueType.INTEGER, (name, s.kind, s.type)
        assert s.unit == types.StatisticUnit.BYTES, (name, s.unit)
    total = stats["memory.total"].values[0].datum
    used = stats["memory.used"].values[0].datum
    free = stats["memory.free"].values[0].datum
    assert total > 0 and 0 <= used <= total and 0 <= free <= total, (total, used, free)
    assert total == host.memory, (total, host.memory)
    cpu = [stats[n].values[0].datum for n in ("cpu.current.user", "cpu.current.system", "cpu.current.idle")]
    for n in ("cpu.current.user", "cpu.current.system", "cpu.current.idle"):
        assert stats[n].unit == types.StatisticUnit.PERCENT and stats[n].type == types.ValueType.DECIMAL
    assert all(0 <= c <= 100 for c in cpu) and abs(sum(cpu) - 100) < 0.01, cpu
    one = service.statistics_service().statistic_service(stats["memory.free"].id).get()
    assert one.name == "memory.free" and one.host.id == host.id
else:
    try:
        service.statistics_service().list()
        raise AssertionError("statistics of a host whose agent is stopped must be refused")
    except sdk.Error as e:
        assert e.code == 409 and "stats-host" in str(e) and "not reachable" in str(e), e

conn.close()
print("OK")
