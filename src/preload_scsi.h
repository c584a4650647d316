/*
 * preload_scsi: what libsoftpr-preload.so answers to an SG_IO request on
 * a regular file or loop device, as a pure function of the CDB, the sg
 * v3 header and what is known of the logical unit; and how a reply
 * completes the header, as the kernel's SG_IO on a SCSI disk does.
 *
 * Served here: TEST UNIT READY (GOOD), INQUIRY (standard data and VPD
 * pages 00h, 80h, 83h), READ CAPACITY (10) and (16).  PERSISTENT RESERVE
 * IN/OUT are framed here for softprd, exactly as QEMU's pr-manager-helper
 * frames them, and answered by it.  Anything else is CHECK CONDITION,
 * ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (SPC-4 4.5.6).
 */
#ifndef SOFTPR_PRELOAD_SCSI_H
#define SOFTPR_PRELOAD_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <scsi/sg.h>

#include "vpd.h"
#include "wire.h"

/* The version a SCSI disk's SG_GET_VERSION_NUM reports (block layer). */
#define PRELOAD_SG_VERSION 30527

/* As the kernel's SG_IO does when the header's timeout is 0. */
#define PRELOAD_DEFAULT_TIMEOUT_MS 60000

#define SCSI_OP_TEST_UNIT_READY 0x00
#define SCSI_OP_INQUIRY 0x12
#define SCSI_OP_READ_CAPACITY_10 0x25
#define SCSI_OP_SERVICE_ACTION_IN_16 0x9e
#define SCSI_SA_READ_CAPACITY_16 0x10

/* What the emulation knows of the logical unit. */
typedef struct PreloadLu {
    const char *name;    /* the LU name softprd uses (VPD pages) */
    uint64_t size;       /* bytes */
    uint32_t block_size; /* logical block length in bytes */
} PreloadLu;

/* A command's outcome, before it is written into the header. */
typedef struct PreloadAnswer {
    uint8_t status;
    size_t sense_len;
    uint8_t sense[WIRE_SENSE_LEN];
    size_t data_len;
    uint8_t data[WIRE_DATA_MAX];
} PreloadAnswer;

/*
 * Check an sg v3 header as the kernel checks one before running it.
 * Returns 0, or the errno ioctl() fails with: EINVAL for an interface
 * other than 'S', a CDB length of 0 or above 16, or an unknown data
 * direction with data; EFAULT for a missing CDB or data buffer.
 */
int preload_sgio_check(const sg_io_hdr_t *h);

/*
 * Answer @cdb (16 bytes, zero past the command's own length) for @lu,
 * any command but PERSISTENT RESERVE IN/OUT.  Data is cut to the
 * command's allocation length.
 */
void preload_scsi_answer(const PreloadLu *lu, const uint8_t *cdb,
                         PreloadAnswer *a);

/* CHECK CONDITION with fixed-format sense @key/@asc/@ascq. */
void preload_answer_check(PreloadAnswer *a, uint8_t key, uint8_t asc,
                          uint8_t ascq);

/*
 * Frame PERSISTENT RESERVE IN/OUT @cdb for softprd into @wire_cdb and
 * set *@param_len to the PR OUT parameter bytes to send (be16 of CDB
 * bytes 7-8, as the protocol frames them).  A PR IN allocation length
 * above the protocol's WIRE_DATA_MAX is sent as WIRE_DATA_MAX: softprd
 * never answers more.  Returns false, with @a answered CHECK CONDITION,
 * ILLEGAL REQUEST, INVALID FIELD IN CDB, when QEMU's client would not
 * send it either: a transfer the header's direction or length cannot
 * carry, a PR OUT parameter list above WIRE_DATA_MAX.
 */
bool preload_pr_frame(const uint8_t *cdb, int direction, unsigned dxfer_len,
                      uint8_t *wire_cdb, size_t *param_len, PreloadAnswer *a);

/*
 * Copy between the header's data buffer (flat, or an sg_iovec array
 * with iovec_count) and @buf.  @to_header: from @buf to the header.
 * Returns the bytes copied: at most @len and dxfer_len.
 */
size_t preload_sgio_transfer(sg_io_hdr_t *h, uint8_t *buf, size_t len,
                             bool to_header);

/*
 * Complete @h with @a as the kernel completes SG_IO on a SCSI disk:
 * status, masked status, DRIVER_SENSE and the sense (at most mx_sb_len
 * bytes) on CHECK CONDITION, the data for a transfer from the device,
 * the residual count (dxfer_len less what was moved; @consumed bytes for
 * a transfer to the device), and SG_INFO_CHECK when anything is not OK.
 */
void preload_sgio_complete(sg_io_hdr_t *h, const PreloadAnswer *a,
                           size_t consumed);

#endif /* SOFTPR_PRELOAD_SCSI_H */
