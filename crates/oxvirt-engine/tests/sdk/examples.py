"""Runs example scripts of the published oVirt Python SDK against our engine.

The examples are taken from the SDK's source archive (ovirt-engine-sdk-python 4.6.3, its
`examples/` folder) at run time and never stored in this repository. Each is changed only by
textual substitution: its connection parameters (url, password, CA file) and, where a table
below says so, object names. A substitution that no longer matches fails the script (the
example changed upstream). Each runs with this python in its own temporary directory (the
examples write `example.log`, `index.txt` to the current directory); after it, a check of
ours reads what it did through the SDK.

Run by tests/sdk_e2e.rs:
  python examples.py SDIST API_URL ADMIN_PASSWORD CA_FILE SCRIPT...
Prints `PASS <script>` or `FAIL <script>: <why>` per script, then OK when all passed.
"""
import os
import re
import subprocess
import sys
import tarfile
import tempfile

import ovirtsdk4 as sdk

sdist, url, password, ca_file = sys.argv[1:5]
scripts = sys.argv[5:]

# What every example spells for the connection.
CONNECTION = [
    ("'https://engine40.example.com/ovirt-engine/api'", repr(url)),
    ("'redhat123'", repr(password)),
    ("'ca.pem'", repr(ca_file)),
]
# Per script: further substitutions (object names), how long it may run, and whether it is
# a loop that never ends by design (then: killed at the deadline, must have printed output).
SCRIPTS = {
    "add_data_center.py": {"names": [], "timeout": 60},
    "add_cluster.py": {"names": [], "timeout": 60},
    "show_summary.py": {"names": [], "timeout": 60},
    "poll_events.py": {"names": [], "timeout": 8, "endless": True},
    "list_vms.py": {"names": [], "timeout": 60},
    "add_vm.py": {"names": [], "timeout": 60},
    "add_vm_disk.py": {"names": [], "timeout": 120},
    # The examples' network is `mynetwork`; ours is the data center's `ovirtmgmt`.
    "add_vm_nic.py": {"names": [("'mynetwork'", "'ovirtmgmt'")], "timeout": 60},
    "search_vms.py": {"names": [], "timeout": 60},
    "page_vms.py": {"names": [], "timeout": 60},
    "follow_vm_links.py": {"names": [], "timeout": 60},
    "start_vm.py": {"names": [], "timeout": 120},
    "stop_vm.py": {"names": [], "timeout": 120},
    "remove_vm.py": {"names": [], "timeout": 60},
}

# `@host` in the list of scripts is not an example: it adds what the VM examples expect to
# exist (a host in `mycluster` and the `mydata` storage domain active in `mydc`), from
# OXVIRT_EXAMPLES_HOST, OXVIRT_EXAMPLES_SECRET and OXVIRT_EXAMPLES_DOMAIN_PATH.
def setup_host():
    import time
    from ovirtsdk4 import types
    with connection() as conn:
        system = conn.system_service()
        from oxvwait import host_add_up
        host_add_up(system.hosts_service(), types.Host(
            name="myhost", address=os.environ["OXVIRT_EXAMPLES_HOST"],
            root_password=os.environ["OXVIRT_EXAMPLES_SECRET"], cluster=types.Cluster(name="mycluster")))
        sd = system.storage_domains_service().add(types.StorageDomain(
            name="mydata", type=types.StorageDomainType.DATA, host=types.Host(name="myhost"),
            storage=types.HostStorage(type=types.StorageType.LOCALFS,
                                      path=os.environ["OXVIRT_EXAMPLES_DOMAIN_PATH"])))
        [dc] = system.data_centers_service().list(search="name=mydc")
        attached = system.data_centers_service().data_center_service(dc.id).storage_domains_service()
        attached.add(types.StorageDomain(id=sd.id))
        deadline = time.monotonic() + 60
        while attached.storage_domain_service(sd.id).get().status != types.StorageDomainStatus.ACTIVE:
            assert time.monotonic() < deadline, "mydata did not become active"
            time.sleep(0.25)  # polling interval of a condition wait


def connection():
    return sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)


def check_add_data_center(out):
    with connection() as conn:
        [dc] = conn.system_service().data_centers_service().list(search="name=mydc")
        assert dc.description == "My data center" and dc.local is False, dc


def check_add_cluster(out):
    with connection() as conn:
        [cl] = conn.system_service().clusters_service().list(search="name=mycluster")
        assert cl.cpu.type == "Intel Conroe Family" and cl.description == "My cluster", cl


def check_show_summary(out):
    for field in ("version: ", "hosts: ", "sds: ", "users: 1", "vms: "):
        assert field in out, "output lacks %r:\n%s" % (field, out)


def check_poll_events(out):
    # `<id> - <description>` of at least the newest event.
    assert re.search(r"^\d+ - .+$", out, re.M), "no event printed:\n%s" % out


def check_list_vms(out):
    if os.environ.get("OXVIRT_EXAMPLES_HOST"):
        assert "myvm" in out, out


def the_vm(conn):
    vms = conn.system_service().vms_service().list(search="name=myvm")
    assert len(vms) == 1, [v.name for v in vms]
    return vms[0]


def check_add_vm(out):
    with connection() as conn:
        vm = the_vm(conn)
        assert conn.follow_link(vm.cluster).name == "mycluster"
        assert conn.follow_link(vm.template).name == "Blank"


def check_add_vm_disk(out):
    from ovirtsdk4 import types
    with connection() as conn:
        system = conn.system_service()
        [a] = system.vms_service().vm_service(the_vm(conn).id).disk_attachments_service().list()
        disk = system.disks_service().disk_service(a.disk.id).get()
        assert disk.name == "mydisk" and disk.status == types.DiskStatus.OK, (disk.name, disk.status)
        assert disk.provisioned_size == 10 * 2 ** 30


def check_add_vm_nic(out):
    with connection() as conn:
        [nic] = conn.system_service().vms_service().vm_service(the_vm(conn).id).nics_service().list()
        profile = conn.follow_link(nic.vnic_profile)
        assert nic.name == "mynic" and profile.name == "ovirtmgmt", (nic.name, profile.name)


def check_search_vms(out):
    assert re.search(r"^myvm: [0-9a-f-]{36}$", out, re.M), out


def check_page_vms(out):
    assert "myvm" in out.split(), out


def check_follow_vm_links(out):
    for line in ("cluster: mycluster", "template: Blank", "role: 00000000-0000-0000-0000-000000000001"):
        assert line in out, out


def check_vm_status(want):
    def check(out):
        from ovirtsdk4 import types
        with connection() as conn:
            assert the_vm(conn).status == getattr(types.VmStatus, want)
    return check


def check_remove_vm(out):
    with connection() as conn:
        assert conn.system_service().vms_service().list(search="name=myvm") == []
        assert conn.system_service().disks_service().list(search="name=mydisk") == []


CHECKS = {
    "add_data_center.py": check_add_data_center,
    "add_cluster.py": check_add_cluster,
    "show_summary.py": check_show_summary,
    "poll_events.py": check_poll_events,
    "list_vms.py": check_list_vms,
    "add_vm.py": check_add_vm,
    "add_vm_disk.py": check_add_vm_disk,
    "add_vm_nic.py": check_add_vm_nic,
    "search_vms.py": check_search_vms,
    "page_vms.py": check_page_vms,
    "follow_vm_links.py": check_follow_vm_links,
    "start_vm.py": check_vm_status("UP"),
    "stop_vm.py": check_vm_status("DOWN"),
    "remove_vm.py": check_remove_vm,
}


def source_of(name):
    with tarfile.open(sdist) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith("/examples/" + name)), None)
        if member is None:
            raise AssertionError("%s is not in %s" % (name, sdist))
        return tar.extractfile(member).read().decode("utf-8")


def run(name):
    spec = SCRIPTS[name]
    text = source_of(name)
    for old, new in CONNECTION + spec["names"]:
        if old not in text:
            return "the example no longer contains %s" % old
        text = text.replace(old, new)
    with tempfile.TemporaryDirectory(prefix="oxvirt-example-") as tmp:
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        # Unbuffered, so that what an endless example printed survives it being killed.
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, path], cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        try:
            out, err = proc.communicate(timeout=spec["timeout"])
            timed_out = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            timed_out = True
        if timed_out and not spec.get("endless"):
            return "did not finish within %ss\n%s\n%s" % (spec["timeout"], out, err)
        if not timed_out and proc.returncode != 0:
            return "exit status %s\n%s\n%s" % (proc.returncode, out, err)
        if "Traceback" in err:
            return "raised:\n%s" % err
    try:
        CHECKS[name](out)
    except AssertionError as e:
        return "ran, but: %s" % e
    return None


failed = []
for name in scripts:
    if name == "@host":
        setup_host()
        print("SETUP host myhost and storage domain mydata")
        continue
    why = run(name)
    if why is None:
        print("PASS %s" % name)
    else:
        print("FAIL %s: %s" % (name, why))
        failed.append(name)
sys.stdout.flush()
if failed:
    sys.exit(1)
print("OK")
