/*
 * sgio: issuing one SCSI command to a device with Linux's SG_IO ioctl,
 * and judging what the kernel reported for it (ioctl error, host and
 * driver status, the device's status and sense), for every module that
 * talks to a real device (passthrough, identity).
 */
#ifndef SOFTPR_SGIO_H
#define SOFTPR_SGIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux host byte values (DID_*, include/scsi/scsi_status.h). */
enum {
    SGIO_HOST_OK = 0x00,
    SGIO_HOST_NO_CONNECT = 0x01,
    SGIO_HOST_BUS_BUSY = 0x02,
    SGIO_HOST_TIME_OUT = 0x03,
    SGIO_HOST_BAD_TARGET = 0x04,
    SGIO_HOST_ABORT = 0x05,
    SGIO_HOST_RESET = 0x08,
    SGIO_HOST_SOFT_ERROR = 0x0b,
    SGIO_HOST_IMM_RETRY = 0x0c,
    SGIO_HOST_REQUEUE = 0x0d,
    SGIO_HOST_TRANSPORT_DISRUPTED = 0x0e,
    SGIO_HOST_TARGET_FAILURE = 0x10,
    SGIO_HOST_NEXUS_FAILURE = 0x11, /* reservation conflict */
    SGIO_HOST_ALLOC_FAILURE = 0x12,
    SGIO_HOST_MEDIUM_ERROR = 0x13,
};

/* Linux driver byte values (the low nibble of driver_status). */
enum {
    SGIO_DRIVER_OK = 0x00,
    SGIO_DRIVER_BUSY = 0x01,
    SGIO_DRIVER_SOFT = 0x02,
    SGIO_DRIVER_TIMEOUT = 0x06,
    SGIO_DRIVER_SENSE = 0x08,
};

typedef enum SgioDirection {
    SGIO_DATA_NONE,
    SGIO_DATA_FROM_DEV, /* data-in: the device fills @data */
    SGIO_DATA_TO_DEV,   /* data-out: @data goes to the device */
} SgioDirection;

/* One command to issue. */
typedef struct SgioRequest {
    const uint8_t *cdb;
    uint8_t cdb_len;
    SgioDirection direction; /* SGIO_DATA_NONE whenever data_len is 0 */
    void *data;
    size_t data_len;
    uint8_t *sense; /* receives the device's sense data */
    size_t sense_cap;
    unsigned timeout_ms;
} SgioRequest;

/* What SG_IO reported for one command. */
typedef struct SgOutcome {
    int error;              /* errno when the ioctl failed, else 0 */
    uint8_t status;         /* SCSI status from the device */
    uint16_t host_status;   /* Linux DID_* */
    uint16_t driver_status; /* Linux DRIVER_* (low nibble) */
    const uint8_t *sense;   /* what the device returned */
    size_t sense_len;
    size_t data_len; /* data-in actually transferred */
} SgOutcome;

/* How a command fared, by the first failure in the order SG_IO reports. */
typedef enum SgioVerdict {
    SGIO_ANSWERED,      /* reached the device: its status counts */
    SGIO_IOCTL_FAILED,  /* the ioctl itself failed: error says why */
    SGIO_HOST_FAILED,   /* the host adapter failed: host_status */
    SGIO_DRIVER_RETRY,  /* driver timeout, busy or soft error */
    SGIO_DRIVER_FAILED, /* any other driver error */
} SgioVerdict;

/*
 * Issue @req on @fd with SG_IO, waiting at most @req->timeout_ms, and
 * fill @out: the ioctl's errno, or the statuses, the sense data (in
 * @req->sense) and how many data-in bytes arrived (0 when the kernel's
 * residual count makes no sense).
 */
void sgio_issue(int fd, const SgioRequest *req, SgOutcome *out);

/*
 * Judge @sg (pure): an ioctl error, then a host error, then a driver
 * error; DRIVER_SENSE is no error (it comes with CHECK CONDITION).
 */
SgioVerdict sgio_judge(const SgOutcome *sg);

/* Whether @sg reached the device and it answered GOOD. */
bool sgio_good(const SgOutcome *sg);

#endif /* SOFTPR_SGIO_H */
