#!/bin/bash
# Boots the built test guest under plain QEMU (TCG, no libvirt) and checks its serial output.
# Usage: guest/selftest.sh [GUEST_DIR]   (default: the dir printed by guest/build.sh)
# OXVIRT_GUEST_SELFTEST_KEEP=1 keeps the serial logs in the scratch dir.
# Ends with "N passed, N failed"; exit status 0 only if all cases passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
guest=${1:-$("$here/build.sh" | tail -n 1)}
qemu=${QEMU:-qemu-system-x86_64}
boot_timeout=${OXVIRT_GUEST_BOOT_TIMEOUT:-120}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/oxvirt-guest-selftest.XXXXXX")
qpid=""
passed=0 failed=0

cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null || true; fi
	if [ -n "${OXVIRT_GUEST_SELFTEST_KEEP:-}" ]; then echo "serial logs kept in $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# boot NAME QEMU-ARGS...: start QEMU in the background, serial to $scratch/NAME.log
boot() {
	name=$1; shift
	log=$scratch/$name.log mon=$scratch/$name.mon
	t0=$(now)
	"$qemu" -accel tcg -m 256 -nographic -no-reboot -display none \
		-serial "file:$log" -monitor "unix:$mon,server,nowait" "$@" \
		>"$scratch/$name.qemu" 2>&1 &
	qpid=$!
}

# the serial log with the console's CR LF line ends turned into LF
lines() { tr -d '\r' 2>/dev/null <"$log"; }

# wait_for REGEX SECONDS: poll the serial log until a line matches (or QEMU died)
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		lines | grep -qaE "$1" && return 0
		kill -0 "$qpid" 2>/dev/null || { lines | grep -qaE "$1"; return; }
		sleep 0.2
	done
	return 1
}

# wait_exit SECONDS: wait until QEMU has exited by itself
wait_exit() {
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		kill -0 "$qpid" 2>/dev/null || { wait "$qpid" 2>/dev/null || true; qpid=""; return 0; }
		sleep 0.2
	done
	return 1
}

monitor() {
	if command -v socat >/dev/null; then
		echo "$1" | socat - "UNIX-CONNECT:$mon" >/dev/null
	else
		python3 - "$mon" "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
s.close()
EOF
	fi
}

stop() {
	if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; qpid=""; fi
}

check() { # check DESCRIPTION REGEX
	if lines | grep -qaE "$2"; then
		echo "  ok: $1"
	else
		echo "  FAIL: $1 (no line matching /$2/ in $log)"
		case_ok=0
	fi
}

finish() { # finish NAME
	stop
	if [ "$case_ok" = 1 ]; then
		passed=$((passed + 1)); echo "PASS $1"
	else
		failed=$((failed + 1)); echo "FAIL $1"
		echo "---- last serial lines of $1:"; tail -n 30 "$log" | tr -d '\r' | sed 's/^/    /'
		echo "----"; cat "$scratch/$1.qemu" 2>/dev/null | sed 's/^/    qemu: /'
	fi
}

marker='^OXVIRT-GUEST-UP disks=[^ ]+ nics=[^ ]+ uptime=[0-9.]+$'
scratch_disk() { qemu-img create -q -f qcow2 "$scratch/$1" 64M; }
overlay() { qemu-img create -q -f qcow2 -b "$guest/disk.qcow2" -F qcow2 "$scratch/$1"; }
echo "guest: $guest ($(cat "$guest/kernel-version"))"

# 1. direct kernel boot, virtio + IDE disks, virtio NIC, ACPI power button
case_ok=1
scratch_disk a.qcow2; scratch_disk b.qcow2
boot direct -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" -append "$(cat "$guest/cmdline")" \
	-drive "file=$scratch/a.qcow2,if=virtio" -drive "file=$scratch/b.qcow2,if=ide" \
	-nic user,model=virtio-net-pci,mac=52:54:00:12:34:56
if wait_for "$marker" "$boot_timeout"; then
	echo "direct: marker after $(elapsed "$t0") s"
	check "virtio disk" '^OXVIRT-DISK name=vda size_bytes=67108864 serial=-'
	check "IDE disk" '^OXVIRT-DISK name=sda size_bytes=67108864 serial=QM0000[0-9]'
	check "NIC" '^OXVIRT-NIC name=eth0 mac=52:54:00:12:34:56$'
	check "marker lists both" '^OXVIRT-GUEST-UP disks=sda,vda nics=eth0 '
	wait_for '^OXVIRT-TICK 1 uptime=' 30 || true
	check "ticks" '^OXVIRT-TICK 1 uptime=[0-9.]+$'
	t1=$(now)
	monitor system_powerdown
	if wait_for '^OXVIRT-GUEST-POWEROFF' 20 && wait_exit 20; then
		echo "  ok: system_powerdown -> poweroff, QEMU exited after $(elapsed "$t1") s"
	else
		echo "  FAIL: no clean poweroff after system_powerdown"; case_ok=0
	fi
else
	echo "  FAIL: no marker within ${boot_timeout} s"; case_ok=0
fi
finish direct

# 2./3. boot from disk.qcow2 (through a throwaway overlay), as virtio and as IDE
for bus in virtio ide; do
	case_ok=1
	overlay "boot-$bus.qcow2"
	boot "disk-$bus" -drive "file=$scratch/boot-$bus.qcow2,if=$bus" -nic none
	if wait_for "$marker" "$boot_timeout"; then
		echo "disk-$bus: marker after $(elapsed "$t0") s"
		dev=vda; [ "$bus" = ide ] && dev=sda
		check "boot disk visible" "^OXVIRT-DISK name=$dev size_bytes=67108864 "
		check "no NIC" ' nics=- '
	else
		echo "  FAIL: no marker within ${boot_timeout} s"; case_ok=0
	fi
	finish "disk-$bus"
done

# 4. virtio-scsi disk appears as sdX; oxvirt.poweroff_after=1 powers off by itself
case_ok=1
scratch_disk s.qcow2
boot scsi -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
	-append "$(cat "$guest/cmdline") oxvirt.poweroff_after=1" \
	-device virtio-scsi-pci,id=scsi0 -drive "file=$scratch/s.qcow2,if=none,id=d0" \
	-device scsi-hd,drive=d0,bus=scsi0.0,serial=oxvirt-s0 -nic none
if wait_for "$marker" "$boot_timeout"; then
	echo "scsi: marker after $(elapsed "$t0") s"
	check "virtio-scsi disk as sdX" '^OXVIRT-DISK name=sd[a-z]+ size_bytes=67108864 serial=oxvirt-s0$'
	if wait_for '^OXVIRT-GUEST-POWEROFF' 30 && wait_exit 20; then
		echo "  ok: oxvirt.poweroff_after=1 -> QEMU exited by itself"
	else
		echo "  FAIL: oxvirt.poweroff_after=1 did not power off"; case_ok=0
	fi
else
	echo "  FAIL: no marker within ${boot_timeout} s"; case_ok=0
fi
finish scsi

echo "guest selftest: $passed passed, $failed failed"
[ "$failed" = 0 ]
