/*
 * persist_tid: sg_persist's -X (--transport-id) argument.
 *
 * What sg_persist accepts here, and the bytes it makes of it, is part of
 * its interface: the parameter list it sends must be the one softpr
 * persist sends, so that softprd answers both alike, including for
 * TransportIDs it rejects.  So these bytes are built exactly as sg_persist
 * 1.46 builds them (and its diagnostics printed in its words), rather
 * than through tid_parse(), which validates and normalises.  The device
 * server (softprd's engine) judges the result.
 */
#include "persist.h"

#include <string.h>

#include "bytes.h"
#include "tid.h"

#define HEX_CHARS "0123456789aAbBcCdDeEfF"

/* An iSCSI name's ADDITIONAL LENGTH may not exceed this (SAM-5 A.2). */
#define ISCSI_ALEN_MAX 241

/* At most this many lines of a -X file are read. */
#define TID_FILE_LINES 512
#define TID_FILE_LINE_MAX 1024

/* Whether @text starts with @lower or @upper (sg_persist accepts the
 * protocol prefixes in either case, not mixed). */
static bool has_prefix(const char *text, const char *lower, const char *upper)
{
    return strncmp(text, lower, 4) == 0 || strncmp(text, upper, 4) == 0;
}

/* The value of hex digit @c. */
static int nibble(char c)
{
    if (g_ascii_isdigit(c)) {
        return c - '0';
    }
    return g_ascii_tolower(c) - 'a' + 10;
}

/* Exactly 16 hex digits at @text (more digits are an error, anything
 * else may follow) into 8 bytes at @out. */
static bool decode_hex16(const char *text, uint8_t *out)
{
    int i;

    if (strspn(text, HEX_CHARS) != 16) {
        return false;
    }
    for (i = 0; i < 8; i++) {
        out[i] =
            (uint8_t)((nibble(text[2 * i]) << 4) | nibble(text[2 * i + 1]));
    }
    return true;
}

/* "iqn.NAME" or "iqn.NAME,i,0xISID": the text up to the first blank is
 * the iSCSI name field, NUL-terminated and padded to a multiple of 4. */
static bool decode_iqn(const char *text, uint8_t *row)
{
    const char *blank = strpbrk(text, " \t");
    const char *port = strstr(text, ",i,0x");
    size_t len = blank != NULL ? (size_t)(blank - text) : strlen(text);
    size_t alen = len + 1;

    if (blank != NULL && port > blank) {
        port = NULL;
    }
    if (alen < 20) {
        alen = 20;
    } else if (alen % 4 != 0) {
        alen = (alen / 4 + 1) * 4;
    }
    if (alen > ISCSI_ALEN_MAX) {
        fprintf(stderr, "iSCSI name too long, alen=%d\n", (int)alen);
        return false;
    }
    row[0] = (uint8_t)(TID_PROTOCOL_ISCSI |
                       (port != NULL ? TID_FORMAT_ISCSI_PORT << 6 : 0));
    row[3] = (uint8_t)alen;
    memcpy(row + 4, text, len);
    return true;
}

/*
 * The symbolic forms.  Like sg_persist, clears the row's first 24 bytes
 * whatever @text is, and says so on stderr when @text is not symbolic
 * (even when it then parses as hex bytes).
 */
static bool decode_symbolic(const char *text, uint8_t *row)
{
    int a;
    int b;

    memset(row, 0, 24);
    if (has_prefix(text, "sas,", "SAS,")) {
        if (!decode_hex16(text + 4, row + 4)) {
            fprintf(stderr, "badly formed symbolic SAS TransportID: %s\n",
                    text + 4);
            return false;
        }
        row[0] = TID_PROTOCOL_SAS;
        return true;
    }
    if (has_prefix(text, "spi,", "SPI,")) {
        if (sscanf(text + 4, "%d,%d", &a, &b) != 2) {
            fprintf(stderr, "badly formed symbolic SPI TransportID: %s\n",
                    text + 4);
            return false;
        }
        row[0] = 0x1; /* SCSI parallel interface */
        put_be16(row + 2, (uint16_t)a);
        put_be16(row + 6, (uint16_t)b);
        return true;
    }
    if (has_prefix(text, "fcp,", "FCP,")) {
        if (!decode_hex16(text + 4, row + 8)) {
            fprintf(stderr, "badly formed symbolic FCP TransportID: %s\n",
                    text + 4);
            return false;
        }
        row[0] = TID_PROTOCOL_FCP;
        return true;
    }
    if (has_prefix(text, "sbp,", "SBP,")) {
        if (!decode_hex16(text + 4, row + 8)) {
            fprintf(stderr, "badly formed symbolic SBP TransportID: %s\n",
                    text + 4);
            return false;
        }
        row[0] = 0x3; /* IEEE 1394 */
        return true;
    }
    if (has_prefix(text, "srp,", "SRP,")) {
        /* sg_persist demands 16 digits and then reads 32; its last 16
         * come from past the argument.  We take the 16. */
        if (!decode_hex16(text + 4, row + 8)) {
            fprintf(stderr, "badly formed symbolic SRP TransportID: %s\n",
                    text + 4);
            return false;
        }
        row[0] = 0x4; /* SCSI RDMA */
        return true;
    }
    if (strncmp(text, "iqn.", 4) == 0) {
        return decode_iqn(text, row);
    }
    if (has_prefix(text, "sop,", "SOP,")) {
        /* sg_persist 1.46 never accepts this form. */
        fprintf(stderr, "badly formed symbolic SOP TransportID: %s\n",
                text + 4);
        return false;
    }
    fprintf(stderr, "unable to parse symbolic TransportID: %s\n", text);
    return false;
}

/* One hex number at @text as scanf("%x") reads it (leading blanks). */
static bool scan_hex(const char *text, unsigned *value)
{
    return sscanf(text, "%x", value) == 1;
}

/* Hex bytes on the command line: "05,00,00,18,69,71,6e,...". */
static bool decode_hex_argument(PersistTids *tids, const char *arg)
{
    size_t in_len = strlen(arg);
    size_t good = strspn(arg, HEX_CHARS ", ");
    const char *p = arg;
    size_t k;

    if (good != in_len) {
        fprintf(stderr, "build_transportid: error at pos %d\n", (int)good + 1);
        return false;
    }
    for (k = 0; k < sizeof(tids->rows); k++) {
        const char *comma;
        const char *space;
        unsigned h;

        if (!scan_hex(p, &h)) {
            fprintf(stderr, "build_transportid: error at pos %d\n",
                    (int)(p - arg + 1));
            return false;
        }
        if (h > 0xff) {
            fprintf(stderr,
                    "build_transportid: hex number larger than 0xff at pos "
                    "%d\n",
                    (int)(p - arg + 1));
            return false;
        }
        tids->rows[k] = (uint8_t)h;
        /* The next byte follows the first comma or space from where
         * this one's text began, blanks before it included. */
        comma = strchr(p, ',');
        space = strchr(p, ' ');
        if (comma == NULL || (space != NULL && space < comma)) {
            comma = space;
        }
        if (comma == NULL) {
            break;
        }
        p = comma + 1;
    }
    tids->count = 1;
    if (k >= sizeof(tids->rows)) {
        fprintf(stderr, "build_transportid: array length exceeded\n");
        return false;
    }
    return true;
}

/* The hex bytes of one line of a -X file into @row (of the rows from
 * @off on).  @line_no counts from 1; @lcp points into @line. */
static bool decode_hex_line(PersistTids *tids, size_t off, const char *line,
                            const char *lcp, int line_no, bool split_line,
                            char *carry_over)
{
    int k;

    for (k = 0; k < TID_FILE_LINE_MAX; k++) {
        unsigned h;

        if (!scan_hex(lcp, &h)) {
            if (*lcp == '#') {
                break;
            }
            fprintf(stderr, "decode_file_tids: error in line %d, at pos %d\n",
                    line_no, (int)(lcp - line + 1));
            return false;
        }
        if (h > 0xff) {
            fprintf(stderr,
                    "decode_file_tids: hex number larger than 0xff in line "
                    "%d, pos %d\n",
                    line_no, (int)(lcp - line + 1));
            return false;
        }
        if (split_line && strlen(lcp) == 1) {
            /* A lone digit at the end of a cut line may be half a byte. */
            carry_over[0] = *lcp;
        }
        if (off + (size_t)k >= sizeof(tids->rows)) {
            fprintf(stderr, "decode_file_tids: array length exceeded\n");
            return false;
        }
        tids->rows[off + (size_t)k] = (uint8_t)h;
        lcp = strpbrk(lcp, " ,\t");
        if (lcp == NULL) {
            break;
        }
        lcp += strspn(lcp, " ,\t");
        if (*lcp == '\0') {
            break;
        }
    }
    return true;
}

/* One TransportID per line of @fp: symbolic or hex bytes, '#' comments. */
static bool decode_file(PersistTids *tids, FILE *fp)
{
    char line[TID_FILE_LINE_MAX];
    char carry_over[4] = {0};
    size_t off = 0;
    int num = 0;
    int j;

    for (j = 0; j < TID_FILE_LINES; j++) {
        const char *lcp;
        size_t in_len;
        size_t m;
        size_t k;
        bool split_line = false;

        if (fgets(line, sizeof(line), fp) == NULL) {
            break;
        }
        in_len = strlen(line);
        if (in_len > 0) {
            if (line[in_len - 1] == '\n') {
                line[--in_len] = '\0';
            } else {
                split_line = true; /* longer than the buffer, or no EOL */
            }
        }
        if (in_len < 1) {
            carry_over[0] = '\0';
            continue;
        }
        lcp = line;
        if (carry_over[0] != '\0') {
            if (g_ascii_isxdigit(line[0])) {
                carry_over[1] = line[0];
                carry_over[2] = '\0';
                /* Rewrite the previous line's last byte: both digits. */
                tids->rows[off - 1] = (uint8_t)((nibble(carry_over[0]) << 4) |
                                                nibble(carry_over[1]));
                lcp = line + 1;
                in_len--;
            }
            carry_over[0] = '\0';
        }
        m = strspn(lcp, " \t");
        if (m == in_len) {
            continue;
        }
        lcp += m;
        in_len -= m;
        if (*lcp == '#') {
            continue;
        }
        if (!decode_symbolic(lcp, tids->rows + off)) {
            k = strspn(lcp, HEX_CHARS " ,\t");
            if (k < in_len && lcp[k] != '#') {
                fprintf(stderr,
                        "decode_file_tids: syntax error at line %d, pos "
                        "%d\n",
                        j + 1, (int)(m + k + 1));
                return false;
            }
            if (!decode_hex_line(tids, off, line, lcp, j + 1, split_line,
                                 carry_over)) {
                return false;
            }
        }
        off += PERSIST_TID_ROW;
        if (off >= sizeof(tids->rows)) {
            fprintf(stderr, "decode_file_tids: array length exceeded\n");
            return false;
        }
        num++;
    }
    tids->count = num;
    return true;
}

bool persist_tids_add(PersistTids *tids, const char *arg)
{
    if (arg[0] == '-' || strncmp(arg, "file=", 5) == 0 ||
        strncmp(arg, "FILE=", 5) == 0) {
        FILE *fp = stdin;
        bool ok;

        if (arg[0] != '-') {
            fp = fopen(arg + 5, "r");
            if (fp == NULL) {
                fprintf(stderr, "decode_file_tids: unable to open %s\n",
                        arg + 5);
                return false;
            }
        }
        ok = decode_file(tids, fp);
        if (fp != stdin) {
            (void)fclose(fp); /* read, not written: nothing can be lost */
        }
        return ok;
    }
    if (arg[0] == '\0') {
        tids->count = 0;
    }
    if (decode_symbolic(arg, tids->rows)) {
        tids->count = 1;
        return true;
    }
    return decode_hex_argument(tids, arg);
}

size_t persist_tids_compact(PersistTids *tids)
{
    size_t compact = 0;
    size_t off = 0;
    int k;

    for (k = 0; k < tids->count && k < PERSIST_TID_ROWS;
         k++, off += PERSIST_TID_ROW) {
        size_t len = 24;

        if ((tids->rows[off] & 0x0f) == TID_PROTOCOL_ISCSI) {
            len = MAX((size_t)get_be16(tids->rows + off + 2) + 4, 24);
        }
        if (off + len > sizeof(tids->rows)) {
            /* Longer than any parameter list can be: say so, and read
             * nothing past the rows (sg_persist would). */
            return sizeof(tids->rows) + 1;
        }
        if (off > compact) {
            memmove(tids->rows + compact, tids->rows + off, len);
        }
        compact += len;
    }
    return compact;
}
