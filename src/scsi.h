/*
 * scsi: SCSI status values, sense codes and sense data.
 *
 * softprd builds its own status and sense instead of forwarding a device's;
 * this module owns their byte layout (SPC-4 4.5.3, fixed format 70h), the
 * one decoder of sense data in either format (SPC-4 4.5), and the names
 * used in logs and tool output.
 */
#ifndef SOFTPR_SCSI_H
#define SOFTPR_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SAM-5 status codes. */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL 0x28
#define SCSI_STATUS_TASK_ABORTED 0x40

/* SPC-4 sense keys. */
#define SCSI_KEY_NO_SENSE 0x0
#define SCSI_KEY_NOT_READY 0x2
#define SCSI_KEY_MEDIUM_ERROR 0x3
#define SCSI_KEY_HARDWARE_ERROR 0x4
#define SCSI_KEY_ILLEGAL_REQUEST 0x5
#define SCSI_KEY_UNIT_ATTENTION 0x6
#define SCSI_KEY_DATA_PROTECT 0x7
#define SCSI_KEY_ABORTED_COMMAND 0xb

/* Fixed-format sense data is 18 bytes (ADDITIONAL SENSE LENGTH 0Ah). */
#define SCSI_SENSE_FIXED_LEN 18

/* Operation codes softprd handles. */
#define SCSI_OP_PERSISTENT_RESERVE_IN 0x5e
#define SCSI_OP_PERSISTENT_RESERVE_OUT 0x5f

typedef struct ScsiSenseCode {
    uint8_t key;
    uint8_t asc;
    uint8_t ascq;
} ScsiSenseCode;

#define SCSI_SENSE(k, a, q) ((ScsiSenseCode){(k), (a), (q)})

/* The additional sense codes softprd reports (SPC-4 annex D). */
#define SENSE_PARAMETER_LIST_LENGTH_ERROR SCSI_SENSE(0x5, 0x1a, 0x00)
#define SENSE_INVALID_OPCODE SCSI_SENSE(0x5, 0x20, 0x00)
#define SENSE_INVALID_FIELD_IN_CDB SCSI_SENSE(0x5, 0x24, 0x00)
#define SENSE_LU_NOT_SUPPORTED SCSI_SENSE(0x5, 0x25, 0x00)
#define SENSE_INVALID_FIELD_IN_PARAMETERS SCSI_SENSE(0x5, 0x26, 0x00)
#define SENSE_INVALID_RELEASE SCSI_SENSE(0x5, 0x26, 0x04)
#define SENSE_INSUFFICIENT_REG_RESOURCES SCSI_SENSE(0x5, 0x55, 0x04)
#define SENSE_RESERVATIONS_PREEMPTED SCSI_SENSE(0x6, 0x2a, 0x03)
#define SENSE_RESERVATIONS_RELEASED SCSI_SENSE(0x6, 0x2a, 0x04)
#define SENSE_REGISTRATIONS_PREEMPTED SCSI_SENSE(0x6, 0x2a, 0x05)
#define SENSE_PR_INFORMATION_LOST SCSI_SENSE(0x7, 0x44, 0x01)
#define SENSE_INTERNAL_TARGET_FAILURE SCSI_SENSE(0xb, 0x44, 0x00)
#define SENSE_IO_PROCESS_TERMINATED SCSI_SENSE(0xb, 0x00, 0x06)

/*
 * Fill @sense (SCSI_SENSE_FIXED_LEN bytes) with current-error fixed-format
 * sense data carrying @code.  Every other byte is zero.
 */
void scsi_sense_build(uint8_t *sense, ScsiSenseCode code);

/*
 * Add a sense-key specific field pointer (SPC-4 4.5.2.4.2) to sense data
 * built by scsi_sense_build(): the offending field is byte @byte of the
 * CDB when @in_cdb, else of the parameter list; @bit is the bit within
 * that byte, or -1 when the whole byte is meant.
 */
void scsi_sense_set_field(uint8_t *sense, bool in_cdb, uint16_t byte, int bit);

/* Sense data as scsi_sense_decode() reads it (SPC-4 4.5). */
typedef struct ScsiSense {
    uint8_t response_code; /* 70h-73h */
    bool descriptor;       /* descriptor format (72h, 73h), else fixed */
    bool deferred;         /* a deferred error (71h, 73h), else current */
    ScsiSenseCode code;    /* zero in each field the data stops short of */
    bool complete;         /* the data holds key, ASC and ASCQ */
    bool overflow;         /* SDAT_OVFL: the device truncated its sense */
    size_t len; /* the bytes that count: at most 8 + ADDITIONAL SENSE LENGTH */
} ScsiSense;

/*
 * The one decoder of sense data: read @len bytes of fixed (70h, 71h;
 * SPC-4 4.5.3) or descriptor (72h, 73h; SPC-4 4.5.2) format sense data
 * into @out.  Only the bytes before the end of the ADDITIONAL SENSE
 * LENGTH (byte 7) count, and a field past them (or past @len) reads as
 * zero with @out->complete false.  Returns false, @out zeroed, when
 * @len is zero or the RESPONSE CODE is neither format.
 */
bool scsi_sense_decode(const uint8_t *sense, size_t len, ScsiSense *out);

/*
 * The length of sense data @sense as a device reports it (and the
 * kernel's SG_IO hands it over): 8 + ADDITIONAL SENSE LENGTH (byte 7)
 * for fixed or descriptor format, at most @max (at least 8); @max for
 * anything else.
 */
size_t scsi_sense_length(const uint8_t *sense, size_t max);

/*
 * Key, ASC and ASCQ of fixed or descriptor sense data of @len bytes
 * (scsi_sense_decode()).  Returns false when @sense holds neither format
 * or stops short of them.
 */
bool scsi_sense_parse(const uint8_t *sense, size_t len, ScsiSenseCode *code);

/* Human-readable names; never NULL. */
const char *scsi_status_name(uint8_t status);
const char *scsi_sense_key_name(uint8_t key);
const char *scsi_asc_name(uint8_t asc, uint8_t ascq);

#endif /* SOFTPR_SCSI_H */
