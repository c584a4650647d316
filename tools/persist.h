/*
 * persist: `softpr persist`, sg_persist's command line and output with
 * softprd as the device.  Declarations shared by its three files:
 * persist.c (options, the run, talking to softprd), persist_tid.c (-X
 * TransportIDs read as sg_persist reads them) and persist_format.c
 * (everything printed the way sg_persist and its sg3_utils library print
 * it).  The strings and exit statuses are sg_persist 1.46's (version
 * 0.67 20190913), so that scripts written for it, fence_scsi's parsing
 * included, work unchanged.
 */
#ifndef SOFTPR_PERSIST_H
#define SOFTPR_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

/* Exit statuses: sg3_utils' (include/sg_lib.h), which sg_persist uses. */
enum {
    PERSIST_EXIT_OK = 0,
    PERSIST_EXIT_SYNTAX = 1,
    PERSIST_EXIT_NOT_READY = 2,
    PERSIST_EXIT_MEDIUM_HARD = 3,
    PERSIST_EXIT_ILLEGAL_REQUEST = 5,
    PERSIST_EXIT_UNIT_ATTENTION = 6,
    PERSIST_EXIT_DATA_PROTECT = 7,
    PERSIST_EXIT_INVALID_OPCODE = 9,
    PERSIST_EXIT_COPY_ABORTED = 10,
    PERSIST_EXIT_ABORTED_COMMAND = 11,
    PERSIST_EXIT_MISCOMPARE = 14,
    PERSIST_EXIT_NO_SENSE = 20,
    PERSIST_EXIT_RECOVERED = 21,
    PERSIST_EXIT_LBA_OUT_OF_RANGE = 22,
    PERSIST_EXIT_RESERVATION_CONFLICT = 24,
    PERSIST_EXIT_CONDITION_MET = 25,
    PERSIST_EXIT_BUSY = 26,
    PERSIST_EXIT_TASK_SET_FULL = 27,
    PERSIST_EXIT_ACA_ACTIVE = 28,
    PERSIST_EXIT_TASK_ABORTED = 29,
    PERSIST_EXIT_CONTRADICT = 31,
    PERSIST_EXIT_PROTECTION = 40,
    PERSIST_EXIT_OS_BASE = 50, /* + errno, for errno 1 to 46 */
    PERSIST_EXIT_MALFORMED = 97,
    PERSIST_EXIT_SENSE = 98,
    PERSIST_EXIT_OTHER = 99,
};

/* ---- persist_tid.c: -X ---------------------------------------------- */

/*
 * The -X TransportIDs as sg_persist collects them: one 256-byte row per
 * TransportID, at most 32, each option overwriting from the first row
 * without clearing what an earlier one left.  What is sent is computed
 * from the rows by persist_tids_compact(), so that the parameter list is
 * byte for byte the one sg_persist would send.
 */
#define PERSIST_TID_ROW 256
#define PERSIST_TID_ROWS 32

typedef struct PersistTids {
    uint8_t rows[PERSIST_TID_ROWS * PERSIST_TID_ROW];
    int count; /* TransportIDs given by the last -X */
} PersistTids;

/*
 * Read one -X argument into @tids: comma- or space-separated hex bytes,
 * "iqn.NAME[,i,0xISID]", "fcp,", "sas,", "sbp,", "srp," with 16 hex
 * digits, "spi,N,M", or "-" / "file=NAME" for one TransportID per line
 * of standard input or of that file.  Prints sg_persist's diagnostics to
 * stderr, and returns false, for what sg_persist rejects.
 */
bool persist_tids_add(PersistTids *tids, const char *arg);

/*
 * Pack the TransportIDs into the start of @tids->rows, each as long as
 * its header says (iSCSI: ADDITIONAL LENGTH + 4, at least 24; any other
 * protocol 24), and return the total length; more than
 * sizeof(@tids->rows) when they do not fit there (nor in any parameter
 * list).
 */
size_t persist_tids_compact(PersistTids *tids);

/* ---- persist_format.c: sg_persist's and sg3_utils' output ----------- */

/*
 * Print @len bytes as sg3_utils' hex2stdout()/hex2stderr() do: with
 * @no_ascii > 0 an offset and 16 hex bytes per line; 0 adds the bytes as
 * ASCII on the right; < 0 only the hex bytes.
 */
void persist_hex_print(FILE *fp, const uint8_t *data, int len, int no_ascii);

/*
 * Append @len bytes as sg3_utils' hex2str() does: each line starts with
 * @leadin; @format 0 adds ASCII on the right, otherwise hex only.
 */
void persist_hex_append(GString *out, const uint8_t *data, int len,
                        const char *leadin, int format);

/* Append a CDB as "[5e 00 ... 00]". */
void persist_cdb_append(GString *out, const uint8_t *cdb, int len);

/*
 * Append the decoding of @len bytes of sense data as sg3_utils'
 * sg_get_sense_str() does (fixed format in full; descriptor format
 * without its descriptors, which softprd never sends), with the raw bytes
 * when @raw.
 */
void persist_sense_append(GString *out, const uint8_t *sense, int len,
                          bool raw);

/* The exit status sg3_utils derives from sense data (sense category). */
int persist_sense_category(const uint8_t *sense, int len);

/* sg3_utils' name for a SCSI status ("Reservation Conflict"). */
void persist_status_append(GString *out, uint8_t status);

/*
 * sg3_utils' text for an exit status, as sg_get_category_sense_str()
 * gives it: longer with @verbose > 0 (g_free() it).
 */
char *persist_category_str(int status, int verbose);

/*
 * The text sg_persist prints after "sg_persist failed: " for @status, or
 * NULL when sg3_utils has none (g_free() it).
 */
char *persist_exit_str(int status);

/*
 * Append the decoding of the TransportID at @tid as sg3_utils'
 * sg_decode_transportid_str() does for one TransportID of @len bytes
 * (the length its container claims), each line starting with @leadin.
 * At most @avail bytes are read from @tid; fields past them read as zero.
 */
void persist_tid_append(GString *out, const char *leadin, const uint8_t *tid,
                        size_t avail, int len);

/*
 * Print a PERSISTENT RESERVE IN response to stdout as sg_persist does
 * for service action @sa with @hex -H options and @verbose -v options.
 * @buf holds @buf_len bytes, zero past what the device server returned;
 * @alloc_len is the allocation length that was sent.  Returns 0, or
 * PERSIST_EXIT_MALFORMED (after saying so on stderr) for a REPORT
 * CAPABILITIES response of the wrong length.
 */
int persist_print_prin(int sa, int hex, int verbose, const uint8_t *buf,
                       size_t buf_len, unsigned alloc_len);

#endif /* SOFTPR_PERSIST_H */
