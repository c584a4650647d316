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
    cdb[1] = service_action & 0x1f;
    put_be16(cdb + 7, alloc);
}

void cdb_pr_out(uint8_t *cdb, uint8_t service_action, uint8_t scope,
                uint8_t type, uint32_t param_len)
{
    memset(cdb, 0, CDB_LEN);
    cdb[0] = SCSI_OP_PERSISTENT_RESERVE_OUT;
    cdb[1] = service_action & 0x1f;
    cdb[2] = (uint8_t)((scope << 4) | (type & 0x0f));
    put_be32(cdb + 5, param_len);
}

/* The 24 bytes every PR OUT parameter list starts with (SPC-4 6.14.3,
 * 6.14.4): both keys, everything else zero. */
static void prout_keys(uint8_t *out, uint64_t rk, uint64_t sark)
{
    memset(out, 0, 24);
    put_be64(out, rk);
    put_be64(out + 8, sark);
}

size_t cdb_prout_basic(uint8_t *out, uint64_t rk, uint64_t sark, uint8_t flags,
                       const TransportId *tids, size_t n_tids)
{
    size_t len = 24;
    size_t i;

    prout_keys(out, rk, sark);
    out[20] = flags;
    if (!(flags & PROUT_SPEC_I_PT)) {
        return len;
    }
    len = 28;
    for (i = 0; i < n_tids; i++) {
        if (len + tid_encoded_len(&tids[i]) > PROUT_PARAM_MAX) {
            return 0;
        }
        len += tid_encode(&tids[i], out + len);
    }
    put_be32(out + 24, (uint32_t)(len - 28));
    return len;
}

size_t cdb_prout_basic_raw(uint8_t *out, uint64_t rk, uint64_t sark,
                           uint8_t flags, const uint8_t *tids, size_t tids_len)
{
    prout_keys(out, rk, sark);
    out[20] = flags;
    if (!(flags & PROUT_SPEC_I_PT)) {
        return 24;
    }
    if (tids_len > PROUT_PARAM_MAX - 28) {
        return 0;
    }
    put_be32(out + 24, (uint32_t)tids_len);
    if (tids_len > 0) {
        memcpy(out + 28, tids, tids_len);
    }
    return 28 + tids_len;
}

/* The REGISTER AND MOVE fields before the TransportID (SPC-4 6.14.4). */
static void prout_move_header(uint8_t *out, uint64_t rk, uint64_t sark,
                              bool unreg, bool aptpl, uint16_t rtpi,
                              size_t tid_len)
{
    prout_keys(out, rk, sark);
    out[17] = (uint8_t)((unreg ? 0x02 : 0) | (aptpl ? 0x01 : 0));
    put_be16(out + 18, rtpi);
    put_be32(out + 20, (uint32_t)tid_len);
}

size_t cdb_prout_move(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                      bool aptpl, uint16_t rtpi, const TransportId *tid)
{
    size_t tid_len = tid_encode(tid, out + 24);

    prout_move_header(out, rk, sark, unreg, aptpl, rtpi, tid_len);
    return 24 + tid_len;
}

size_t cdb_prout_move_raw(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                          bool aptpl, uint16_t rtpi, const uint8_t *tid,
                          size_t tid_len)
{
    if (tid_len > PROUT_PARAM_MAX - 24) {
        return 0;
    }
    prout_move_header(out, rk, sark, unreg, aptpl, rtpi, tid_len);
    if (tid_len > 0) {
        memcpy(out + 24, tid, tid_len);
    }
    return 24 + tid_len;
}
