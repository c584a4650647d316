# pg.sh: hosts A and B whose daemons keep their state on one PostgreSQL
# server in a third host P, reached over TCP; sourced by scenarios.sh
# inside the level-1 guest, after nfs.sh (whose hosts, bridge, load
# generator and fence_scsi runner it reuses).
#
# P is a network and UTS namespace on the bridge, like the hosts; a
# throwaway server (initdb in a scratch directory, as the unprivileged
# user postgres) listens on P's address only and lets the hosts' subnet
# in with a password (SCRAM).  Each host runs a softprd of its own with
# --db "host=P ... password=...": no shared filesystem.
#
#   pg_setup                 P, its server, hosts A and B, their daemons
#   scenario_pg_fence        Debian's fence_scsi across the hosts, guests
#                            checking (as scenario_fence_agent on NFS)
#   scenario_pg_restart      the server restarted under load

PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=postgres
PG_DIR=$E2E_TMP/pg
HOST_IP[P]=10.99.0.20
HOST_NAME[P]=pg-server
PG_SUBNET=10.99.0.0/24
# A fresh password for each run: the daemons' logs are searched for it.
PG_PASSWORD=e2e$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
PG_CONNINFO="host=${HOST_IP[P]} port=5432 dbname=softpr user=softprd password=$PG_PASSWORD connect_timeout=10"
# A command answered later than this (seconds) counts as hung:
# lock-timeout, the client's 2 s grace past it (store_pg_conn.c), and
# room for starting softpr persist under TCG on a loaded machine (12.3 s
# seen at most).  LOAD_TIMEOUT kills it.
PG_BOUND=$((LOCK_TIMEOUT + 15))
PG_RESTARTS=3
# Streams of the load generator on each host in pg_restart.
PG_LOAD_STREAMS=2
declare -A PG_DAEMON

# pg_server_ctl ARG...: the server's pg_ctl as its user, in P's
# namespaces.
pg_server_ctl() {
    host_run P runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" "$@"
}

# pg_server_init: an empty cluster in $PG_DIR/data listening on P's
# address, started; the role softprd (with PG_PASSWORD) owns database
# softpr.
pg_server_init() {
    local sql

    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    : >"$E2E_TMP/pg-server.log"
    chown "$PG_USER" "$PG_DIR" "$E2E_TMP/pg-server.log"
    # run.sh made the cluster on the host (initdb takes minutes under
    # TCG); without it, initdb here.
    if [ -d "$E2E_IMAGES/pg-data" ]; then
        cp -a "$E2E_IMAGES/pg-data" "$PG_DIR/data" &&
            chown -R "$PG_USER" "$PG_DIR/data" || return 1
    else
        runuser -u "$PG_USER" -- "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres \
            -E UTF8 --no-sync --auth-local=trust --auth-host=reject \
            >>"$E2E_TMP/pg-server.log" 2>&1 || return 1
    fi
    # fsync stays on: an acknowledged COMMIT must outlive an immediate
    # stop as it would a crash.
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '${HOST_IP[P]}'
unix_socket_directories = '$PG_DIR'
password_encryption = scram-sha-256
# Small: less for TCG to start after each restart.
shared_buffers = 16MB
autovacuum = off
EOF
    cat >"$PG_DIR/data/pg_hba.conf" <<EOF
local all postgres trust
host softpr softprd $PG_SUBNET scram-sha-256
EOF
    pg_server_ctl -w -t 120 -l "$E2E_TMP/pg-server.log" start >/dev/null || return 1
    sql="CREATE ROLE softprd LOGIN PASSWORD '$PG_PASSWORD';"
    host_run P runuser -u "$PG_USER" -- "$PG_BIN/psql" -q -X -h "$PG_DIR" \
        -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$sql" \
        -c "CREATE DATABASE softpr OWNER softprd;" >>"$E2E_TMP/pg-server.log" 2>&1
}

# pg_daemon_start H: host H's softprd on the server, at $E2E_TMP/pgH.sock.
pg_daemon_start() {
    local h=$1

    rm -f "$E2E_TMP/pg$h.sock"
    # nsenter itself, so that $! is softprd's pid (as host_daemon_start).
    nsenter -t "${HOST_PID[$h]}" -n -u -- "$SOFTPRD" -c "$E2E_TMP/pg.conf" \
        -k "$E2E_TMP/pg$h.sock" --db "$PG_CONNINFO" --host-id "pg-host-$h" \
        >>"$E2E_TMP/pg$h.log" 2>&1 &
    PG_DAEMON[$h]=$!
    wait_for "$E2E_TMP/pg$h.sock" 60 &&
        [ "$(cat "/proc/${PG_DAEMON[$h]}/comm")" = softprd ]
}

pg_daemon_stop() {
    kill -TERM "${PG_DAEMON[$1]}" 2>/dev/null
    wait "${PG_DAEMON[$1]}" 2>/dev/null
}

PG_READY=
pg_setup() {
    local h start=$SECONDS

    bridge_start || return 1
    # Hosts A and B are nfs_setup's when it ran.
    for h in A B P; do
        [ -n "${HOST_PID[$h]:-}" ] || host_create $h || return 1
    done
    pg_server_init || return 1
    printf '[database]\nlock-timeout = %s\n' $LOCK_TIMEOUT >"$E2E_TMP/pg.conf"
    pg_daemon_start A && pg_daemon_start B || return 1
    log "PostgreSQL 15 in host P (${HOST_IP[P]}), hosts A and B's daemons" \
        "on it, in $((SECONDS - start)) s"
    PG_READY=1
}

# pg_secret_leaks: where the password shows: the daemons' logs, their
# argument lists (softprd overwrites it there once parsed).
pg_secret_leaks() {
    local h

    for h in A B; do
        grep -qF "$PG_PASSWORD" "$E2E_TMP/pg$h.log" &&
            echo -n "the password is in host $h's daemon log; "
        tr '\0' ' ' <"/proc/${PG_DAEMON[$h]}/cmdline" | grep -qF "$PG_PASSWORD" &&
            echo -n "the password is in host $h's daemon's argument list; "
    done
}

# ------------------------------------------------------------------
# pg_fence: Debian's fence_scsi on the hosts, guests checking
# ------------------------------------------------------------------

scenario_pg_fence() {
    local start=$SECONDS keys vm failed

    FENCE_AGENT_FAILED=
    "$SOFTPR" clear --yes --db "$PG_CONNINFO" '*' >>"$E2E_TMP/pg-fence-agent.log" 2>&1
    # node1 on host A, node2 on host B: QEMU connects to the socket path
    # again once the daemon it is connected to (prh) closes.
    ln -sfn "$E2E_TMP/pgA.sock" "$E2E_TMP/node1.sock"
    ln -sfn "$E2E_TMP/pgB.sock" "$E2E_TMP/node2.sock"
    stop_daemon prh
    start_daemon prh
    # As Pacemaker calls it: nodename, key, devices.
    fence_agent_via pg A 0 --action=on --nodename=node-a --key=$KA
    fence_agent_via pg B 0 --action=on --nodename=node-b --key=$KB
    keys=$(guest_keys node1 pg-fence-agent.log)
    [ "$keys" = "0x$KA 0x$KB " ] ||
        FENCE_AGENT_FAILED+="node1 (host A) sees '$keys' after both unfenced; "
    # Host B fences node-a: host A's key is gone for both hosts.
    fence_agent_via pg B 0 --action=off --nodename=node-a --key=$KA
    fence_agent_via pg B 2 --action=status --nodename=node-a --key=$KA
    for vm in node1 node2; do
        keys=$(guest_keys $vm pg-fence-agent.log)
        [ "$keys" = "0x$KB " ] ||
            FENCE_AGENT_FAILED+="$vm sees '$keys' after node-a was fenced; "
    done
    vm_run node2 "sg_persist -n -i -r /dev/sg0"
    grep -q "Key=0x$KB" <<<"$VM_OUT" ||
        FENCE_AGENT_FAILED+="node2 does not see host B's reservation; "
    # node-a unfences again.
    fence_agent_via pg A 0 --action=on --nodename=node-a --key=$KA
    fence_agent_via pg A 0 --action=status --nodename=node-a --key=$KA
    fence_agent_via pg A 0 --action=monitor
    keys=$(guest_keys node2 pg-fence-agent.log)
    [ "$keys" = "0x$KA 0x$KB " ] ||
        FENCE_AGENT_FAILED+="node2 (host B) sees '$keys' after node-a is back; "
    "$SOFTPR" dump --db "$PG_CONNINFO" >>"$E2E_TMP/pg-fence-agent.log" 2>&1
    FENCE_AGENT_FAILED+=$(pg_secret_leaks)
    # Hand the guests back to prh: their next command connects to it.
    ln -sfn "$E2E_TMP/prh.sock" "$E2E_TMP/node1.sock"
    ln -sfn "$E2E_TMP/prh.sock" "$E2E_TMP/node2.sock"
    pg_daemon_stop A
    pg_daemon_stop B
    if [ -z "$FENCE_AGENT_FAILED" ]; then
        result pg_fence PASS $start "Debian fence_scsi on hosts A and B, their daemons on PostgreSQL in host P over TCP (SCRAM): on, on, off (B fences node-a), status off, on, status on, monitor; guests on both hosts saw node-a's key go and come back; the password in neither daemon's log nor argument list"
    else
        result pg_fence FAIL $start "$FENCE_AGENT_FAILED"
    fi
}

# ------------------------------------------------------------------
# pg_restart: the server restarted under load
# ------------------------------------------------------------------

# pg_restart_figures TIMES STOP...: from load_stream's timings and the
# times of the immediate stops, shell assignments: the longest answer
# (PGR_MAX), answers later than PG_BOUND (PGR_SLOW), exits other than
# GOOD, BUSY (26) or ABORTED COMMAND (11, which initiators retry)
# (PGR_BAD, PGR_BAD_TEXT), GOOD answers (PGR_GOOD), and for each restart
# I its BUSY and ABORTED COMMAND answers (PGR_BUSYI, PGR_ABORTEDI) and
# how long after the stop the last of them came (PGR_WINDOWI, seconds).
pg_restart_figures() {
    local times=$1
    shift
    awk -v stops="$*" -v bound=$PG_BOUND '
        BEGIN { n = split(stops, s, " ") }
        {
            d = $2 - $1
            if (d > max) { max = d }
            if (d > bound) { slow++ }
            if ($3 == 0) { good++; next }
            if ($3 != 26 && $3 != 11) { bad++; badtext = badtext " " $4 ":" $3 }
            r = 0
            for (i = 1; i <= n; i++) { if ($2 >= s[i]) { r = i } }
            if ($3 == 26) { busy[r]++ } else if ($3 == 11) { aborted[r]++ }
            if (r > 0 && $2 - s[r] > win[r]) { win[r] = $2 - s[r] }
        }
        END {
            printf "PGR_MAX=%.1f PGR_SLOW=%d PGR_BAD=%d PGR_GOOD=%d PGR_BAD_TEXT=\"%s\"\n",
                max, slow, bad, good, badtext
            for (i = 0; i <= n; i++) {
                printf "PGR_BUSY%d=%d PGR_ABORTED%d=%d PGR_WINDOW%d=%.1f\n",
                    i, busy[i], i, aborted[i], i, win[i]
            }
        }' "$times"
}

scenario_pg_restart() {
    local start=$SECONDS failed= i stops=() t_up down figures=
    local acked missing var

    : >"$E2E_TMP/pg-load.times"
    LOAD_STREAMS=$PG_LOAD_STREAMS LOAD_LOG=$E2E_TMP/pg-load.log \
        LOAD_TIMES=$E2E_TMP/pg-load.times LOAD_TIMEOUT=$((2 * PG_BOUND)) \
        load_start_on pg A B
    sleep 3
    for i in $(seq 1 $PG_RESTARTS); do
        stops+=("$(now)")
        pg_server_ctl -m immediate stop >>"$E2E_TMP/pg-server.log" 2>&1 ||
            failed+="immediate stop $i failed; "
        sleep 2
        pg_server_ctl -w -t 120 -l "$E2E_TMP/pg-server.log" start >/dev/null ||
            failed+="start $i failed; "
        t_up=$(now)
        down=$(elapsed "${stops[-1]}" "$t_up")
        echo "restart $i: server down $down s" >>"$E2E_TMP/pg-load.log"
        figures+="restart $i: down $down s, "
        figures+="@$i@; "
        sleep 4
    done
    load_stop
    eval "$(pg_restart_figures "$E2E_TMP/pg-load.times" "${stops[@]}")"
    for i in $(seq 1 $PG_RESTARTS); do
        var="PGR_BUSY$i PGR_ABORTED$i PGR_WINDOW$i"
        set -- $var
        figures=${figures/@$i@/${!1} BUSY, ${!2} ABORTED COMMAND, the last ${!3} s after the stop}
        [ $((${!1} + ${!2})) -ge 1 ] ||
            failed+="restart $i: no command saw the server down; "
    done
    [ "$PGR_BAD" = 0 ] || failed+="answers neither GOOD nor retryable:$PGR_BAD_TEXT; "
    [ "$PGR_SLOW" = 0 ] ||
        failed+="$PGR_SLOW commands answered after more than $PG_BOUND s (longest $PGR_MAX s); "
    acked=$(cat "$E2E_TMP"/acked-A "$E2E_TMP"/acked-B | grep -c '')
    missing=$(acked_missing "$PG_CONNINFO" A B)
    [ "$acked" -gt 0 ] && [ "$missing" = 0 ] ||
        failed+="$missing of the $acked commands acknowledged are not in the database; "
    echo "figures: $figures before the first stop: $PGR_BUSY0 BUSY, $PGR_ABORTED0 ABORTED COMMAND; longest answer $PGR_MAX s" \
        >>"$E2E_TMP/pg-load.log"
    failed+=$(pg_secret_leaks)
    if [ -z "$failed" ]; then
        result pg_restart PASS $start "PostgreSQL in host P stopped (immediate) and started $PG_RESTARTS times under $((2 * PG_LOAD_STREAMS)) streams of PR OUT through hosts A and B: ${figures}longest answer $PGR_MAX s (bound $PG_BOUND s); all $acked commands answered GOOD ($PGR_GOOD) are in the database's history"
    else
        result pg_restart FAIL $start "$failed"
    fi
}
