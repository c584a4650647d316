#!/bin/bash
# images.sh OUT: the kernel and the two initramfs images of the
# end-to-end tests, built from the installed Debian kernel, busybox-static
# and programs.
#   OUT/vmlinuz               Debian's kernel
#   OUT/l1.cpio.gz            level 1: mounts the host root over 9p
#   OUT/l2.cpio.gz            level 2: sg_persist, sg_turs, sg_raw,
#                             iscsi-test-cu
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: images.sh OUT}
kver=${KVER:-$(ls /lib/modules | sort -V | tail -n 1)}

# Copy module @1 and what it needs into @2/lib/mods, in load order.
add_modules() {
    local root=$1
    shift
    mkdir -p "$root/lib/mods"
    for m in "$@"; do
        modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
    done | awk '!seen[$0]++' | while read -r ko; do
        name=$(basename "$ko")
        case "$name" in
        *.ko.xz) xz -dc "$ko" >"$root/lib/mods/${name%.xz}" ;;
        *) cp "$ko" "$root/lib/mods/" ;;
        esac
        name=${name%.xz}
        echo "${name%.ko}" >>"$root/modules.order"
    done
}

# Copy programs and the shared libraries they load into @1.
add_programs() {
    local root=$1
    shift
    for prog in "$@"; do
        for f in "$prog" $(ldd "$prog" | grep -o '/[^ ]*'); do
            mkdir -p "$root$(dirname "$f")"
            cp -L "$f" "$root$f"
        done
    done
}

pack() {
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) >"$2"
}

rm -rf "$out/l1" "$out/l2"
mkdir -p "$out"/l1/{bin,proc,sys,dev} "$out"/l2/{bin,proc,sys,dev}
: >"$out/l1/modules.order"
: >"$out/l2/modules.order"

cp /bin/busybox "$out/l1/bin/busybox"
cp "$here/l1-init" "$out/l1/init"
add_modules "$out/l1" virtio_pci 9pnet_virtio 9p overlay configfs
pack "$out/l1" "$out/l1.cpio.gz"

cp /bin/busybox "$out/l2/bin/busybox"
cp "$here/l2-init" "$out/l2/init"
add_modules "$out/l2" virtio_pci crct10dif_generic crc64_rocksoft_generic \
    virtio_scsi sd_mod sg
add_programs "$out/l2" /usr/bin/sg_persist /usr/bin/sg_turs /usr/bin/sg_raw \
    /usr/bin/iscsi-test-cu
pack "$out/l2" "$out/l2.cpio.gz"

cp "/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "images for $kver in $out: l1 $(du -h "$out/l1.cpio.gz" | cut -f1)," \
    "l2 $(du -h "$out/l2.cpio.gz" | cut -f1)"
