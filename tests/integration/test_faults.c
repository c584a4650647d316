/*
 * test_faults: every I/O operation of a PR OUT fails in turn.
 *
 * The server, command and store modules run in this process (inproc.c)
 * on a database opened through faultvfs.  A dry run counts the reads,
 * writes, syncs, locks, truncates and deletes that one REGISTER AND
 * IGNORE EXISTING KEY makes; then, for each kind and each N up to that
 * count, the Nth operation of that kind fails.  Every time the client
 * must get a retryable answer (BUSY, or CHECK CONDITION ABORTED COMMAND
 * INTERNAL TARGET FAILURE as docs/emulation.md documents), the PR state
 * must be what it was (PRgeneration and key, read back through the
 * daemon), PRAGMA integrity_check must be ok, and the daemon must go on
 * serving: the same command then succeeds.
 *
 * The dry run also checks the order of the syncs that make the commit
 * durable in rollback-journal mode (sqlite's atomic commit, with the
 * store's synchronous EXTRA): the journal and the directory entry of
 * the new journal are synced before the database is written, the
 * database is synced before the journal is deleted, and the directory
 * is synced after that deletion (the commit point) before the answer.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "faultvfs.h"
#include "inproc.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

typedef struct Snapshot {
    uint32_t generation;
    uint64_t key;
} Snapshot;

static Snapshot read_state(PrClient *c, int disk)
{
    ClientReply r;
    Snapshot s = {0, 0};

    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 64, &r),
                     SCSI_STATUS_GOOD);
    s.generation = get_be32(r.data);
    if (get_be32(r.data + 4) >= 8) {
        s.key = get_be64(r.data + 8);
    }
    return s;
}

/* Whether @r is one of the retryable answers softprd documents. */
static bool retryable(const ClientReply *r, bool *busy)
{
    ScsiSenseCode code;

    *busy = r->status == SCSI_STATUS_BUSY;
    if (*busy) {
        return true;
    }
    return r->status == SCSI_STATUS_CHECK_CONDITION &&
           scsi_sense_parse(r->sense, sizeof(r->sense), &code) &&
           code.key == SCSI_KEY_ABORTED_COMMAND && code.asc == 0x44 &&
           code.ascq == 0x00;
}

#define HISTORY_ROWS "SELECT count(*) FROM history"

/* The index of the first (@first) or last event @op on @file in
 * @events[from, to), or -1. */
static int find_event(const FaultEvent *events, int from, int to, FaultOp op,
                      FaultFile file, bool first)
{
    int i;

    for (i = first ? from : to - 1; first ? i < to : i >= from;
         i += first ? 1 : -1) {
        if (events[i].op == op && events[i].file == file) {
            return i;
        }
    }
    return -1;
}

/* The changes one commit made, one line, for a failure's message. */
static char *describe_events(const FaultEvent *events, unsigned n)
{
    GString *text = g_string_new(NULL);
    unsigned i;

    unsigned run;

    for (i = 0; i < n; i += run) {
        for (run = 1; i + run < n && events[i + run].op == events[i].op &&
                      events[i + run].file == events[i].file;
             run++) {
        }
        g_string_append_printf(text, "%s", i > 0 ? ", " : "");
        if (run > 1) {
            g_string_append_printf(text, "%u x ", run);
        }
        g_string_append_printf(text, "%s %s", faultvfs_op_name(events[i].op),
                               faultvfs_file_name(events[i].file));
    }
    return g_string_free(text, FALSE);
}

/* The syncs of one PR OUT's commit came in the order that makes it
 * durable when the power goes at any moment. */
static void assert_commit_syncs(void)
{
    unsigned n;
    const FaultEvent *ev = faultvfs_events(&n);
    g_autofree char *seen = describe_events(ev, n);
    int end = (int)n;
    int journal = find_event(ev, 0, end, FAULT_WRITE, FAULT_FILE_JOURNAL, true);
    int db_write =
        find_event(ev, 0, end, FAULT_WRITE, FAULT_FILE_DATABASE, true);
    int db_last =
        find_event(ev, 0, end, FAULT_WRITE, FAULT_FILE_DATABASE, false);
    int deleted =
        find_event(ev, 0, end, FAULT_DELETE, FAULT_FILE_JOURNAL, true);
    const char *missing = NULL;

    if (journal < 0 || db_write < journal || deleted < db_last) {
        missing = "journal written, then the database, then the journal "
                  "deleted, in this order";
    } else if (find_event(ev, journal, db_write, FAULT_SYNC, FAULT_FILE_JOURNAL,
                          true) < 0) {
        missing = "sync of the journal before the database is written";
    } else if (find_event(ev, journal, db_write, FAULT_SYNC,
                          FAULT_FILE_DIRECTORY, true) < 0) {
        missing = "sync of the directory (the new journal's entry) "
                  "before the database is written";
    } else if (find_event(ev, db_last, deleted, FAULT_SYNC, FAULT_FILE_DATABASE,
                          true) < 0) {
        missing = "sync of the database before the journal is deleted";
    } else if (find_event(ev, deleted, end, FAULT_SYNC, FAULT_FILE_DIRECTORY,
                          true) < 0) {
        missing = "sync of the directory after the journal is deleted";
    }
    if (missing != NULL) {
        fail_msg("a commit is not durable, it lacks: %s; it made: %s", missing,
                 seen);
    }
    print_message("faults: the commit of one PR OUT makes %s\n", seen);
}

static void test_every_io_fault_of_a_pr_out(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *db = g_build_filename(dir, "pr.db", NULL);
    g_autofree char *sock = g_build_filename(dir, "prh.sock", NULL);
    ServerOptions options;
    StoreOptions create;
    Inproc *in;
    PrClient *c;
    int disk = testd_disk(dir, "disk.img", O_RDWR);
    unsigned counts[FAULT_OPS];
    unsigned injected = 0, busy = 0, aborted = 0;
    uint64_t next_key = 0x100;
    ClientReply r;
    FaultOp op;

    faultvfs_register();
    /* The audit history is written in the command's transaction too. */
    create = testutil_store_options(db);
    create.host_id = "faults";
    store_close(store_open(&create, NULL));

    memset(&options, 0, sizeof(options));
    options.workers = 2;
    options.max_connections = 16;
    options.request_timeout_ms = 30000;
    options.lock_timeout_ms = 1000;
    options.store = create;
    options.store.vfs = FAULTVFS_NAME;
    options.store.create = false;
    {
        static const uint16_t ports[] = {1};

        options.pr.ports = ports;
        options.pr.n_ports = 1;
    }
    options.pr.max_registrations = PR_MAX_REGISTRATIONS_DEFAULT;
    options.pr.ua_policy = PR_UA_RECORD;
    options.lu.sysfs = "/sys";
    in = inproc_start(sock, &options, "iqn.2026-11.test:faults");
    c = testd_connect_path(sock);

    /* Warm up: the worker's connection is open, the LU exists. */
    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER_IGNORE, 0, 0, next_key++, 0, &r),
        SCSI_STATUS_GOOD);

    /* Dry run: how many operations of each kind one PR OUT makes, and
     * the order of its commit's syncs. */
    faultvfs_count();
    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER_IGNORE, 0, 0, next_key++, 0, &r),
        SCSI_STATUS_GOOD);
    faultvfs_off();
    assert_commit_syncs();
    for (op = 0; op < FAULT_OPS; op++) {
        counts[op] = faultvfs_counted(op);
    }

    for (op = 0; op < FAULT_OPS; op++) {
        unsigned n;

        for (n = 1; n <= counts[op]; n++) {
            Snapshot before = read_state(c, disk);
            gint64 history = testutil_sql_int(db, HISTORY_ROWS);
            Snapshot after;
            uint64_t key = next_key++;
            bool was_busy = false;

            faultvfs_fail(op, n);
            testd_prout(c, disk, PR_OUT_REGISTER_IGNORE, 0, 0, key, 0, &r);
            faultvfs_off();
            after = read_state(c, disk);
            if (!faultvfs_fired()) {
                /* This run made fewer such operations: it just works. */
                assert_int_equal(r.status, SCSI_STATUS_GOOD);
                assert_true(after.key == key);
                continue;
            }
            injected++;
            if (!retryable(&r, &was_busy)) {
                fail_msg("%s fault %u: status 0x%02x sense %02x/%02x/%02x",
                         faultvfs_op_name(op), n, r.status, r.sense[2],
                         r.sense[12], r.sense[13]);
            }
            busy += was_busy;
            aborted += !was_busy;
            if (after.generation != before.generation ||
                after.key != before.key) {
                fail_msg("%s fault %u changed the state: generation %u -> "
                         "%u",
                         faultvfs_op_name(op), n, before.generation,
                         after.generation);
            }
            /* Nothing half-written: not even the history row. */
            assert_int_equal(testutil_sql_int(db, HISTORY_ROWS), history);
            testutil_integrity_ok(db);
            /* It keeps serving: the same command now succeeds. */
            assert_int_equal(
                testd_prout(c, disk, PR_OUT_REGISTER_IGNORE, 0, 0, key, 0, &r),
                SCSI_STATUS_GOOD);
            assert_true(read_state(c, disk).key == key);
            assert_int_equal(testutil_sql_int(db, HISTORY_ROWS), history + 1);
        }
    }
    print_message("faults: one REGISTER AND IGNORE EXISTING KEY makes %u "
                  "reads, %u writes, %u syncs, %u locks, %u truncates, %u "
                  "deletes; %u faults injected, %u answered BUSY, %u "
                  "ABORTED COMMAND, state unchanged and serving after each\n",
                  counts[FAULT_READ], counts[FAULT_WRITE], counts[FAULT_SYNC],
                  counts[FAULT_LOCK], counts[FAULT_TRUNCATE],
                  counts[FAULT_DELETE], injected, busy, aborted);
    assert_true(injected >= counts[FAULT_WRITE] + counts[FAULT_SYNC]);

    client_close(c);
    inproc_stop(in);
    close(disk);
    testutil_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_io_fault_of_a_pr_out),
    };

    return TESTUTIL_RUN("faults", tests, NULL, NULL);
}
