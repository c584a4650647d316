/*
 * test_limits: softprd under pressure, as a guest and an administrator
 * see it: every command answered within lock-timeout of its arrival
 * however many arrive while another process holds the database, a peer
 * that opens too many connections, a daemon out of descriptors, and
 * descriptors that are not disks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "peer.h"

#include "bytes.h"
#include "cdb.h"
#include "engine.h"
#include "scsi.h"

typedef struct Fixture {
    char *dir;
    TestDaemon *d;
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    if (f->d != NULL) {
        int code = testd_stop(f->d);

        if (code != 0) {
            g_autofree char *out = testd_output(f->d);

            fprintf(stderr, "%s", out);
        }
        assert_int_equal(code, 0);
        testd_free(f->d);
    }
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Under valgrind everything is slower: margins grow, bounds stay. */
static gint64 margin_us(gint64 us)
{
    const char *wrapper = g_getenv("SOFTPR_VALGRIND");

    return wrapper != NULL && *wrapper != '\0' ? us * 5 : us;
}

/* ------------------------------------------------------------------ */
/* Lock waits are bounded from a command's arrival                     */
/* ------------------------------------------------------------------ */

/* The lock-timeout of these tests, and what a reply may take beyond it. */
#define LOCK_TIMEOUT_US (1000 * 1000)
#define LOCK_MARGIN_US (1500 * 1000)

enum { CLIENTS = 16 };

/* Another process's sqlite connection holding BEGIN EXCLUSIVE on @db. */
static sqlite3 *hold_exclusive(const char *db)
{
    sqlite3 *other = NULL;

    assert_int_equal(sqlite3_open(db, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 60000);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    return other;
}

static void release(sqlite3 *other)
{
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);
}

/* Send client @i's command: REGISTER AND IGNORE EXISTING KEY with a key
 * of its own when @out, else READ KEYS. */
static void send_one(PrClient *client, int disk, unsigned i, bool out,
                     const uint8_t *in_cdb, const uint8_t *out_cdb)
{
    g_autoptr(GError) error = NULL;
    uint8_t param[24];

    memset(param, 0, sizeof(param));
    put_be64(param + 8, 0x1000 + i);
    if (!client_send(client, out ? out_cdb : in_cdb, disk,
                     out ? param : NULL, out ? sizeof(param) : 0, &error)) {
        fail_msg("send %u: %s", i, error->message);
    }
}

/*
 * Send one command on each of @clients at once (REGISTER AND IGNORE
 * EXISTING KEY on those whose index is below @n_out, else READ KEYS) and
 * wait for every answer: each must be @status, within @bound_us of its
 * sending (when @status is GOOD, a BUSY is sent again within that
 * bound, as a guest retries it).  Returns the slowest answer's time.
 */
static gint64 all_answered(PrClient **clients, int disk, unsigned n_out,
                           uint8_t status, gint64 bound_us)
{
    uint8_t in_cdb[CDB_LEN];
    uint8_t out_cdb[CDB_LEN];
    uint8_t param[24];
    gint64 sent[CLIENTS];
    bool done[CLIENTS] = {false};
    gint64 slowest = 0;
    unsigned left = CLIENTS;
    unsigned i;

    cdb_pr_in(in_cdb, PR_IN_READ_KEYS, 8192);
    cdb_pr_out(out_cdb, PR_OUT_REGISTER_IGNORE, 0, 0, sizeof(param));
    for (i = 0; i < CLIENTS; i++) {
        sent[i] = g_get_monotonic_time();
        send_one(clients[i], disk, i, i < n_out, in_cdb, out_cdb);
    }
    while (left > 0) {
        struct pollfd pfd[CLIENTS];
        unsigned map[CLIENTS];
        unsigned n = 0;

        for (i = 0; i < CLIENTS; i++) {
            if (!done[i]) {
                pfd[n].fd = client_socket(clients[i]);
                pfd[n].events = POLLIN;
                map[n++] = i;
            }
        }
        assert_true(poll(pfd, n, 60000) > 0);
        for (i = 0; i < n; i++) {
            unsigned c = map[i];
            g_autoptr(GError) error = NULL;
            ClientReply reply;
            gint64 took;

            if (!(pfd[i].revents & (POLLIN | POLLHUP))) {
                continue;
            }
            if (!client_receive(clients[c], c < n_out ? out_cdb : in_cdb,
                                &reply, &error)) {
                fail_msg("receive %u: %s", c, error->message);
            }
            took = g_get_monotonic_time() - sent[c];
            if (status == SCSI_STATUS_GOOD &&
                reply.status == SCSI_STATUS_BUSY && took <= bound_us) {
                /* As a guest does (SAM-5 5.3.1: BUSY, retry later): the
                 * commands queued behind others may find their own
                 * lock-timeout spent on a slow machine (valgrind). */
                send_one(clients[c], disk, c, c < n_out, in_cdb, out_cdb);
                continue;
            }
            slowest = MAX(slowest, took);
            if (reply.status != status || took > bound_us) {
                fail_msg(
                    "command %u (%s): status 0x%02x after %" G_GINT64_FORMAT
                    " ms; expected 0x%02x within %" G_GINT64_FORMAT " ms",
                    c, c < n_out ? "REGISTER AND IGNORE" : "READ KEYS",
                    reply.status, took / 1000, status, bound_us / 1000);
            }
            done[c] = true;
            left--;
        }
    }
    return slowest;
}

/*
 * Another process holds the database's lock (BEGIN EXCLUSIVE) well past
 * lock-timeout while 16 clients send READ KEYS at once, then 12 READ
 * KEYS and 4 REGISTER AND IGNORE EXISTING KEY: every one is answered BUSY
 * (status 08h, which the guest retries) within lock-timeout of its sending plus
 * a margin, never in rounds of as many as the daemon has threads.  @warm: the
 * daemon has answered commands before (its database connections are open); else
 * it must open them under the lock.  Once the lock is gone, the same commands
 * succeed.
 */
static void lock_bound(Fixture *f, bool warm)
{
    g_autofree char *config = g_strdup_printf("[database]\nlock-timeout = %g\n",
                                              LOCK_TIMEOUT_US / 1e6);
    PrClient *clients[CLIENTS];
    sqlite3 *other;
    gint64 bound = LOCK_TIMEOUT_US + margin_us(LOCK_MARGIN_US);
    gint64 slowest;
    int disk;
    unsigned i;

    f->d = testd_start(f->dir, "prh", config, NULL);
    disk = testd_disk(f->dir, "disk.img", O_RDWR);
    for (i = 0; i < CLIENTS; i++) {
        clients[i] = testd_connect(f->d);
    }
    if (warm) {
        all_answered(clients, disk, CLIENTS / 4, SCSI_STATUS_GOOD,
                     60 * G_USEC_PER_SEC);
    }
    other = hold_exclusive(f->d->db);
    slowest = all_answered(clients, disk, 0, SCSI_STATUS_BUSY, bound);
    print_message("16 READ KEYS: the slowest BUSY after %" G_GINT64_FORMAT
                  " ms\n",
                  slowest / 1000);
    slowest = all_answered(clients, disk, CLIENTS / 4, SCSI_STATUS_BUSY, bound);
    print_message("12 READ KEYS, 4 REGISTER AND IGNORE: the slowest BUSY after "
                  "%" G_GINT64_FORMAT " ms\n",
                  slowest / 1000);
    release(other);
    all_answered(clients, disk, CLIENTS / 4, SCSI_STATUS_GOOD,
                 60 * G_USEC_PER_SEC);
    assert_true(testd_wait_output(f->d, "answering BUSY", 30000));
    for (i = 0; i < CLIENTS; i++) {
        client_close(clients[i]);
    }
    close(disk);
}

static void test_lock_bound_fresh_daemon(void **state)
{
    lock_bound(*state, false);
}

static void test_lock_bound_warm_daemon(void **state)
{
    lock_bound(*state, true);
}

/* ------------------------------------------------------------------ */
/* Connections per peer                                                */
/* ------------------------------------------------------------------ */

/* A connection from this process, retried while the daemon has not yet
 * seen an earlier one of ours (the start-up probe's) close. */
static PrClient *connect_retrying(TestDaemon *d)
{
    PrClient *c = NULL;
    int tries;

    for (tries = 0; tries < 3000 && c == NULL; tries++) {
        c = client_connect(d->socket, 0, 30000, NULL);
        if (c == NULL) {
            g_usleep(10000);
        }
    }
    assert_non_null(c);
    return c;
}

/*
 * One process holding max-connections-per-peer idle connections gets no
 * more, and is told why in the log; other processes (QEMU, a tool) still
 * connect and are answered; when one of its connections closes, it may
 * open another.
 */
static void test_connections_per_peer(void **state)
{
    enum { CAP = 4 };
    Fixture *f = *state;
    PrClient *held[CAP];
    g_autofree char *qemu = NULL;
    g_autofree char *prpeer = testpeer_prpeer();
    g_autofree char *disk = g_build_filename(f->dir, "disk.img", NULL);
    g_autofree char *out = NULL;
    unsigned i;

    f->d = testd_start(f->dir, "prh",
                       "[daemon]\nmax-connections-per-peer = 4\n", NULL);
    close(testd_disk(f->dir, "disk.img", O_RDWR));
    for (i = 0; i < CAP; i++) {
        held[i] = connect_retrying(f->d);
    }
    assert_null(client_connect(f->d->socket, 0, 30000, NULL));
    assert_true(testd_wait_output(f->d, "max-connections-per-peer", 30000));

    qemu = testpeer_qemu(f->dir);
    out = testpeer_run(qemu,
                       "-name guest=vm1 -uuid "
                       "6a1b7a3c-0000-4000-8000-00000000c0de",
                       f->d->socket, disk, "register 1 readkeys");
    assert_non_null(strstr(out, "keys=0x1"));
    g_free(out);
    out = testpeer_run(prpeer, NULL, f->d->socket, disk, "readkeys");
    assert_non_null(strstr(out, "generation=1"));

    client_close(held[0]);
    held[0] = connect_retrying(f->d);
    for (i = 0; i < CAP; i++) {
        client_close(held[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Out of descriptors                                                  */
/* ------------------------------------------------------------------ */

/*
 * A daemon out of file descriptors says so and answers what it can: a
 * connection it cannot accept waits (the log says "out of file
 * descriptors"), a request whose disk descriptor it cannot receive is
 * answered BUSY, which the guest retries, on a connection that stays
 * open (not closed as if the client had sent two); once descriptors are
 * free the same request succeeds.
 */
static void test_out_of_descriptors(void **state)
{
    enum { LIMIT = 64, EXTRA = LIMIT };
    Fixture *f = *state;
    const char *wrapper = g_getenv("SOFTPR_VALGRIND");
    PrClient *c;
    PrClient *extra[EXTRA];
    PrClient *waiting;
    struct rlimit before;
    struct rlimit low;
    ClientReply reply;
    int disk;
    unsigned i;

    if (wrapper != NULL && *wrapper != '\0') {
        skip(); /* valgrind keeps descriptors of its own near the limit */
    }
    f->d = testd_start(f->dir, "prh",
                       "[daemon]\nmax-connections-per-peer = 1000\n", NULL);
    disk = testd_disk(f->dir, "disk.img", O_RDWR);
    c = connect_retrying(f->d);
    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_GOOD);
    /* A low soft limit (what libraries opened higher stays open); the
     * connections below fill it, until one waits unaccepted. */
    assert_int_equal(prlimit(f->d->pid, RLIMIT_NOFILE, NULL, &before), 0);
    low.rlim_cur = LIMIT;
    low.rlim_max = before.rlim_max;
    assert_int_equal(prlimit(f->d->pid, RLIMIT_NOFILE, &low, NULL), 0);
    for (i = 0; i < EXTRA; i++) {
        extra[i] = client_connect(f->d->socket, 0, 1000, NULL);
        if (extra[i] == NULL) {
            break;
        }
    }
    assert_true(i < EXTRA);
    assert_true(testd_wait_output(f->d,
                                  "cannot accept a connection: out of "
                                  "file descriptors",
                                  30000));

    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_BUSY);
    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x5, 0, &reply),
        SCSI_STATUS_BUSY);
    assert_true(
        testd_wait_output(f->d, "out of file descriptors: a request's", 30000));

    /* Room again: a waiting connection is accepted, and the same
     * connection's commands run. */
    assert_int_equal(prlimit(f->d->pid, RLIMIT_NOFILE, &before, NULL), 0);
    waiting = connect_retrying(f->d);
    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x5, 0, &reply),
        SCSI_STATUS_GOOD);
    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 16, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    client_close(waiting);
    while (i > 0) {
        client_close(extra[--i]);
    }
    client_close(c);
    close(disk);
}

/* ------------------------------------------------------------------ */
/* Descriptors that are not disks                                      */
/* ------------------------------------------------------------------ */

/* @status and, with CHECK CONDITION, sense @key/@asc/@ascq. */
static void expect_answer(const ClientReply *reply, uint8_t status, uint8_t key,
                          uint8_t asc, uint8_t ascq)
{
    ScsiSenseCode code;

    assert_int_equal(reply->status, status);
    if (status != SCSI_STATUS_CHECK_CONDITION) {
        return;
    }
    assert_true(scsi_sense_parse(reply->sense, sizeof(reply->sense), &code));
    assert_int_equal(code.key, key);
    assert_int_equal(code.asc, asc);
    assert_int_equal(code.ascq, ascq);
}

/*
 * A character device that is not SCSI generic (/dev/null, a
 * pseudo-terminal) is not a logical unit: PR IN and PR OUT through it get
 * CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED (25h/00h,
 * what a target answers for a logical unit it does not have), in
 * emulation and in passthrough mode alike, nothing reaches the database,
 * and the connection goes on serving a real disk.
 */
static void test_char_devices_not_disks(void **state)
{
    static const char *const modes[] = {"emulation", "passthrough"};
    Fixture *f = *state;
    unsigned m;

    for (m = 0; m < G_N_ELEMENTS(modes); m++) {
        g_autofree char *config =
            g_strdup_printf("[daemon]\nmode = %s\n", modes[m]);
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        int pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        int disk = testd_disk(f->dir, "disk.img", O_RDWR);
        PrClient *c;
        ClientReply reply;

        f->d = testd_start(f->dir, "prh", config, NULL);
        c = testd_connect(f->d);
        assert_true(null_fd >= 0 && pty >= 0);
        testd_prin(c, null_fd, PR_IN_READ_KEYS, 8, &reply);
        expect_answer(&reply, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x25, 0);
        testd_prout(c, null_fd, PR_OUT_REGISTER, 0, 0, 0x1, 0, &reply);
        expect_answer(&reply, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x25, 0);
        testd_prin(c, pty, PR_IN_READ_KEYS, 8, &reply);
        expect_answer(&reply, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x25, 0);
        if (m == 0) {
            testd_prin(c, disk, PR_IN_READ_KEYS, 8, &reply);
            expect_answer(&reply, SCSI_STATUS_GOOD, 0, 0, 0);
        }
        assert_true(testd_wait_output(f->d, "not SCSI generic", 30000));
        client_close(c);
        assert_int_equal(testd_stop(f->d), 0);
        assert_int_equal(testutil_sql_int(f->d->db,
                                          "SELECT count(*) FROM lu_seen WHERE "
                                          "path = '/dev/null' OR path LIKE "
                                          "'/dev/pts/%'"),
                         0);
        testd_free(f->d);
        f->d = NULL;
        close(null_fd);
        close(pty);
        close(disk);
    }
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_lock_bound_fresh_daemon), T(test_lock_bound_warm_daemon),
        T(test_char_devices_not_disks),  T(test_connections_per_peer),
        T(test_out_of_descriptors),
    };
#undef T

    return TESTUTIL_RUN("limits", tests, NULL, NULL);
}
