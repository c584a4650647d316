/*
 * persist_format: what `softpr persist` prints, in sg_persist's words:
 * hex dumps, CDBs, sense data, exit status texts, TransportIDs and PR IN
 * responses.  The texts and layouts are those of sg3_utils 1.46
 * (src/sg_persist.c, lib/sg_lib.c, lib/sg_lib_data.c), because scripts
 * parse them; the code that produces them is our own.
 */
#include "persist.h"

#include <inttypes.h>
#include <string.h>

#include "bytes.h"
#include "cdb.h"
#include "engine.h"
#include "scsi.h"

/* ------------------------------------------------------------------ */
/* Hex dumps                                                           */
/* ------------------------------------------------------------------ */

#define HEX_PER_LINE 16
#define HEX_LINE_MAX 80      /* hex2stdout() lines */
#define HEX_ASCII_COLUMN 60  /* where hex2stdout() puts the ASCII */
#define HEX_ASCII_LINE 76    /* a full hex2stdout() line with ASCII */
#define HEX_STR_LINE_MAX 160 /* hex2str() lines */
#define HEX_LEADIN_MAX 90    /* hex2str() cuts longer lead-ins */

static bool ascii_printable(uint8_t c)
{
    return c >= ' ' && c < 0x7f;
}

/* Column of byte @i (0-15) of a line whose first byte is at @start: there
 * is an extra space between the eighth and the ninth byte. */
static int hex_column(int start, int i)
{
    return start + 3 * i + (i >= HEX_PER_LINE / 2 ? 1 : 0);
}

static void put_hex_byte(char *at, uint8_t b)
{
    static const char digits[] = "0123456789abcdef";

    at[0] = digits[b >> 4];
    at[1] = digits[b & 0x0f];
}

static void trim_trailing_spaces(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == ' ') {
        s[--n] = '\0';
    }
}

void persist_hex_print(FILE *fp, const uint8_t *data, int len, int no_ascii)
{
    char line[HEX_LINE_MAX + 1];
    int off;

    for (off = 0; off < len; off += HEX_PER_LINE) {
        int n = MIN(HEX_PER_LINE, len - off);
        int start = 0;
        int i;

        memset(line, ' ', HEX_LINE_MAX);
        line[HEX_LINE_MAX] = '\0';
        if (no_ascii >= 0) {
            /* The offset at column 1, the bytes from column 8. */
            char addr[16];
            int alen = g_snprintf(addr, sizeof(addr), "%.2x", off);

            memcpy(line + 1, addr, (size_t)alen);
            start = 8;
        }
        for (i = 0; i < n; i++) {
            uint8_t c = data[off + i];

            put_hex_byte(line + hex_column(start, i), c);
            if (no_ascii == 0) {
                line[HEX_ASCII_COLUMN + i] = ascii_printable(c) ? (char)c : '.';
            }
        }
        if (no_ascii == 0) {
            /* Full lines are cut after the ASCII, the last one after its
             * last character; neither is trimmed. */
            line[n == HEX_PER_LINE ? HEX_ASCII_LINE : HEX_ASCII_COLUMN + n] =
                '\0';
        } else {
            trim_trailing_spaces(line);
        }
        fprintf(fp, "%s\n", line);
    }
}

void persist_hex_append(GString *out, const uint8_t *data, int len,
                        const char *leadin, int format)
{
    bool want_ascii = format == 0;
    int start = leadin != NULL ? (int)strlen(leadin) : 0;
    int off;

    start = MIN(start, HEX_LEADIN_MAX);
    for (off = 0; off < len; off += HEX_PER_LINE) {
        char line[HEX_STR_LINE_MAX + 1];
        char ascii[HEX_PER_LINE + 1];
        int n = MIN(HEX_PER_LINE, len - off);
        int i;

        memset(line, ' ', HEX_STR_LINE_MAX);
        line[HEX_STR_LINE_MAX] = '\0';
        memcpy(line, leadin, (size_t)start);
        memset(ascii, ' ', HEX_PER_LINE);
        ascii[HEX_PER_LINE] = '\0';
        for (i = 0; i < n; i++) {
            uint8_t c = data[off + i];

            put_hex_byte(line + hex_column(start, i), c);
            ascii[i] = ascii_printable(c) ? (char)c : '.';
        }
        trim_trailing_spaces(line);
        if (want_ascii) {
            g_string_append_printf(out, "%-*s   %s\n",
                                   start + HEX_PER_LINE * 3 + 1, line, ascii);
        } else {
            g_string_append_printf(out, "%s\n", line);
        }
    }
}

void persist_cdb_append(GString *out, const uint8_t *cdb, int len)
{
    int i;

    g_string_append_c(out, '[');
    for (i = 0; i < len; i++) {
        g_string_append_printf(out, i > 0 ? " %02x" : "%02x", cdb[i]);
    }
    g_string_append_c(out, ']');
}

/* ------------------------------------------------------------------ */
/* Statuses, sense data and exit statuses                              */
/* ------------------------------------------------------------------ */

void persist_status_append(GString *out, uint8_t status)
{
    static const struct {
        uint8_t status;
        const char *name;
    } names[] = {
        {0x00, "Good"},
        {0x02, "Check Condition"},
        {0x04, "Condition Met"},
        {0x08, "Busy"},
        {0x10, "Intermediate (obsolete)"},
        {0x14, "Intermediate-Condition Met (obsolete)"},
        {0x18, "Reservation Conflict"},
        {0x22, "Command terminated (obsolete)"},
        {0x28, "Task Set Full"},
        {0x30, "ACA Active"},
        {0x40, "Task Aborted"},
    };
    uint8_t masked = status & 0x7e; /* as sg3_utils masks it */
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        if (names[i].status == masked) {
            g_string_append(out, names[i].name);
            return;
        }
    }
    g_string_append_printf(out, "Unknown status [0x%x]", masked);
}

static const char *const sense_key_names[16] = {
    "No Sense",       "Recovered Error",    "Not Ready",      "Medium Error",
    "Hardware Error", "Illegal Request",    "Unit Attention", "Data Protect",
    "Blank Check",    "Vendor specific(9)", "Copy Aborted",   "Aborted Command",
    "Equal",          "Volume Overflow",    "Miscompare",     "Completed",
};

/*
 * sg3_utils' text for an additional sense code: the codes softprd (and
 * QEMU in front of it) can report; others get sg3_utils' generic form.
 */
static void asc_append(GString *out, uint8_t asc, uint8_t ascq)
{
    static const struct {
        uint8_t asc;
        uint8_t ascq;
        const char *text;
    } texts[] = {
        {0x00, 0x00, "No additional sense information"},
        {0x00, 0x06, "I/O process terminated"},
        {0x04, 0x00, "Logical unit not ready, cause not reportable"},
        {0x08, 0x00, "Logical unit communication failure"},
        {0x1a, 0x00, "Parameter list length error"},
        {0x20, 0x00, "Invalid command operation code"},
        {0x24, 0x00, "Invalid field in cdb"},
        {0x25, 0x00, "Logical unit not supported"},
        {0x26, 0x00, "Invalid field in parameter list"},
        {0x26, 0x01, "Parameter not supported"},
        {0x26, 0x02, "Parameter value invalid"},
        {0x26, 0x04, "Invalid release of persistent reservation"},
        {0x29, 0x00, "Power on, reset, or bus device reset occurred"},
        {0x2a, 0x00, "Parameters changed"},
        {0x2a, 0x03, "Reservations preempted"},
        {0x2a, 0x04, "Reservations released"},
        {0x2a, 0x05, "Registrations preempted"},
        {0x44, 0x00, "Internal target failure"},
        {0x44, 0x01, "Persistent reservation information lost"},
        {0x55, 0x04, "Insufficient registration resources"},
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(texts); i++) {
        if (texts[i].asc == asc && texts[i].ascq == ascq) {
            g_string_append_printf(out, "Additional sense: %s", texts[i].text);
            return;
        }
    }
    if (asc >= 0x80) {
        g_string_append_printf(out, "vendor specific ASC=%02x, ASCQ=%02x (hex)",
                               asc, ascq);
    } else if (ascq >= 0x80) {
        g_string_append_printf(out,
                               "ASC=%02x, vendor specific qualification "
                               "ASCQ=%02x (hex)",
                               asc, ascq);
    } else {
        g_string_append_printf(out, "ASC=%02x, ASCQ=%02x (hex)", asc, ascq);
    }
}

int persist_sense_category(const uint8_t *sense, int len)
{
    ScsiSense h;

    if (len <= 2 || !scsi_sense_decode(sense, (size_t)len, &h)) {
        return PERSIST_EXIT_SENSE;
    }
    switch (h.code.key) {
    case SCSI_KEY_NO_SENSE:
        return PERSIST_EXIT_NO_SENSE;
    case 0x1: /* RECOVERED ERROR */
        return PERSIST_EXIT_RECOVERED;
    case SCSI_KEY_NOT_READY:
        return PERSIST_EXIT_NOT_READY;
    case SCSI_KEY_MEDIUM_ERROR:
    case SCSI_KEY_HARDWARE_ERROR:
    case 0x8: /* BLANK CHECK */
        return PERSIST_EXIT_MEDIUM_HARD;
    case SCSI_KEY_UNIT_ATTENTION:
        return PERSIST_EXIT_UNIT_ATTENTION;
    case SCSI_KEY_ILLEGAL_REQUEST:
        if (h.code.asc == 0x20 && h.code.ascq == 0x00) {
            return PERSIST_EXIT_INVALID_OPCODE;
        }
        if (h.code.asc == 0x21 && h.code.ascq == 0x00) {
            return PERSIST_EXIT_LBA_OUT_OF_RANGE;
        }
        return PERSIST_EXIT_ILLEGAL_REQUEST;
    case SCSI_KEY_ABORTED_COMMAND:
        return h.code.asc == 0x10 ? PERSIST_EXIT_PROTECTION
                                  : PERSIST_EXIT_ABORTED_COMMAND;
    case 0xe: /* MISCOMPARE */
        return PERSIST_EXIT_MISCOMPARE;
    case SCSI_KEY_DATA_PROTECT:
        return PERSIST_EXIT_DATA_PROTECT;
    case 0xa: /* COPY ABORTED */
        return PERSIST_EXIT_COPY_ABORTED;
    default:
        return PERSIST_EXIT_SENSE;
    }
}

/* The sense-key specific field of fixed-format sense data @s, whose SKSV
 * bit is set (SPC-4 4.5.2.4), as sg3_utils shows it for @key. */
static void sense_key_specific_append(GString *out, const uint8_t *s,
                                      uint8_t key)
{
    switch (key) {
    case SCSI_KEY_ILLEGAL_REQUEST:
        g_string_append_printf(
            out, "  Sense Key Specific: Error in %s: byte %d",
            (s[15] & 0x40) ? "Command" : "Data parameters", get_be16(s + 16));
        if (s[15] & 0x08) {
            g_string_append_printf(out, " bit %d\n", s[15] & 0x07);
        } else {
            g_string_append_c(out, '\n');
        }
        break;
    case SCSI_KEY_NO_SENSE:
    case SCSI_KEY_NOT_READY: {
        int progress = get_be16(s + 16);

        g_string_append_printf(out, "  Progress indication: %d.%02d%%\n",
                               progress * 100 / 65536,
                               (progress * 100 % 65536) / 656);
        break;
    }
    case SCSI_KEY_HARDWARE_ERROR:
    case SCSI_KEY_MEDIUM_ERROR:
    case 0x1: /* RECOVERED ERROR */
        g_string_append_printf(out, "  Actual retry count: 0x%02x%02x\n", s[16],
                               s[17]);
        break;
    case 0xa: /* COPY ABORTED */
        g_string_append_printf(out,
                               "  Segment pointer: Relative to start of %s, "
                               "byte %d",
                               (s[15] & 0x20) ? "segment descriptor"
                                              : "parameter list",
                               get_be16(s + 16));
        if (s[15] & 0x08) {
            g_string_append_printf(out, " bit %d\n", s[15] & 0x07);
        } else {
            g_string_append_c(out, '\n');
        }
        break;
    case SCSI_KEY_UNIT_ATTENTION:
        g_string_append_printf(out,
                               "  Unit attention condition queue: overflow "
                               "flag is %d\n",
                               (s[15] & 0x01) != 0);
        break;
    default:
        g_string_append_printf(out, "  Sense_key: 0x%x unexpected\n", key);
        break;
    }
}

/* The fields after the ASC line of fixed-format sense data. */
static void sense_fixed_details(GString *out, const uint8_t *s, int len,
                                const ScsiSense *h)
{
    bool valid = (s[0] & 0x80) != 0;
    uint32_t info = 0;

    if (len > 6) {
        info = get_be32(s + 3);
        if (valid) {
            g_string_append_printf(out, "  Info fld=0x%x [%u] ", info, info);
        } else if (info > 0) {
            g_string_append_printf(out, "  Valid=0, Info fld=0x%x [%u] ", info,
                                   info);
        }
    }
    if (s[2] & 0xe0) {
        if (s[2] & 0x80) {
            g_string_append(out, " FMK");
        }
        if (s[2] & 0x40) {
            g_string_append(out, " EOM");
        }
        if (s[2] & 0x20) {
            g_string_append(out, " ILI");
        }
        g_string_append_c(out, '\n');
    } else if (valid || info > 0) {
        g_string_append_c(out, '\n');
    }
    if (len >= 14 && s[14] != 0) {
        g_string_append_printf(out, "  Field replaceable unit code: %d\n",
                               s[14]);
    }
    if (len >= 18 && (s[15] & 0x80)) {
        sense_key_specific_append(out, s, h->code.key);
    }
}

/* What sg3_utils says about sense data it cannot normalise.  Returns
 * false when the raw bytes must not follow. */
static bool sense_irregular(GString *out, const uint8_t *s, int len)
{
    bool valid = (s[0] & 0x80) != 0;

    if (len < 4) {
        g_string_append(out, "sense buffer too short (4 byte minimum)\n");
        return true;
    }
    if ((s[0] & 0x7f) == 0x7f) {
        g_string_append(out, "Vendor specific sense buffer, in hex:\n");
        persist_hex_append(out, s, len, "", -1);
        return false;
    }
    g_string_append_printf(out,
                           "Probably uninitialized data.\n"
                           "  Try to view as SCSI-1 non-extended sense:\n"
                           "  AdValid=%d  Error class=%d  Error code=%d\n",
                           valid, (s[0] >> 4) & 0x7, s[0] & 0xf);
    if (valid) {
        g_string_append_printf(out, "  lba=0x%x\n",
                               ((s[1] << 16) | (s[2] << 8) | s[3]) & 0x1fffff);
    }
    g_string_append_c(out, '\n');
    return true;
}

void persist_sense_append(GString *out, const uint8_t *s, int len, bool raw)
{
    ScsiSense h;

    if (len < 1) {
        g_string_append(out, " >>> sense buffer empty\n");
        return;
    }
    if (scsi_sense_decode(s, (size_t)len, &h)) {
        bool descriptor = h.descriptor;
        int used = (int)h.len;

        g_string_append_printf(
            out, "%s; Sense key: %s\n",
            h.response_code == 0x70   ? "Fixed format, current"
            : h.response_code == 0x71 ? "Fixed format, <<<deferred>>>"
            : h.response_code == 0x72 ? "Descriptor format, current"
                                      : "Descriptor format, <<<deferred>>>",
            sense_key_names[h.code.key]);
        if (h.overflow) {
            g_string_append(out, "<<<Sense data overflow (SDAT_OVFL)>>>\n");
        }
        if (descriptor || used > 12) {
            asc_append(out, h.code.asc, h.code.ascq);
            g_string_append_c(out, '\n');
        }
        if (!descriptor) {
            if (used > 2) {
                sense_fixed_details(out, s, used, &h);
            } else {
                g_string_append_printf(
                    out, " fixed descriptor length too short, len=%d\n", used);
            }
        }
    } else if (!sense_irregular(out, s, len)) {
        return;
    }
    if (raw) {
        int embedded = len;

        g_string_append_printf(out, " Raw sense data (in hex), sb_len=%d", len);
        if (len > 7 && s[0] >= 0x70 && s[0] < 0x74) {
            embedded = s[7] + 8;
            g_string_append_printf(out, ", embedded_len=%d\n", embedded);
        } else {
            g_string_append_c(out, '\n');
        }
        /* Never past the buffer, whatever byte 7 claims. */
        persist_hex_append(out, s, MIN(embedded, len), "        ", -1);
    }
}

/* sg3_utils' names of exit statuses: the short one, and more detail. */
static const struct {
    int status;
    const char *name;
    const char *detail;
} exit_names[] = {
    {0, "No errors", "may also convey true"},
    {1, "Syntax error", "command line options (usually)"},
    {2, "Device not ready", "type: sense key"},
    {3, "Medium or hardware error",
     "type: sense key (plus blank check for tape)"},
    {5, "Illegal request", "type: sense key, apart from Invalid opcode"},
    {6, "Unit attention", "type: sense key"},
    {7, "Data protect", "type: sense key; write protected media?"},
    {9, "Illegal request, Invalid opcode", "type: sense key + asc,ascq"},
    {10, "Copy aborted", "type: sense key"},
    {11, "Aborted command",
     "type: sense key, other than protection related (asc=0x10)"},
    {14, "Miscompare", "type: sense key"},
    {15, "File error", NULL},
    {17, "Illegal request with Info field", NULL},
    {18, "Medium or hardware error with Info", NULL},
    {20, "No sense key", "type: probably additional sense code"},
    {21, "Recovered error (warning)", "tye: sense key"},
    {22, "LBA out of range", NULL},
    {24, "Reservation conflict", "type: SCSI status"},
    {25, "Condition met", "type: SCSI status"},
    {26, "Busy", "type: SCSI status"},
    {27, "Task set full", "type: SCSI status"},
    {28, "ACA aactive", "type: SCSI status"},
    {29, "Task aborted", "type: SCSI status"},
    {31, "Contradict", "command line options contradict or select bad mode"},
    {32, "Logic error", "unexpected situation, contact author"},
    {33, "SCSI command timeout", NULL},
    {36, "No errors (false)", NULL},
    {40, "Aborted command, protection error", NULL},
    {41, "Aborted command, protection error with Info field", NULL},
    {47, "flock (Unix system call) error", NULL},
    {48, "NVMe command with non-zero status", NULL},
    {50, "An OS error occurred", "(errno > 46 or negative)"},
    {97, "Malformed SCSI command", "trouble building command"},
    {98, "Some other sense error", "try '-v' option for more information"},
    {99, "Some other error", "possible transport of driver issue"},
};

/* sg3_utils' sg_exit2str(): NULL when it has no text for @status. */
static char *exit_text(int status, bool longer)
{
    size_t i;

    if (status < 0) {
        return NULL;
    }
    if ((status == 0 || status == 36) && !longer) {
        return g_strdup("");
    }
    if (status > PERSIST_EXIT_OS_BASE && status < PERSIST_EXIT_MALFORMED) {
        return g_strdup_printf("%s%s", longer ? "OS error: " : "",
                               g_strerror(status - PERSIST_EXIT_OS_BASE));
    }
    if (status > 128 && status < 255) {
        return g_strdup_printf("Utility stopped/aborted by signal number: %d",
                               status - 128);
    }
    for (i = 0; i < G_N_ELEMENTS(exit_names); i++) {
        if (exit_names[i].status == status) {
            if (longer && exit_names[i].detail != NULL) {
                return g_strdup_printf("%s, %s", exit_names[i].name,
                                       exit_names[i].detail);
            }
            return g_strdup(exit_names[i].name);
        }
    }
    return NULL;
}

char *persist_category_str(int status, int verbose)
{
    /* sg_persist formats it into 80 bytes. */
    enum { CATEGORY_MAX = 79 };
    char *text = exit_text(status, verbose > 0);

    if (text == NULL) {
        text = g_strdup_printf("Sense category: %d%s", status,
                               verbose == 0 ? ", try '-v' option for more "
                                              "information"
                                            : "");
    }
    if (strlen(text) > CATEGORY_MAX) {
        text[CATEGORY_MAX] = '\0';
    }
    return text;
}

char *persist_exit_str(int status)
{
    return exit_text(status, false);
}

/* ------------------------------------------------------------------ */
/* TransportIDs                                                        */
/* ------------------------------------------------------------------ */

/* sg_persist decodes TransportIDs into a 1024-byte buffer and reports
 * that size, not the TransportID's, as the length of a short one. */
#define TID_DECODE_BUFFER 1024

static void tid_format_warning(GString *out, const char *lip, int format)
{
    if (format != 0) {
        g_string_append_printf(out, "%s  [Unexpected TPID format: %d]\n", lip,
                               format);
    }
}

/* A protocol without a TransportID of its own: its name, then hex. */
static void tid_undefined(GString *out, const char *lip, const char *name,
                          const uint8_t *bp, int format, int normal_len)
{
    g_string_append_printf(out, "%s  %s:\n%s  TPID format: %d\n", lip, name,
                           lip, format);
    persist_hex_append(out, bp, normal_len, lip, 1);
}

/* A protocol whose TransportID is a binary name of @len bytes at @off:
 * @label, then the name in hex. */
static void tid_binary_name(GString *out, const char *lip, const char *label,
                            const uint8_t *bp, int format, int off, int len)
{
    g_string_append_printf(out, "%s  %s:\n", lip, label);
    tid_format_warning(out, lip, format);
    persist_hex_append(out, bp + off, len, lip, 1);
}

/* SCSI parallel interface: the initiator's SCSI address and the relative
 * port number. */
static void tid_spi(GString *out, const char *lip, const uint8_t *bp,
                    int format)
{
    g_string_append_printf(out,
                           "%s  Parallel SCSI initiator SCSI address: "
                           "0x%x\n",
                           lip, get_be16(bp + 2));
    tid_format_warning(out, lip, format);
    g_string_append_printf(out,
                           "%s  relative port number (of corresponding "
                           "target): 0x%x\n",
                           lip, get_be16(bp + 6));
}

/* iSCSI: the name (format 0) or port identifier (format 1),
 * NUL-terminated within its length. */
static void tid_iscsi(GString *out, const char *lip, const uint8_t *bp,
                      int format)
{
    int num = get_be16(bp + 2);
    int shown = (int)strnlen((const char *)bp + 4, (size_t)num);

    g_string_append_printf(out, "%s  iSCSI ", lip);
    if (format == 0) {
        g_string_append_printf(out, "name: %.*s\n", shown, bp + 4);
    } else if (format == 1) {
        g_string_append_printf(out, "world wide unique port id: %.*s\n",
                               shown, bp + 4);
    } else {
        g_string_append_printf(out, "  [Unexpected TPID format: %d]\n",
                               format);
        persist_hex_append(out, bp, num + 4, lip, 0);
    }
}

/* SCSI over PCI Express: the routing ID. */
static void tid_sop(GString *out, const char *lip, const uint8_t *bp,
                    int format, int normal_len)
{
    g_string_append_printf(out, "%s  SOP ", lip);
    if (format == 0) {
        g_string_append_printf(out, "Routing ID: 0x%x\n", get_be16(bp + 2));
    } else {
        g_string_append_printf(out, "  [Unexpected TPID format: %d]\n",
                               format);
        persist_hex_append(out, bp, normal_len, lip, 1);
    }
}

/* The TransportID @bp after its heading, by its PROTOCOL IDENTIFIER
 * (SPC-4 7.6.4). */
static void tid_body(GString *out, const char *lip, const uint8_t *bp,
                     int normal_len)
{
    int format = (bp[0] >> 6) & 0x3;
    int protocol = bp[0] & 0xf;

    switch (protocol) {
    case 0x0:
        tid_binary_name(out, lip, "FCP-2 World Wide Name", bp, format, 8, 8);
        break;
    case 0x1:
        tid_spi(out, lip, bp, format);
        break;
    case 0x2:
        tid_undefined(out, lip, "SSA (transport id not defined)", bp, format,
                      normal_len);
        break;
    case 0x3:
        tid_binary_name(out, lip, "IEEE 1394 EUI-64 name", bp, format, 8, 8);
        break;
    case 0x4:
        tid_binary_name(out, lip, "RDMA initiator port identifier", bp,
                        format, 8, 16);
        break;
    case 0x5:
        tid_iscsi(out, lip, bp, format);
        break;
    case 0x6:
        g_string_append_printf(out, "%s  SAS address: 0x%" PRIx64 "\n", lip,
                               get_be64(bp + 4));
        tid_format_warning(out, lip, format);
        break;
    case 0x7:
        tid_undefined(out, lip, "ADT", bp, format, normal_len);
        break;
    case 0x8:
        tid_undefined(out, lip, "ATAPI", bp, format, normal_len);
        break;
    case 0x9:
        tid_undefined(out, lip, "UAS", bp, format, normal_len);
        break;
    case 0xa:
        tid_sop(out, lip, bp, format, normal_len);
        break;
    case 0xb:
        tid_undefined(out, lip, "PCIE", bp, format, normal_len);
        break;
    case 0xf:
        g_string_append_printf(out, "%s  No specified protocol\n", lip);
        break;
    default:
        g_string_append_printf(out,
                               "%s  unknown protocol id=0x%x  TPID "
                               "format=%d\n",
                               lip, protocol, format);
        persist_hex_append(out, bp, normal_len, lip, 1);
        break;
    }
}

/* Enough for any TransportID header's length: 4 + 65535, and 24. */
#define TID_PADDED_LEN (4 + 65536 + 24)

void persist_tid_append(GString *out, const char *lip, const uint8_t *data,
                        size_t avail, int len)
{
    /* A zero-padded copy, so that the lengths in the header never lead
     * past the bytes we have. */
    g_autofree uint8_t *bp = g_malloc0(TID_PADDED_LEN);

    memcpy(bp, data, MIN(avail, (size_t)TID_PADDED_LEN));
    if (len < 24 || len % 4 != 0) {
        g_string_append_printf(out,
                               "%sTransport Id short or not multiple of 4 "
                               "[length=%d]:\n",
                               lip, TID_DECODE_BUFFER);
    } else {
        g_string_append_printf(out, "%sTransport Id of initiator:\n", lip);
    }
    tid_body(out, lip, bp, MIN(len, 24));
}

/* ------------------------------------------------------------------ */
/* PR IN responses                                                     */
/* ------------------------------------------------------------------ */

/* "scope: LU_SCOPE,  type: ..." for the SCOPE/TYPE byte @b. */
static void print_scope_type(const char *indent, uint8_t b)
{
    int scope = (b >> 4) & 0xf;

    if (scope == 0) {
        printf("%sscope: LU_SCOPE, ", indent);
    } else {
        printf("%sscope: %d ", indent, scope);
    }
    /* The engine names the six types as sg_persist does; sg_persist
     * calls the others obsolete, numbered its own way. */
    if (engine_type_valid(b & 0xf)) {
        printf(" type: %s\n", engine_type_name(b & 0xf));
    } else if ((b & 0xf) < 10) {
        printf(" type: obsolete [%d]\n", b & 0xf);
    } else {
        printf(" type: obsolete [0x%x]\n", b & 0xf);
    }
}

/* SPC-4 6.13.4 REPORT CAPABILITIES. */
static int print_capabilities(int hex, const uint8_t *b)
{
    if (b[1] != 8) {
        fprintf(stderr, "Unexpected response for PRIN Report Capabilities\n");
        if (hex) {
            persist_hex_print(stdout, b, b[1], 1);
        }
        return PERSIST_EXIT_MALFORMED;
    }
    if (hex) {
        persist_hex_print(stdout, b, 8, 1);
        return PERSIST_EXIT_OK;
    }
    printf("Report capabilities response:\n");
    printf("  Replace Lost Reservation Capable(RLR_C): %d\n",
           (b[2] & PRIN_CAP_RLR_C) != 0);
    printf("  Compatible Reservation Handling(CRH): %d\n",
           (b[2] & PRIN_CAP_CRH) != 0);
    printf("  Specify Initiator Ports Capable(SIP_C): %d\n",
           (b[2] & PRIN_CAP_SIP_C) != 0);
    printf("  All Target Ports Capable(ATP_C): %d\n",
           (b[2] & PRIN_CAP_ATP_C) != 0);
    printf("  Persist Through Power Loss Capable(PTPL_C): %d\n",
           (b[2] & PRIN_CAP_PTPL_C) != 0);
    printf("  Type Mask Valid(TMV): %d\n", (b[3] & PRIN_CAP_TMV) != 0);
    printf("  Allow Commands: %d\n",
           (b[3] >> PRIN_CAP_ALLOW_COMMANDS_SHIFT) &
               PRIN_CAP_ALLOW_COMMANDS_MASK);
    printf("  Persist Through Power Loss Active(PTPL_A): %d\n",
           (b[3] & PRIN_CAP_PTPL_A) != 0);
    if (b[3] & PRIN_CAP_TMV) {
        printf("    Support indicated in Type mask:\n");
        printf("      %s: %d\n", engine_type_name(PR_TYPE_WRITE_EXCLUSIVE_AR),
               (b[4] & 0x80) != 0);
        printf("      %s: %d\n", engine_type_name(PR_TYPE_EXCLUSIVE_ACCESS_RO),
               (b[4] & 0x40) != 0);
        printf("      %s: %d\n", engine_type_name(PR_TYPE_WRITE_EXCLUSIVE_RO),
               (b[4] & 0x20) != 0);
        printf("      %s: %d\n", engine_type_name(PR_TYPE_EXCLUSIVE_ACCESS),
               (b[4] & 0x08) != 0);
        printf("      %s: %d\n", engine_type_name(PR_TYPE_WRITE_EXCLUSIVE),
               (b[4] & 0x02) != 0);
        printf("      %s: %d\n", engine_type_name(PR_TYPE_EXCLUSIVE_ACCESS_AR),
               (b[5] & 0x01) != 0);
    }
    return PERSIST_EXIT_OK;
}

/* -H once: the header decoded, the rest in hex. */
static void print_prin_hex1(const uint8_t *buf, size_t buf_len,
                            unsigned alloc_len)
{
    uint32_t generation = get_be32(buf);
    int32_t add_len = (int32_t)get_be32(buf + 4);
    /* Unsigned, as sg_persist compares them. */
    uint32_t room = alloc_len - 8;

    printf("  PR generation=0x%x, ", generation);
    if (add_len <= 0) {
        printf("Additional length=%d\n", add_len);
    }
    if ((uint32_t)add_len > room) {
        printf("Additional length too large=%d, truncate\n", add_len);
        persist_hex_print(
            stdout, buf + 8,
            (int)CLAMP((int64_t)(int32_t)room, 0, (int64_t)buf_len - 8), 1);
    } else {
        printf("Additional length=%d\n", add_len);
        persist_hex_print(stdout, buf + 8,
                          (int)CLAMP((int64_t)add_len, 0, (int64_t)buf_len - 8),
                          1);
    }
}

/* SPC-4 6.13.2 READ KEYS. */
static void print_keys(const uint8_t *buf, size_t buf_len)
{
    int32_t add_len = (int32_t)get_be32(buf + 4);
    int num = add_len / 8;
    int k;

    printf("  PR generation=0x%x, ", get_be32(buf));
    if (num <= 0) {
        printf("there are NO registered reservation keys\n");
        return;
    }
    if (num == 1) {
        printf("1 registered reservation key follows:\n");
    } else {
        printf("%d registered reservation keys follow:\n", num);
    }
    for (k = 0; k < num && 8 + 8 * (size_t)(k + 1) <= buf_len; k++) {
        printf("    0x%" PRIx64 "\n", get_be64(buf + 8 + 8 * k));
    }
}

/* SPC-4 6.13.3 READ RESERVATION. */
static void print_reservation(const uint8_t *buf)
{
    int32_t add_len = (int32_t)get_be32(buf + 4);

    printf("  PR generation=0x%x, ", get_be32(buf));
    if (add_len / 16 <= 0) {
        printf("there is NO reservation held\n");
        return;
    }
    printf("Reservation follows:\n");
    printf("    Key=0x%" PRIx64 "\n", get_be64(buf + 8));
    print_scope_type("    ", buf[8 + 13]);
}

/* SPC-4 6.13.5 READ FULL STATUS. */
static void print_full_status(int verbose, const uint8_t *buf, size_t buf_len)
{
    int32_t add_len = (int32_t)get_be32(buf + 4);
    size_t off = 8;
    int64_t k;

    printf("  PR generation=0x%x\n", get_be32(buf));
    if (add_len == 0) {
        printf("  No full status descriptors\n");
        if (verbose) {
            printf("  So there are no registered IT nexuses\n");
        }
    }
    for (k = 0; k < add_len && off + 24 <= buf_len;) {
        const uint8_t *bp = buf + off;
        int32_t desc_len = (int32_t)get_be32(bp + 20);
        int64_t num = 24 + (int64_t)desc_len;

        printf("    Key=0x%" PRIx64 "\n", get_be64(bp));
        if (bp[12] & PRIN_FULL_ALL_TG_PT) {
            printf("      All target ports bit set\n");
        } else {
            printf("      All target ports bit clear\n");
            printf("      Relative port address: 0x%x\n", get_be16(bp + 18));
        }
        if (bp[12] & PRIN_FULL_R_HOLDER) {
            printf("      << Reservation holder >>\n");
            print_scope_type("      ", bp[13]);
        } else {
            printf("      not reservation holder\n");
        }
        if (desc_len > 0) {
            g_autoptr(GString) text = g_string_new(NULL);

            persist_tid_append(text, "      ", bp + 24, buf_len - off - 24,
                               desc_len);
            fputs(text->str, stdout);
        }
        if (num <= 0) {
            break; /* a descriptor that does not advance */
        }
        k += num;
        off += (size_t)num;
    }
}

int persist_print_prin(int sa, int hex, int verbose, const uint8_t *buf,
                       size_t buf_len, unsigned alloc_len)
{
    if (sa == PR_IN_REPORT_CAPABILITIES) {
        return print_capabilities(hex, buf);
    }
    if (hex > 1) {
        int32_t add_len = (int32_t)get_be32(buf + 4);
        int64_t len = (int64_t)add_len + 8;

        persist_hex_print(stdout, buf, (int)CLAMP(len, 0, (int64_t)buf_len),
                          hex == 2 ? 1 : -1);
    } else if (hex == 1) {
        print_prin_hex1(buf, buf_len, alloc_len);
    } else if (sa == PR_IN_READ_KEYS) {
        print_keys(buf, buf_len);
    } else if (sa == PR_IN_READ_RESERVATION) {
        print_reservation(buf);
    } else if (sa == PR_IN_READ_FULL_STATUS) {
        print_full_status(verbose, buf, buf_len);
    }
    return PERSIST_EXIT_OK;
}
