/*
 * sgio: one SG_IO command, and the judgement of its outcome.
 */
#include "sgio.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <scsi/sg.h>

#include "scsi.h"

static int sg_direction(const SgioRequest *req)
{
    if (req->data_len == 0) {
        return SG_DXFER_NONE;
    }
    switch (req->direction) {
    case SGIO_DATA_FROM_DEV:
        return SG_DXFER_FROM_DEV;
    case SGIO_DATA_TO_DEV:
        return SG_DXFER_TO_DEV;
    default:
        return SG_DXFER_NONE;
    }
}

void sgio_issue(int fd, const SgioRequest *req, SgOutcome *out)
{
    struct sg_io_hdr hdr;

    memset(&hdr, 0, sizeof(hdr));
    memset(out, 0, sizeof(*out));
    hdr.interface_id = 'S';
    hdr.cmdp = (unsigned char *)req->cdb;
    hdr.cmd_len = req->cdb_len;
    hdr.sbp = req->sense;
    hdr.mx_sb_len =
        (unsigned char)(req->sense_cap < 255 ? req->sense_cap : 255);
    hdr.timeout = req->timeout_ms;
    hdr.dxfer_direction = sg_direction(req);
    if (hdr.dxfer_direction != SG_DXFER_NONE) {
        hdr.dxferp = req->data;
        hdr.dxfer_len = (unsigned)req->data_len;
    }
    if (ioctl(fd, SG_IO, &hdr) < 0) {
        out->error = errno;
        return;
    }
    out->status = hdr.status;
    out->host_status = hdr.host_status;
    out->driver_status = hdr.driver_status;
    out->sense = req->sense;
    out->sense_len = hdr.sb_len_wr;
    if (hdr.resid >= 0 && (unsigned)hdr.resid <= hdr.dxfer_len) {
        out->data_len = hdr.dxfer_len - (unsigned)hdr.resid;
    }
}

SgioVerdict sgio_judge(const SgOutcome *sg)
{
    uint8_t driver = sg->driver_status & 0x0f;

    if (sg->error != 0) {
        return SGIO_IOCTL_FAILED;
    }
    if (sg->host_status != SGIO_HOST_OK) {
        return SGIO_HOST_FAILED;
    }
    if (driver == SGIO_DRIVER_TIMEOUT || driver == SGIO_DRIVER_BUSY ||
        driver == SGIO_DRIVER_SOFT) {
        return SGIO_DRIVER_RETRY;
    }
    if (driver != SGIO_DRIVER_OK && driver != SGIO_DRIVER_SENSE) {
        return SGIO_DRIVER_FAILED;
    }
    return SGIO_ANSWERED;
}

bool sgio_good(const SgOutcome *sg)
{
    return sgio_judge(sg) == SGIO_ANSWERED && sg->status == SCSI_STATUS_GOOD;
}
