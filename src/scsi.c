/*
 * scsi: fixed-format sense data and the names of statuses and sense codes.
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

size_t scsi_sense_length(const uint8_t *sense, size_t max)
{
    uint8_t rc = sense[0] & 0x7f;

    if (rc < 0x70 || rc > 0x73) {
        return max;
    }
    return (size_t)8 + sense[7] < max ? (size_t)8 + sense[7] : max;
}

bool scsi_sense_parse(const uint8_t *sense, size_t len, ScsiSenseCode *code)
{
    uint8_t rc;

    if (len < 1) {
        return false;
    }
    rc = sense[0] & 0x7f;
    if (rc == 0x70 || rc == 0x71) {
        if (len < 14) {
            return false;
        }
        *code = SCSI_SENSE(sense[2] & 0x0f, sense[12], sense[13]);
        return true;
    }
    if (rc == 0x72 || rc == 0x73) {
        if (len < 4) {
            return false;
        }
        *code = SCSI_SENSE(sense[1] & 0x0f, sense[2], sense[3]);
        return true;
    }
    return false;
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
