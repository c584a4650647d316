/*
 * tid: decoding, encoding and comparison of SPC-4 TransportIDs.
 */
#include "tid.h"

#include <string.h>

#include "bytes.h"
#include "error.h"

#define ISCSI_PORT_SEPARATOR ",i,0x"
#define ISCSI_PORT_SEPARATOR_LEN 5

static bool is_hex(char c)
{
    return g_ascii_isxdigit(c);
}

bool tid_iscsi_name_valid(const char *name)
{
    size_t len = strlen(name);
    size_t i;

    if (len <= 4 || len > TID_ISCSI_NAME_MAX) {
        return false;
    }
    if (g_ascii_strncasecmp(name, "iqn.", 4) != 0 &&
        g_ascii_strncasecmp(name, "eui.", 4) != 0 &&
        g_ascii_strncasecmp(name, "naa.", 4) != 0) {
        return false;
    }
    for (i = 0; i < len; i++) {
        char c = name[i];

        if (!g_ascii_isalnum(c) && c != '-' && c != '.' && c != ':') {
            return false;
        }
    }
    return true;
}

/* Copy @len bytes of @src into @dst folded to lower case. */
static void copy_lower(char *dst, const char *src, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        dst[i] = g_ascii_tolower(src[i]);
    }
    dst[len] = '\0';
}

/*
 * Split "name" or "name,i,0xISID" into @tid.  @text has @len bytes and no
 * NUL.  Returns TID_OK or TID_INVALID.
 */
static TidStatus iscsi_text_split(const char *text, size_t len, uint8_t format,
                                  TransportId *tid)
{
    size_t name_len = len;
    size_t i;

    if (format == TID_FORMAT_ISCSI_PORT) {
        const char *sep = NULL;

        for (i = 0; i + ISCSI_PORT_SEPARATOR_LEN <= len; i++) {
            if (g_ascii_strncasecmp(text + i, ISCSI_PORT_SEPARATOR,
                                    ISCSI_PORT_SEPARATOR_LEN) == 0) {
                sep = text + i;
                break;
            }
        }
        if (sep == NULL) {
            return TID_INVALID;
        }
        name_len = (size_t)(sep - text);
        if (len - name_len - ISCSI_PORT_SEPARATOR_LEN != TID_ISID_LEN) {
            return TID_INVALID;
        }
        for (i = 0; i < TID_ISID_LEN; i++) {
            if (!is_hex(sep[ISCSI_PORT_SEPARATOR_LEN + i])) {
                return TID_INVALID;
            }
        }
        copy_lower(tid->isid, sep + ISCSI_PORT_SEPARATOR_LEN, TID_ISID_LEN);
    }
    if (name_len == 0 || name_len > TID_ISCSI_NAME_MAX) {
        return TID_INVALID;
    }
    copy_lower(tid->name, text, name_len);
    if (!tid_iscsi_name_valid(tid->name)) {
        return TID_INVALID;
    }
    return TID_OK;
}

TidStatus tid_decode(const uint8_t *buf, size_t avail, TransportId *tid,
                     size_t *used)
{
    uint8_t format;
    uint8_t protocol;

    memset(tid, 0, sizeof(*tid));
    if (avail < 4) {
        return TID_TRUNCATED;
    }
    format = buf[0] >> 6;
    protocol = buf[0] & 0x0f;
    tid->protocol = protocol;
    tid->format = format;

    switch (protocol) {
    case TID_PROTOCOL_FCP:
    case TID_PROTOCOL_SAS:
        if (format != 0) {
            return TID_INVALID;
        }
        if (avail < TID_FIXED_LEN) {
            return TID_TRUNCATED;
        }
        memcpy(tid->address, buf + (protocol == TID_PROTOCOL_FCP ? 8 : 4),
               sizeof(tid->address));
        *used = TID_FIXED_LEN;
        return TID_OK;

    case TID_PROTOCOL_ISCSI: {
        size_t add_len = get_be16(buf + 2);
        const char *text = (const char *)buf + 4;
        const char *nul;

        if (format != TID_FORMAT_ISCSI_DEVICE &&
            format != TID_FORMAT_ISCSI_PORT) {
            return TID_INVALID;
        }
        /* SPC-4 7.6.4.6: at least 20 and a multiple of 4. */
        if (add_len < 20 || add_len % 4 != 0) {
            return TID_INVALID;
        }
        if (4 + add_len > avail) {
            return TID_TRUNCATED;
        }
        nul = memchr(text, '\0', add_len);
        if (nul == NULL) {
            return TID_INVALID;
        }
        if (format == TID_FORMAT_ISCSI_DEVICE &&
            memchr(text, ',', (size_t)(nul - text)) != NULL) {
            return TID_INVALID;
        }
        if (iscsi_text_split(text, (size_t)(nul - text), format, tid) !=
            TID_OK) {
            return TID_INVALID;
        }
        *used = 4 + add_len;
        return TID_OK;
    }

    default:
        return TID_UNSUPPORTED;
    }
}

/* Length of the NUL-terminated text of an iSCSI TransportID. */
static size_t iscsi_text_len(const TransportId *tid)
{
    size_t len = strlen(tid->name) + 1;

    if (tid->format == TID_FORMAT_ISCSI_PORT) {
        len += ISCSI_PORT_SEPARATOR_LEN + TID_ISID_LEN;
    }
    return len;
}

size_t tid_encoded_len(const TransportId *tid)
{
    size_t add_len;

    if (tid->protocol != TID_PROTOCOL_ISCSI) {
        return TID_FIXED_LEN;
    }
    add_len = (iscsi_text_len(tid) + 3) & ~(size_t)3;
    if (add_len < 20) {
        add_len = 20;
    }
    return 4 + add_len;
}

size_t tid_encode(const TransportId *tid, uint8_t *out)
{
    size_t len = tid_encoded_len(tid);

    memset(out, 0, len);
    out[0] = (uint8_t)((tid->format << 6) | (tid->protocol & 0x0f));
    switch (tid->protocol) {
    case TID_PROTOCOL_FCP:
        memcpy(out + 8, tid->address, sizeof(tid->address));
        break;
    case TID_PROTOCOL_SAS:
        memcpy(out + 4, tid->address, sizeof(tid->address));
        break;
    case TID_PROTOCOL_ISCSI: {
        char *text = (char *)out + 4;
        size_t name_len = strlen(tid->name);

        put_be16(out + 2, (uint16_t)(len - 4));
        memcpy(text, tid->name, name_len);
        if (tid->format == TID_FORMAT_ISCSI_PORT) {
            memcpy(text + name_len, ISCSI_PORT_SEPARATOR,
                   ISCSI_PORT_SEPARATOR_LEN);
            memcpy(text + name_len + ISCSI_PORT_SEPARATOR_LEN, tid->isid,
                   TID_ISID_LEN);
        }
        break;
    }
    default:
        break;
    }
    return len;
}

bool tid_equal(const TransportId *a, const TransportId *b)
{
    if (a->protocol != b->protocol) {
        return false;
    }
    if (a->protocol != TID_PROTOCOL_ISCSI) {
        return memcmp(a->address, b->address, sizeof(a->address)) == 0;
    }
    if (a->format != b->format || strcmp(a->name, b->name) != 0) {
        return false;
    }
    return a->format != TID_FORMAT_ISCSI_PORT || strcmp(a->isid, b->isid) == 0;
}

bool tid_matches(const TransportId *a, const TransportId *b)
{
    if (a->protocol != b->protocol) {
        return false;
    }
    if (a->protocol != TID_PROTOCOL_ISCSI) {
        return memcmp(a->address, b->address, sizeof(a->address)) == 0;
    }
    if (strcmp(a->name, b->name) != 0) {
        return false;
    }
    /* A device-format id names every port of that iSCSI node. */
    if (a->format == TID_FORMAT_ISCSI_PORT &&
        b->format == TID_FORMAT_ISCSI_PORT) {
        return strcmp(a->isid, b->isid) == 0;
    }
    return true;
}

bool tid_from_iscsi_name(const char *name, TransportId *tid, GError **error)
{
    memset(tid, 0, sizeof(*tid));
    if (!tid_iscsi_name_valid(name)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "'%s' is not a valid iSCSI name (iqn./eui./naa. "
                    "followed by letters, digits, '-', '.', ':', at most "
                    "223 characters)",
                    name);
        return false;
    }
    tid->protocol = TID_PROTOCOL_ISCSI;
    tid->format = TID_FORMAT_ISCSI_DEVICE;
    copy_lower(tid->name, name, strlen(name));
    return true;
}

/* Parse exactly 16 hex digits (an optional 0x prefix) into 8 bytes. */
static bool parse_address(const char *text, uint8_t *address)
{
    size_t i;

    if (g_ascii_strncasecmp(text, "0x", 2) == 0) {
        text += 2;
    }
    if (strlen(text) != 16) {
        return false;
    }
    for (i = 0; i < 8; i++) {
        if (!is_hex(text[2 * i]) || !is_hex(text[2 * i + 1])) {
            return false;
        }
        address[i] = (uint8_t)((g_ascii_xdigit_value(text[2 * i]) << 4) |
                               g_ascii_xdigit_value(text[2 * i + 1]));
    }
    return true;
}

bool tid_parse(const char *text, TransportId *tid, GError **error)
{
    size_t len = strlen(text);

    memset(tid, 0, sizeof(*tid));
    if (g_ascii_strncasecmp(text, "fcp,", 4) == 0 ||
        g_ascii_strncasecmp(text, "sas,", 4) == 0) {
        tid->protocol = g_ascii_tolower(text[0]) == 'f' ? TID_PROTOCOL_FCP
                                                        : TID_PROTOCOL_SAS;
        if (!parse_address(text + 4, tid->address)) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                        "'%s': expected 16 hexadecimal digits after '%.4s'",
                        text, text);
            return false;
        }
        return true;
    }
    tid->protocol = TID_PROTOCOL_ISCSI;
    tid->format = TID_FORMAT_ISCSI_DEVICE;
    if (memchr(text, ',', len) != NULL) {
        tid->format = TID_FORMAT_ISCSI_PORT;
    }
    if (iscsi_text_split(text, len, tid->format, tid) != TID_OK) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "'%s' is not an initiator name: expected an iSCSI name "
                    "(optionally followed by ,i,0x and a 12-digit ISID), "
                    "fcp,<16 hex digits> or sas,<16 hex digits>",
                    text);
        return false;
    }
    return true;
}

char *tid_to_string(const TransportId *tid)
{
    switch (tid->protocol) {
    case TID_PROTOCOL_ISCSI:
        if (tid->format == TID_FORMAT_ISCSI_PORT) {
            return g_strdup_printf("%s" ISCSI_PORT_SEPARATOR "%s", tid->name,
                                   tid->isid);
        }
        return g_strdup(tid->name);
    case TID_PROTOCOL_FCP:
    case TID_PROTOCOL_SAS: {
        const uint8_t *a = tid->address;

        return g_strdup_printf("%s,%02x%02x%02x%02x%02x%02x%02x%02x",
                               tid->protocol == TID_PROTOCOL_FCP ? "fcp"
                                                                 : "sas",
                               a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    }
    default:
        return g_strdup_printf("protocol-%u", tid->protocol);
    }
}
