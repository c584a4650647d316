/*
 * test_command: PR commands as store transactions on a real sqlite file,
 * above all group commit (command_execute_group): several PR OUT
 * commands of one daemon in one transaction, each keeping the answer
 * SPC-4 gives it when it runs alone after the ones before it, none lost
 * or half-applied when the store fails; and the writer that gathers the
 * commands of several threads into such groups.
 */
#include <string.h>

#include <sqlite3.h>

#include "faultvfs.h"
#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "command.h"
#include "error.h"
#include "scsi.h"
#include "store.h"
#include "writer.h"

#define LU_A "lu-group-a"
#define LU_B "lu-group-b"

/* One command, with everything CommandItem points to. */
typedef struct Cmd {
    PrNexus nexus;
    StoreLuInfo lu;
    uint8_t cdb[16];
    uint8_t param[PROUT_PARAM_MAX];
    CommandRequest request;
    PrResult result;
} Cmd;

static const uint16_t ports[] = {1};
static const PrConfig pr = {ports, 1, PR_MAX_REGISTRATIONS_DEFAULT,
                            PR_UA_RECORD};

static Store *open_store(const char *path, const char *vfs)
{
    StoreOptions o = testutil_store_options(path);
    GError *error = NULL;
    Store *store;

    o.vfs = vfs;
    store = store_open(&o, &error);
    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    return store;
}

/* An empty command from initiator @who to @lu, deadline @timeout_ms on. */
static void cmd_init(Cmd *c, const char *who, const char *lu,
                     unsigned timeout_ms)
{
    g_autofree char *name = g_strdup_printf("iqn.2026-11.test:%s", who);

    memset(c, 0, sizeof(*c));
    assert_true(tid_from_iscsi_name(name, &c->nexus.initiator, NULL));
    c->nexus.rtpi = 1;
    c->lu.name = lu;
    c->lu.id_source = "path";
    c->lu.path = lu;
    c->request.cdb = c->cdb;
    c->request.deadline =
        g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
}

/* A PR OUT from initiator @who to @lu, deadline @timeout_ms from now. */
static void cmd_out(Cmd *c, const char *who, const char *lu, uint8_t sa,
                    uint8_t type, uint64_t rk, uint64_t sark,
                    unsigned timeout_ms)
{
    size_t len;

    cmd_init(c, who, lu, timeout_ms);
    len = cdb_prout_basic(c->param, rk, sark, 0, NULL, 0);
    cdb_pr_out(c->cdb, sa, 0, type, (uint32_t)len);
    c->request.data = c->param;
    c->request.data_len = len;
}

static void run_group(Store *store, Cmd *cmds, size_t n)
{
    g_autofree CommandItem *items = g_new(CommandItem, n);
    size_t i;

    for (i = 0; i < n; i++) {
        items[i].nexus = &cmds[i].nexus;
        items[i].lu = &cmds[i].lu;
        items[i].request = &cmds[i].request;
        items[i].result = &cmds[i].result;
    }
    command_execute_group(store, &pr, items, n);
}

/* The committed state of @lu, read through a fresh connection. */
static PrState *committed_state(const char *path, const char *lu)
{
    g_autoptr(Store) store = open_store(path, NULL);
    StoreLuInfo info = {lu, NULL, NULL};
    PrState *state = pr_state_new();
    gint64 id;
    bool stale;

    assert_true(store_begin(store, false, G_MAXINT64, NULL));
    assert_true(store_load_state(store, &info, state, &id, &stale, NULL));
    store_rollback(store);
    return state;
}

static bool has_key(const PrState *state, uint64_t key)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if (g_array_index(state->regs, PrRegistration, i).key == key) {
            return true;
        }
    }
    return false;
}

static gint64 history_rows(const char *path)
{
    return testutil_sql_int(path, "SELECT count(*) FROM history");
}

static void assert_sense(const PrResult *r, uint8_t key, uint8_t asc,
                         uint8_t ascq)
{
    assert_int_equal(r->status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(r->sense[2] & 0x0f, key);
    assert_int_equal(r->sense[12], asc);
    assert_int_equal(r->sense[13], ascq);
}

/*
 * Each command of a group gets the answer SPC-4 gives it after the ones
 * before it: a RESERVE by an unregistered nexus conflicts (5.13.9,
 * "RESERVATION CONFLICT" for an I_T nexus that is not registered) even
 * though it shares the commit with its own later REGISTER, and PREEMPT
 * (5.13.11.2.4) sees the reservation an earlier command of the group
 * made.  PRgeneration counts REGISTER and PREEMPT, not RESERVE (6.16.2).
 */
static void test_group_spc4_semantics_in_order(void **state)
{
    TestDb *f = *state;
    g_autoptr(Store) store = open_store(f->path, NULL);
    g_autoptr(PrState) after = NULL;
    Cmd cmds[5];

    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa, 1000);
    cmd_out(&cmds[1], "a", LU_A, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, 0xa,
            0, 1000);
    cmd_out(&cmds[2], "b", LU_A, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, 0xb,
            0, 1000);
    cmd_out(&cmds[3], "b", LU_A, PR_OUT_REGISTER, 0, 0, 0xb, 1000);
    cmd_out(&cmds[4], "b", LU_A, PR_OUT_PREEMPT, PR_TYPE_EXCLUSIVE_ACCESS, 0xb,
            0xa, 1000);
    run_group(store, cmds, 5);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    assert_int_equal(cmds[1].result.status, SCSI_STATUS_GOOD);
    assert_int_equal(cmds[2].result.status, SCSI_STATUS_RESERVATION_CONFLICT);
    assert_int_equal(cmds[3].result.status, SCSI_STATUS_GOOD);
    assert_int_equal(cmds[4].result.status, SCSI_STATUS_GOOD);

    after = committed_state(f->path, LU_A);
    assert_int_equal(after->generation, 3);
    assert_int_equal(after->res_type, PR_TYPE_EXCLUSIVE_ACCESS);
    assert_false(has_key(after, 0xa));
    assert_true(has_key(after, 0xb));
    /* Every PR OUT that reached the database, conflicts included. */
    assert_int_equal(history_rows(f->path), 5);
}

/* Commands for several LUs share one commit; PR OUT through a read-only
 * descriptor still gets qemu-pr-helper's 05/20/00 and changes nothing. */
static void test_group_several_lus_and_read_only(void **state)
{
    TestDb *f = *state;
    g_autoptr(Store) store = open_store(f->path, NULL);
    g_autoptr(PrState) a = NULL;
    g_autoptr(PrState) b = NULL;
    Cmd cmds[3];

    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa1, 1000);
    cmd_out(&cmds[1], "a", LU_B, PR_OUT_REGISTER, 0, 0, 0xb1, 1000);
    cmd_out(&cmds[2], "c", LU_B, PR_OUT_REGISTER, 0, 0, 0xc1, 1000);
    cmds[2].request.fd_read_only = true;
    run_group(store, cmds, 3);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    assert_int_equal(cmds[1].result.status, SCSI_STATUS_GOOD);
    assert_sense(&cmds[2].result, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
    a = committed_state(f->path, LU_A);
    b = committed_state(f->path, LU_B);
    assert_true(has_key(a, 0xa1));
    assert_true(has_key(b, 0xb1));
    assert_false(has_key(b, 0xc1));
    assert_int_equal(b->generation, 1);
}

/*
 * A command whose LU the store cannot load (a corrupt row) is answered
 * ABORTED COMMAND, INTERNAL TARGET FAILURE and undone alone: the others
 * of its group are committed.
 */
static void test_group_store_failure_undoes_one(void **state)
{
    TestDb *f = *state;
    g_autoptr(Store) store = open_store(f->path, NULL);
    g_autoptr(PrState) a = NULL;
    Cmd cmds[3];

    cmd_out(&cmds[0], "a", LU_B, PR_OUT_REGISTER, 0, 0, 0xb1, 1000);
    run_group(store, cmds, 1);
    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    /* An initiator that is not a TransportID breaks LU_B's state. */
    testutil_sql_int(f->path, "UPDATE registration SET initiator = x'00'");

    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa1, 1000);
    cmd_out(&cmds[1], "b", LU_B, PR_OUT_REGISTER, 0, 0, 0xb2, 1000);
    cmd_out(&cmds[2], "c", LU_A, PR_OUT_REGISTER, 0, 0, 0xa2, 1000);
    run_group(store, cmds, 3);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    assert_sense(&cmds[1].result, SCSI_KEY_ABORTED_COMMAND, 0x44, 0x00);
    assert_int_equal(cmds[2].result.status, SCSI_STATUS_GOOD);
    a = committed_state(f->path, LU_A);
    assert_true(has_key(a, 0xa1));
    assert_true(has_key(a, 0xa2));
    assert_int_equal(a->generation, 2);
    /* The first REGISTER and the two of LU_A; not the failed one. */
    assert_int_equal(history_rows(f->path), 3);
}

typedef struct Holder {
    Store *store;
    unsigned hold_ms;
} Holder;

static gpointer hold_then_release(gpointer data)
{
    Holder *h = data;

    g_usleep(h->hold_ms * G_TIME_SPAN_MILLISECOND);
    store_rollback(h->store);
    return NULL;
}

/*
 * While another connection holds the write lock, a command whose
 * deadline passes is answered BUSY (the retryable answer the daemon
 * documents) and the others of its group wait for theirs: here the lock
 * is released before the second deadline and that command succeeds.
 */
static void test_group_busy_by_deadline(void **state)
{
    TestDb *f = *state;
    g_autoptr(Store) store = open_store(f->path, NULL);
    g_autoptr(Store) other = open_store(f->path, NULL);
    g_autoptr(PrState) a = NULL;
    Holder holder = {other, 300};
    GThread *thread;
    Cmd cmds[2];

    assert_true(store_begin(other, true, G_MAXINT64, NULL));
    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa1, 50);
    cmd_out(&cmds[1], "b", LU_A, PR_OUT_REGISTER, 0, 0, 0xb1, 20000);
    thread = g_thread_new("holder", hold_then_release, &holder);
    run_group(store, cmds, 2);
    g_thread_join(thread);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_BUSY);
    assert_int_equal(cmds[1].result.status, SCSI_STATUS_GOOD);
    a = committed_state(f->path, LU_A);
    assert_false(has_key(a, 0xa1));
    assert_true(has_key(a, 0xb1));
    assert_int_equal(a->generation, 1);
}

/*
 * Every I/O operation of a group of three REGISTERs fails in turn
 * (faultvfs).  Each command answered GOOD is committed; each answered
 * otherwise got a retryable answer (BUSY or ABORTED COMMAND) and left
 * nothing behind; PRgeneration counts exactly the GOOD ones; the
 * history holds exactly their rows; the database stays intact.
 */
static void test_group_every_io_fault(void **state)
{
    TestDb *f = *state;
    unsigned counts[FAULT_OPS];
    uint64_t key = 0x100;
    unsigned injected = 0, partial = 0;
    FaultOp op;
    Cmd cmds[3];
    size_t i;

    faultvfs_register();
    {
        /* Create the database and the LU, then count one group's I/O. */
        g_autoptr(Store) store = open_store(f->path, FAULTVFS_NAME);

        cmd_out(&cmds[0], "w", LU_A, PR_OUT_REGISTER_IGNORE, 0, 0, 1, 1000);
        run_group(store, cmds, 1);
        faultvfs_count();
        for (i = 0; i < 3; i++) {
            g_autofree char *who = g_strdup_printf("n%zu", i);

            cmd_out(&cmds[i], who, LU_A, PR_OUT_REGISTER_IGNORE, 0, 0, key++,
                    1000);
        }
        run_group(store, cmds, 3);
        faultvfs_off();
        for (i = 0; i < 3; i++) {
            assert_int_equal(cmds[i].result.status, SCSI_STATUS_GOOD);
        }
        for (op = 0; op < FAULT_OPS; op++) {
            counts[op] = faultvfs_counted(op);
        }
    }
    for (op = 0; op < FAULT_OPS; op++) {
        unsigned n;

        for (n = 1; n <= counts[op]; n++) {
            g_autoptr(Store) store = open_store(f->path, FAULTVFS_NAME);
            g_autoptr(PrState) before = committed_state(f->path, LU_A);
            g_autoptr(PrState) after = NULL;
            gint64 rows = history_rows(f->path);
            unsigned good = 0;

            for (i = 0; i < 3; i++) {
                g_autofree char *who = g_strdup_printf("n%zu", i);

                cmd_out(&cmds[i], who, LU_A, PR_OUT_REGISTER_IGNORE, 0, 0,
                        key++, 1000);
            }
            faultvfs_fail(op, n);
            run_group(store, cmds, 3);
            faultvfs_off();
            injected += faultvfs_fired();

            after = committed_state(f->path, LU_A);
            for (i = 0; i < 3; i++) {
                const PrResult *r = &cmds[i].result;
                uint64_t sent = get_be64(cmds[i].param + 8);

                if (r->status == SCSI_STATUS_GOOD) {
                    good++;
                    if (!has_key(after, sent)) {
                        fail_msg("%s %u: command %zu answered GOOD, key lost",
                                 faultvfs_op_name(op), n, i);
                    }
                    continue;
                }
                if (r->status != SCSI_STATUS_BUSY) {
                    assert_sense(r, SCSI_KEY_ABORTED_COMMAND, 0x44, 0x00);
                }
                if (has_key(after, sent)) {
                    fail_msg("%s %u: command %zu failed, key stored",
                             faultvfs_op_name(op), n, i);
                }
            }
            partial += good > 0 && good < 3;
            assert_int_equal(after->generation, before->generation + good);
            assert_int_equal(history_rows(f->path), rows + good);
            testutil_integrity_ok(f->path);
        }
    }
    print_message("group faults: %u injected over %u reads, %u writes, "
                  "%u syncs, %u locks, %u truncates, %u deletes; %u groups "
                  "partly committed\n",
                  injected, counts[FAULT_READ], counts[FAULT_WRITE],
                  counts[FAULT_SYNC], counts[FAULT_LOCK],
                  counts[FAULT_TRUNCATE], counts[FAULT_DELETE], partial);
    assert_true(injected > 0);
}

/* A PR IN READ KEYS from initiator @who to @lu. */
static void cmd_read_keys(Cmd *c, const char *who, const char *lu)
{
    cmd_init(c, who, lu, 1000);
    cdb_pr_in(c->cdb, PR_IN_READ_KEYS, 1024);
}

/*
 * command_execute_read answers a PR IN that only reads, and hands back
 * (false) what must be written: a PR OUT, and a PR IN for a nexus with a
 * unit attention pending.  Here the holder of a Write Exclusive,
 * Registrants Only reservation unregisters, which releases it and gives
 * the other registrant RESERVATIONS RELEASED (SPC-4 5.13.10.2, 5.13.11.1);
 * with unit attentions recorded, b's next command drops it, so that
 * READ KEYS must write.  Once it has run as a write, a read suffices.
 */
static void test_read_or_write(void **state)
{
    TestDb *f = *state;
    g_autoptr(Store) store = open_store(f->path, NULL);
    Cmd cmds[4];
    Cmd in;

    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa, 1000);
    cmd_out(&cmds[1], "a", LU_A, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO,
            0xa, 0, 1000);
    cmd_out(&cmds[2], "b", LU_A, PR_OUT_REGISTER, 0, 0, 0xb, 1000);
    run_group(store, cmds, 3);

    /* A read answers READ KEYS; a PR OUT is not run. */
    cmd_read_keys(&in, "b", LU_A);
    assert_true(command_execute_read(store, &pr, &in.nexus, &in.lu, &in.request,
                                     &in.result));
    assert_int_equal(in.result.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(in.result.data + 4), 16); /* two keys */
    cmd_out(&cmds[3], "a", LU_A, PR_OUT_REGISTER, 0, 0xa, 0, 1000);
    assert_false(command_execute_read(store, &pr, &cmds[3].nexus, &cmds[3].lu,
                                      &cmds[3].request, &cmds[3].result));
    run_group(store, &cmds[3], 1);
    assert_int_equal(cmds[3].result.status, SCSI_STATUS_GOOD);
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM unit_attention"), 1);

    /* b's pending condition makes its READ KEYS a write. */
    cmd_read_keys(&in, "b", LU_A);
    assert_false(command_execute_read(store, &pr, &in.nexus, &in.lu,
                                      &in.request, &in.result));
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM unit_attention"), 1);
    run_group(store, &in, 1);
    assert_int_equal(in.result.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(in.result.data + 4), 8); /* b's key */
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM unit_attention"), 0);
    cmd_read_keys(&in, "b", LU_A);
    assert_true(command_execute_read(store, &pr, &in.nexus, &in.lu, &in.request,
                                     &in.result));
}

/* ------------------------------------------------------------------ */
/* The writer: group commit across threads                             */
/* ------------------------------------------------------------------ */

#define SUBMITTERS 16

/* A command submitted by a thread of its own. */
typedef struct Submission {
    WriterItem item; /* first: write_done gets &item */
    Cmd cmd;
    Writer *writer;
    gint *returned; /* threads back from writer_submit */
    gint done;      /* times the callback ran */
    GThread *done_on;
} Submission;

static void submission_done(WriterItem *item)
{
    Submission *sub = (Submission *)item;

    sub->done_on = g_thread_self();
    g_atomic_int_inc(&sub->done);
}

static gpointer submit_thread(gpointer data)
{
    Submission *sub = data;

    writer_submit(sub->writer, &sub->item);
    g_atomic_int_inc(sub->returned);
    return NULL;
}

static void submission_init(Submission *sub, Writer *writer, gint *returned,
                            const char *who, uint64_t key)
{
    memset(sub, 0, sizeof(*sub));
    cmd_out(&sub->cmd, who, LU_A, PR_OUT_REGISTER_IGNORE, 0, 0, key, 20000);
    sub->item.command.nexus = &sub->cmd.nexus;
    sub->item.command.lu = &sub->cmd.lu;
    sub->item.command.request = &sub->cmd.request;
    sub->item.command.result = &sub->cmd.result;
    sub->item.done = submission_done;
    sub->writer = writer;
    sub->returned = returned;
}

/* The database's file change counter: one more for every commit. */
static guint32 change_counter(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;

    assert_true(g_file_get_contents(path, &data, &len, NULL));
    assert_true(len >= 28);
    return get_be32((const uint8_t *)data + 24);
}

/* A lone PR OUT is written by the thread that submits it, before
 * writer_submit returns, and answered GOOD only once it is committed. */
static void test_writer_lone_command(void **state)
{
    TestDb *f = *state;
    StoreOptions o = testutil_store_options(f->path);
    Writer *writer = writer_new(&o, &pr);
    gint returned = 0;
    Submission sub;
    g_autoptr(PrState) after = NULL;

    submission_init(&sub, writer, &returned, "a", 0xa);
    writer_submit(writer, &sub.item);
    assert_int_equal(sub.done, 1);
    assert_ptr_equal(sub.done_on, g_thread_self());
    assert_int_equal(sub.cmd.result.status, SCSI_STATUS_GOOD);
    after = committed_state(f->path, LU_A);
    assert_true(has_key(after, 0xa));
    writer_free(writer);
}

/*
 * Sixteen threads submit REGISTER AND IGNORE EXISTING KEY while another
 * process holds the write lock: the first becomes the writer and waits
 * with its own command; the fifteen others only queue and return.  Once
 * the lock is released, two commits hold all sixteen, each answered
 * GOOD once, on the writer's thread, and PRgeneration counts every
 * registration (SPC-4 6.16.2).
 */
static void test_writer_groups_queued_commands(void **state)
{
    TestDb *f = *state;
    StoreOptions o = testutil_store_options(f->path);
    Writer *writer = writer_new(&o, &pr);
    Submission subs[SUBMITTERS];
    GThread *threads[SUBMITTERS];
    GThread *writing = NULL;
    gint returned = 0;
    sqlite3 *other = NULL;
    guint32 before;
    g_autoptr(PrState) after = NULL;
    unsigned i;
    int waited;

    store_close(open_store(f->path, NULL));
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    before = change_counter(f->path);
    for (i = 0; i < SUBMITTERS; i++) {
        g_autofree char *who = g_strdup_printf("s%u", i);

        submission_init(&subs[i], writer, &returned, who, 0x100 + i);
        threads[i] = g_thread_new("submitter", submit_thread, &subs[i]);
    }
    for (waited = 0;
         g_atomic_int_get(&returned) < SUBMITTERS - 1 && waited < 20000;
         waited += 10) {
        g_usleep(10000);
    }
    assert_int_equal(g_atomic_int_get(&returned), SUBMITTERS - 1);
    for (i = 0; i < SUBMITTERS; i++) {
        assert_int_equal(g_atomic_int_get(&subs[i].done), 0);
    }
    /* Even a COMMIT without changes can meet BUSY while the writer
     * retries its lock (seen under valgrind): wait for it. */
    sqlite3_busy_timeout(other, 60000);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
    for (i = 0; i < SUBMITTERS; i++) {
        g_thread_join(threads[i]);
    }
    for (i = 0; i < SUBMITTERS; i++) {
        assert_int_equal(subs[i].done, 1);
        assert_int_equal(subs[i].cmd.result.status, SCSI_STATUS_GOOD);
        if (writing == NULL) {
            writing = subs[i].done_on;
        }
        assert_ptr_equal(subs[i].done_on, writing);
    }
    assert_int_equal(change_counter(f->path) - before, 2);
    after = committed_state(f->path, LU_A);
    assert_int_equal(after->regs->len, SUBMITTERS);
    assert_int_equal(after->generation, SUBMITTERS);
    writer_free(writer);
}

/* When the writer cannot open the database, every command of the group
 * is answered ABORTED COMMAND, INTERNAL TARGET FAILURE (a retry). */
static void test_writer_database_missing(void **state)
{
    TestDb *f = *state;
    g_autofree char *missing = g_strconcat(f->path, "-missing", NULL);
    StoreOptions o = testutil_store_options(missing);
    Writer *writer = NULL;
    gint returned = 0;
    Submission sub;

    o.create = false;
    writer = writer_new(&o, &pr);
    submission_init(&sub, writer, &returned, "a", 0xa);
    writer_submit(writer, &sub.item);
    assert_int_equal(sub.done, 1);
    assert_sense(&sub.cmd.result, SCSI_KEY_ABORTED_COMMAND, 0x44, 0x00);
    assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
    writer_free(writer);
}

/* CommandChange.run for the test: register key 0xabc from "change",
 * recorded as an administrator's "test" entry, or change nothing. */
static void change_register(CommandChange *change)
{
    const bool *do_register = change->data;
    PrRegistration reg = {.rtpi = 1, .key = 0xabc};

    if (!*do_register) {
        return;
    }
    assert_true(tid_from_iscsi_name("iqn.2026-11.test:change", &reg.initiator,
                                    NULL));
    g_array_append_val(change->after->regs, reg);
    change->after->generation++;
    change->changed = true;
    change->record = true;
    change->entry = (StoreHistoryEntry){
        .origin = "softpr",
        .action = "test",
        .status = SCSI_STATUS_GOOD,
        .generation = change->after->generation,
    };
}

/* Run one change to LU_A in its own write transaction. */
static void apply_one(Store *store, bool do_register)
{
    StoreLuInfo lu = {.name = LU_A, .id_source = "path", .path = "/dev/a"};
    CommandChange change = {.lu = &lu, .run = change_register,
                            .data = &do_register};
    gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;

    assert_true(store_begin(store, true, deadline, NULL));
    assert_true(command_apply_change(store, &change, NULL));
    assert_int_equal(command_change_needs_write(&change), do_register);
    assert_true(store_commit(store, NULL));
    command_change_clear(&change);
}

/*
 * The one write sequence (command_apply_change): a change that alters
 * nothing and records nothing writes nothing, not even a row for an LU
 * the database has not seen; one that registers a key (SPC-4 5.12.7)
 * writes the state and its history entry in the same transaction.
 */
static void test_change_writes_what_changed(void **state)
{
    TestDb *f = *state;
    Store *store = open_store(f->path, NULL);
    StoreLuInfo lu = {.name = LU_A, .id_source = "path", .path = "/dev/a"};
    g_autoptr(PrState) loaded = pr_state_new();
    g_autoptr(GArray) history = NULL;
    StoreFilter all = {0};
    gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
    gint64 lu_id = -1;
    bool stale = true;

    apply_one(store, false);
    assert_true(store_begin(store, false, deadline, NULL));
    assert_true(store_load_state(store, &lu, loaded, &lu_id, &stale, NULL));
    store_rollback(store);
    assert_int_equal(lu_id, 0);
    history = store_history(store, &all, deadline, NULL);
    assert_int_equal(history->len, 0);
    g_clear_pointer(&history, g_array_unref);

    apply_one(store, true);
    assert_true(store_begin(store, false, deadline, NULL));
    assert_true(store_load_state(store, &lu, loaded, &lu_id, &stale, NULL));
    store_rollback(store);
    assert_true(lu_id > 0);
    assert_int_equal(loaded->regs->len, 1);
    assert_int_equal(g_array_index(loaded->regs, PrRegistration, 0).key,
                     0xabc);
    assert_int_equal(loaded->generation, 1);
    history = store_history(store, &all, deadline, NULL);
    assert_int_equal(history->len, 1);
    assert_string_equal(g_array_index(history, StoreHistoryRow, 0).action,
                        "test");
    store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_spc4_semantics_in_order,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_group_several_lus_and_read_only,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_group_store_failure_undoes_one,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_group_busy_by_deadline,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(
            test_group_every_io_fault, testutil_db_setup, testutil_db_teardown),
        cmocka_unit_test_setup_teardown(
            test_writer_lone_command, testutil_db_setup, testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_read_or_write, testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_writer_groups_queued_commands,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_writer_database_missing,
                                        testutil_db_setup,
                                        testutil_db_teardown),
        cmocka_unit_test_setup_teardown(test_change_writes_what_changed,
                                        testutil_db_setup,
                                        testutil_db_teardown),
    };

    testutil_apply_filter();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
