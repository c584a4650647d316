/*
 * vpd: the vital product data pages (SPC-4 7.8) of a logical unit that
 * softpr emulates, derived from its LU name alone.
 *
 * softprd names a file-backed LU by the file's user.softpr.lu attribute,
 * else its canonical path; a loop device is named as its file.  Every
 * host that sees the file therefore derives the same designators, and
 * tools that compare VPD page 83h (multipath, udev, cluster validators)
 * see one disk wherever it is opened.  Pure functions.
 */
#ifndef SOFTPR_VPD_H
#define SOFTPR_VPD_H

#include <stddef.h>
#include <stdint.h>

/* The pages served: SUPPORTED VPD PAGES, UNIT SERIAL NUMBER, DEVICE
 * IDENTIFICATION. */
#define VPD_PAGE_SUPPORTED 0x00
#define VPD_PAGE_SERIAL 0x80
#define VPD_PAGE_DEVICE_ID 0x83

/* No page is longer: 4 header bytes, two designators of at most
 * 4 + 255 bytes each. */
#define VPD_PAGE_MAX (4 + 2 * (4 + 255))

/* The T10 VENDOR IDENTIFICATION in the T10 vendor ID designator. */
#define VPD_T10_VENDOR "SOFTPR  "

/*
 * The NAA designator of LU @name: NAA 3h (locally assigned, SPC-4
 * 7.8.6.6.5) whose 60-bit value is the first 60 bits of SHA-256(@name).
 * Fills @naa (8 bytes).
 */
void vpd_naa(const char *name, uint8_t naa[8]);

/*
 * Build VPD page @page of LU @name (peripheral device type 0, a disk)
 * into @out (VPD_PAGE_MAX bytes).  Returns its length, or 0 when @page
 * is not one softpr serves.
 *   00h: the three pages served.
 *   80h: the NAA value in 16 upper-case hex digits.
 *   83h: the NAA designator, then a T10 vendor ID designator
 *        VPD_T10_VENDOR + @name (its first 247 bytes, non-printable
 *        bytes as '_'), both associated with the logical unit.
 */
size_t vpd_page(uint8_t page, const char *name, uint8_t *out);

#endif /* SOFTPR_VPD_H */
