#!/bin/bash
# seeds.sh [DIR]: write fuzz_wire's seed corpus (default tests/fuzz/corpus).
#
# Each seed is a sequence of fuzz_wire records (control, length, bytes;
# a record gives at most the bytes the current frame still wants):
# control bits 0-1 count descriptors, bit 2 picks the nexus on a QEMU
# socket, bit 4 on the feature word's record makes the socket one where
# clients declare their initiator (see fuzz_wire.c).  The seeds are a QEMU
# session, declarations of each TransportID kind followed by PR commands,
# and the handshake's violations, so that mutations start from every
# branch of the negotiation.
set -euo pipefail

dir=${1:-$(dirname "$0")/corpus}
mkdir -p "$dir"

# rec CONTROL HEX: one record carrying the bytes HEX.
rec() {
    local hex=$2
    printf '%02x%02x%s' "$1" $((${#hex} / 2)) "$hex"
}

# The hex of a string, and of big-endian integers.
str() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
be16() { printf '%04x' "$1"; }
be32() { printf '%08x' "$1"; }
be64() { printf '%016x' "$1"; }

# iscsi NAME [ISID]: an iSCSI TransportID (SPC-4 7.6.4.6), device format,
# or port format with ",i,0x" and the ISID.
iscsi() {
    local text=$1 first=05
    if [ $# -gt 1 ]; then
        text="$1,i,0x$2"
        first=45
    fi
    local n=$((${#text} + 1))
    local add=$(((n + 3) / 4 * 4))
    [ $add -ge 20 ] || add=20
    local hex
    hex=$(str "$text")
    while [ $((${#hex} / 2)) -lt $add ]; do
        hex+=00
    done
    printf '%s00%s%s' "$first" "$(be16 $add)" "$hex"
}
fcp() { printf '00%s%s%s' "$(printf '0%.0s' {1..14})" "$1" "$(printf '0%.0s' {1..16})"; }
sas() { printf '06000000%s%s' "$1" "$(printf '0%.0s' {1..24})"; }

# PR IN: service action, allocation length.  PR OUT: service action,
# type, parameter list length.  Padded to the 16-byte CDB.
prin() { printf '5e%02x0000000000%s00000000000000' "$1" "$(be16 "$2")"; }
prout() { printf '5f%02x%02x0000%s00000000000000' "$1" "$2" "$(be32 "$3")"; }

# The basic parameter list: RK, SARK, flags byte 20.
basic() { printf '%s%s00000000%02x000000' "$(be64 "$1")" "$(be64 "$2")" "$3"; }

# request CONTROL CDB [DATA]: the records of one request, the CDB with
# CONTROL's descriptors, the data (PR OUT) without any.
request() {
    rec "$1" "$2"
    if [ $# -gt 2 ]; then
        rec $(($1 & ~3)) "$3"
    fi
}

# A connection's feature word; CONTROL 16 for a client-declared socket.
features() { rec "$1" "$(be32 "$2")"; }

# declare TID: feature bit 0 on a client-declared socket, then the
# 2-byte length and the TransportID.  A record holds at most what the
# current frame wants, so the length and the TransportID are two.
declare_tid() {
    features 16 1
    rec 0 "$(be16 $((${#1} / 2)))"
    rec 0 "$1"
}

# seed NAME RECORDS-HEX
seed() { printf '%b' "$(sed 's/../\\x&/g' <<<"$2")" >"$dir/$1"; }

ka=aaaa000000000001
kb=bbbb000000000002

seed qemu-session "$(features 0 0)\
$(request 1 "$(prin 0 8192)")\
$(request 1 "$(prout 6 0 24)" "$(basic 0 0x$ka 1)")\
$(request 5 "$(prout 6 0 24)" "$(basic 0 0x$kb 0)")\
$(request 1 "$(prout 1 5 24)" "$(basic 0x$ka 0 0)")\
$(request 5 "$(prout 5 5 24)" "$(basic 0x$kb 0x$ka 0)")\
$(request 1 "$(prin 3 8192)")\
$(request 1 "$(prin 1 24)")"

seed declare-iscsi "$(declare_tid "$(iscsi iqn.2026-11.org.softpr:fuzz)")\
$(request 1 "$(prout 0 0 24)" "$(basic 0 0x$ka 4)")\
$(request 1 "$(prout 1 1 24)" "$(basic 0x$ka 0 0)")\
$(request 1 "$(prin 3 8192)")"

seed declare-iscsi-port "$(declare_tid \
    "$(iscsi iqn.2026-11.org.softpr:fuzz 23d000000001)")\
$(request 1 "$(prout 6 0 24)" "$(basic 0 0x$kb 1)")\
$(request 1 "$(prin 0 8192)")"

seed declare-fcp "$(declare_tid "$(fcp 2100001b32a1b2c3)")\
$(request 1 "$(prout 6 0 24)" "$(basic 0 0x$ka 0)")\
$(request 1 "$(prin 3 8192)")"

seed declare-sas "$(declare_tid "$(sas 5000c50012345678)")\
$(request 1 "$(prout 6 0 24)" "$(basic 0 0x$kb 0)")\
$(request 1 "$(prin 3 8192)")"

# REGISTER with SPEC_I_PT and ALL_TG_PT listing two initiators, then
# REGISTER AND MOVE to one of them through the other target port.
tids="$(iscsi iqn.2026-11.org.softpr:listed)$(sas 5000c50012345679)"
move_tid=$(iscsi iqn.2026-11.org.softpr:listed)
seed spec-i-pt-and-move "$(features 0 0)\
$(request 1 "$(prout 0 0 $((28 + ${#tids} / 2)))" \
    "$(basic 0 0x$ka 12)$(be32 $((${#tids} / 2)))$tids")\
$(request 1 "$(prout 1 3 24)" "$(basic 0x$ka 0 0)")\
$(request 1 "$(prout 7 0 $((24 + ${#move_tid} / 2)))" \
    "$(be64 0x$ka)$(be64 0x$kb)0000$(be16 2)$(be32 $((${#move_tid} / 2)))$move_tid")\
$(request 1 "$(prin 3 8192)")"

# The handshake's violations, each followed by a connection that works:
# a feature the socket does not offer, a client-declared socket without
# bit 0, a declared length out of bounds, a TransportID that does not
# decode whole.
seed handshake-violations "$(features 0 1)\
$(features 16 0)\
$(features 16 1)$(rec 0 "$(be16 8)")\
$(features 16 1)$(rec 0 "$(be16 28)")\
$(rec 0 "$(iscsi iqn.2026-11.org.softpr:x | cut -c1-56)")\
$(declare_tid "$(iscsi iqn.2026-11.org.softpr:after)")\
$(request 1 "$(prin 0 64)")"
