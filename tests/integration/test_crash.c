/*
 * test_crash: kill -9 at random moments.  Two daemons (two hosts) share
 * one database; client threads issue PR OUT through either of them while
 * a killer sends SIGKILL to one daemon at a random moment and restarts
 * it, SOFTPR_CRASH_KILLS times (200 by default).
 *
 * Each client owns one logical unit that nobody else writes and sends it
 * REGISTER AND IGNORE EXISTING KEY with a new key each time, so that it
 * knows exactly which commands committed: those answered GOOD, plus
 * those whose answer was lost to a kill and whose key is found afterwards
 * (each raises PRgeneration by one, SPC-4 6.14.2).  Clients also contend
 * on one shared LU with RESERVE, RELEASE, PREEMPT and REGISTER.
 *
 * Afterwards: PRAGMA integrity_check is ok; every owned LU's PRgeneration
 * equals the commands that committed and its key is the last of them (so
 * every command answered GOOD is in the database); every LU's state
 * satisfies SPC-4 (engine_state_consistent: at most one reservation, a
 * holder that is registered).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"

#include "bytes.h"
#include "engine.h"
#include "identity.h"
#include "scsi.h"
#include "store.h"

#define CLIENTS 6
#define DEFAULT_KILLS 200

typedef struct Crash Crash;

typedef struct Client {
    Crash *crash;
    int index;
    TransportId initiator;
    int own_disk;
    int shared_disk;
    GRand *rand;
    /* What this client knows committed on its own LU. */
    uint64_t last_key;
    guint committed;
    /* Figures. */
    guint good;
    guint busy;
    guint aborted; /* ABORTED COMMAND, INTERNAL TARGET FAILURE */
    guint lost;    /* answer lost to a kill */
    guint lost_committed;
    guint shared_ops;
} Client;

struct Crash {
    char *dir;
    TestDaemon *daemons[2];
    GMutex lock; /* daemons[] while restarting */
    gint stop;
    guint kills;
    Client clients[CLIENTS];
};

static const char *const names[2] = {"a", "b"};

static char *socket_of(Crash *c, int which)
{
    g_autofree char *sock = g_strconcat(names[which], ".sock", NULL);

    return g_build_filename(c->dir, sock, NULL);
}

static TestDaemon *start_daemon(Crash *c, int which)
{
    g_autofree char *host = g_strconcat("host-", names[which], NULL);
    const char *extra[] = {"--identity", "client", "--host-id", host, NULL};

    /* All history kept: it must match the state exactly. */
    return testd_start(c->dir, names[which],
                       "[database]\nlock-timeout = 2\n"
                       "[history]\nkeep-rows = 2000000000\nkeep-days = 0\n",
                       extra);
}

/* Connect to either daemon, waiting while one is being restarted. */
static PrClient *connect_any(Client *cl)
{
    for (;;) {
        int which = g_rand_int_range(cl->rand, 0, 2);
        g_autofree char *sock = socket_of(cl->crash, which);
        PrClient *p = client_connect_as(sock, &cl->initiator, 30000, NULL);

        if (p != NULL) {
            return p;
        }
        g_usleep(2000);
    }
}

static bool keys_contain(const ClientReply *r, uint64_t key)
{
    uint32_t n = get_be32(r->data + 4) / 8;
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (get_be64(r->data + 8 + 8 * i) == key) {
            return true;
        }
    }
    return false;
}

/*
 * The answer to REGISTER AND IGNORE EXISTING KEY @key was lost: find out
 * whether it committed.  Only this client writes its LU, so its key says.
 */
static void resolve(Client *cl, uint64_t key)
{
    for (;;) {
        g_autoptr(PrClient) p = connect_any(cl);
        uint8_t cdb[CDB_LEN];
        ClientReply r;

        cdb_pr_in(cdb, PR_IN_READ_KEYS, 64);
        if (!client_command(p, cdb, cl->own_disk, NULL, 0, &r, NULL) ||
            r.status != SCSI_STATUS_GOOD) {
            continue;
        }
        if (keys_contain(&r, key)) {
            cl->committed++;
            cl->last_key = key;
            cl->lost_committed++;
        } else if (cl->committed > 0 && !keys_contain(&r, cl->last_key)) {
            fail_msg("client %d: neither key 0x%" G_GINT64_MODIFIER
                     "x nor the last committed 0x%" G_GINT64_MODIFIER
                     "x is registered",
                     cl->index, key, cl->last_key);
        }
        return;
    }
}

/* A status a PR OUT may get here; anything else fails the test. */
static void check_status(Client *cl, const ClientReply *r)
{
    ScsiSenseCode code;

    switch (r->status) {
    case SCSI_STATUS_GOOD:
    case SCSI_STATUS_RESERVATION_CONFLICT:
        return;
    case SCSI_STATUS_BUSY:
        cl->busy++;
        return;
    case SCSI_STATUS_CHECK_CONDITION:
        if (scsi_sense_parse(r->sense, sizeof(r->sense), &code) &&
            (code.key == SCSI_KEY_ILLEGAL_REQUEST ||
             (code.key == SCSI_KEY_ABORTED_COMMAND && code.asc == 0x44))) {
            cl->aborted += code.key == SCSI_KEY_ABORTED_COMMAND;
            return;
        }
        break;
    default:
        break;
    }
    fail_msg("client %d: unexpected status 0x%02x", cl->index, r->status);
}

static void shared_command(Client *cl, PrClient *p, bool *broken)
{
    static const uint8_t types[] = {1, 3, 5, 6, 7, 8};
    uint64_t mine = 0x1000 + (uint64_t)cl->index;
    uint64_t other = 0x1000 + (uint64_t)g_rand_int_range(cl->rand, 0, CLIENTS);
    uint8_t type = types[g_rand_int_range(cl->rand, 0, G_N_ELEMENTS(types))];
    uint8_t sa;
    uint64_t rk = mine;
    uint64_t sark = 0;
    uint8_t cdb[CDB_LEN];
    uint8_t param[PROUT_PARAM_MAX];
    size_t len;
    ClientReply r;

    switch (g_rand_int_range(cl->rand, 0, 10)) {
    case 0:
    case 1:
    case 2:
        sa = PR_OUT_REGISTER_IGNORE;
        rk = 0;
        sark = mine;
        break;
    case 3:
    case 4:
        sa = PR_OUT_RESERVE;
        break;
    case 5:
        sa = PR_OUT_RELEASE;
        break;
    case 6:
    case 7:
        sa = PR_OUT_PREEMPT;
        sark = other;
        break;
    case 8:
        sa = PR_OUT_PREEMPT_AND_ABORT;
        sark = other;
        break;
    default:
        sa = g_rand_int_range(cl->rand, 0, 4) == 0 ? PR_OUT_CLEAR
                                                   : PR_OUT_REGISTER_IGNORE;
        sark = sa == PR_OUT_CLEAR ? 0 : mine;
        break;
    }
    len = cdb_prout_basic(param, rk, sark, 0, NULL, 0);
    cdb_pr_out(cdb, sa, 0, type, (uint32_t)len);
    cl->shared_ops++;
    if (!client_command(p, cdb, cl->shared_disk, param, len, &r, NULL)) {
        *broken = true;
        return;
    }
    check_status(cl, &r);
}

static gpointer client_thread(gpointer data)
{
    Client *cl = data;
    uint32_t seq = 0;

    while (!g_atomic_int_get(&cl->crash->stop)) {
        g_autoptr(PrClient) p = connect_any(cl);
        bool broken = false;

        while (!broken && !g_atomic_int_get(&cl->crash->stop)) {
            uint64_t key = ((uint64_t)(cl->index + 1) << 32) | ++seq;
            uint8_t cdb[CDB_LEN];
            uint8_t param[PROUT_PARAM_MAX];
            size_t len = cdb_prout_basic(param, 0, key, 0, NULL, 0);
            ClientReply r;

            cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, (uint32_t)len);
            if (!client_command(p, cdb, cl->own_disk, param, len, &r, NULL)) {
                cl->lost++;
                resolve(cl, key);
                broken = true;
                break;
            }
            check_status(cl, &r);
            if (r.status == SCSI_STATUS_GOOD) {
                cl->good++;
                cl->committed++;
                cl->last_key = key;
            }
            if (g_rand_boolean(cl->rand)) {
                shared_command(cl, p, &broken);
            }
        }
    }
    return NULL;
}

static guint crash_kills(void)
{
    const char *env = g_getenv("SOFTPR_CRASH_KILLS");

    return env != NULL ? (guint)atoi(env) : DEFAULT_KILLS;
}

/* Check one LU's stored state with the store and the engine's rules. */
static void check_lu(Store *store, const char *name, guint *generation,
                     uint64_t *key)
{
    StoreLuInfo lu = {name, "xattr", ""};
    g_autoptr(PrState) state = pr_state_new();
    g_autoptr(GError) error = NULL;
    gint64 lu_id = 0;
    bool stale = false;

    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 10000000, &error));
    if (!store_load_state(store, &lu, state, &lu_id, &stale, &error)) {
        fail_msg("LU %s: %s", name, error->message);
    }
    store_rollback(store);
    if (!engine_state_consistent(state)) {
        fail_msg("LU %s breaks SPC-4's invariants", name);
    }
    *generation = state->generation;
    *key = state->regs->len == 1
               ? g_array_index(state->regs, PrRegistration, 0).key
               : 0;
}

static char *lu_name_of(int fd)
{
    char value[256];
    ssize_t n = fgetxattr(fd, IDENTITY_XATTR, value, sizeof(value) - 1);

    assert_true(n > 0);
    value[n] = '\0';
    return g_strdup(value);
}

static void test_kill_daemons_at_random(void **state)
{
    Crash *c = g_new0(Crash, 1);
    GThread *threads[CLIENTS];
    GRand *rand = g_rand_new_with_seed(20261121);
    guint kills = crash_kills();
    gint64 start = g_get_monotonic_time();
    guint good = 0, busy = 0, aborted = 0, lost = 0, lost_committed = 0;
    guint shared_ops = 0;
    g_autofree char *db_path = NULL;
    int i;

    c->dir = testutil_tmpdir();
    g_mutex_init(&c->lock);
    c->daemons[0] = start_daemon(c, 0);
    c->daemons[1] = start_daemon(c, 1);
    db_path = g_strdup(c->daemons[0]->db);
    for (i = 0; i < CLIENTS; i++) {
        Client *cl = &c->clients[i];
        g_autofree char *own = g_strdup_printf("own-%d.img", i);
        g_autofree char *tid = g_strdup_printf("iqn.2026-11.test:client-%d", i);

        cl->crash = c;
        cl->index = i;
        cl->rand = g_rand_new_with_seed(1000 + (guint32)i);
        assert_true(tid_from_iscsi_name(tid, &cl->initiator, NULL));
        cl->own_disk = testd_disk(c->dir, own, O_RDWR);
        cl->shared_disk = testd_disk(c->dir, "shared.img", O_RDWR);
    }
    for (i = 0; i < CLIENTS; i++) {
        threads[i] = g_thread_new("client", client_thread, &c->clients[i]);
    }
    for (c->kills = 0; c->kills < kills; c->kills++) {
        int which = g_rand_int_range(rand, 0, 2);
        TestDaemon *d = c->daemons[which];

        g_usleep((gulong)g_rand_int_range(rand, 0, 15000));
        kill(d->pid, SIGKILL);
        assert_int_equal(testd_wait_exit(d, 60000), 128 + SIGKILL);
        testd_free(d);
        c->daemons[which] = start_daemon(c, which);
    }
    g_atomic_int_set(&c->stop, 1);
    for (i = 0; i < CLIENTS; i++) {
        g_thread_join(threads[i]);
    }
    for (i = 0; i < 2; i++) {
        int code = testd_stop(c->daemons[i]);

        if (code != 0) {
            g_autofree char *out = testd_output(c->daemons[i]);

            fail_msg("daemon %s exited %d:\n%s", names[i], code, out);
        }
        testd_free(c->daemons[i]);
    }

    /* The database is whole. */
    testutil_integrity_ok(db_path);
    /* Every owned LU holds exactly what committed; every LU is valid. */
    {
        StoreOptions o = {.path = db_path,
                          .journal = STORE_JOURNAL_DELETE,
                          .lock_timeout_ms = 10000,
                          .host_id = "checker"};
        g_autoptr(Store) store = store_open(&o, NULL);
        g_autofree char *shared = lu_name_of(c->clients[0].shared_disk);
        guint generation;
        uint64_t key;

        assert_non_null(store);
        for (i = 0; i < CLIENTS; i++) {
            Client *cl = &c->clients[i];
            g_autofree char *name = lu_name_of(cl->own_disk);

            check_lu(store, name, &generation, &key);
            if (generation != cl->committed || key != cl->last_key) {
                fail_msg("client %d: database has generation %u key "
                         "0x%" G_GINT64_MODIFIER
                         "x; committed %u, last key 0x%" G_GINT64_MODIFIER "x",
                         i, generation, key, cl->committed, cl->last_key);
            }
            /* The history is written in the same transaction: exactly
             * one GOOD entry per generation-raising command (5.12.7). */
            {
                g_autofree char *sql = g_strdup_printf(
                    "SELECT count(*) FROM history WHERE lu_name = '%s' AND "
                    "status = 0 AND service_action IN (0, 3, 4, 5, 6, 7)",
                    name);

                assert_int_equal(testutil_sql_int(db_path, sql), generation);
            }
            good += cl->good;
            busy += cl->busy;
            aborted += cl->aborted;
            lost += cl->lost;
            lost_committed += cl->lost_committed;
            shared_ops += cl->shared_ops;
        }
        check_lu(store, shared, &generation, &key);
        {
            g_autofree char *sql = g_strdup_printf(
                "SELECT count(*) FROM history WHERE lu_name = '%s' AND "
                "status = 0 AND service_action IN (0, 3, 4, 5, 6, 7)",
                shared);

            assert_int_equal(testutil_sql_int(db_path, sql), generation);
        }
    }
    print_message("crash: %u kills in %.1f s; %u owned-LU commands answered "
                  "GOOD, %u answers lost to a kill (%u of them had "
                  "committed), %u BUSY, %u ABORTED COMMAND; %u shared-LU "
                  "commands; integrity_check ok, invariants hold\n",
                  c->kills, (g_get_monotonic_time() - start) / 1e6, good, lost,
                  lost_committed, busy, aborted, shared_ops);

    for (i = 0; i < CLIENTS; i++) {
        close(c->clients[i].own_disk);
        close(c->clients[i].shared_disk);
        g_rand_free(c->clients[i].rand);
    }
    g_rand_free(rand);
    g_mutex_clear(&c->lock);
    testutil_rmtree(c->dir);
    g_free(c->dir);
    g_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_daemons_at_random),
    };

    return TESTUTIL_RUN("crash", tests, NULL, NULL);
}
