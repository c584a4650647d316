# nfs.sh: hosts that share the database on a real NFS, sourced by
# scenarios.sh inside the level-1 guest.
#
# The level-1 kernel serves NFS (nfsd, NFSv4 lease shortened to
# NFS_LEASE); each "host" is a network namespace with its own UTS
# namespace (hostname), on a bridge with the server.  A host's NFS mount
# is made from inside its namespaces, so it is an NFS client of its own
# (own client identity, own lock state at the server), but the mount
# point is in the one mount namespace, so every process here sees it at
# /mnt/e2e-HOST.  (Entering a mount namespace would leave this chroot:
# setns() resets the root to the namespace's, the initramfs.)  Each
# host runs its own softprd on the one database file.
#
#   nfs_setup                the server, hosts A and B, their daemons
#   bridge_start             the bridge the hosts are on (pg.sh too)
#   host_create H            host H's namespaces on the bridge
#   host_run H COMMAND...    run COMMAND in host H's namespaces
#   scenario_nfs_identity, scenario_nfs_refused, scenario_fence_agent,
#   scenario_nfs_stall, scenario_nfs_dead_host

# The export has the same path in the initramfs root and in this chroot
# (/ktmp, see l1-init): nfsd resolves it in the kernel's root.
NFS_EXPORT=/ktmp/nfs
NFS_SERVER=10.99.0.1
# The shortest lease and grace period nfsd accepts are 10 s.
NFS_LEASE=15
NFS_GRACE=10
LOCK_TIMEOUT=5
# What nfs_stall and nfs_dead_host did, step by step, written as it
# happens (a hung step shows where).
NFS_LOG=$results/nfs-steps.log
declare -A HOST_PID HOST_DAEMON
declare -A HOST_IP=([A]=10.99.0.11 [B]=10.99.0.12 [C]=10.99.0.13 [D]=10.99.0.14)
# Hosts C and D are cloned VMs: one hostname.
declare -A HOST_NAME=([A]=nfs-host-a [B]=nfs-host-b [C]=clone [D]=clone)

# Seconds since the epoch with microseconds, and a difference of two.
now() {
    echo "$EPOCHREALTIME"
}
elapsed() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'
}

host_run() {
    local h=$1
    shift
    nsenter -t "${HOST_PID[$h]}" -n -u -- "$@"
}

# bridge_start: br-e2e, NFS_SERVER's address on it, for hosts to join;
# does nothing when it is up already (pg.sh or nfs_setup first).
bridge_start() {
    local m

    [ -e /sys/class/net/br-e2e ] && return 0
    for m in bridge veth; do
        modprobe "$m" || {
            log "modprobe $m failed"
            return 1
        }
    done
    ip link set lo up
    ip link add br-e2e type bridge &&
        ip addr add "$NFS_SERVER/24" dev br-e2e &&
        ip link set br-e2e up
}

nfs_server_start() {
    local m h

    for m in nfsd nfsv4 nfsv3; do
        modprobe "$m" || {
            log "modprobe $m failed"
            return 1
        }
    done
    bridge_start || return 1
    # mountd, statd and mount.nfs look names up: answer from /etc/hosts,
    # and let DNS fail at once (nothing listens on this guest's port 53)
    # instead of timing out on the host's name servers.
    {
        echo "$NFS_SERVER nfs-server"
        for h in A B C D; do
            echo "${HOST_IP[$h]} ${HOST_NAME[$h]}-$h"
        done
    } >>/etc/hosts
    echo "options timeout:1 attempts:1" >/etc/resolv.conf
    mkdir -p "$NFS_EXPORT"
    mount -t nfsd nfsd /proc/fs/nfsd || return 1
    # Only before nfsd starts.  lockd (NFSv3, for nfs_refused) has a
    # grace period of its own, and NFSv4 LOCKs wait for it too.
    echo $NFS_LEASE >/proc/fs/nfsd/nfsv4leasetime &&
        echo $NFS_GRACE >/proc/fs/nfsd/nfsv4gracetime &&
        echo $NFS_GRACE >/proc/sys/fs/nfs/nlm_grace_period || return 1
    echo "$NFS_EXPORT *(rw,sync,no_subtree_check,no_root_squash,insecure,fsid=0)" \
        >/etc/exports
    # rpcbind and statd for the NFSv3 mounts of nfs_refused.
    rpcbind >>"$E2E_TMP/nfsd.log" 2>&1
    rpc.statd --no-notify >>"$E2E_TMP/nfsd.log" 2>&1
    exportfs -ra >>"$E2E_TMP/nfsd.log" 2>&1 &&
        rpc.mountd --no-udp >>"$E2E_TMP/nfsd.log" 2>&1 &&
        rpc.nfsd --no-udp 8 >>"$E2E_TMP/nfsd.log" 2>&1
}

# host_create H: namespaces for host H, on the bridge.
host_create() {
    local h=$1 pid i

    unshare --net --uts sleep infinity &
    pid=$!
    for i in $(seq 1 100); do
        [ "$(readlink "/proc/$pid/ns/uts")" != "$(readlink /proc/$$/ns/uts)" ] &&
            [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/$$/ns/net)" ] &&
            break
        sleep 0.1
    done
    HOST_PID[$h]=$pid
    ip link add "e2e-$h" type veth peer name "e2e-$h-in" &&
        ip link set "e2e-$h" master br-e2e &&
        ip link set "e2e-$h" up &&
        ip link set "e2e-$h-in" netns "$pid" || return 1
    host_run "$h" hostname "${HOST_NAME[$h]}" &&
        host_run "$h" ip link set lo up &&
        host_run "$h" ip addr add "${HOST_IP[$h]}/24" dev "e2e-$h-in" &&
        host_run "$h" ip link set "e2e-$h-in" up || return 1
    mkdir -p "/mnt/e2e-$h"
}

# host_mount H: the export, NFSv4.2, at /mnt/e2e-H.
host_mount() {
    host_run "$1" mount -t nfs4 -o vers=4.2 "$NFS_SERVER:/" "/mnt/e2e-$1"
}

# host_daemon_start H: host H's softprd on /mnt/e2e-H/softpr.db.
host_daemon_start() {
    local h=$1

    rm -f "$E2E_TMP/host$h.sock"
    # nsenter itself, not host_run (a function: a subshell in the
    # background), so that $! is softprd's pid (nsenter execs it).
    nsenter -t "${HOST_PID[$h]}" -n -u -- "$SOFTPRD" -c "$E2E_TMP/nfs.conf" \
        -k "$E2E_TMP/host$h.sock" --db "/mnt/e2e-$h/softpr.db" \
        --host-id "host-$h" >>"$E2E_TMP/host$h.log" 2>&1 &
    HOST_DAEMON[$h]=$!
    wait_for "$E2E_TMP/host$h.sock" 60 &&
        [ "$(cat "/proc/${HOST_DAEMON[$h]}/comm")" = softprd ]
}

host_daemon_stop() {
    local h=$1

    kill -CONT "${HOST_DAEMON[$h]}" 2>/dev/null
    kill -TERM "${HOST_DAEMON[$h]}" 2>/dev/null
    wait "${HOST_DAEMON[$h]}" 2>/dev/null
}

NFS_READY=
nfs_setup() {
    local h start=$SECONDS

    printf '[database]\nlock-timeout = %s\n' $LOCK_TIMEOUT >"$E2E_TMP/nfs.conf"
    nfs_server_start || return 1
    echo "[$((SECONDS - start)) s] NFS server up" >>"$NFS_LOG"
    for h in A B C D; do
        host_create $h || return 1
    done
    echo "[$((SECONDS - start)) s] hosts created" >>"$NFS_LOG"
    host_mount A && host_mount B || return 1
    echo "[$((SECONDS - start)) s] A and B mounted" >>"$NFS_LOG"
    host_daemon_start A && host_daemon_start B || return 1
    log "NFS server $NFS_SERVER:$NFS_EXPORT (lease $NFS_LEASE s), hosts" \
        "A and B mounted, their daemons up, in $((SECONDS - start)) s"
    NFS_READY=1
}

# ------------------------------------------------------------------
# nfs_identity: two hosts that present one NFSv4 client identity
# ------------------------------------------------------------------

# check_fs_pair H1 H2 DIR: softpr check-fs on both hosts at once; their
# outputs in CF_OUT[H], exit statuses in CF_RC[H].
declare -A CF_OUT CF_RC
check_fs_pair() {
    local h1=$1 h2=$2 dir=$3 p1 p2 h

    for h in "$h1" "$h2"; do
        mkdir -p "/mnt/e2e-$h/$dir"
    done
    host_run "$h1" timeout 300 "$SOFTPR" check-fs --host-id "host-$h1" \
        --timeout 60 --writes 10 "/mnt/e2e-$h1/$dir" \
        >"$E2E_TMP/cf-$h1.out" 2>&1 &
    p1=$!
    host_run "$h2" timeout 300 "$SOFTPR" check-fs --host-id "host-$h2" \
        --timeout 60 --writes 10 "/mnt/e2e-$h2/$dir" \
        >"$E2E_TMP/cf-$h2.out" 2>&1 &
    p2=$!
    wait $p1
    CF_RC[$h1]=$?
    wait $p2
    CF_RC[$h2]=$?
    for h in "$h1" "$h2"; do
        CF_OUT[$h]=$(cat "$E2E_TMP/cf-$h.out")
        printf '== check-fs on host %s: exit %s\n%s\n' "$h" "${CF_RC[$h]}" \
            "${CF_OUT[$h]}" >>"$E2E_TMP/nfs-identity.log"
    done
}

scenario_nfs_identity() {
    local start=$SECONDS failed= h cause

    cause='share one NFSv4 client identity ("Linux NFSv4.2 clone")'
    # C and D: hostname "clone" both.  The second mount takes the
    # first's place at the server.
    host_mount C && host_mount D || failed+="clone hosts could not mount; "
    check_fs_pair C D clones
    for h in C D; do
        [ "${CF_RC[$h]}" = 1 ] ||
            failed+="check-fs on clone $h exited ${CF_RC[$h]}, not 1; "
        grep -q "FAIL NFS client identity: .*$cause.*distinct hostnames or set the NFS client identifier" \
            <<<"${CF_OUT[$h]}" ||
            failed+="check-fs on clone $h did not name the shared identity; "
    done
    umount "/mnt/e2e-C" "/mnt/e2e-D"
    # As the tool says: its files stay after a FAIL.
    rm -rf "$NFS_EXPORT/clones"
    # A and B: distinct hostnames, the same export.
    check_fs_pair A B pair
    for h in A B; do
        [ "${CF_RC[$h]}" = 0 ] && grep -q '^PASS$' <<<"${CF_OUT[$h]}" ||
            failed+="check-fs on host $h exited ${CF_RC[$h]}, not PASS; "
        grep -q "PASS NFS client identity: each host presents its own" \
            <<<"${CF_OUT[$h]}" || failed+="host $h: no identity check; "
        grep -q "NFSv4 client identity of this host: \"Linux NFSv4.2 ${HOST_NAME[$h]}\"" \
            "$E2E_TMP/host$h.log" ||
            failed+="softprd on host $h did not log its NFS client identity; "
    done
    if [ -z "$failed" ]; then
        result nfs_identity PASS $start "two hosts with one hostname: check-fs FAILs on both: '$(grep -o 'FAIL NFS client identity: [^)]*)' <<<"${CF_OUT[C]}" | head -n 1)'; with distinct hostnames both PASS (locks, visibility, 2x10 writes on NFSv4.2); softprd logs its identity"
    else
        result nfs_identity FAIL $start "$failed"
    fi
}

# ------------------------------------------------------------------
# nfs_refused: mounts whose locks stay on one host
# ------------------------------------------------------------------

# refused_mount OPTIONS REASON: mount the export with NFSv3 OPTIONS on
# host A; check-fs and softprd must refuse it naming REASON.
refused_mount() {
    local opts=$1 reason=$2 mnt=/mnt/e2e-v3 out rc

    mkdir -p "$mnt"
    if ! host_run A mount -t nfs -o "vers=3,proto=tcp,mountproto=tcp,$opts" \
        "$NFS_SERVER:$NFS_EXPORT" "$mnt" >>"$E2E_TMP/nfs-refused.log" 2>&1; then
        echo -n "NFSv3 mount with $opts failed; "
        return
    fi
    grep " $mnt " /proc/self/mountinfo >>"$E2E_TMP/nfs-refused.log"
    out=$(host_run A timeout 60 "$SOFTPR" check-fs --host-id host-A \
        --peers 1 --timeout 20 "$mnt" 2>&1)
    rc=$?
    printf '== check-fs on %s: exit %s\n%s\n' "$opts" $rc "$out" \
        >>"$E2E_TMP/nfs-refused.log"
    [ $rc = 1 ] && grep -q "FAIL mount: .*mounted with $reason" <<<"$out" ||
        echo -n "check-fs on $opts: exit $rc, no '$reason' refusal; "
    rm -f "$E2E_TMP/v3.sock"
    out=$(host_run A timeout 60 "$SOFTPRD" -k "$E2E_TMP/v3.sock" \
        --db "$mnt/softpr-v3.db" --host-id host-A 2>&1)
    rc=$?
    printf '== softprd on %s: exit %s\n%s\n' "$opts" $rc "$out" \
        >>"$E2E_TMP/nfs-refused.log"
    [ $rc != 0 ] && [ ! -e "$E2E_TMP/v3.sock" ] &&
        tail -n 1 <<<"$out" | grep -q "mounted with $reason" ||
        echo -n "softprd on $opts: exit $rc, no one-line '$reason' refusal; "
    NFS_REFUSAL=$(tail -n 1 <<<"$out")
    umount "$mnt"
}

scenario_nfs_refused() {
    local start=$SECONDS failed= nolock

    failed+=$(refused_mount nolock nolock)
    nolock=$(grep -o 'softprd: .*' "$E2E_TMP/nfs-refused.log" | grep nolock | tail -n 1)
    # local_lock= is taken on NFSv3 only: NFSv4 locks go to the server
    # whatever it says.
    failed+=$(refused_mount local_lock=all local_lock)
    if [ -z "$failed" ]; then
        result nfs_refused PASS $start "NFSv3 nolock and local_lock=all mounts of the export: check-fs FAILs and softprd exits before creating its socket ('$nolock'); NFSv4.2 passes (nfs_identity)"
    else
        result nfs_refused FAIL $start "$failed"
    fi
}

# ------------------------------------------------------------------
# fence_agent: Debian's fence_scsi on the hosts, guests checking
# ------------------------------------------------------------------

KA=5eedaaaa
KB=5eedbbbb

# fence_agent_run H EXPECT ACTION ARGS...: fence_scsi, unmodified, on
# host H, its sg_persist and sg_turs sending PR commands to host H's
# softprd through libsoftpr-preload.so (the guests have no Python); its
# key and device files (/run/cluster.*) are host H's own.
FENCE_AGENT_FAILED=
fence_agent_run() {
    fence_agent_via "" "$@"
}

# fence_agent_via TAG H EXPECT ACTION ARGS...: fence_agent_run through
# host H's daemon at $E2E_TMP/TAGH.sock (TAG empty: "host", the NFS
# daemon), with /run at $E2E_TMP/run-TAGH, logged in TAG-fence-agent.log.
fence_agent_via() {
    local tag=$1 h=$2 expect=$3 out rc
    shift 3

    mkdir -p "$E2E_TMP/run-$tag$h"
    out=$(host_run "$h" unshare -m sh -c 'mount --bind "$1" /run && shift && exec "$@"' \
        sh "$E2E_TMP/run-$tag$h" env LD_PRELOAD="$SHIM" \
        SOFTPR_SOCKET="$E2E_TMP/${tag:-host}$h.sock" SOFTPR_DEVICES="$EMULATED_DISK" \
        fence_scsi --devices="$EMULATED_DISK" "$@" 2>&1)
    rc=$?
    printf '== host %s: fence_scsi %s: rc %s\n%s\n' "$h" "$*" $rc "$out" \
        >>"$E2E_TMP/${tag:+$tag-}fence-agent.log"
    [ "$rc" = "$expect" ] ||
        FENCE_AGENT_FAILED+="host $h fence_scsi $* exit $rc (expected $expect); "
}

# guest_keys VM [LOG]: the keys sg_persist reads in the guest; logged in
# $E2E_TMP/LOG (fence-agent.log).
guest_keys() {
    keys_in_vm "$1"
    printf '== %s: sg_persist -n -i -k: rc %s\n%s' "$1" "$VM_RC" "$VM_OUT" \
        >>"$E2E_TMP/${2:-fence-agent.log}"
}

scenario_fence_agent() {
    local start=$SECONDS keys

    FENCE_AGENT_FAILED=
    # node1 on host A, node2 on host B: QEMU reconnects to the socket
    # path on its next command, now the hosts' daemons.
    ln -sfn "$E2E_TMP/hostA.sock" "$E2E_TMP/node1.sock"
    ln -sfn "$E2E_TMP/hostB.sock" "$E2E_TMP/node2.sock"
    stop_daemon prh
    # As Pacemaker calls it: nodename, key, devices.
    fence_agent_run A 0 --action=on --nodename=node-a --key=$KA
    fence_agent_run B 0 --action=on --nodename=node-b --key=$KB
    keys=$(guest_keys node1)
    [ "$keys" = "0x$KA 0x$KB " ] ||
        FENCE_AGENT_FAILED+="node1 (host A) sees '$keys' after both unfenced; "
    # Host B fences node-a.
    fence_agent_run B 0 --action=off --nodename=node-a --key=$KA
    fence_agent_run B 2 --action=status --nodename=node-a --key=$KA
    for vm in node1 node2; do
        keys=$(guest_keys $vm)
        [ "$keys" = "0x$KB " ] ||
            FENCE_AGENT_FAILED+="$vm sees '$keys' after node-a was fenced; "
    done
    vm_run node2 "sg_persist -n -i -r /dev/sg0"
    grep -q "Key=0x$KB" <<<"$VM_OUT" ||
        FENCE_AGENT_FAILED+="node2 does not see host B's reservation; "
    # node-a unfences again.
    fence_agent_run A 0 --action=on --nodename=node-a --key=$KA
    fence_agent_run A 0 --action=status --nodename=node-a --key=$KA
    fence_agent_run A 0 --action=monitor
    keys=$(guest_keys node2)
    [ "$keys" = "0x$KA 0x$KB " ] ||
        FENCE_AGENT_FAILED+="node2 (host B) sees '$keys' after node-a is back; "
    if [ -z "$FENCE_AGENT_FAILED" ]; then
        result fence_agent PASS $start "Debian fence_scsi on hosts A and B (one database on NFS): on, on, off (B fences node-a), status off, on, status on, monitor; guests on both hosts saw node-a's key go and come back"
    else
        result fence_agent FAIL $start "$FENCE_AGENT_FAILED"
    fi
}

# ------------------------------------------------------------------
# nfs_stall and nfs_dead_host: host A stops, or is cut off, holding
# the database's write lock
# ------------------------------------------------------------------

# persist_as H ARGS...: softpr persist through host H's daemon on the
# scsi_debug disk.
persist_as() {
    local h=$1
    shift
    persist_on "$E2E_TMP/host$h.sock" "$@"
}

# persist_on SOCKET ARGS...: softpr persist through the daemon at SOCKET
# on the scsi_debug disk; with LOAD_TIMEOUT set, killed after that many
# seconds (exit 124).
persist_on() {
    local socket=$1
    shift
    ${LOAD_TIMEOUT:+timeout "$LOAD_TIMEOUT"} \
        "$SOFTPR" persist --socket "$socket" "$@" "$EMULATED_DISK"
}

# Streams of PR OUT commands through host A's daemon, each a new key,
# enough of them that the daemon is nearly always in a transaction; the
# keys of those answered GOOD go to $E2E_TMP/acked-A.
LOAD_STREAMS=4
load_start() {
    load_start_on host A
}

# load_start_on TAG H...: LOAD_STREAMS streams through each host H's
# daemon at $E2E_TMP/TAGH.sock; keys 0xHSNNNNN (host, stream, count)
# answered GOOD go to $E2E_TMP/acked-H.  Each command's outcome goes to
# LOAD_LOG (NFS_LOG), and with LOAD_TIMES set one line "START END EXIT KEY"
# (seconds since the epoch) to that file.
load_start_on() {
    local tag=$1 h stream
    shift

    rm -f "$E2E_TMP/load-stop"
    LOAD_PIDS=()
    for h in "$@"; do
        : >"$E2E_TMP/acked-$h"
        for stream in $(seq 1 $LOAD_STREAMS); do
            load_stream "$stream" "$h" "$E2E_TMP/$tag$h.sock" &
            LOAD_PIDS+=($!)
        done
    done
}

# load_stream STREAM H SOCKET: one stream of load_start_on.
load_stream() {
    local i=0 key t0 rc

    while [ ! -e "$E2E_TMP/load-stop" ]; do
        i=$((i + 1))
        key=$(printf '0x%s%x%05x' "${2,,}" "$1" $i)
        t0=$EPOCHREALTIME
        persist_on "$3" -n -o -I -S "$key" >>"${LOAD_LOG:-$NFS_LOG}" 2>&1
        rc=$?
        [ -n "${LOAD_TIMES:-}" ] &&
            echo "$t0 $EPOCHREALTIME $rc $key" >>"$LOAD_TIMES"
        if [ $rc = 0 ]; then
            echo "$key" >>"$E2E_TMP/acked-$2"
        else
            echo "$key: exit $rc" >>"${LOAD_LOG:-$NFS_LOG}"
        fi
    done
}

load_stop() {
    touch "$E2E_TMP/load-stop"
    wait "${LOAD_PIDS[@]}"
}

# Stop host A's daemon while it holds a write lock on the database
# (/proc/locks); fails after @1 tries.
stop_in_commit() {
    local pid=${HOST_DAEMON[A]} i

    for i in $(seq 1 "$1"); do
        kill -STOP "$pid"
        sleep 0.05
        if grep -q "POSIX *ADVISORY *WRITE $pid " /proc/locks; then
            echo "softprd $pid stopped holding a write lock (try $i):" \
                "$(grep "POSIX *ADVISORY *WRITE $pid " /proc/locks)" >>"$NFS_LOG"
            return 0
        fi
        echo "try $i: $(grep -c POSIX /proc/locks) POSIX locks" >>"$NFS_LOG"
        kill -CONT "$pid"
        sleep 0.$((RANDOM % 3))
    done
    {
        echo "== softprd $pid never seen holding a write lock;" \
            "$(grep -c '' "$E2E_TMP/acked-A") commands acknowledged; /proc/locks:"
        cat /proc/locks
    } >>"$NFS_LOG"
    return 1
}

# acked_missing [DB H...]: how many keys in acked-H (acked-A) have no
# GOOD REGISTER in the history of DB (host B's view of the NFS database).
acked_missing() {
    local db=${1:-/mnt/e2e-B/softpr.db} h files=()

    shift
    for h in "${@:-A}"; do
        files+=("$E2E_TMP/acked-$h")
    done
    "$SOFTPR" history --db "$db" >"$E2E_TMP/history.txt" 2>&1
    awk -v history="$E2E_TMP/history.txt" '
        FILENAME == history {
            if (match($0, /sa-key 0x[0-9a-f]+ -> GOOD/)) {
                split(substr($0, RSTART, RLENGTH), f, " ")
                good[f[2]] = 1
            }
            next
        }
        !($1 in good) { missing++ }
        END { print missing + 0 }' "$E2E_TMP/history.txt" "${files[@]}"
}

scenario_nfs_stall() {
    local start=$SECONDS failed= t0 t1 rc busy_s good_s acked missing

    echo "== nfs_stall" >>"$NFS_LOG"
    load_start
    sleep 3
    if ! stop_in_commit 100; then
        load_stop
        result nfs_stall FAIL $start "host A's daemon never caught holding a write lock"
        return
    fi
    t0=$(now)
    echo "B sends a PR OUT" >>"$NFS_LOG"
    persist_as B -n -o -I -S 0xb00001 >>"$NFS_LOG" 2>&1
    rc=$?
    t1=$(now)
    busy_s=$(elapsed "$t0" "$t1")
    echo "== B while A is stopped: rc $rc after $busy_s s" >>"$NFS_LOG"
    [ $rc = 26 ] || failed+="B's command exited $rc, not 26 (BUSY); "
    # The lock timeout runs from the command's arrival; the margin is
    # for starting softpr persist under TCG.
    awk -v s="$busy_s" -v t=$LOCK_TIMEOUT 'BEGIN { exit !(s >= t - 0.5 && s <= t + 4) }' ||
        failed+="BUSY after $busy_s s, not the lock timeout ($LOCK_TIMEOUT s); "
    kill -CONT "${HOST_DAEMON[A]}"
    echo "A resumed" >>"$NFS_LOG"
    t0=$(now)
    persist_as B -n -o -I -S 0xb00002 >>"$NFS_LOG" 2>&1
    rc=$?
    good_s=$(elapsed "$t0" "$(now)")
    echo "== B after A resumed: rc $rc after $good_s s" >>"$NFS_LOG"
    [ $rc = 0 ] || failed+="B's command after A resumed exited $rc; "
    sleep 1
    load_stop
    echo "load stopped" >>"$NFS_LOG"
    acked=$(grep -c '' "$E2E_TMP/acked-A")
    missing=$(acked_missing)
    [ "$acked" -gt 0 ] && [ "$missing" = 0 ] ||
        failed+="$missing of the $acked commands A acknowledged are not in the database; "
    if [ -z "$failed" ]; then
        result nfs_stall PASS $start "host A's softprd stopped (SIGSTOP) holding the write lock: host B's PR OUT answered BUSY after $busy_s s (lock-timeout $LOCK_TIMEOUT s), GOOD $good_s s after SIGCONT; all $acked commands A acknowledged are in the database"
    else
        result nfs_stall FAIL $start "$failed"
    fi
}

scenario_nfs_dead_host() {
    local start=$SECONDS failed= t0 rc busy=0 window acked missing integrity
    local deadline

    echo "== nfs_dead_host" >>"$NFS_LOG"
    load_start
    sleep 3
    if ! stop_in_commit 100; then
        load_stop
        result nfs_dead_host FAIL $start "host A's daemon never caught holding a write lock"
        return
    fi
    # Cut host A off the server while it holds the lock, then let it run
    # on: its NFS client can no longer renew its lease.
    ip link set e2e-A down
    t0=$(now)
    kill -CONT "${HOST_DAEMON[A]}"
    touch "$E2E_TMP/load-stop"
    deadline=$((SECONDS + 4 * NFS_LEASE))
    while [ $SECONDS -lt $deadline ]; do
        persist_as B -n -o -I -S 0xb00003 >>"$NFS_LOG" 2>&1
        rc=$?
        echo "== B at $(elapsed "$t0" "$(now)") s after the cut: rc $rc" \
            >>"$NFS_LOG"
        [ $rc = 26 ] && busy=$((busy + 1))
        [ $rc = 0 ] && break
    done
    window=$(elapsed "$t0" "$(now)")
    [ "$rc" = 0 ] || failed+="B still not GOOD $window s after the cut (rc $rc); "
    [ $busy -ge 1 ] || failed+="B was never answered BUSY while A held the lock; "
    integrity=$(sqlite3 "/mnt/e2e-B/softpr.db" 'PRAGMA integrity_check' 2>&1)
    [ "$integrity" = ok ] || failed+="integrity_check: $integrity; "
    acked=$(grep -c '' "$E2E_TMP/acked-A")
    missing=$(acked_missing)
    [ "$acked" -gt 0 ] && [ "$missing" = 0 ] ||
        failed+="$missing of the $acked commands A acknowledged are not in the database; "
    # A is gone for good: its daemon is killed and its link stays down
    # (host A is not used after this scenario).
    kill -KILL "${HOST_DAEMON[A]}" 2>/dev/null
    kill -KILL "${LOAD_PIDS[@]}" 2>/dev/null
    if [ -z "$failed" ]; then
        result nfs_dead_host PASS $start "host A cut off from the NFS server holding the write lock: host B answered BUSY ($busy times, lock-timeout $LOCK_TIMEOUT s) until GOOD $window s after the cut (NFSv4 lease $NFS_LEASE s); PRAGMA integrity_check ok; all $acked commands A acknowledged are in the database"
    else
        result nfs_dead_host FAIL $start "$failed"
    fi
}
