"""A VM start interrupted by an engine crash (fault injection: the engine aborts right after a
step of the RunVm job was recorded) is rolled back or completed at the next engine start: no
orphaned domain, no VM stuck in a transitional status, the job ended.

Run by tests/sdk_e2e.rs in phases:
  crash.py URL PASSWORD CA prepare HOST_ADDRESS SECRET KERNEL INITRD CMDLINE  -> prints "VM <id>"
  crash.py URL PASSWORD CA start-crash VM_ID     (starts it; its job pauses at the fault, the test kills the engine)
  crash.py URL PASSWORD CA expect-down VM_ID     (rolled back: down, its RunVm job failed)
  crash.py URL PASSWORD CA expect-up VM_ID       (completed: up, its RunVm job finished)
"""
import sys
import time

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up, until

url, password, ca_file, phase = sys.argv[1:5]
args = sys.argv[5:]
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
vms = system.vms_service()


def run_jobs(vm_name):
    return [j for j in system.jobs_service().list() if j.description == "Launching VM " + vm_name]


if phase == "prepare":
    address, secret, kernel, initrd, cmdline = args[:5]
    system.data_centers_service().add(types.DataCenter(name="dc1", local=False))
    system.clusters_service().add(types.Cluster(name="c1", data_center=types.DataCenter(name="dc1")))
    host_add_up(system.hosts_service(),
                types.Host(name="h1", address=address, root_password=secret, cluster=types.Cluster(name="c1")))
    vm = vms.add(types.Vm(name="crash-vm", cluster=types.Cluster(name="c1"), template=types.Template(name="Blank"),
                          memory=192 * 1024 ** 2, memory_policy=types.MemoryPolicy(guaranteed=192 * 1024 ** 2),
                          os=types.OperatingSystem(type="other_linux", kernel=kernel, initrd=initrd, cmdline=cmdline)))
    print("VM %s" % vm.id)
elif phase == "start-crash":
    # async: the reply comes once the start is accepted (the VM waits for launch); its job
    # pauses at the armed fault.
    vms.vm_service(args[0]).start(async_=True)
    vm = vms.vm_service(args[0]).get()
    assert vm.status == types.VmStatus.WAIT_FOR_LAUNCH, vm.status
elif phase in ("expect-down", "expect-up"):
    vm = vms.vm_service(args[0]).get()
    want = types.VmStatus.DOWN if phase == "expect-down" else types.VmStatus.UP
    deadline = time.monotonic() + 60
    while vm.status != want:
        # The resumed job passes through the launch's statuses; it must end up `want`.
        assert vm.status in (types.VmStatus.DOWN, types.VmStatus.UP, types.VmStatus.WAIT_FOR_LAUNCH,
                             types.VmStatus.POWERING_UP), "VM %s after recovery" % vm.status
        assert time.monotonic() < deadline, "VM is %s, expected %s" % (vm.status, want)
        time.sleep(0.25)  # polling interval of a condition wait
        vm = vms.vm_service(args[0]).get()
    # The VM may be seen up (the host's report) a moment before its job records the end.
    jobs = until("the RunVm jobs to end",
                 lambda: (lambda js: js if js and all(j.status != types.JobStatus.STARTED for j in js) else None)(
                     run_jobs(vm.name)))
    want_job = types.JobStatus.FAILED if phase == "expect-down" else types.JobStatus.FINISHED
    assert jobs[0].status == want_job, (jobs[0].status, want_job)
    if phase == "expect-up":
        vms.vm_service(vm.id).stop()
else:
    raise SystemExit("unknown phase " + phase)
conn.close()
print("OK")
