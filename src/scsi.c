/*
 * scsi: building and decoding sense data, and the names of statuses and
 * sense codes.
 */
#include "scsi.h"

#include <string.h>

void scsi_sense_build(uint8_t *sense, ScsiSenseCode code)
{
    memset(sense, 0, SCSI_SENSE_FIXED_LEN);
    sense[0] = 0x70; /* current error, fixed format */
    sense[2] = code.key & 0x0f;
    sense[7] = SCSI_SENSE_FIXED_LEN - 8; /* ADDITIONAL SENSE LENGTH */
    sense[12] = code.asc;
    sense[13] = code.ascq;
}

void scsi_sense_set_field(uint8_t *sense, bool in_cdb, uint16_t byte, int bit)
{
    uint8_t b15 = 0x80; /* SKSV */

    if (in_cdb) {
        b15 |= 0x40; /* C/D */
    }
    if (bit >= 0 && bit <= 7) {
        b15 |= 0x08 | (uint8_t)bit; /* BPV, BIT POINTER */
    }
    sense[15] = b15;
    sense[16] = (uint8_t)(byte >> 8);
    sense[17] = (uint8_t)byte;
}

/* The response codes of fixed and descriptor format (SPC-4 4.5.1). */
#define SENSE_FIXED_CURRENT 0x70
#define SENSE_FIXED_DEFERRED 0x71
#define SENSE_DESC_CURRENT 0x72
#define SENSE_DESC_DEFERRED 0x73

/* Byte @i of the @len counted bytes of @sense, zero past them. */
static uint8_t sense_byte(const uint8_t *sense, size_t len, size_t i)
{
    return i < len ? sense[i] : 0;
}

bool scsi_sense_decode(const uint8_t *sense, size_t len, ScsiSense *out)
{
    uint8_t rc;

    memset(out, 0, sizeof(*out));
    if (len < 1) {
        return false;
    }
    rc = sense[0] & 0x7f;
    if (rc < SENSE_FIXED_CURRENT || rc > SENSE_DESC_DEFERRED) {
        return false;
    }
    out->response_code = rc;
    out->descriptor = rc == SENSE_DESC_CURRENT || rc == SENSE_DESC_DEFERRED;
    out->deferred = rc == SENSE_FIXED_DEFERRED || rc == SENSE_DESC_DEFERRED;
    /* Both formats keep the ADDITIONAL SENSE LENGTH in byte 7. */
    out->len = len;
    if (len > 7 && (size_t)8 + sense[7] < len) {
        out->len = (size_t)8 + sense[7];
    }
    if (out->descriptor) {
        /* SPC-4 4.5.2: key, ASC, ASCQ in bytes 1-3, SDAT_OVFL byte 4. */
        out->code = SCSI_SENSE(sense_byte(sense, out->len, 1) & 0x0f,
                               sense_byte(sense, out->len, 2),
                               sense_byte(sense, out->len, 3));
        out->complete = out->len >= 4;
        out->overflow = (sense_byte(sense, out->len, 4) & 0x80) != 0;
    } else {
        /* SPC-4 4.5.3: SDAT_OVFL and key in byte 2, ASC, ASCQ 12-13. */
        out->code = SCSI_SENSE(sense_byte(sense, out->len, 2) & 0x0f,
                               sense_byte(sense, out->len, 12),
                               sense_byte(sense, out->len, 13));
        out->complete = out->len >= 14;
        out->overflow = (sense_byte(sense, out->len, 2) & 0x10) != 0;
    }
    return true;
}

size_t scsi_sense_length(const uint8_t *sense, size_t max)
{
    ScsiSense decoded;

    return scsi_sense_decode(sense, max, &decoded) ? decoded.len : max;
}

bool scsi_sense_parse(const uint8_t *sense, size_t len, ScsiSenseCode *code)
{
    ScsiSense decoded;

    if (!scsi_sense_decode(sense, len, &decoded) || !decoded.complete) {
        return false;
    }
    *code = decoded.code;
    return true;
}

const char *scsi_status_name(uint8_t status)
{
    switch (status) {
    case SCSI_STATUS_GOOD:
        return "GOOD";
    case SCSI_STATUS_CHECK_CONDITION:
        return "CHECK CONDITION";
    case SCSI_STATUS_BUSY:
        return "BUSY";
    case SCSI_STATUS_RESERVATION_CONFLICT:
        return "RESERVATION CONFLICT";
    case SCSI_STATUS_TASK_SET_FULL:
        return "TASK SET FULL";
    case SCSI_STATUS_TASK_ABORTED:
        return "TASK ABORTED";
    default:
        return "unknown status";
    }
}

const char *scsi_sense_key_name(uint8_t key)
{
    static const char *const names[16] = {
        "NO SENSE",        "RECOVERED ERROR", "NOT READY",
        "MEDIUM ERROR",    "HARDWARE ERROR",  "ILLEGAL REQUEST",
        "UNIT ATTENTION",  "DATA PROTECT",    "BLANK CHECK",
        "VENDOR SPECIFIC", "COPY ABORTED",    "ABORTED COMMAND",
        "RESERVED",        "VOLUME OVERFLOW", "MISCOMPARE",
        "COMPLETED",
    };
    return names[key & 0x0f];
}

const char *scsi_asc_name(uint8_t asc, uint8_t ascq)
{
    static const struct {
        uint8_t asc;
        uint8_t ascq;
        const char *name;
    } names[] = {
        {0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"},
        {0x00, 0x06, "I/O PROCESS TERMINATED"},
        {0x04, 0x00, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE"},
        {0x08, 0x00, "LOGICAL UNIT COMMUNICATION FAILURE"},
        {0x1a, 0x00, "PARAMETER LIST LENGTH ERROR"},
        {0x20, 0x00, "INVALID COMMAND OPERATION CODE"},
        {0x24, 0x00, "INVALID FIELD IN CDB"},
        {0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED"},
        {0x26, 0x00, "INVALID FIELD IN PARAMETER LIST"},
        {0x26, 0x04, "INVALID RELEASE OF PERSISTENT RESERVATION"},
        {0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"},
        {0x2a, 0x03, "RESERVATIONS PREEMPTED"},
        {0x2a, 0x04, "RESERVATIONS RELEASED"},
        {0x2a, 0x05, "REGISTRATIONS PREEMPTED"},
        {0x44, 0x00, "INTERNAL TARGET FAILURE"},
        {0x44, 0x01, "PERSISTENT RESERVATION INFORMATION LOST"},
        {0x55, 0x04, "INSUFFICIENT REGISTRATION RESOURCES"},
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].asc == asc && names[i].ascq == ascq) {
            return names[i].name;
        }
    }
    return "unknown additional sense code";
}
