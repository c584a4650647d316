/*
 * cdb: PERSISTENT RESERVE IN/OUT command and parameter list builders.
 */
#include "cdb.h"

#include <string.h>

#include "bytes.h"
#include "scsi.h"

void cdb_pr_in(uint8_t *cdb, uint8_t service_action, uint16_t alloc)
{
    memset(cdb, 0, CDB_LEN);
    cdb[0] = SCSI_OP_PERSISTENT_RESERVE_IN;
    cdb[1] = service_action & CDB_SERVICE_ACTION_MASK;
    put_be16(cdb + CDB_OFF_ALLOC_LEN, alloc);
}

void cdb_pr_out(uint8_t *cdb, uint8_t service_action, uint8_t scope,
                uint8_t type, uint32_t param_len)
{
    memset(cdb, 0, CDB_LEN);
    cdb[0] = SCSI_OP_PERSISTENT_RESERVE_OUT;
    cdb[1] = service_action & CDB_SERVICE_ACTION_MASK;
    cdb[2] = (uint8_t)((scope << 4) | (type & 0x0f));
    put_be32(cdb + CDB_OFF_PARAM_LEN, param_len);
}

/* The 24 bytes every PR OUT parameter list starts with (SPC-4 6.14.3,
 * 6.14.4): both keys, everything else zero. */
static void prout_keys(uint8_t *out, uint64_t rk, uint64_t sark)
{
    memset(out, 0, PROUT_BASIC_LEN);
    put_be64(out + PROUT_OFF_RK, rk);
    put_be64(out + PROUT_OFF_SARK, sark);
}

size_t cdb_prout_basic(uint8_t *out, uint64_t rk, uint64_t sark, uint8_t flags,
                       const TransportId *tids, size_t n_tids)
{
    size_t len = PROUT_BASIC_LEN;
    size_t i;

    prout_keys(out, rk, sark);
    out[PROUT_OFF_FLAGS] = flags;
    if (!(flags & PROUT_SPEC_I_PT)) {
        return len;
    }
    len = PROUT_OFF_TIDS;
    for (i = 0; i < n_tids; i++) {
        if (len + tid_encoded_len(&tids[i]) > WIRE_DATA_MAX) {
            return 0;
        }
        len += tid_encode(&tids[i], out + len);
    }
    put_be32(out + PROUT_OFF_TPDL, (uint32_t)(len - PROUT_OFF_TIDS));
    return len;
}

size_t cdb_prout_basic_raw(uint8_t *out, uint64_t rk, uint64_t sark,
                           uint8_t flags, const uint8_t *tids, size_t tids_len)
{
    prout_keys(out, rk, sark);
    out[PROUT_OFF_FLAGS] = flags;
    if (!(flags & PROUT_SPEC_I_PT)) {
        return PROUT_BASIC_LEN;
    }
    if (tids_len > WIRE_DATA_MAX - PROUT_OFF_TIDS) {
        return 0;
    }
    put_be32(out + PROUT_OFF_TPDL, (uint32_t)tids_len);
    if (tids_len > 0) {
        memcpy(out + PROUT_OFF_TIDS, tids, tids_len);
    }
    return PROUT_OFF_TIDS + tids_len;
}

/* The REGISTER AND MOVE fields before the TransportID (SPC-4 6.14.4). */
static void prout_move_header(uint8_t *out, uint64_t rk, uint64_t sark,
                              bool unreg, bool aptpl, uint16_t rtpi,
                              size_t tid_len)
{
    prout_keys(out, rk, sark);
    out[PROUT_MOVE_OFF_FLAGS] = (uint8_t)((unreg ? PROUT_MOVE_UNREG : 0) |
                                          (aptpl ? PROUT_MOVE_APTPL : 0));
    put_be16(out + PROUT_MOVE_OFF_RTPI, rtpi);
    put_be32(out + PROUT_MOVE_OFF_TPDL, (uint32_t)tid_len);
}

size_t cdb_prout_move(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                      bool aptpl, uint16_t rtpi, const TransportId *tid)
{
    size_t tid_len = tid_encode(tid, out + PROUT_MOVE_OFF_TID);

    prout_move_header(out, rk, sark, unreg, aptpl, rtpi, tid_len);
    return PROUT_MOVE_OFF_TID + tid_len;
}

size_t cdb_prout_move_raw(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                          bool aptpl, uint16_t rtpi, const uint8_t *tid,
                          size_t tid_len)
{
    if (tid_len > WIRE_DATA_MAX - PROUT_MOVE_OFF_TID) {
        return 0;
    }
    prout_move_header(out, rk, sark, unreg, aptpl, rtpi, tid_len);
    if (tid_len > 0) {
        memcpy(out + PROUT_MOVE_OFF_TID, tid, tid_len);
    }
    return PROUT_MOVE_OFF_TID + tid_len;
}
