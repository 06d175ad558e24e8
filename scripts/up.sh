#!/bin/bash
# `make up`: an all-in-one oxvirt on this machine.
# Installs missing packages, builds release binaries, starts libvirtd/virtlogd if none
# answers (recording their PIDs so `make down` stops only those), then the engine and a local
# agent in the background, and returns once both answer their health endpoints.
# Honours OXVIRT_DATA_DIR (default /var/lib/oxvirt), OXVIRT_HTTPS_PORT (8443),
# OXVIRT_AGENT_PORT (54321).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$repo/scripts/install-deps.sh" run
echo "== building release binaries"
(cd "$repo" && cargo build --release --locked --bin oxvirt-engine --bin oxvirt-agent)

mkdir -p "$run_dir" "$log_dir" "$data_dir/agent" "$data_dir/storage" "$data_dir/boot"
data_dir=$(cd "$data_dir" && pwd)  # absolute: the boot directory is checked as a path

# QEMU runs as libvirt's QEMU user (qemu.conf's `user`, libvirt-qemu on Debian), which must be
# able to enter every directory above the disks: the data directory is oxvirt's, so it and its
# storage directory are made enterable (o+x: enter, not list); a directory above it that the
# user cannot enter (a private home, `mktemp -d` parents are fine) is named, with the fix.
qemu_user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n1 || true)
qemu_user=${qemu_user:-libvirt-qemu}
if [ "$qemu_user" != root ] && id "$qemu_user" >/dev/null 2>&1; then
  chmod o+x "$data_dir" "$data_dir/storage" "$data_dir/boot"
  d=$(cd "$data_dir" && pwd -P)
  while [ "$d" != / ]; do
    if ! runuser -u "$qemu_user" -- test -x "$d" 2>/dev/null; then
      echo "error: QEMU runs as $qemu_user, which cannot enter $d ($(stat -c '%A %U:%G' "$d")), above the data" >&2
      echo "       directory $data_dir: VMs could not open their disks. Fix: chmod o+x $d, or set" >&2
      echo "       OXVIRT_DATA_DIR to a directory whose parents $qemu_user can enter." >&2
      exit 1
    fi
    d=$(dirname "$d")
  done
  echo "== QEMU ($qemu_user) can reach $data_dir"
fi

# libvirt: use the machine's if one answers, else start our own and remember it.
if virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "== libvirtd: using the running one"
else
  echo "== libvirtd: none answers; starting virtlogd and libvirtd"
  [ -n "$(pid_of virtlogd)" ] || { virtlogd -d -p "$run_dir/virtlogd.pid"; }
  [ -n "$(pid_of libvirtd)" ] || { libvirtd -d -p "$run_dir/libvirtd.pid"; }
  wait_for "libvirtd to answer" 60 virsh -c qemu:///system version
fi

start_bg() { # NAME CMD...: starts CMD in the background unless NAME already runs
  local name=$1; shift
  if [ -n "$(pid_of "$name")" ]; then echo "== $name: already running (pid $(pid_of "$name"))"; return; fi
  nohup "$@" >>"$log_dir/$name.log" 2>&1 </dev/null &
  echo $! > "$run_dir/$name.pid"
  echo "== $name: started (pid $!), log $log_dir/$name.log"
}
bin=$repo/target/release
# admin@internal's password is set when the engine creates the user (first start):
# OXVIRT_ADMIN_PASSWORD, or one generated here and printed once.
first_start=no
if [ ! -e "$data_dir/engine.db" ] && [ -z "${OXVIRT_DATABASE_URL:-}" ]; then
  first_start=yes
  export OXVIRT_ADMIN_PASSWORD=${OXVIRT_ADMIN_PASSWORD:-$(head -c 15 /dev/urandom | base64 | tr -d '/+=' | cut -c1-16)}
fi
# VM kernels and initrds for direct boot (os.kernel, os.initrd) come from $data_dir/boot only.
start_bg oxvirt-engine "$bin/oxvirt-engine" --data-dir "$data_dir" --https-port "$https_port" --vm-boot-dirs "$data_dir/boot"
start_bg oxvirt-agent "$bin/oxvirt-agent" --listen "127.0.0.1:$agent_port" --state-dir "$data_dir/agent" \
  --boot-dirs "$data_dir/boot"

engine_health=https://127.0.0.1:$https_port/ovirt-engine/services/health
agent_health=https://127.0.0.1:$agent_port/v1/health
wait_for "the engine ($engine_health; see $log_dir/oxvirt-engine.log)" 60 curl -fsk "$engine_health"
wait_for "the agent ($agent_health; see $log_dir/oxvirt-agent.log)" 60 curl -fsk "$agent_health"

# A Default data center (with its ovirtmgmt network) and cluster, unless they exist.
api=https://127.0.0.1:$https_port/ovirt-engine/api
if [ -n "${OXVIRT_ADMIN_PASSWORD:-}" ]; then
  auth=(-u "admin@internal:$OXVIRT_ADMIN_PASSWORD")
  xml=(-H "Content-Type: application/xml" -H "Accept: application/xml")
  if ! curl -fsk "${auth[@]}" "$api/datacenters?search=name%3DDefault" | grep -q "<name>Default</name>"; then
    curl -fsk "${auth[@]}" "${xml[@]}" -d "<data_center><name>Default</name><description>The default Data Center</description><local>false</local></data_center>" "$api/datacenters" >/dev/null
    echo "== created data center Default"
  fi
  if ! curl -fsk "${auth[@]}" "$api/clusters?search=name%3DDefault" | grep -q "<name>Default</name>"; then
    curl -fsk "${auth[@]}" "${xml[@]}" -d "<cluster><name>Default</name><description>The default server cluster</description><data_center><name>Default</name></data_center><cpu><architecture>x86_64</architecture></cpu></cluster>" "$api/clusters" >/dev/null
    echo "== created cluster Default"
  fi
  # This machine, as a host of the Default cluster: the engine enrolls the local agent with
  # the secret the agent generated at its first start.
  name=$(hostname | tr -c 'A-Za-z0-9._\n-' '-')
  if ! curl -fsk "${auth[@]}" "$api/hosts" | grep -q "<address>127.0.0.1</address>"; then
    secret=$(cat "$data_dir/agent/enrollment-secret")
    # async=false: the reply comes when the host is Up (its AddHost job has ended).
    curl -fsk "${auth[@]}" "${xml[@]}" -d "<host><name>$name</name><address>127.0.0.1</address><port>$agent_port</port><root_password>$secret</root_password><cluster><name>Default</name></cluster></host>" "$api/hosts?async=false" >/dev/null
    echo "== added this machine as host $name (Up)"
  fi
  # A local data storage domain on this machine, attached to (and active in) Default, so that
  # VMs can have disks right away.
  if ! curl -fsk "${auth[@]}" "$api/storagedomains?search=name%3Ddata" | grep -q "<name>data</name>"; then
    sd_dir=$data_dir/storage/data
    mkdir -p "$sd_dir"
    sd_id=$(curl -fsk "${auth[@]}" "${xml[@]}" -d "<storage_domain><name>data</name><type>data</type><host><name>$name</name></host><storage><type>localfs</type><path>$sd_dir</path></storage></storage_domain>" "$api/storagedomains" |
      sed -n 's|.*<storage_domain href="[^"]*" id="\([^"]*\)".*|\1|p' | head -n1)
    dc_id=$(curl -fsk "${auth[@]}" "$api/datacenters?search=name%3DDefault" | sed -n 's|.*<data_center href="[^"]*" id="\([^"]*\)".*|\1|p' | head -n1)
    curl -fsk "${auth[@]}" "${xml[@]}" -d "<storage_domain id=\"$sd_id\"/>" "$api/datacenters/$dc_id/storagedomains" >/dev/null
    echo "== created storage domain data ($sd_dir), active in data center Default"
  fi
fi

host=$(hostname -f 2>/dev/null || hostname)
cat <<MSG

oxvirt is up.
  Engine:        https://$host:$https_port/ovirt-engine/   (health: $engine_health)
  CA certificate: https://$host:$https_port/ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA
  API:           https://$host:$https_port/ovirt-engine/api
  Admin:         admin@internal / $( [ "$first_start" = yes ] && echo "$OXVIRT_ADMIN_PASSWORD (shown once; keep it)" || echo "${OXVIRT_ADMIN_PASSWORD:+(from OXVIRT_ADMIN_PASSWORD)}${OXVIRT_ADMIN_PASSWORD:-the password printed at the first make up}" )
  Agent:         $agent_health
  Data dir:      $data_dir   (logs in $log_dir)
Stop it with: make down
MSG
