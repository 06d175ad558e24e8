#!/bin/bash
# Builds the oxvirt test guest (Debian kernel + busybox initramfs + bootable FAT disk) and
# caches it by recipe hash. Usage: guest/build.sh [OUT_DIR]   (see guest/README.md)
# Last line on stdout: the directory holding vmlinuz, initrd.img, disk.qcow2, cmdline, ...
# Everything else goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${1:-$repo/target/oxvirt-guest}
disk_mib=64
busybox=/bin/busybox

log() { echo "guest/build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Recipe hash: sha256 over (path, sha256) of every file under guest/, in a fixed order.
# Editor droppings (*.swp, *~) are git-ignored and left out so the hash matches a clean clone.
hash=$(cd "$here" && find . -type f ! -name '*.swp' ! -name '*~' -print0 |
	LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
id=${hash:0:16}

mkdir -p "$out"
out=$(cd "$out" && pwd)
final=$out/$id

publish() {
	ln -sfn "$id" "$out/.current.$$"
	mv -T "$out/.current.$$" "$out/current"
	echo "$final"
}

if [ -f "$final/complete" ]; then
	log "cache hit: $final"
	publish
	exit 0
fi

# One builder at a time per OUT_DIR; a waiter finds the finished build and returns it.
exec 9>"$out/.lock"
if ! flock -n 9; then
	log "another build holds $out/.lock, waiting"
	flock 9
fi
if [ -f "$final/complete" ]; then
	log "cache hit (built by another process): $final"
	publish
	exit 0
fi

rm -rf "$out"/.build-* # left by a killed builder (we hold the lock, so none is running)

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip mkfs.fat mcopy syslinux qemu-img flock; do
	command -v "$tool" >/dev/null || die "missing host tool '$tool' (scripts/install-deps.sh test installs them)"
done
[ -x "$busybox" ] || die "$busybox missing (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then # ldd fails on a static binary
	die "$busybox is dynamically linked; the initramfs needs busybox-static"
fi

start=$SECONDS
tmp=$(mktemp -d "$out/.build-$id.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/out    # becomes $final
work=$tmp/work
mkdir -p "$stage" "$work"
log "building $final (recipe $hash)"

# ---- kernel: the current dependency of the linux-image-amd64 metapackage, not installed
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(kernel_pkg || true)
if [ -z "$pkg" ]; then
	log "apt lists lack linux-image-amd64, running apt-get update"
	apt-get update >&2
	pkg=$(kernel_pkg || true)
fi
[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
log "kernel package: $pkg"
if ! (cd "$work" && apt-get download "$pkg") >&2; then
	log "apt-get download failed, refreshing lists and retrying"
	apt-get update >&2
	(cd "$work" && apt-get download "$pkg") >&2
fi
deb=$(ls "$work"/"$pkg"_*.deb)
root=$work/root
dpkg-deb -x "$deb" "$root"
echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >"$stage/kernel-version"
kvers=("$root"/lib/modules/*)
[ ${#kvers[@]} -eq 1 ] && [ -d "${kvers[0]}" ] || die "expected one /lib/modules/<kver> in $pkg"
kver=${kvers[0]##*/}
cp "$root/boot/vmlinuz-$kver" "$stage/vmlinuz"

# ---- modules: dependency order from depmod + modprobe --show-depends, de-duplicated
depmod -b "$root" "$kver"
ird=$work/initrd
mkdir -p "$ird"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules,var/log,var/run}
declare -A seen=()
order=()
while read -r mod _; do
	case "$mod" in '' | '#'*) continue ;; esac
	deps=$(modprobe -d "$root" -S "$kver" --show-depends "$mod") || die "modprobe cannot resolve '$mod'"
	while read -r verb path _; do
		[ "$verb" = insmod ] || continue # "builtin <name>": nothing to load
		base=${path##*/}
		ko=${base%.ko*}.ko
		[ -n "${seen[$ko]:-}" ] && continue
		seen[$ko]=1
		case "$base" in
		*.ko) cp "$path" "$ird/lib/modules/$ko" ;;
		*.ko.xz) xz -dc "$path" >"$ird/lib/modules/$ko" ;;
		*.ko.zst) zstd -qdc "$path" >"$ird/lib/modules/$ko" ;;
		*.ko.gz) gzip -dc "$path" >"$ird/lib/modules/$ko" ;;
		*) die "unexpected module file $path" ;;
		esac
		order+=("$ko")
	done <<<"$deps"
done <"$here/modules"
printf '%s\n' "${order[@]}" >"$ird/etc/modules.order"
pos() { grep -nx "$1" "$ird/etc/modules.order" | cut -d: -f1; }
if [ -n "$(pos virtio_ring.ko)" ] && [ -n "$(pos virtio.ko)" ] &&
	[ "$(pos virtio_ring.ko)" -gt "$(pos virtio.ko)" ]; then
	die "module order puts virtio before virtio_ring"
fi
log "modules (${#order[@]}): ${order[*]}"

# ---- initramfs: busybox + applet links + /init + acpid config + modules
cp "$busybox" "$ird/bin/busybox"
while read -r applet; do
	[ -e "$ird/$applet" ] || ln -s /bin/busybox "$ird/$applet"
done < <("$busybox" --list-full)
install -m 0755 "$here/init" "$ird/init"
mkdir -p "$ird/etc/acpi"
cp -R "$here/acpi/." "$ird/etc/acpi/"
find "$ird/etc/acpi" -type f -exec chmod 0755 {} +
# /dev/console lets the kernel give /init a console before devtmpfs is mounted;
# /init reopens it anyway, so an unprivileged build without mknod still works.
mknod -m 0600 "$ird/dev/console" c 5 1 2>/dev/null || log "warning: mknod /dev/console failed (not root?)"
(cd "$ird" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n >"$stage/initrd.img"

# ---- kernel command line (direct kernel boot and syslinux share it)
cmdline=$(grep -v '^#' "$here/cmdline" | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//')
echo "$cmdline" >"$stage/cmdline"

# ---- bootable disk: FAT "superfloppy" (no partition table) + syslinux, via mtools only
raw=$work/disk.raw
export MTOOLS_SKIP_CHECK=1
mkfs.fat -C --invariant -n OXVIRTGUEST "$raw" $((disk_mib * 1024)) >&2
cfg=$(<"$here/syslinux.cfg")
printf '%s\n' "${cfg//@CMDLINE@/$cmdline}" >"$work/syslinux.cfg"
mcopy -i "$raw" "$stage/vmlinuz" "$stage/initrd.img" "$work/syslinux.cfg" ::/
syslinux --install "$raw"
qemu-img convert -f raw -O qcow2 "$raw" "$stage/disk.qcow2"
rm -f "$raw"

# ---- publish: atomic rename, then the stamp
rm -rf "$final" # a half-published dir without stamp from an interrupted run
mv -T "$stage" "$final"
date -u +%Y-%m-%dT%H:%M:%SZ >"$final/complete"
log "built in $((SECONDS - start)) s: $(cd "$final" && du -h vmlinuz initrd.img disk.qcow2 | tr '\t\n' '= ' )"
publish
