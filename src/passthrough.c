/*
 * passthrough: PR commands forwarded with SG_IO.
 */
#include "passthrough.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "bytes.h"
#include "cdb.h"
#include "scsi.h"

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
    case SGIO_HOST_BUS_BUSY:
    case SGIO_HOST_SOFT_ERROR:
    case SGIO_HOST_IMM_RETRY:
    case SGIO_HOST_REQUEUE:
        pr_result_status(result, SCSI_STATUS_BUSY);
        break;
    case SGIO_HOST_NEXUS_FAILURE:
        pr_result_status(result, SCSI_STATUS_RESERVATION_CONFLICT);
        break;
    case SGIO_HOST_NO_CONNECT:
    case SGIO_HOST_BAD_TARGET:
        pr_result_sense(result, SENSE_LU_NOT_RESPONDING);
        break;
    case SGIO_HOST_TIME_OUT:
        pr_result_sense(result, SENSE_COMMAND_TIMEOUT);
        break;
    case SGIO_HOST_ABORT:
        pr_result_sense(result, SENSE_COMMANDS_ABORTED);
        break;
    case SGIO_HOST_RESET:
        pr_result_sense(result, SENSE_RESET);
        break;
    case SGIO_HOST_TRANSPORT_DISRUPTED:
        pr_result_sense(result, SENSE_NEXUS_LOSS);
        break;
    case SGIO_HOST_TARGET_FAILURE:
        pr_result_sense(result, SENSE_TARGET_FAILURE);
        break;
    case SGIO_HOST_ALLOC_FAILURE:
        pr_result_sense(result, SENSE_SPACE_ALLOC_FAILED);
        break;
    case SGIO_HOST_MEDIUM_ERROR:
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
    result->changed = false;
    result->ua_reported = false;
    switch (sgio_judge(sg)) {
    case SGIO_IOCTL_FAILED:
        answer_errno(result, sg->error);
        return;
    case SGIO_HOST_FAILED:
        answer_host(result, sg->host_status);
        return;
    case SGIO_DRIVER_RETRY:
        pr_result_status(result, SCSI_STATUS_BUSY);
        return;
    case SGIO_DRIVER_FAILED:
        pr_result_sense(result, SENSE_LU_COMM_FAILURE);
        return;
    case SGIO_ANSWERED:
        break;
    }
    pr_result_status(result, sg->status);
    if (sg->status == SCSI_STATUS_CHECK_CONDITION) {
        memcpy(result->sense, sg->sense,
               MIN(sg->sense_len, sizeof(result->sense)));
        return;
    }
    if (sg->status == SCSI_STATUS_GOOD &&
        cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        result->data_len =
            MIN(sg->data_len, (size_t)get_be16(cdb + CDB_OFF_ALLOC_LEN));
    }
}

void passthrough_execute(int fd, const CommandRequest *request,
                         unsigned timeout_ms, PrResult *result)
{
    bool pr_in = request->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN;
    uint8_t sense[sizeof(result->sense)];
    SgioRequest req = {
        .cdb = request->cdb,
        .cdb_len = CDB_LEN,
        .sense = sense,
        .sense_cap = sizeof(sense),
        .timeout_ms = timeout_ms,
    };
    SgOutcome sg;

    pr_result_status(result, SCSI_STATUS_GOOD);
    if (command_refuse_read_only(request, result)) {
        return;
    }
    memset(sense, 0, sizeof(sense));
    if (pr_in) {
        req.direction = SGIO_DATA_FROM_DEV;
        req.data = result->data;
        req.data_len = get_be16(request->cdb + CDB_OFF_ALLOC_LEN);
    } else {
        req.direction = SGIO_DATA_TO_DEV;
        req.data = (void *)request->data;
        req.data_len = request->data_len;
    }
    sgio_issue(fd, &req, &sg);
    passthrough_reply(request->cdb, &sg, result);
}
