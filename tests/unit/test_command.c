/*
 * test_command: PR commands as store transactions on a real database,
 * sqlite and PostgreSQL (each test runs per backend where it can),
 * above all group commit (command_execute_group): several PR OUT
 * commands of one daemon in one transaction, each keeping the answer
 * SPC-4 gives it when it runs alone after the ones before it, none lost
 * or half-applied when the store fails; the writer that gathers the
 * commands of several threads into such groups; and random command
 * sequences whose stored state is always the engine's.
 */
#include <string.h>

#include "faultvfs.h"
#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "command.h"
#include "error.h"
#include "scsi.h"
#include "store.h"
#include "store_pg.h"
#include "writer.h"

#define LU_A "lu-group-a"
#define LU_B "lu-group-b"

/* One command, with everything CommandItem points to. */
typedef struct Cmd {
    PrNexus nexus;
    StoreLuInfo lu;
    uint8_t cdb[16];
    uint8_t param[WIRE_DATA_MAX];
    CommandRequest request;
    PrResult result;
} Cmd;

static const uint16_t ports[] = {1};
static const PrConfig pr = {.ports = ports,
                            .n_ports = 1,
                            .max_registrations = PR_MAX_REGISTRATIONS_DEFAULT,
                            .ua_policy = PR_UA_RECORD};

/* A connection to the test's database (@vfs: sqlite's, or NULL). */
static Store *open_store(const TestStore *f, const char *vfs)
{
    StoreOptions o = testutil_store_db_options(f);
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

/* Run @cmds as one group, the engine configured by @config. */
static void run_group_config(Store *store, const PrConfig *config, Cmd *cmds,
                             size_t n)
{
    g_autofree CommandItem *items = g_new(CommandItem, n);
    size_t i;

    for (i = 0; i < n; i++) {
        items[i].nexus = &cmds[i].nexus;
        items[i].lu = &cmds[i].lu;
        items[i].request = &cmds[i].request;
        items[i].result = &cmds[i].result;
    }
    command_execute_group(store, config, items, n);
}

/* Run @cmds as one group, with the configuration of the tests (@pr). */
static void run_group(Store *store, Cmd *cmds, size_t n)
{
    run_group_config(store, &pr, cmds, n);
}

/* The committed state of @lu, read in a read transaction of @store. */
static PrState *read_state(Store *store, const char *lu)
{
    StoreLuInfo info = {lu, NULL, NULL};
    PrState *state = pr_state_new();
    gint64 id;
    bool stale;

    assert_true(store_begin(store, false, G_MAXINT64, NULL));
    assert_true(store_load_state(store, &info, state, &id, &stale, NULL));
    store_rollback(store);
    return state;
}

/* The committed state of @lu, read through a fresh connection. */
static PrState *committed_state(const TestStore *f, const char *lu)
{
    g_autoptr(Store) store = open_store(f, NULL);

    return read_state(store, lu);
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

/* The number of committed history rows, read through a fresh
 * connection. */
static gint64 history_rows(const TestStore *f)
{
    g_autoptr(Store) store = open_store(f, NULL);
    StoreFilter all = {0};
    g_autoptr(GArray) rows = store_history(store, &all, G_MAXINT64, NULL);

    assert_non_null(rows);
    return rows->len;
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
    TestStore *f = testutil_store(state);
    g_autoptr(Store) store = open_store(f, NULL);
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

    after = committed_state(f, LU_A);
    assert_int_equal(after->generation, 3);
    assert_int_equal(after->res_type, PR_TYPE_EXCLUSIVE_ACCESS);
    assert_false(has_key(after, 0xa));
    assert_true(has_key(after, 0xb));
    /* Every PR OUT that reached the database, conflicts included. */
    assert_int_equal(history_rows(f), 5);
}

/* Commands for several LUs share one commit; PR OUT through a read-only
 * descriptor still gets qemu-pr-helper's 05/20/00 and changes nothing. */
static void test_group_several_lus_and_read_only(void **state)
{
    TestStore *f = testutil_store(state);
    g_autoptr(Store) store = open_store(f, NULL);
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
    a = committed_state(f, LU_A);
    b = committed_state(f, LU_B);
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
    TestStore *f = testutil_store(state);
    g_autoptr(Store) store = open_store(f, NULL);
    g_autoptr(PrState) a = NULL;
    Cmd cmds[3];

    cmd_out(&cmds[0], "a", LU_B, PR_OUT_REGISTER, 0, 0, 0xb1, 1000);
    run_group(store, cmds, 1);
    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    /* An initiator that is not a TransportID breaks LU_B's state. */
    testutil_sql_int(f->db, "UPDATE registration SET initiator = x'00'");

    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa1, 1000);
    cmd_out(&cmds[1], "b", LU_B, PR_OUT_REGISTER, 0, 0, 0xb2, 1000);
    cmd_out(&cmds[2], "c", LU_A, PR_OUT_REGISTER, 0, 0, 0xa2, 1000);
    run_group(store, cmds, 3);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_GOOD);
    assert_sense(&cmds[1].result, SCSI_KEY_ABORTED_COMMAND, 0x44, 0x00);
    assert_int_equal(cmds[2].result.status, SCSI_STATUS_GOOD);
    a = committed_state(f, LU_A);
    assert_true(has_key(a, 0xa1));
    assert_true(has_key(a, 0xa2));
    assert_int_equal(a->generation, 2);
    /* The first REGISTER and the two of LU_A; not the failed one. */
    assert_int_equal(history_rows(f), 3);
}

/*
 * Take the write lock that a command for @lu needs, in a transaction of
 * @store left open: sqlite locks the database at BEGIN IMMEDIATE,
 * PostgreSQL the LU as its state is loaded.  store_rollback() frees it.
 */
static void hold_lu(Store *store, const char *lu)
{
    StoreLuInfo info = {lu, NULL, NULL};
    g_autoptr(PrState) s = pr_state_new();
    gint64 id;
    bool stale;

    assert_true(store_begin(store, true, G_MAXINT64, NULL));
    assert_true(store_load_state(store, &info, s, &id, &stale, NULL));
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
    TestStore *f = testutil_store(state);
    g_autoptr(Store) store = open_store(f, NULL);
    g_autoptr(Store) other = open_store(f, NULL);
    g_autoptr(PrState) a = NULL;
    Holder holder = {other, 300};
    GThread *thread;
    Cmd cmds[2];

    hold_lu(other, LU_A);
    cmd_out(&cmds[0], "a", LU_A, PR_OUT_REGISTER, 0, 0, 0xa1, 50);
    cmd_out(&cmds[1], "b", LU_A, PR_OUT_REGISTER, 0, 0, 0xb1, 20000);
    thread = g_thread_new("holder", hold_then_release, &holder);
    run_group(store, cmds, 2);
    g_thread_join(thread);

    assert_int_equal(cmds[0].result.status, SCSI_STATUS_BUSY);
    assert_int_equal(cmds[1].result.status, SCSI_STATUS_GOOD);
    a = committed_state(f, LU_A);
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
    TestStore *f = testutil_store(state);
    unsigned counts[FAULT_OPS];
    uint64_t key = 0x100;
    unsigned injected = 0, partial = 0;
    FaultOp op;
    Cmd cmds[3];
    size_t i;

    faultvfs_register();
    {
        /* Create the database and the LU, then count one group's I/O. */
        g_autoptr(Store) store = open_store(f, FAULTVFS_NAME);

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
            g_autoptr(Store) store = open_store(f, FAULTVFS_NAME);
            g_autoptr(PrState) before = committed_state(f, LU_A);
            g_autoptr(PrState) after = NULL;
            gint64 rows = history_rows(f);
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

            after = committed_state(f, LU_A);
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
            assert_int_equal(history_rows(f), rows + good);
            testutil_integrity_ok(f->db);
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

/* The unit attentions pending on @lu, committed. */
static guint pending_uas(const TestStore *f, const char *lu)
{
    g_autoptr(PrState) s = committed_state(f, lu);

    return s->uas->len;
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
    TestStore *f = testutil_store(state);
    g_autoptr(Store) store = open_store(f, NULL);
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
    assert_int_equal(pending_uas(f, LU_A), 1);

    /* b's pending condition makes its READ KEYS a write. */
    cmd_read_keys(&in, "b", LU_A);
    assert_false(command_execute_read(store, &pr, &in.nexus, &in.lu,
                                      &in.request, &in.result));
    assert_int_equal(pending_uas(f, LU_A), 1);
    run_group(store, &in, 1);
    assert_int_equal(in.result.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(in.result.data + 4), 8); /* b's key */
    assert_int_equal(pending_uas(f, LU_A), 0);
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
    TestStore *f = testutil_store(state);
    StoreOptions o = testutil_store_db_options(f);
    Writer *writer = writer_new(&o, &pr);
    gint returned = 0;
    Submission sub;
    g_autoptr(PrState) after = NULL;

    submission_init(&sub, writer, &returned, "a", 0xa);
    writer_submit(writer, &sub.item);
    assert_int_equal(sub.done, 1);
    assert_ptr_equal(sub.done_on, g_thread_self());
    assert_int_equal(sub.cmd.result.status, SCSI_STATUS_GOOD);
    after = committed_state(f, LU_A);
    assert_true(has_key(after, 0xa));
    writer_free(writer);
}

/*
 * Sixteen threads submit REGISTER AND IGNORE EXISTING KEY while another
 * connection holds the write lock: the first becomes the writer and
 * waits with its own command; the fifteen others only queue and return.
 * Once the lock is released, two commits hold all sixteen (counted on
 * sqlite, whose file counts its commits), each answered GOOD once, on
 * the writer's thread, and PRgeneration counts every registration
 * (SPC-4 6.16.2).
 */
static void test_writer_groups_queued_commands(void **state)
{
    TestStore *f = testutil_store(state);
    StoreOptions o = testutil_store_db_options(f);
    Writer *writer = writer_new(&o, &pr);
    Submission subs[SUBMITTERS];
    GThread *threads[SUBMITTERS];
    GThread *writing = NULL;
    gint returned = 0;
    TestDbLock *other = NULL;
    bool pg = testutil_store_is_pg(f);
    guint32 before = 0;
    g_autoptr(PrState) after = NULL;
    unsigned i;
    int waited;

    /* Another process's connection: not a Store of this one, which
     * would wait for it in the process (store_group.c) instead. */
    store_close(open_store(f, NULL));
    other = testutil_db_lock_writes(f);
    if (!pg) {
        before = change_counter(f->db);
    }
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
    testutil_db_unlock(other);
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
    if (!pg) {
        assert_int_equal(change_counter(f->db) - before, 2);
    }
    after = committed_state(f, LU_A);
    assert_int_equal(after->regs->len, SUBMITTERS);
    assert_int_equal(after->generation, SUBMITTERS);
    writer_free(writer);
}

/* When the writer cannot open the database, every command of the group
 * is answered with a retry: ABORTED COMMAND, INTERNAL TARGET FAILURE on
 * sqlite; BUSY on PostgreSQL, which cannot tell a database that is not
 * there from a server not reachable yet (store_pg.h). */
static void test_writer_database_missing(void **state)
{
    TestStore *f = testutil_store(state);
    g_autofree char *missing = testutil_store_missing_db(f);
    StoreOptions o = testutil_store_options(missing);
    Writer *writer = NULL;
    gint returned = 0;
    Submission sub;

    o.create = false;
    writer = writer_new(&o, &pr);
    submission_init(&sub, writer, &returned, "a", 0xa);
    writer_submit(writer, &sub.item);
    assert_int_equal(sub.done, 1);
    if (testutil_store_is_pg(f)) {
        assert_int_equal(sub.cmd.result.status, SCSI_STATUS_BUSY);
    } else {
        assert_sense(&sub.cmd.result, SCSI_KEY_ABORTED_COMMAND, 0x44, 0x00);
        assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
    }
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
    TestStore *f = testutil_store(state);
    Store *store = open_store(f, NULL);
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

/* ------------------------------------------------------------------ */
/* PostgreSQL: a group whose COMMIT is lost                            */
/* ------------------------------------------------------------------ */

/*
 * Three REGISTER AND IGNORE EXISTING KEY in one group whose COMMIT's
 * connection drops (store_pg_inject_fault): before COMMIT is sent (the
 * server rolls back) or after its answer arrived unread (the server
 * committed).  The three share one fate: all answered GOOD and all
 * stored, or none answered GOOD and none stored; never a mix, and
 * PRgeneration (SPC-4 6.16.2) and the history count the same.
 */
static void lost_commit_group(const TestStore *f, StorePgFault fault,
                              uint64_t first_key, bool expect_good)
{
    g_autoptr(Store) store = open_store(f, NULL);
    g_autoptr(PrState) before = committed_state(f, LU_A);
    g_autoptr(PrState) after = NULL;
    gint64 rows = history_rows(f);
    unsigned good = 0;
    unsigned stored = 0;
    Cmd cmds[3];
    size_t i;

    for (i = 0; i < 3; i++) {
        g_autofree char *who = g_strdup_printf("n%zu", i);

        cmd_out(&cmds[i], who, LU_A, PR_OUT_REGISTER_IGNORE, 0, 0,
                first_key + i, 5000);
    }
    store_pg_inject_fault(store, fault);
    run_group(store, cmds, 3);
    after = committed_state(f, LU_A);
    for (i = 0; i < 3; i++) {
        good += cmds[i].result.status == SCSI_STATUS_GOOD ? 1 : 0;
        stored += has_key(after, first_key + i) ? 1 : 0;
        if (cmds[i].result.status != SCSI_STATUS_GOOD &&
            cmds[i].result.status != SCSI_STATUS_BUSY) {
            assert_sense(&cmds[i].result, SCSI_KEY_ABORTED_COMMAND, 0x44, 0);
        }
    }
    if ((good != 0 && good != 3) || stored != good) {
        fail_msg("commit lost (fault %d): %u of 3 answered GOOD, %u stored",
                 (int)fault, good, stored);
    }
    assert_int_equal(good, expect_good ? 3 : 0);
    assert_int_equal(after->generation, before->generation + good);
    assert_int_equal(history_rows(f), rows + good);
}

static void test_pg_group_commit_lost(void **state)
{
    TestStore *f = testutil_store(state);
    Cmd first;

    {
        g_autoptr(Store) store = open_store(f, NULL);

        cmd_out(&first, "w", LU_A, PR_OUT_REGISTER_IGNORE, 0, 0, 1, 5000);
        run_group(store, &first, 1);
        assert_int_equal(first.result.status, SCSI_STATUS_GOOD);
    }
    lost_commit_group(f, STORE_PG_FAULT_DROP_BEFORE_COMMIT, 0x100, false);
    lost_commit_group(f, STORE_PG_FAULT_DROP_AFTER_COMMIT, 0x200, true);
}

/* ------------------------------------------------------------------ */
/* Random sequences: the stored state is the engine's                  */
/* ------------------------------------------------------------------ */

#define RANDOM_GROUPS 100
#define RANDOM_NEXUSES 5

static const uint64_t random_keys[] = {0, 0xa, 0xb, 0xc, 0x1};

/* One seed's run: the engine's state in memory, its nexuses, the
 * connection the commands go through. */
typedef struct RandomRun {
    GRand *rand;
    guint32 seed;
    int step;
    PrConfig config;
    uint16_t ports[2];
    PrState *model;
    PrNexus nexuses[RANDOM_NEXUSES];
    const char *lu; /* a LU of the seed's own */
    Store *store;
    Store *reader; /* another connection, as a restarted daemon reads */
} RandomRun;

static guint rpick(RandomRun *run, guint n)
{
    return (guint)g_rand_int_range(run->rand, 0, (gint32)n);
}

/* Mostly the issuer's own key in the engine's state, so that commands
 * get somewhere; else one of random_keys (0 and unregistered ones too). */
static uint64_t rpick_key(RandomRun *run, const PrNexus *nexus)
{
    int me = engine_find_registration(run->model, nexus);

    if (me >= 0 && rpick(run, 3) != 0) {
        return g_array_index(run->model->regs, PrRegistration, me).key;
    }
    return random_keys[rpick(run, G_N_ELEMENTS(random_keys))];
}

/*
 * A random PR IN or PR OUT (every service action, flags APTPL, ALL_TG_PT
 * and SPEC_I_PT, REGISTER AND MOVE between the nexuses, now and then an
 * invalid type or service action) from a random nexus of @run, filled
 * into @c for LU_A.
 */
static void random_cmd(RandomRun *run, Cmd *c)
{
    static const uint8_t types[] = {1, 3, 5, 6, 7, 8, 2};
    guint who = rpick(run, RANDOM_NEXUSES);
    const PrNexus *n = &run->nexuses[who];
    uint8_t sa;
    size_t len = 0;

    cmd_init(c, "x", run->lu, 20000);
    c->nexus = *n;
    if (rpick(run, 3) == 0) {
        sa = rpick(run, 12) == 0 ? (uint8_t)rpick(run, 8) : rpick(run, 4);
        cdb_pr_in(c->cdb, sa, rpick(run, 4) == 0 ? 16 : 1024);
        return;
    }
    sa = rpick(run, 20) == 0 ? (uint8_t)rpick(run, 16) : rpick(run, 9);
    if (sa == PR_OUT_REGISTER_AND_MOVE) {
        const PrNexus *to = &run->nexuses[rpick(run, RANDOM_NEXUSES)];

        len = cdb_prout_move(c->param, rpick_key(run, n), rpick_key(run, n),
                             rpick(run, 2), rpick(run, 2),
                             (uint16_t)(1 + rpick(run, 2)), &to->initiator);
    } else {
        uint8_t flags = 0;
        TransportId tids[1];
        guint n_tids = 0;

        flags |= rpick(run, 4) == 0 ? PROUT_APTPL : 0;
        flags |= rpick(run, 6) == 0 ? PROUT_ALL_TG_PT : 0;
        if (rpick(run, 8) == 0) {
            flags |= PROUT_SPEC_I_PT;
            n_tids = 1;
            tids[0] = run->nexuses[rpick(run, RANDOM_NEXUSES)].initiator;
        }
        len = cdb_prout_basic(c->param, rpick_key(run, n), rpick_key(run, n),
                              flags, tids, n_tids);
    }
    cdb_pr_out(c->cdb, sa, 0, types[rpick(run, G_N_ELEMENTS(types))],
               (uint32_t)len);
    c->request.data = c->param;
    c->request.data_len = len;
}

#define rcheck(run, cond, what)                                                \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fail_msg("seed %u step %d: %s", (run)->seed, (run)->step, what);   \
        }                                                                      \
    } while (0)

/*
 * One group of one to three random commands: the engine runs them in
 * order on the in-memory state, the store through command_execute_group
 * as the daemon's writer does (load, engine, save, one commit).  Each
 * answer is the engine's, and the state reloaded from the store equals
 * the engine's (registrations, reservation, PRgeneration, APTPL, unit
 * attentions) and keeps SPC-4's invariants (engine_state_consistent).
 */
static void random_group(RandomRun *run)
{
    Cmd cmds[3];
    PrResult expect;
    g_autoptr(PrState) stored = NULL;
    size_t n = 1 + rpick(run, 3);
    size_t i;

    for (i = 0; i < n; i++) {
        random_cmd(run, &cmds[i]);
    }
    run_group_config(run->store, &run->config, cmds, n);
    for (i = 0; i < n; i++) {
        memset(&expect, 0, sizeof(expect));
        engine_execute(&run->config, &cmds[i].nexus, cmds[i].cdb,
                       cmds[i].request.data, cmds[i].request.data_len,
                       run->model, &expect);
        rcheck(run, cmds[i].result.status == expect.status, "status");
        rcheck(run,
               expect.status != SCSI_STATUS_CHECK_CONDITION ||
                   memcmp(cmds[i].result.sense, expect.sense,
                          sizeof(expect.sense)) == 0,
               "sense");
        rcheck(run,
               cmds[i].result.data_len == expect.data_len &&
                   memcmp(cmds[i].result.data, expect.data,
                          expect.data_len) == 0,
               "PR IN payload");
    }
    stored = read_state(run->reader, run->lu);
    rcheck(run, pr_state_equal(stored, run->model),
           "the state reloaded from the store differs from the engine's");
    rcheck(run, engine_state_consistent(stored), "stored state inconsistent");
}

/* RANDOM_GROUPS random groups with @seed, the engine configured with two
 * ports, four registrations at most and @policy, on a LU of their own
 * (so that seeds do not meet). */
static void random_seed(const TestStore *f, guint32 seed, PrUaPolicy policy)
{
    static const char *const names[RANDOM_NEXUSES] = {"a", "b", "c", "a",
                                                      "d"};
    g_autofree char *lu_name = g_strdup_printf("%s-%u", LU_A, seed);
    RandomRun run = {.seed = seed, .ports = {1, 2}};
    guint i;

    run.rand = g_rand_new_with_seed(seed);
    run.config = (PrConfig){.ports = run.ports,
                            .n_ports = 2,
                            .max_registrations = 4,
                            .ua_policy = policy};
    run.model = pr_state_new();
    run.lu = lu_name;
    run.store = open_store(f, NULL);
    run.reader = open_store(f, NULL);
    for (i = 0; i < RANDOM_NEXUSES; i++) {
        g_autofree char *iqn = g_strdup_printf("iqn.2026-11.test:%s", names[i]);

        assert_true(tid_from_iscsi_name(iqn, &run.nexuses[i].initiator, NULL));
        run.nexuses[i].rtpi = i == 3 ? 2 : 1;
    }
    for (run.step = 0; run.step < RANDOM_GROUPS; run.step++) {
        random_group(&run);
    }
    store_close(run.store);
    store_close(run.reader);
    pr_state_free(run.model);
    g_rand_free(run.rand);
}

/* Seeds 1 and 2 with unit attentions recorded, 101 with them reported
 * (the two unit-attentions settings of softprd). */
static void test_random_through_store(void **state)
{
    TestStore *f = testutil_store(state);

    random_seed(f, 1, PR_UA_RECORD);
    random_seed(f, 2, PR_UA_RECORD);
    random_seed(f, 101, PR_UA_REPORT);
}

int main(void)
{
    static const TestPerBackend tests[] = {
        TESTUTIL_BOTH(test_group_spc4_semantics_in_order),
        TESTUTIL_BOTH(test_group_several_lus_and_read_only),
        /* It breaks a row with sqlite's SQL. */
        TESTUTIL_SQLITE_ONLY(test_group_store_failure_undoes_one),
        TESTUTIL_BOTH(test_group_busy_by_deadline),
        /* faultvfs is sqlite's; PostgreSQL's faults are the next. */
        TESTUTIL_SQLITE_ONLY(test_group_every_io_fault),
        TESTUTIL_PG_ONLY(test_pg_group_commit_lost),
        TESTUTIL_BOTH(test_writer_lone_command),
        TESTUTIL_BOTH(test_read_or_write),
        TESTUTIL_BOTH(test_writer_groups_queued_commands),
        TESTUTIL_BOTH(test_writer_database_missing),
        TESTUTIL_BOTH(test_change_writes_what_changed),
        TESTUTIL_BOTH(test_random_through_store),
    };

    return testutil_run_per_backend("test_command", tests, G_N_ELEMENTS(tests));
}
