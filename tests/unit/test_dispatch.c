/*
 * test_dispatch: commands driven through dispatch_run() without sockets,
 * on a real sqlite file and a disk image: who a peer's commands come
 * from, which LU a descriptor is, passthrough or database, a read on a
 * pooled connection or a write through the group commit, and BUSY when
 * another connection holds the lock past the deadline.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "dispatch.h"
#include "scsi.h"
#include "store.h"
#include "wire.h"

static const uint16_t ports[] = {1};

typedef struct Fixture {
    TestDb db;
    char *disk; /* a regular file standing for the LU */
    Dispatch *dispatch;
    DispatchPeer a; /* initiator iqn.2026-11.test:a */
    DispatchPeer b; /* initiator iqn.2026-11.test:b */
} Fixture;

/* The answer of one dispatch_run(), from whichever thread gives it. */
typedef struct Reply {
    GMutex lock;
    GCond cond;
    PrResult *result;
} Reply;

static void reply_done(PrResult *result, gpointer data)
{
    Reply *reply = data;

    g_mutex_lock(&reply->lock);
    reply->result = result;
    g_cond_signal(&reply->cond);
    g_mutex_unlock(&reply->lock);
}

static Dispatch *new_dispatch(Fixture *f, unsigned lock_timeout_ms,
                              const LuMapping *maps, size_t n_maps)
{
    g_autoptr(GError) error = NULL;
    DispatchOptions o = {
        .store = testutil_store_options(f->db.path),
        .pr = {.ports = ports,
               .n_ports = 1,
               .max_registrations = PR_MAX_REGISTRATIONS_DEFAULT,
               .ua_policy = PR_UA_RECORD},
        .lu = {.maps = maps, .n_maps = n_maps},
        .mode = LU_MODE_EMULATION,
        .lock_timeout_ms = lock_timeout_ms,
    };
    Dispatch *dispatch;

    o.store.lock_timeout_ms = lock_timeout_ms;
    dispatch = dispatch_new(&o, &error);
    if (dispatch == NULL) {
        fail_msg("dispatch_new: %s", error->message);
    }
    return dispatch;
}

static void peer_fixed(Dispatch *dispatch, DispatchPeer *peer, guint64 id,
                       const char *who)
{
    g_autofree char *name = g_strdup_printf("iqn.2026-11.test:%s", who);
    TransportId tid;

    assert_true(tid_from_iscsi_name(name, &tid, NULL));
    dispatch_peer_init(dispatch, peer, id, -1, IDENTITY_FIXED, &tid, 1, NULL);
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    void *db = NULL;
    StoreOptions o;
    Store *store;
    int fd;

    testutil_db_setup(&db);
    f->db = *(TestDb *)db;
    g_free(db);
    /* The daemon creates the database before it serves (dbcheck). */
    o = testutil_store_options(f->db.path);
    store = store_open(&o, NULL);
    assert_non_null(store);
    store_close(store);
    f->disk = g_build_filename(f->db.dir, "disk.img", NULL);
    fd = open(f->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    f->dispatch = new_dispatch(f, 1000, NULL, 0);
    peer_fixed(f->dispatch, &f->a, 1, "a");
    peer_fixed(f->dispatch, &f->b, 2, "b");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    TestDb *db = g_new(TestDb, 1);
    void *p = db;

    dispatch_peer_clear(&f->a);
    dispatch_peer_clear(&f->b);
    dispatch_free(f->dispatch);
    g_free(f->disk);
    *db = f->db;
    g_free(f);
    return testutil_db_teardown(&p);
}

/*
 * Run @cdb (with @param_len bytes of @param) from @peer on the disk
 * opened with @flags through @dispatch; the answer is the caller's.
 */
static PrResult *run_on(Dispatch *dispatch, DispatchPeer *peer,
                        const char *disk, int flags, const uint8_t *cdb,
                        const uint8_t *param, size_t param_len)
{
    Reply reply = {0};
    DispatchRequest request = {.cdb = cdb,
                               .data = param,
                               .data_len = param_len,
                               .fd = disk != NULL ? open(disk, flags) : -1,
                               .received_at = g_get_monotonic_time(),
                               .peer = peer};

    assert_true(disk == NULL || request.fd >= 0);
    g_mutex_init(&reply.lock);
    g_cond_init(&reply.cond);
    dispatch_run(dispatch, &request, reply_done, &reply);
    g_mutex_lock(&reply.lock);
    while (reply.result == NULL) {
        g_cond_wait(&reply.cond, &reply.lock);
    }
    g_mutex_unlock(&reply.lock);
    g_mutex_clear(&reply.lock);
    g_cond_clear(&reply.cond);
    return reply.result;
}

static PrResult *run(Fixture *f, DispatchPeer *peer, const uint8_t *cdb,
                     const uint8_t *param, size_t param_len)
{
    return run_on(f->dispatch, peer, f->disk, O_RDWR | O_CLOEXEC, cdb, param,
                  param_len);
}

/* A basic PR OUT @sa of type @type with keys @rk and @sark. */
static PrResult *prout(Fixture *f, DispatchPeer *peer, uint8_t sa, uint8_t type,
                       uint64_t rk, uint64_t sark)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, rk, sark, 0, NULL, 0);

    cdb_pr_out(cdb, sa, 0, type, (uint32_t)len);
    return run(f, peer, cdb, param, len);
}

static PrResult *prin(Fixture *f, DispatchPeer *peer, uint8_t sa)
{
    uint8_t cdb[CDB_LEN];

    cdb_pr_in(cdb, sa, 1024);
    return run(f, peer, cdb, NULL, 0);
}

static void assert_status(PrResult *result, uint8_t status)
{
    g_autofree PrResult *r = result;

    assert_int_equal(r->status, status);
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
 * SPC-4 6.15.2: READ KEYS after a REGISTER from each of two I_T nexuses
 * lists both keys, in one LU, with a PRgeneration counting the two
 * registrations (SPC-4 5.12.7: REGISTER increments it).
 */
static void test_read_keys_two_nexuses_spc4_6_15_2(void **state)
{
    Fixture *f = *state;
    g_autofree PrResult *r = NULL;
    uint64_t k1;
    uint64_t k2;

    assert_status(prout(f, &f->a, PR_OUT_REGISTER, 0, 0, 0xa1),
                  SCSI_STATUS_GOOD);
    assert_status(prout(f, &f->b, PR_OUT_REGISTER, 0, 0, 0xb1),
                  SCSI_STATUS_GOOD);
    r = prin(f, &f->a, PR_IN_READ_KEYS);
    assert_int_equal(r->status, SCSI_STATUS_GOOD);
    assert_int_equal(r->data_len, 8 + 16);
    assert_int_equal(get_be32(r->data), 2);      /* PRGENERATION */
    assert_int_equal(get_be32(r->data + 4), 16); /* ADDITIONAL LENGTH */
    k1 = get_be64(r->data + 8);
    k2 = get_be64(r->data + 16);
    assert_true((k1 == 0xa1 && k2 == 0xb1) || (k1 == 0xb1 && k2 == 0xa1));
    /* One LU: the disk's path named it, in the database. */
    assert_int_equal(testutil_sql_int(f->db.path, "SELECT count(*) FROM lu"),
                     1);
}

/*
 * SPC-4 5.12.9.3 (RESERVE): while one I_T nexus holds a persistent
 * reservation, a RESERVE from another, registered one is answered
 * RESERVATION CONFLICT and the holder keeps it (SPC-4 6.15.3 READ
 * RESERVATION reports its key).
 */
static void test_reservation_conflict_spc4_5_12_9_3(void **state)
{
    Fixture *f = *state;
    g_autofree PrResult *r = NULL;

    assert_status(prout(f, &f->a, PR_OUT_REGISTER, 0, 0, 0xa1),
                  SCSI_STATUS_GOOD);
    assert_status(prout(f, &f->b, PR_OUT_REGISTER, 0, 0, 0xb1),
                  SCSI_STATUS_GOOD);
    assert_status(
        prout(f, &f->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, 0xa1, 0),
        SCSI_STATUS_GOOD);
    assert_status(
        prout(f, &f->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, 0xb1, 0),
        SCSI_STATUS_RESERVATION_CONFLICT);
    r = prin(f, &f->b, PR_IN_READ_RESERVATION);
    assert_int_equal(r->status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(r->data + 4), 16);
    assert_int_equal(get_be64(r->data + 8), 0xa1);
    assert_int_equal(r->data[21] & 0x0f, PR_TYPE_WRITE_EXCLUSIVE);
}

/*
 * SPC-4 6.15.1: a PERSISTENT RESERVE IN with a reserved service action
 * is CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB, with the
 * sense-key specific field pointer at CDB byte 1 (SPC-4 4.5.2.4.2); and
 * a PR OUT whose parameter list length is not 24 without SPEC_I_PT is
 * ILLEGAL REQUEST, PARAMETER LIST LENGTH ERROR (SPC-4 6.16.3).  Neither
 * touches the database.
 */
static void test_malformed_cdb_illegal_request_spc4_6_15_1(void **state)
{
    Fixture *f = *state;
    g_autofree PrResult *in = NULL;
    g_autofree PrResult *out = NULL;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX] = {0};

    cdb_pr_in(cdb, 0x1f, 1024);
    in = run(f, &f->a, cdb, NULL, 0);
    assert_sense(in, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    assert_int_equal(in->sense[15] & 0xc0, 0xc0); /* SKSV, C/D: the CDB */
    assert_int_equal(get_be16(in->sense + 16), 1);
    assert_int_equal(in->data_len, 0);

    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 20);
    out = run(f, &f->a, cdb, param, 20);
    assert_sense(out, SCSI_KEY_ILLEGAL_REQUEST, 0x1a, 0x00);
    assert_int_equal(
        testutil_sql_int(f->db.path, "SELECT count(*) FROM registration"), 0);
}

/*
 * An LU mapped with mode=passthrough is answered by its device through
 * SG_IO, never by the database: a regular file is no SCSI device, so the
 * ioctl fails (ENOTTY) and the answer is qemu-pr-helper's for it, CHECK
 * CONDITION, ABORTED COMMAND, I/O PROCESS TERMINATED; nothing is
 * recorded.  A PR OUT through a read-only descriptor is refused as
 * qemu-pr-helper refuses it, ILLEGAL REQUEST, INVALID COMMAND OPERATION
 * CODE (SPC-4 table F.1: 20h/00h), without reaching the device.
 */
static void test_passthrough_decision(void **state)
{
    Fixture *f = *state;
    char name[] = "lu-passed";
    LuMapping map = {
        .name = name, .path = f->disk, .mode = LU_MODE_PASSTHROUGH};
    Dispatch *dispatch = new_dispatch(f, 1000, &map, 1);
    g_autofree PrResult *in = NULL;
    g_autofree PrResult *out = NULL;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, 0, 0xa1, 0, NULL, 0);

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 1024);
    in = run_on(dispatch, &f->a, f->disk, O_RDWR | O_CLOEXEC, cdb, NULL, 0);
    assert_sense(in, SCSI_KEY_ABORTED_COMMAND, 0x00, 0x06);

    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    out =
        run_on(dispatch, &f->a, f->disk, O_RDONLY | O_CLOEXEC, cdb, param, len);
    assert_sense(out, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
    dispatch_free(dispatch);
    assert_int_equal(testutil_sql_int(f->db.path, "SELECT count(*) FROM lu"),
                     0);
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
 * While another database connection holds the write lock past the
 * command's deadline (lock-timeout from its arrival), a PR OUT is
 * answered BUSY, which the initiator retries, and changes nothing; once
 * the lock is free the same command succeeds.
 */
static void test_busy_on_lock_past_deadline(void **state)
{
    Fixture *f = *state;
    Dispatch *dispatch = new_dispatch(f, 200, NULL, 0);
    StoreOptions o = testutil_store_options(f->db.path);
    g_autoptr(Store) other = store_open(&o, NULL);
    Holder holder = {other, 1500};
    GThread *thread;

    assert_non_null(other);
    assert_true(store_begin(other, true, G_MAXINT64, NULL));
    thread = g_thread_new("holder", hold_then_release, &holder);
    f->a.id = 3;
    {
        uint8_t cdb[CDB_LEN];
        uint8_t param[WIRE_DATA_MAX];
        size_t len = cdb_prout_basic(param, 0, 0xa1, 0, NULL, 0);
        g_autofree PrResult *r = NULL;

        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
        r = run_on(dispatch, &f->a, f->disk, O_RDWR | O_CLOEXEC, cdb, param,
                   len);
        assert_int_equal(r->status, SCSI_STATUS_BUSY);
        g_thread_join(thread);
        g_free(r);
        r = run_on(dispatch, &f->a, f->disk, O_RDWR | O_CLOEXEC, cdb, param,
                   len);
        assert_int_equal(r->status, SCSI_STATUS_GOOD);
    }
    dispatch_free(dispatch);
    assert_int_equal(
        testutil_sql_int(f->db.path, "SELECT count(*) FROM registration"), 1);
}

/*
 * A request whose disk descriptor could not be received (the daemon was
 * out of descriptors) is answered BUSY, for the guest to retry, without
 * running it.
 */
static void test_no_descriptor_busy(void **state)
{
    Fixture *f = *state;
    uint8_t cdb[CDB_LEN];
    g_autofree PrResult *r = NULL;

    cdb_pr_in(cdb, PR_IN_READ_KEYS, 1024);
    r = run_on(f->dispatch, &f->a, NULL, 0, cdb, NULL, 0);
    assert_int_equal(r->status, SCSI_STATUS_BUSY);
    assert_int_equal(r->data_len, 0);
}

/*
 * A descriptor that cannot be a disk (a pipe) is no logical unit:
 * CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (SPC-4
 * table F.1: 25h/00h).
 */
static void test_not_a_disk_lu_not_supported(void **state)
{
    Fixture *f = *state;
    uint8_t cdb[CDB_LEN];
    int pipefd[2];
    Reply reply = {0};
    DispatchRequest request = {
        .cdb = cdb, .received_at = g_get_monotonic_time(), .peer = &f->a};

    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    close(pipefd[1]);
    request.fd = pipefd[0];
    cdb_pr_in(cdb, PR_IN_READ_KEYS, 1024);
    g_mutex_init(&reply.lock);
    g_cond_init(&reply.cond);
    dispatch_run(f->dispatch, &request, reply_done, &reply);
    assert_non_null(reply.result); /* answered before any database use */
    assert_sense(reply.result, SCSI_KEY_ILLEGAL_REQUEST, 0x25, 0x00);
    g_free(reply.result);
    g_mutex_clear(&reply.lock);
    g_cond_clear(&reply.cond);
}

/*
 * An "auto" socket's peer that is not QEMU (this test program) acts as
 * this host: its registration is the host's initiator, named from the
 * host id, as READ FULL STATUS (SPC-4 6.15.5) shows in its TransportID.
 */
static void test_auto_peer_is_this_host(void **state)
{
    Fixture *f = *state;
    DispatchPeer me;
    g_autofree PrResult *r = NULL;
    const char *want = IDENTITY_IQN_PREFIX ":host:test-host";

    dispatch_peer_init(f->dispatch, &me, 4, getpid(), IDENTITY_AUTO, NULL, 1,
                       NULL);
    assert_null(me.vm_key);
    assert_true(me.nexus_ready);
    assert_status(prout(f, &me, PR_OUT_REGISTER, 0, 0, 0xc1), SCSI_STATUS_GOOD);
    r = prin(f, &me, PR_IN_READ_FULL_STATUS);
    assert_int_equal(r->status, SCSI_STATUS_GOOD);
    assert_non_null(memmem(r->data, r->data_len, want, strlen(want)));
    dispatch_peer_clear(&me);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_keys_two_nexuses_spc4_6_15_2,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reservation_conflict_spc4_5_12_9_3,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_malformed_cdb_illegal_request_spc4_6_15_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passthrough_decision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_busy_on_lock_past_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_descriptor_busy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_not_a_disk_lu_not_supported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_auto_peer_is_this_host, setup,
                                        teardown),
    };

    return TESTUTIL_RUN("dispatch", tests, NULL, NULL);
}
