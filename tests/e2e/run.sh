#!/bin/bash
# run.sh BUILD: the end-to-end tests (make check-e2e).
#
# Boots a level-1 guest under TCG (no KVM needed) with Debian's kernel
# and the host's root filesystem over 9p; inside it scenarios.sh gives
# softprd real SCSI devices (scsi_debug, LIO tcm_loop), boots level-2
# VMs whose QEMU sends their PR commands to softprd, and runs sg_persist,
# a fence_scsi sequence, a restart, libiscsi's iscsi-test-cu and the
# passthrough comparison.  Prints each scenario with PASS or FAIL; exits
# 0 only when all passed.  A level-1 boot that fails is retried once.
# Then two hosts (network namespaces in level 1) share one database on
# the level-1 kernel's NFS server: check-fs on cloned hostnames and on
# refused mounts, Debian's fence_scsi across the hosts, a host stopped
# and a host cut off while holding the lock (tests/e2e/nfs.sh).  Then
# the hosts' daemons on one PostgreSQL server in a third namespace over
# TCP: fence_scsi across them, and the server restarted under load
# (tests/e2e/pg.sh; the server binaries come from the host's postgresql
# package, seen in level 1 through the host root).
#
# As root it installs the Debian packages it needs when they are
# missing.  E2E_TIMEOUT (seconds, default 2400) bounds each boot;
# E2E_SCENARIOS (names separated by spaces, default all) runs only those
# scenarios; E2E_SCRIPT runs another script in level 1 instead of
# scenarios.sh.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD}" && pwd)
out=$build/e2e
timeout_s=${E2E_TIMEOUT:-2400}
all_scenarios=(passthrough nfs_identity nfs_refused sg_persist fence_scsi
    restart iscsi_test_cu fence_agent nfs_stall nfs_dead_host pg_fence
    pg_restart)
scenarios=()
for s in "${all_scenarios[@]}"; do
    if [ -z "${E2E_SCENARIOS:-}" ] || [[ " $E2E_SCENARIOS " == *" $s "* ]]; then
        scenarios+=("$s")
    fi
done
[ ${#scenarios[@]} -gt 0 ] || {
    echo "check-e2e: E2E_SCENARIOS names none of: ${all_scenarios[*]}"
    exit 2
}
packages=(qemu-system-x86 qemu-utils linux-image-amd64 sg3-utils
    libiscsi-bin busybox-static cpio kmod nfs-kernel-server fence-agents
    iproute2 sqlite3 postgresql)

start=$SECONDS

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "check-e2e: missing Debian packages: ${missing[*]} (run as root" \
            "to install them)"
        exit 1
    fi
    echo "check-e2e: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null &&
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
            >"$build/e2e-apt.log" 2>&1 || {
        echo "check-e2e: apt-get failed (see $build/e2e-apt.log)"
        exit 1
    }
fi
if [ "$(id -u)" != 0 ]; then
    echo "check-e2e: must run as root (the level-1 guest mounts the host" \
        "root over 9p, readable only as root)"
    exit 1
fi
for f in softprd softpr libsoftpr-preload.so; do
    [ -e "$build/$f" ] || {
        echo "check-e2e: $build/$f is missing (make tests first)"
        exit 1
    }
done

mkdir -p "$out"
"$here/images.sh" "$out" || exit 1
# pg.sh's empty cluster, made here once: initdb under TCG takes minutes.
rm -rf "$out/pg-data"
if [[ " ${scenarios[*]} " == *" pg_"* ]]; then
    install -d -o postgres "$out/pg-data" &&
        runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb \
            -D "$out/pg-data" -U postgres -E UTF8 --no-sync \
            --auth-local=trust --auth-host=reject >"$build/e2e-initdb.log" 2>&1 || {
        echo "check-e2e: initdb failed (see $build/e2e-initdb.log)"
        exit 1
    }
fi

# boot ATTEMPT: one level-1 run; its console goes to $out/l1-ATTEMPT.log.
boot() {
    local log=$out/l1-$1.log results=$out/results

    rm -rf "$results"
    mkdir -p "$results"
    printf 'BUILD=%q\nIMAGES=%q\nSCENARIOS=%q\n' "$build" "$out" \
        "${E2E_SCENARIOS:-}" >"$results/config"
    timeout "$timeout_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max \
        -machine q35 -m 3072 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$out/vmlinuz" -initrd "$out/l1.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1 e2e.script=${E2E_SCRIPT:-$here/scenarios.sh} e2e.results=$results e2e.repo=$repo e2e.build=$build" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$build,mount_tag=build,security_model=none,readonly=on,multidevs=remap" \
        -virtfs "local,path=$results,mount_tag=results,security_model=none" \
        </dev/null 2>&1 | tee "$log" | watch_console "$results"
}

# watch_console RESULTS: show the console's E2E lines.  Once the guest's
# script has ended the results are in the log; a guest that then does
# not power off (seen twice after nfs_dead_host, whose cut-off NFS mount
# may block the guest's shutdown) is stopped after 60 s rather than at
# E2E_TIMEOUT.
watch_console() {
    local line

    while IFS= read -r line; do
        case "$line" in
        E2E*) printf '%s\n' "$line" ;;
        esac
        case "$line" in
        "E2E-L1: script exit"*)
            (sleep 60 && pkill -f -- "e2e.results=$1 e2e.repo=") \
                >/dev/null 2>&1 &
            ;;
        esac
    done
}

booted() {
    grep -q "E2E-L1: root ready" "$out/l1-$1.log" &&
        grep -q "^E2E: kernel" "$out/l1-$1.log"
}

boot 1
attempt=1
if ! booted 1; then
    echo "check-e2e: the level-1 guest did not boot; retrying once"
    boot 2
    attempt=2
fi
log=$out/l1-$attempt.log

echo
echo "== check-e2e results ($((SECONDS - start)) s in all)"
failed=0
for s in "${scenarios[@]}"; do
    line=$(grep "^E2E-RESULT $s " "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $s: did not run (see $log)"
        failed=$((failed + 1))
        continue
    fi
    set -- $line
    status=$3
    secs=$4
    shift 4
    echo "$status $s (${secs} s): $*"
    [ "$status" = PASS ] || failed=$((failed + 1))
done
# Setup failures have no scenario of their own.
grep "^E2E-RESULT \(setup\|vms\) " "$log" | sed 's/^E2E-RESULT /FAIL /'
echo "$(( ${#scenarios[@]} - failed )) passed, $failed failed"
[ $failed -eq 0 ]
