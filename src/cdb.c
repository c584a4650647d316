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

size_t cdb_prout_basic(uint8_t *out, uint64_t rk, uint64_t sark, uint8_t flags,
                       const TransportId *tids, size_t n_tids)
{
    size_t len = 24;
    size_t i;

    memset(out, 0, 24);
    put_be64(out, rk);
    put_be64(out + 8, sark);
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

size_t cdb_prout_move(uint8_t *out, uint64_t rk, uint64_t sark, bool unreg,
                      bool aptpl, uint16_t rtpi, const TransportId *tid)
{
    size_t tid_len;

    memset(out, 0, 24);
    put_be64(out, rk);
    put_be64(out + 8, sark);
    out[17] = (uint8_t)((unreg ? 0x02 : 0) | (aptpl ? 0x01 : 0));
    put_be16(out + 18, rtpi);
    tid_len = tid_encode(tid, out + 24);
    put_be32(out + 20, (uint32_t)tid_len);
    return 24 + tid_len;
}
