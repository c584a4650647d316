/*
 * vpd: VPD pages 00h, 80h and 83h from an LU name.
 */
#include "vpd.h"

#include <string.h>

#include <glib.h>

#include "bytes.h"

#define NAA_LEN 8
#define SERIAL_LEN (2 * NAA_LEN)
#define DESIGNATOR_MAX 255

void vpd_naa(const char *name, uint8_t naa[8])
{
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    uint8_t digest[32];
    gsize len = sizeof(digest);

    g_checksum_update(sum, (const guchar *)name, (gssize)strlen(name));
    g_checksum_get_digest(sum, digest, &len);
    g_checksum_free(sum);
    /* NAA 3h in the top nibble, then the digest's first 60 bits. */
    naa[0] = 0x30 | (digest[0] >> 4);
    for (size_t i = 1; i < NAA_LEN; i++) {
        naa[i] = (uint8_t)((digest[i - 1] << 4) | (digest[i] >> 4));
    }
}

/* One designator at @p (SPC-4 7.8.6.1); returns its length. */
static size_t put_designator(uint8_t *p, uint8_t code_set, uint8_t type,
                             const uint8_t *value, size_t len)
{
    p[0] = code_set;    /* PROTOCOL IDENTIFIER 0, PIV 0 */
    p[1] = type & 0x0f; /* ASSOCIATION 00b: the logical unit */
    p[2] = 0;
    p[3] = (uint8_t)len;
    memcpy(p + 4, value, len);
    return 4 + len;
}

static size_t device_id_page(const char *name, uint8_t *out)
{
    uint8_t naa[NAA_LEN];
    uint8_t t10[DESIGNATOR_MAX];
    size_t name_len = strlen(name);
    size_t off = 4;

    vpd_naa(name, naa);
    off += put_designator(out + off, 0x1 /* binary */, 0x3 /* NAA */, naa,
                          sizeof(naa));
    memcpy(t10, VPD_T10_VENDOR, 8);
    name_len = MIN(name_len, sizeof(t10) - 8);
    for (size_t i = 0; i < name_len; i++) {
        t10[8 + i] = g_ascii_isprint(name[i]) ? (uint8_t)name[i] : '_';
    }
    off += put_designator(out + off, 0x2 /* ASCII */, 0x1 /* T10 vendor */, t10,
                          8 + name_len);
    return off;
}

size_t vpd_page(uint8_t page, const char *name, uint8_t *out)
{
    size_t len;

    memset(out, 0, 4);
    out[0] = 0x00; /* qualifier 000b, peripheral device type 0: a disk */
    out[1] = page;
    switch (page) {
    case VPD_PAGE_SUPPORTED:
        out[4] = VPD_PAGE_SUPPORTED;
        out[5] = VPD_PAGE_SERIAL;
        out[6] = VPD_PAGE_DEVICE_ID;
        len = 4 + 3;
        break;
    case VPD_PAGE_SERIAL: {
        uint8_t naa[NAA_LEN];
        static const char hex[] = "0123456789ABCDEF";

        vpd_naa(name, naa);
        for (size_t i = 0; i < NAA_LEN; i++) {
            out[4 + 2 * i] = (uint8_t)hex[naa[i] >> 4];
            out[5 + 2 * i] = (uint8_t)hex[naa[i] & 0x0f];
        }
        len = 4 + SERIAL_LEN;
        break;
    }
    case VPD_PAGE_DEVICE_ID:
        len = device_id_page(name, out);
        break;
    default:
        return 0;
    }
    put_be16(out + 2, (uint16_t)(len - 4)); /* PAGE LENGTH */
    return len;
}
