/*
 * preload_scsi: the SCSI disk libsoftpr-preload.so emulates, and the sg
 * v3 header around it.
 */
#include "preload_scsi.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "bytes.h"
#include "cdb.h"
#include "inquiry.h"
#include "scsi.h"

#define READ_CAPACITY_10_LEN 8
#define READ_CAPACITY_16_LEN 32
#define SG_MAX_CDB 16

int preload_sgio_check(const sg_io_hdr_t *h)
{
    if (h->interface_id != 'S') {
        return EINVAL;
    }
    if (h->cmd_len == 0 || h->cmd_len > SG_MAX_CDB) {
        return EINVAL;
    }
    if (h->cmdp == NULL) {
        return EFAULT;
    }
    if (h->dxfer_len == 0) {
        return 0;
    }
    switch (h->dxfer_direction) {
    case SG_DXFER_NONE:
    case SG_DXFER_TO_DEV:
    case SG_DXFER_FROM_DEV:
    case SG_DXFER_TO_FROM_DEV:
        break;
    default:
        return EINVAL;
    }
    if (h->dxfer_direction != SG_DXFER_NONE && h->dxferp == NULL) {
        return EFAULT;
    }
    return 0;
}

void preload_answer_check(PreloadAnswer *a, uint8_t key, uint8_t asc,
                          uint8_t ascq)
{
    memset(a->sense, 0, sizeof(a->sense));
    scsi_sense_build(a->sense, SCSI_SENSE(key, asc, ascq));
    a->status = SCSI_STATUS_CHECK_CONDITION;
    a->sense_len = SCSI_SENSE_FIXED_LEN;
    a->data_len = 0;
}

/* INVALID FIELD IN CDB pointing at @byte (and @bit, or -1). */
static void invalid_field(PreloadAnswer *a, uint16_t byte, int bit)
{
    preload_answer_check(a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    scsi_sense_set_field(a->sense, true, byte, bit);
}

static void answer_data(PreloadAnswer *a, const uint8_t *data, size_t len,
                        size_t alloc)
{
    a->status = SCSI_STATUS_GOOD;
    a->sense_len = 0;
    a->data_len = MIN(len, alloc);
    memcpy(a->data, data, a->data_len);
}

/* INQUIRY (SPC-4 6.6). */
static void inquiry(const PreloadLu *lu, const uint8_t *cdb, PreloadAnswer *a)
{
    uint8_t page[MAX(VPD_PAGE_MAX, INQUIRY_STANDARD_LEN)];
    size_t alloc = get_be16(cdb + 3);
    size_t len;

    if (cdb[1] & 0x02) { /* CMDDT, obsolete: SPC-4 requires it zero */
        invalid_field(a, 1, 1);
        return;
    }
    if (!(cdb[1] & 0x01)) {
        if (cdb[2] != 0) { /* PAGE CODE without EVPD */
            invalid_field(a, 2, -1);
            return;
        }
        inquiry_standard(page);
        answer_data(a, page, INQUIRY_STANDARD_LEN, alloc);
        return;
    }
    len = vpd_page(cdb[2], lu->name, page);
    if (len == 0) {
        invalid_field(a, 2, -1);
        return;
    }
    answer_data(a, page, len, alloc);
}

/* The last LBA, or 0 for a medium smaller than one block. */
static uint64_t last_lba(const PreloadLu *lu)
{
    uint64_t blocks = lu->size / lu->block_size;

    return blocks > 0 ? blocks - 1 : 0;
}

/* READ CAPACITY (10) (SBC-3 5.15). */
static void read_capacity_10(const PreloadLu *lu, const uint8_t *cdb,
                             PreloadAnswer *a)
{
    uint8_t data[READ_CAPACITY_10_LEN];
    uint64_t lba = last_lba(lu);

    /* PMI zero with a LOGICAL BLOCK ADDRESS is an error (SBC-3). */
    if (!(cdb[8] & 0x01) && get_be32(cdb + 2) != 0) {
        invalid_field(a, 2, -1);
        return;
    }
    /* Past 32 bits: FFFFFFFFh sends the client to READ CAPACITY (16). */
    put_be32(data, lba > 0xffffffffu ? 0xffffffffu : (uint32_t)lba);
    put_be32(data + 4, lu->block_size);
    answer_data(a, data, sizeof(data), sizeof(data));
}

/* READ CAPACITY (16) (SBC-3 5.16). */
static void read_capacity_16(const PreloadLu *lu, const uint8_t *cdb,
                             PreloadAnswer *a)
{
    uint8_t data[READ_CAPACITY_16_LEN] = {0};

    if (!(cdb[14] & 0x01) && get_be64(cdb + 2) != 0) {
        invalid_field(a, 2, -1);
        return;
    }
    put_be64(data, last_lba(lu));
    put_be32(data + 8, lu->block_size);
    answer_data(a, data, sizeof(data), get_be32(cdb + 10));
}

void preload_scsi_answer(const PreloadLu *lu, const uint8_t *cdb,
                         PreloadAnswer *a)
{
    memset(a, 0, offsetof(PreloadAnswer, data));
    switch (cdb[0]) {
    case SCSI_OP_TEST_UNIT_READY:
        a->status = SCSI_STATUS_GOOD;
        return;
    case SCSI_OP_INQUIRY:
        inquiry(lu, cdb, a);
        return;
    case SCSI_OP_READ_CAPACITY_10:
        read_capacity_10(lu, cdb, a);
        return;
    case SCSI_OP_SERVICE_ACTION_IN_16:
        if (cdb_service_action(cdb) == SCSI_SA_READ_CAPACITY_16) {
            read_capacity_16(lu, cdb, a);
        } else {
            invalid_field(a, 1, 4);
        }
        return;
    default:
        preload_answer_check(a, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
        return;
    }
}

bool preload_pr_frame(const uint8_t *cdb, int direction, unsigned dxfer_len,
                      uint8_t *wire_cdb, size_t *param_len, PreloadAnswer *a)
{
    bool pr_in = cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    size_t len = get_be16(cdb + 7);

    memset(a, 0, offsetof(PreloadAnswer, data));
    memcpy(wire_cdb, cdb, WIRE_CDB_LEN);
    *param_len = 0;
    if (len > 0 &&
        (direction != (pr_in ? SG_DXFER_FROM_DEV : SG_DXFER_TO_DEV) ||
         (!pr_in && dxfer_len < len) || (!pr_in && len > WIRE_DATA_MAX))) {
        invalid_field(a, 7, -1);
        return false;
    }
    if (pr_in && len > WIRE_DATA_MAX) {
        put_be16(wire_cdb + 7, WIRE_DATA_MAX);
    }
    if (!pr_in) {
        *param_len = len;
    }
    return true;
}

size_t preload_sgio_transfer(sg_io_hdr_t *h, uint8_t *buf, size_t len,
                             bool to_header)
{
    size_t limit = MIN(len, (size_t)h->dxfer_len);
    size_t done = 0;

    if (h->dxferp == NULL || limit == 0) {
        return 0;
    }
    if (h->iovec_count == 0) {
        if (to_header) {
            memcpy(h->dxferp, buf, limit);
        } else {
            memcpy(buf, h->dxferp, limit);
        }
        return limit;
    }
    for (unsigned i = 0; i < h->iovec_count && done < limit; i++) {
        const sg_iovec_t *v = &((const sg_iovec_t *)h->dxferp)[i];
        size_t n = MIN(v->iov_len, limit - done);

        if (to_header) {
            memcpy(v->iov_base, buf + done, n);
        } else {
            memcpy(buf + done, v->iov_base, n);
        }
        done += n;
    }
    return done;
}

void preload_sgio_complete(sg_io_hdr_t *h, const PreloadAnswer *a,
                           size_t consumed)
{
    size_t moved = 0;

    h->status = a->status;
    h->masked_status = (a->status >> 1) & 0x7f;
    h->msg_status = 0;
    h->host_status = 0;
    h->driver_status = 0;
    h->sb_len_wr = 0;
    if (a->status == SCSI_STATUS_CHECK_CONDITION) {
        size_t n = MIN((size_t)h->mx_sb_len, a->sense_len);

        h->driver_status = 0x08; /* DRIVER_SENSE */
        if (h->sbp != NULL && n > 0) {
            memcpy(h->sbp, a->sense, n);
            h->sb_len_wr = (unsigned char)n;
        }
    }
    if (h->dxfer_direction == SG_DXFER_FROM_DEV ||
        h->dxfer_direction == SG_DXFER_TO_FROM_DEV) {
        moved = preload_sgio_transfer(h, (uint8_t *)a->data, a->data_len, true);
    } else if (h->dxfer_direction == SG_DXFER_TO_DEV) {
        moved = MIN(consumed, (size_t)h->dxfer_len);
    }
    h->resid = h->dxfer_direction == SG_DXFER_NONE
                   ? 0
                   : (int)((size_t)h->dxfer_len - moved);
    h->info = (h->masked_status != 0 || h->driver_status != 0) ? SG_INFO_CHECK
                                                               : SG_INFO_OK;
}
