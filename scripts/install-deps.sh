#!/bin/bash
# Installs the Debian packages oxvirt needs, only those that are missing.
#   install-deps.sh run   -> what `make up` needs (QEMU, libvirt, build tools)
#   install-deps.sh test  -> the above plus what the test suite needs (guest build tools)
# QEMU's system emulator and qemu-utils are pinned to one version from the configured
# Debian suite: a newer qemu-utils from backports otherwise "Breaks" qemu-system-common.
set -euo pipefail
profile=${1:-run}

[ "$(id -u)" = 0 ] || { echo "install-deps: run as root (apt, libvirt and namespaces need it)" >&2; exit 1; }

run_pkgs=(qemu-system-x86 qemu-utils seabios ipxe-qemu genisoimage libvirt-daemon libvirt-daemon-driver-qemu
          libvirt-clients libvirt-dev pkg-config gcc libc6-dev make curl ca-certificates
          iproute2 util-linux procps)
test_pkgs=(busybox-static cpio mtools syslinux syslinux-common dosfstools kmod gzip
           postgresql
           python3-venv python3-dev libxml2-dev libcurl4-openssl-dev libssl-dev)
pkgs=("${run_pkgs[@]}")
[ "$profile" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# one QEMU version for emulator and tools
qsys=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
qutl=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
if [ ${#missing[@]} -gt 0 ] || [ "$qsys" != "$qutl" ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "install-deps: installing ${missing[*]:-(aligning qemu versions)}"
  apt-get update -qq
  ver=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/{print $2}')
  apt-get install -y -qq --no-install-recommends --allow-downgrades \
    "${missing[@]/#qemu-system-x86/qemu-system-x86=$ver}" "qemu-system-x86=$ver" "qemu-utils=$ver" >/dev/null
fi

# libvirt-daemon without its -system sibling creates neither the qemu user nor the log dir
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
# QEMU runs as libvirt-qemu, which must be able to open /dev/kvm as Debian's udev rule allows
# (group kvm, 0660). Without that access libvirt re-probes QEMU's capabilities on every
# domain start (its cache never validates), which made each VM start take 30-60 s here.
# Only for `make up`: test hosts run QEMU as root and need none of this.
if [ "$profile" = run ]; then
  getent group kvm >/dev/null || groupadd -r kvm
  id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm || usermod -aG kvm libvirt-qemu
  if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" = root ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
fi
# the dirs libvirtd would make at its first start; test hosts bind-mount their own over them
mkdir -p /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /etc/libvirt

command -v cargo >/dev/null || {
  echo "install-deps: no Rust toolchain (cargo) found. Install one with rustup (https://rustup.rs), Rust >= 1.85." >&2
  exit 1
}
