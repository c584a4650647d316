/*
 * passthrough: PR commands forwarded with SG_IO.
 */
#include "passthrough.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include <scsi/sg.h>

#include "bytes.h"
#include "scsi.h"

/* Linux host byte values (include/scsi/scsi_status.h). */
enum {
    HOST_OK = 0x00,
    HOST_NO_CONNECT = 0x01,
    HOST_BUS_BUSY = 0x02,
    HOST_TIME_OUT = 0x03,
    HOST_BAD_TARGET = 0x04,
    HOST_ABORT = 0x05,
    HOST_RESET = 0x08,
    HOST_SOFT_ERROR = 0x0b,
    HOST_IMM_RETRY = 0x0c,
    HOST_REQUEUE = 0x0d,
    HOST_TRANSPORT_DISRUPTED = 0x0e,
    HOST_TARGET_FAILURE = 0x10,
    HOST_NEXUS_FAILURE = 0x11, /* reservation conflict */
    HOST_ALLOC_FAILURE = 0x12,
    HOST_MEDIUM_ERROR = 0x13,
};

/* Linux driver byte values (low nibble). */
enum {
    DRIVER_OK = 0x00,
    DRIVER_BUSY = 0x01,
    DRIVER_SOFT = 0x02,
    DRIVER_TIMEOUT = 0x06,
    DRIVER_SENSE = 0x08,
};

#define SENSE_COMMAND_TIMEOUT SCSI_SENSE(0xb, 0x2e, 0x02)
#define SENSE_LU_COMM_FAILURE SCSI_SENSE(0xb, 0x08, 0x00)
#define SENSE_LU_NOT_RESPONDING SCSI_SENSE(0xb, 0x05, 0x00)
#define SENSE_COMMANDS_ABORTED SCSI_SENSE(0xb, 0x2f, 0x02)
#define SENSE_RESET SCSI_SENSE(0x6, 0x29, 0x00)
#define SENSE_NEXUS_LOSS SCSI_SENSE(0xb, 0x29, 0x07)
#define SENSE_TARGET_FAILURE SCSI_SENSE(0x4, 0x44, 0x00)
#define SENSE_SPACE_ALLOC_FAILED SCSI_SENSE(0x7, 0x27, 0x07)
#define SENSE_READ_ERROR SCSI_SENSE(0x3, 0x11, 0x00)
#define SENSE_NO_MEDIUM SCSI_SENSE(0x2, 0x3a, 0x00)

/* The ioctl failed: the same answers qemu-pr-helper gives per errno. */
static void answer_errno(PrResult *result, int error)
{
    switch (error) {
    case EDOM:
        pr_result_status(result, SCSI_STATUS_TASK_SET_FULL);
        break;
    case EBADE:
        pr_result_status(result, SCSI_STATUS_RESERVATION_CONFLICT);
        break;
    case ENOMEDIUM:
        pr_result_sense(result, SENSE_NO_MEDIUM);
        break;
    case ENOMEM:
    case EREMOTEIO:
    case ENODEV:
        pr_result_sense(result, SENSE_TARGET_FAILURE);
        break;
    case EINVAL:
        pr_result_sense(result, SENSE_INVALID_FIELD_IN_CDB);
        break;
    case ENOSPC:
        pr_result_sense(result, SENSE_SPACE_ALLOC_FAILED);
        break;
    case ENODATA:
        pr_result_sense(result, SENSE_READ_ERROR);
        break;
    default:
        /* ENOTTY (not a SCSI device), EPERM, EIO, ... */
        pr_result_sense(result, SENSE_IO_PROCESS_TERMINATED);
        break;
    }
}

/* The host adapter failed the command: always an error. */
static void answer_host(PrResult *result, uint16_t host_status)
{
    switch (host_status) {
    case HOST_BUS_BUSY:
    case HOST_SOFT_ERROR:
    case HOST_IMM_RETRY:
    case HOST_REQUEUE:
        pr_result_status(result, SCSI_STATUS_BUSY);
        break;
    case HOST_NEXUS_FAILURE:
        pr_result_status(result, SCSI_STATUS_RESERVATION_CONFLICT);
        break;
    case HOST_NO_CONNECT:
    case HOST_BAD_TARGET:
        pr_result_sense(result, SENSE_LU_NOT_RESPONDING);
        break;
    case HOST_TIME_OUT:
        pr_result_sense(result, SENSE_COMMAND_TIMEOUT);
        break;
    case HOST_ABORT:
        pr_result_sense(result, SENSE_COMMANDS_ABORTED);
        break;
    case HOST_RESET:
        pr_result_sense(result, SENSE_RESET);
        break;
    case HOST_TRANSPORT_DISRUPTED:
        pr_result_sense(result, SENSE_NEXUS_LOSS);
        break;
    case HOST_TARGET_FAILURE:
        pr_result_sense(result, SENSE_TARGET_FAILURE);
        break;
    case HOST_ALLOC_FAILURE:
        pr_result_sense(result, SENSE_SPACE_ALLOC_FAILED);
        break;
    case HOST_MEDIUM_ERROR:
        pr_result_sense(result, SENSE_READ_ERROR);
        break;
    default:
        /* qemu-pr-helper answers GOOD here; the command did not run. */
        pr_result_sense(result, SENSE_LU_COMM_FAILURE);
        break;
    }
}

void passthrough_reply(const uint8_t *cdb, const SgOutcome *sg,
                       PrResult *result)
{
    uint8_t driver = sg->driver_status & 0x0f;

    result->changed = false;
    result->ua_reported = false;
    if (sg->error != 0) {
        answer_errno(result, sg->error);
        return;
    }
    if (sg->host_status != HOST_OK) {
        answer_host(result, sg->host_status);
        return;
    }
    if (driver == DRIVER_TIMEOUT || driver == DRIVER_BUSY ||
        driver == DRIVER_SOFT) {
        pr_result_status(result, SCSI_STATUS_BUSY);
        return;
    }
    if (driver != DRIVER_OK && driver != DRIVER_SENSE) {
        pr_result_sense(result, SENSE_LU_COMM_FAILURE);
        return;
    }
    pr_result_status(result, sg->status);
    if (sg->status == SCSI_STATUS_CHECK_CONDITION) {
        memcpy(result->sense, sg->sense,
               MIN(sg->sense_len, sizeof(result->sense)));
        return;
    }
    if (sg->status == SCSI_STATUS_GOOD &&
        cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        result->data_len = MIN(sg->data_len, (size_t)get_be16(cdb + 7));
    }
}

void passthrough_execute(int fd, const CommandRequest *request,
                         unsigned timeout_ms, PrResult *result)
{
    bool pr_in = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    uint8_t sense[sizeof(result->sense)];
    struct sg_io_hdr hdr;
    SgOutcome sg;

    pr_result_status(result, SCSI_STATUS_GOOD);
    if (command_refuse_read_only(request, result)) {
        return;
    }
    memset(&hdr, 0, sizeof(hdr));
    memset(sense, 0, sizeof(sense));
    hdr.interface_id = 'S';
    hdr.cmdp = (unsigned char *)request->cdb;
    hdr.cmd_len = 16;
    hdr.sbp = sense;
    hdr.mx_sb_len = sizeof(sense);
    hdr.timeout = timeout_ms;
    if (pr_in) {
        hdr.dxfer_direction = SG_DXFER_FROM_DEV;
        hdr.dxferp = result->data;
        hdr.dxfer_len = get_be16(request->cdb + 7);
    } else {
        hdr.dxfer_direction = SG_DXFER_TO_DEV;
        hdr.dxferp = (void *)request->data;
        hdr.dxfer_len = (unsigned)request->data_len;
    }
    if (hdr.dxfer_len == 0) {
        hdr.dxfer_direction = SG_DXFER_NONE;
        hdr.dxferp = NULL;
    }
    memset(&sg, 0, sizeof(sg));
    if (ioctl(fd, SG_IO, &hdr) < 0) {
        sg.error = errno;
    } else {
        sg.status = hdr.status;
        sg.host_status = hdr.host_status;
        sg.driver_status = hdr.driver_status;
        sg.sense = sense;
        sg.sense_len = hdr.sb_len_wr;
        if (hdr.resid >= 0 && (unsigned)hdr.resid <= hdr.dxfer_len) {
            sg.data_len = hdr.dxfer_len - (unsigned)hdr.resid;
        }
    }
    passthrough_reply(request->cdb, &sg, result);
}
