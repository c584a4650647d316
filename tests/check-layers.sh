#!/bin/sh
# check-layers: the layering rules of docs/architecture.md, enforced on
# the sources in src/ and tools/ (tests may cross layers on purpose).
#
#   - only the store speaks SQL: sqlite3/libpq symbols and SQL statements
#     appear in src/store*.c and the store's private headers
#     (src/store_*.h) alone, never in its interface, src/store.h;
#   - only the transport touches sockets: socket calls appear only in the
#     modules listed in SOCKET_MODULES below;
#   - the engine is pure: src/engine*.[ch] do no I/O (files, descriptors,
#     stdio, ioctl, GIO, sockets, time of day, SQL).
#
# Comments are blanked before matching (tests/c-strip.awk), so a comment
# may name a call ("a blocking accept() would stall") without tripping the
# check; so are string literals, except for the SQL rule.  Exits 1
# and names file:line for every violation.
#
# Usage: tests/check-layers.sh [SRCDIR]   (SRCDIR: the tree root, default .)

set -u
strip=$(cd "$(dirname "$0")" && pwd)/c-strip.awk
top=${1:-.}
cd "$top" || exit 2

# The modules allowed to make socket calls, each with the reason:
#   src/server*.c  the daemon's transport: listening socket, accept,
#                  recvmsg with SCM_RIGHTS, send, peer credentials;
#   src/client.c   the client side of QEMU's pr-manager-helper protocol,
#                  used by softpr persist and the LD_PRELOAD library;
#   src/systemd.c  sd_notify(3): one datagram to $NOTIFY_SOCKET;
#   src/store_pg.c the PostgreSQL backend's own libpq connection, which
#                  its fault injection for tests cuts with shutdown(2).
# (src/preload*.c talk to softprd only through src/client.c; sockfile.c
# removes socket files by path and makes no socket call.)
SOCKET_MODULES='src/server*.c src/client.c src/systemd.c src/store_pg.c'

SQL_RE='\<sqlite3(_[a-z_]+)?\>|sqlite3\.h|libpq-fe\.h|\<PG(conn|result)\>|\<PQ[a-z][A-Za-z]*[[:space:]]*\(|"[[:space:]]*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|WITH)[[:space:]]'
SOCKET_RE='\<(socket|socketpair|accept4?|connect|bind|listen|send|sendto|sendmsg|recv|recvfrom|recvmsg|getsockopt|setsockopt|shutdown)[[:space:]]*\(|\<g_socket_|\<GSocket'
IO_RE='\<(open|openat|creat|read|pread|write|pwrite|readv|writev|close|ioctl|fsync|fdatasync|lseek|stat|fstat|unlink|mmap)[[:space:]]*\(|\<(fopen|fdopen|fclose|fread|fwrite|fgets|fputs|fprintf|printf|puts|putchar|getline|perror)[[:space:]]*\(|\<g_(file|io_channel|print|printerr|fprintf|mkdir|unlink|remove|rename|open|fopen|get_real_time|get_monotonic_time|date_time_new_now)[a-z_]*[[:space:]]*\(|\<(time|gettimeofday|clock_gettime|localtime|gmtime|nanosleep|usleep|sleep)[[:space:]]*\(|#[[:space:]]*include[[:space:]]*<(stdio|unistd|fcntl|time|poll|sys/(socket|ioctl|time|stat|uio|mman)|gio/gio|scsi/sg)\.h>'

# Print FILE:LINE:TEXT for the lines of FILE matching the extended regular
# expression RE once comments are blanked; string literals are blanked
# too unless KEEP is "strings" (an SQL statement is a string, while a
# help text may say "socket (default: ...)").
scan() {
    awk -v keep="${3:-}" -f "$strip" "$1" | grep -E "^[^:]*:[0-9]+:.*($2)"
}

in_list() {
    f=$1; shift
    for pat in "$@"; do
        # shellcheck disable=SC2254
        case $f in $pat) return 0 ;; esac
    done
    return 1
}

found=$(mktemp) || exit 2
trap 'rm -f "$found"' EXIT
report() {
    # $1: rule; stdin: the offending lines
    while IFS= read -r line; do
        printf 'check-layers: %s: %s\n' "$1" "$line"
    done >>"$found"
}

for f in src/*.c src/*.h tools/*.c tools/*.h; do
    [ -f "$f" ] || continue
    case $f in
    src/store*.c|src/store_*.h) ;; # store.h, its public face, has no SQL
    *) scan "$f" "$SQL_RE" strings | report "SQL outside the store" ;;
    esac
    # shellcheck disable=SC2086
    if ! in_list "$f" $SOCKET_MODULES; then
        scan "$f" "$SOCKET_RE" | report "socket call outside the transport"
    fi
    case $f in
    src/engine*.c|src/engine*.h)
        scan "$f" "$IO_RE" | report "I/O in the engine" ;;
    esac
done

if [ -s "$found" ]; then
    cat "$found" >&2
    echo "check-layers: FAILED (docs/architecture.md, \"Rules that keep the layers apart\")" >&2
    exit 1
fi
echo "check-layers: ok"
