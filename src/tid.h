/*
 * tid: SCSI TransportIDs (SPC-4 7.6.4) for iSCSI, Fibre Channel and SAS.
 *
 * A TransportID names an initiator port.  softprd gives each nexus an
 * iSCSI name (format 00b), and guests send TransportIDs of any of the
 * three protocols in REGISTER with SPEC_I_PT and in REGISTER AND MOVE.
 * This module decodes, validates, encodes, compares and prints them.
 */
#ifndef SOFTPR_TID_H
#define SOFTPR_TID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#define TID_PROTOCOL_FCP 0x0
#define TID_PROTOCOL_ISCSI 0x5
#define TID_PROTOCOL_SAS 0x6

#define TID_FORMAT_ISCSI_DEVICE 0x0 /* iSCSI name only */
#define TID_FORMAT_ISCSI_PORT 0x1   /* iSCSI name + ",i,0x" + ISID */

#define TID_ISCSI_NAME_MAX 223 /* RFC 7143: at most 223 bytes */
#define TID_ISID_LEN 12        /* hexadecimal digits */
#define TID_FIXED_LEN 24       /* FCP and SAS TransportIDs */
/* iSCSI: 4-byte header + name + ",i,0x" + ISID + NUL, padded to 4. */
#define TID_ENCODED_MAX 248

typedef struct TransportId {
    uint8_t protocol;                  /* TID_PROTOCOL_* */
    uint8_t format;                    /* TID_FORMAT_* (iSCSI only) */
    uint8_t address[8];                /* FCP N_PORT_NAME, SAS address */
    char name[TID_ISCSI_NAME_MAX + 1]; /* iSCSI name, lower case */
    char isid[TID_ISID_LEN + 1];       /* iSCSI port format: lower case */
} TransportId;

typedef enum TidStatus {
    TID_OK,
    TID_TRUNCATED,   /* the buffer ends inside the TransportID */
    TID_UNSUPPORTED, /* a protocol other than iSCSI, FCP or SAS */
    TID_INVALID,     /* malformed fields */
} TidStatus;

/*
 * Decode the TransportID at the start of @buf (@avail bytes).  On TID_OK,
 * *@used is its length in bytes.  Names are folded to lower case, since
 * iSCSI names compare case-insensitively.
 */
TidStatus tid_decode(const uint8_t *buf, size_t avail, TransportId *tid,
                     size_t *used);

/* Length of the encoding of @tid; at most TID_ENCODED_MAX. */
size_t tid_encoded_len(const TransportId *tid);

/* Encode @tid into @out (tid_encoded_len() bytes); returns that length. */
size_t tid_encode(const TransportId *tid, uint8_t *out);

/* The same initiator port, field for field. */
bool tid_equal(const TransportId *a, const TransportId *b);

/*
 * Whether @a and @b name the same initiator for PR purposes: same
 * protocol and identifier; an iSCSI device-format id matches every port
 * (ISID) of that name (SPC-4 7.6.4.6).
 */
bool tid_matches(const TransportId *a, const TransportId *b);

/*
 * Build an iSCSI device-format TransportID for @name.  Returns false with
 * @error set when @name is not a valid iSCSI name.
 */
bool tid_from_iscsi_name(const char *name, TransportId *tid, GError **error);

/*
 * Parse the text forms produced by tid_to_string(): an iSCSI name
 * ("iqn.…", "eui.…", "naa.…"), optionally followed by ",i,0x<12 hex>",
 * or "fcp,<16 hex>" / "sas,<16 hex>" (sg_persist's -X syntax).
 */
bool tid_parse(const char *text, TransportId *tid, GError **error);

/* A readable form of @tid (g_free() it). */
char *tid_to_string(const TransportId *tid);

/* Whether @name is an acceptable iSCSI name (RFC 7143 3.2.6). */
bool tid_iscsi_name_valid(const char *name);

#endif /* SOFTPR_TID_H */
