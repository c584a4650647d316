/*
 * inquiry: the standard INQUIRY data of the logical unit that `softpr
 * persist` addresses.
 *
 * sg_persist sends a standard INQUIRY before its PR command (unless -n)
 * and prints the vendor, product, revision and device type.  softprd's
 * protocol carries PR commands only, so softpr persist has no INQUIRY to
 * send; it prints this data instead, which describes what softprd
 * emulates: a disk with persistent reservations.  libsoftpr-preload.so,
 * which lets the real sg_persist talk to softprd, answers INQUIRY with the
 * same bytes, so that both tools print the same header.
 */
#ifndef SOFTPR_INQUIRY_H
#define SOFTPR_INQUIRY_H

#include <stdint.h>
#include <string.h>

/* ASCII fields, space padded to their fixed widths (SPC-4 6.6.2). */
#define INQUIRY_VENDOR "SOFTPR  "          /* T10 VENDOR IDENTIFICATION: 8 */
#define INQUIRY_PRODUCT "PR EMULATION    " /* PRODUCT IDENTIFICATION: 16 */
#define INQUIRY_REVISION "0001"            /* PRODUCT REVISION LEVEL: 4 */

#define INQUIRY_PDT_DISK 0x00 /* direct access block device */

/* What sg_persist asks for: the first 36 bytes of standard data. */
#define INQUIRY_STANDARD_LEN 36

/* Fill @out (INQUIRY_STANDARD_LEN bytes) with the standard INQUIRY data. */
static inline void inquiry_standard(uint8_t *out)
{
    memset(out, 0, INQUIRY_STANDARD_LEN);
    out[0] = INQUIRY_PDT_DISK;         /* qualifier 000b: connected */
    out[2] = 0x06;                     /* VERSION: SPC-4 */
    out[3] = 0x02;                     /* RESPONSE DATA FORMAT 2 */
    out[4] = INQUIRY_STANDARD_LEN - 5; /* ADDITIONAL LENGTH */
    memcpy(out + 8, INQUIRY_VENDOR, 8);
    memcpy(out + 16, INQUIRY_PRODUCT, 16);
    memcpy(out + 32, INQUIRY_REVISION, 4);
}

#endif /* SOFTPR_INQUIRY_H */
