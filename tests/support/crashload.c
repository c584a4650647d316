/*
 * crashload: the crash tests' clients and daemons, and the events that
 * interrupt them, for sqlite and PostgreSQL (see crashload.h; the checks
 * are in crashcheck.c).
 */
#include "crashload_int.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bytes.h"
#include "engine.h"
#include "scsi.h"

/* After BUSY or ABORTED COMMAND a client pauses this long, as a guest
 * would, rather than spin while the database is away. */
#define RETRY_PAUSE_US 10000

static const char *const names[2] = {"a", "b"};

static char *socket_of(CrashLoad *c, int which)
{
    g_autofree char *sock = g_strconcat(names[which], ".sock", NULL);

    return g_build_filename(c->dir, sock, NULL);
}

/* Start daemon @which on the load's database; waits until it answers. */
static TestDaemon *start_daemon(CrashLoad *c, int which)
{
    g_autofree char *host = g_strconcat("host-", names[which], NULL);
    const char *extra[] = {"--identity", "client", "--host-id", host,
                           c->pg ? "--db" : NULL, c->db, NULL};

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

/*
 * Send one command and wait for its answer; false when the connection
 * went before the answer came.  A kill then landed while the daemon had
 * the command: the event it was is noted.
 */
static bool send_command(Client *cl, PrClient *p, int disk, Sent *sent,
                         ClientReply *r)
{
    CrashLoad *c = cl->crash;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, sent->rk, sent->sark, 0, NULL, 0);
    bool answered;

    cdb_pr_out(cdb, sent->sa, 0, sent->type, (uint32_t)len);
    g_atomic_int_inc(&c->in_flight);
    if (!client_send(p, cdb, disk, param, len, NULL)) {
        /* The daemon was gone before the command left: never ran. */
        g_atomic_int_add(&c->in_flight, -1);
        return false;
    }
    answered = client_receive(p, cdb, r, NULL);
    g_atomic_int_add(&c->in_flight, -1);
    if (!answered) {
        int event = g_atomic_int_get(&c->events);

        if (event > 0) {
            g_atomic_int_set(&c->event_landed[event - 1], 1);
        }
        sent->event = event;
        sent->outcome = OUTCOME_LOST;
        cl->lost++;
        return false;
    }
    sent->status = r->status;
    return true;
}

/*
 * Classify the answer @r to @sent.  @own: the client's own LU, where
 * only GOOD and the two retryable answers can occur.
 */
static void classify(Client *cl, bool own, Sent *sent, const ClientReply *r)
{
    ScsiSenseCode code = {0, 0, 0};
    bool sense = r->status == SCSI_STATUS_CHECK_CONDITION &&
                 scsi_sense_parse(r->sense, sizeof(r->sense), &code);

    sent->outcome = OUTCOME_ANSWERED;
    if (sense) {
        sent->sense[0] = code.key;
        sent->sense[1] = code.asc;
        sent->sense[2] = code.ascq;
    }
    if (r->status == SCSI_STATUS_BUSY) {
        cl->busy++;
        sent->outcome = OUTCOME_RETRY;
        g_usleep(RETRY_PAUSE_US);
        return;
    }
    if (sense && code.key == SCSI_KEY_ABORTED_COMMAND && code.asc == 0x44 &&
        code.ascq == 0x00) {
        cl->aborted++;
        sent->outcome = OUTCOME_RETRY;
        g_usleep(RETRY_PAUSE_US);
        return;
    }
    if (r->status == SCSI_STATUS_GOOD) {
        cl->good++;
        g_atomic_int_inc(&cl->crash->good);
        return;
    }
    if (!own && (r->status == SCSI_STATUS_RESERVATION_CONFLICT ||
                 (sense && code.key == SCSI_KEY_ILLEGAL_REQUEST))) {
        return;
    }
    testutil_fail("client %d: %s 0x%" G_GINT64_MODIFIER "x on its %s LU "
                  "answered status 0x%02x sense %02x/%02x/%02x",
                  cl->index, engine_out_action_name(sent->sa), sent->sark,
                  own ? "own" : "shared", r->status, code.key, code.asc,
                  code.ascq);
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

uint64_t crashload_last_committed(Client *cl)
{
    guint i;

    for (i = cl->own->len; i > 0; i--) {
        Sent *s = &g_array_index(cl->own, Sent, i - 1);

        if (s->committed) {
            return s->sark;
        }
    }
    return 0;
}

/*
 * The answer to REGISTER AND IGNORE EXISTING KEY @sent was lost: find
 * out whether it committed, once the database has ended it (a command
 * whose answer is lost may still be running there).  Only this client
 * writes its LU, so its one registered key says.
 */
static void resolve(Client *cl, Sent *sent)
{
    uint64_t last = crashload_last_committed(cl);
    gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    /* Not before the database has ended the command: see settle(). */
    while (g_atomic_int_get(&cl->crash->settled) < sent->event) {
        if (g_get_monotonic_time() > until) {
            testutil_fail("client %d: event %d never settled", cl->index,
                          sent->event);
        }
        g_usleep(1000);
    }
    for (;;) {
        g_autoptr(PrClient) p = connect_any(cl);
        uint8_t cdb[CDB_LEN];
        ClientReply r;

        cdb_pr_in(cdb, PR_IN_READ_KEYS, 64);
        if (!client_command(p, cdb, cl->own_disk, NULL, 0, &r, NULL) ||
            r.status != SCSI_STATUS_GOOD) {
            /* A daemon restarting, or the database away: BUSY. */
            g_usleep(RETRY_PAUSE_US);
            continue;
        }
        if (keys_contain(&r, sent->sark)) {
            sent->committed = true;
            cl->lost_committed++;
        } else if (last != 0 ? !keys_contain(&r, last)
                             : get_be32(r.data + 4) != 0) {
            testutil_fail("client %d: neither key 0x%" G_GINT64_MODIFIER
                          "x nor the last committed 0x%" G_GINT64_MODIFIER
                          "x is registered",
                          cl->index, sent->sark, last);
        }
        return;
    }
}

static void shared_command(Client *cl, PrClient *p, bool *broken)
{
    static const uint8_t types[] = {1, 3, 5, 6, 7, 8};
    uint64_t mine = 0x1000 + (uint64_t)cl->index;
    uint64_t other = 0x1000 + (uint64_t)g_rand_int_range(cl->rand, 0, CLIENTS);
    Sent sent = {0};
    ClientReply r;

    sent.type = types[g_rand_int_range(cl->rand, 0, G_N_ELEMENTS(types))];
    sent.rk = mine;
    switch (g_rand_int_range(cl->rand, 0, 10)) {
    case 0:
    case 1:
    case 2:
        sent.sa = PR_OUT_REGISTER_IGNORE;
        sent.rk = 0;
        sent.sark = mine;
        break;
    case 3:
    case 4:
        sent.sa = PR_OUT_RESERVE;
        break;
    case 5:
        sent.sa = PR_OUT_RELEASE;
        break;
    case 6:
    case 7:
        sent.sa = PR_OUT_PREEMPT;
        sent.sark = other;
        break;
    case 8:
        sent.sa = PR_OUT_PREEMPT_AND_ABORT;
        sent.sark = other;
        break;
    default:
        sent.sa = g_rand_int_range(cl->rand, 0, 4) == 0
                      ? PR_OUT_CLEAR
                      : PR_OUT_REGISTER_IGNORE;
        sent.sark = sent.sa == PR_OUT_CLEAR ? 0 : mine;
        break;
    }
    if (send_command(cl, p, cl->shared_disk, &sent, &r)) {
        classify(cl, false, &sent, &r);
    } else {
        *broken = true;
    }
    if (sent.outcome != OUTCOME_UNSENT) {
        g_array_append_val(cl->shared, sent);
    }
}

/*
 * READ FULL STATUS on the shared LU, which the others change meanwhile:
 * GOOD, or one of the retryable answers while the database is away
 * (the checks also find no damaged state in the daemons' logs, which a
 * read that saw half of a commit reports).  A kill may take the answer.
 */
static void shared_read(Client *cl, PrClient *p, bool *broken)
{
    uint8_t cdb[CDB_LEN];
    ClientReply r;
    ScsiSenseCode code = {0, 0, 0};

    cdb_pr_in(cdb, PR_IN_READ_FULL_STATUS, 8192);
    if (!client_command(p, cdb, cl->shared_disk, NULL, 0, &r, NULL)) {
        *broken = true;
        return;
    }
    cl->reads++;
    if (r.status == SCSI_STATUS_GOOD || r.status == SCSI_STATUS_BUSY) {
        return;
    }
    if (r.status == SCSI_STATUS_CHECK_CONDITION &&
        scsi_sense_parse(r.sense, sizeof(r.sense), &code) &&
        code.key == SCSI_KEY_ABORTED_COMMAND && code.asc == 0x44 &&
        code.ascq == 0x00) {
        g_usleep(RETRY_PAUSE_US);
        return;
    }
    testutil_fail("client %d: READ FULL STATUS on the shared LU answered "
                  "status 0x%02x sense %02x/%02x/%02x",
                  cl->index, r.status, code.key, code.asc, code.ascq);
}

static gpointer client_thread(gpointer data)
{
    Client *cl = data;
    uint32_t seq = 0;

    while (!g_atomic_int_get(&cl->crash->stop)) {
        g_autoptr(PrClient) p = connect_any(cl);
        bool broken = false;

        while (!broken && !g_atomic_int_get(&cl->crash->stop)) {
            Sent sent = {.sa = PR_OUT_REGISTER_IGNORE};
            ClientReply r;

            sent.sark = ((uint64_t)(cl->index + 1) << 32) | ++seq;
            if (!send_command(cl, p, cl->own_disk, &sent, &r)) {
                broken = true;
                if (sent.outcome == OUTCOME_LOST) {
                    resolve(cl, &sent);
                    g_array_append_val(cl->own, sent);
                }
                break;
            }
            classify(cl, true, &sent, &r);
            sent.committed = r.status == SCSI_STATUS_GOOD;
            g_array_append_val(cl->own, sent);
            if (g_rand_boolean(cl->rand)) {
                shared_command(cl, p, &broken);
            }
            if (!broken && g_rand_int_range(cl->rand, 0, 4) == 0) {
                shared_read(cl, p, &broken);
            }
        }
    }
    return NULL;
}
CrashLoad *crashload_new(const char *db, guint max_events)
{
    CrashLoad *c = g_new0(CrashLoad, 1);
    int i;

    c->dir = testutil_tmpdir();
    c->pg = db != NULL;
    c->db = db != NULL ? g_strdup(db) : g_build_filename(c->dir, "pr.db", NULL);
    c->max_events = max_events;
    c->event_landed = g_new0(gint, max_events + 1);
    c->daemons[0] = start_daemon(c, 0);
    c->daemons[1] = start_daemon(c, 1);
    for (i = 0; i < CLIENTS; i++) {
        Client *cl = &c->clients[i];
        g_autofree char *own = g_strdup_printf("own-%d.img", i);

        cl->crash = c;
        cl->index = i;
        cl->name = g_strdup_printf("iqn.2026-11.test:client-%d", i);
        cl->rand = g_rand_new_with_seed(1000 + (guint32)i);
        cl->own = g_array_new(FALSE, TRUE, sizeof(Sent));
        cl->shared = g_array_new(FALSE, TRUE, sizeof(Sent));
        assert_true(tid_from_iscsi_name(cl->name, &cl->initiator, NULL));
        cl->own_disk = testd_disk(c->dir, own, O_RDWR);
        cl->shared_disk = testd_disk(c->dir, "shared.img", O_RDWR);
    }
    return c;
}

void crashload_start(CrashLoad *c)
{
    int i;

    for (i = 0; i < CLIENTS; i++) {
        c->threads[i] = g_thread_new("client", client_thread, &c->clients[i]);
    }
}

guint crashload_good(CrashLoad *c)
{
    return (guint)g_atomic_int_get(&c->good);
}

bool crashload_wait_good(CrashLoad *c, guint since, guint more,
                         unsigned timeout_ms)
{
    gint64 until = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (crashload_good(c) < since + more) {
        if (g_get_monotonic_time() > until) {
            return false;
        }
        g_usleep(5000);
    }
    return true;
}

void crashload_event(CrashLoad *c)
{
    g_assert((guint)g_atomic_int_get(&c->events) < c->max_events);
    if (g_atomic_int_get(&c->in_flight) > 0) {
        c->landed_flight++;
    }
    g_atomic_int_inc(&c->events);
}

/*
 * PostgreSQL: wait until every transaction that began before now has
 * ended.  A killed daemon's backend outlives it: a COMMIT it had sent
 * is still executed, after the kill, when the server gets to it; only
 * then is the fate of the command whose answer the kill took decided.
 * (sqlite needs no wait: the kernel ends a dead process's locks, and
 * the next reader rolls its journal back.)
 */
static void settle(CrashLoad *c)
{
    PGconn *conn = PQconnectdb(c->db);
    gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    PGresult *res;
    char *now;

    if (PQstatus(conn) != CONNECTION_OK) {
        g_autofree char *message = g_strdup(PQerrorMessage(conn));

        PQfinish(conn);
        fail_msg("connecting to %s: %s", c->db, message);
    }
    res = PQexec(conn, "SELECT clock_timestamp()::text");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    now = g_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    for (;;) {
        const char *params[] = {now};
        bool open;

        res = PQexecParams(conn,
                           "SELECT count(*) FROM pg_stat_activity WHERE "
                           "pid <> pg_backend_pid() AND xact_start < "
                           "$1::timestamptz",
                           1, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        open = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
        PQclear(res);
        if (!open) {
            break;
        }
        if (g_get_monotonic_time() > until) {
            fail_msg("transactions begun before a kill still open after 60 s");
        }
        g_usleep(1000);
    }
    g_free(now);
    PQfinish(conn);
}

void crashload_kill_daemon(CrashLoad *c, int which)
{
    /* It must die of this SIGKILL, not of anything before it. */
    testd_stop_signal(c->daemons[which], SIGKILL);
    testd_free(c->daemons[which]);
    if (c->pg) {
        settle(c);
    }
    crashload_settled(c);
    c->daemons[which] = start_daemon(c, which);
}

void crashload_settled(CrashLoad *c)
{
    g_atomic_int_set(&c->settled, g_atomic_int_get(&c->events));
}

/* How many COMMITs whose answer the connection lost daemon @d found
 * committed by their command id (src/store_pg.c says so in its log; the
 * log runs on across the daemon's restarts). */
static guint resolved_commits(TestDaemon *d)
{
    g_autofree char *out = testd_output(d);
    const char *at = out;
    guint n = 0;

    while ((at = strstr(at, "a COMMIT whose answer was lost had committed")) !=
           NULL) {
        n++;
        at++;
    }
    return n;
}

/* A daemon that loaded a state breaking SPC-4's invariants (a read that
 * saw half of a commit, say) logged it (store_load_state()) and failed
 * that command: the test fails too. */
static void assert_no_damaged_state(TestDaemon *d)
{
    g_autofree char *out = testd_output(d);
    const char *at = strstr(out, "reservation holder and registrations "
                                 "disagree");

    if (at != NULL) {
        const char *line = at;

        while (line > out && line[-1] != '\n') {
            line--;
        }
        fail_msg("daemon %s loaded a damaged state: %.*s", d->socket,
                 (int)(strchrnul(at, '\n') - line), line);
    }
}

void crashload_finish(CrashLoad *c)
{
    int i;

    g_atomic_int_set(&c->stop, 1);
    for (i = 0; i < CLIENTS; i++) {
        if (c->threads[i] != NULL) {
            testutil_thread_join(c->threads[i]);
            c->threads[i] = NULL;
        }
    }
    for (i = 0; i < 2; i++) {
        if (c->daemons[i] != NULL) {
            testd_stop(c->daemons[i]);
            c->resolved_commits += resolved_commits(c->daemons[i]);
            assert_no_damaged_state(c->daemons[i]);
            testd_free(c->daemons[i]);
            c->daemons[i] = NULL;
        }
    }
}

void crashload_figures(CrashLoad *c, CrashFigures *f)
{
    guint k;
    int i;

    memset(f, 0, sizeof(*f));
    for (i = 0; i < CLIENTS; i++) {
        Client *cl = &c->clients[i];

        if (cl->good == 0) {
            fail_msg("client %d: no command answered GOOD in %u", i,
                     cl->own->len + cl->shared->len);
        }
        f->good += cl->good;
        f->busy += cl->busy;
        f->aborted += cl->aborted;
        f->lost += cl->lost;
        f->lost_committed += cl->lost_committed;
        f->shared_ops += cl->shared->len;
        f->shared_reads += cl->reads;
    }
    f->events = (guint)g_atomic_int_get(&c->events);
    for (k = 0; k < f->events; k++) {
        f->landed_lost += (guint)g_atomic_int_get(&c->event_landed[k]);
    }
    f->landed_flight = c->landed_flight;
    f->resolved_commits = c->resolved_commits;
}

void crashload_free(CrashLoad *c)
{
    int i;

    for (i = 0; i < CLIENTS; i++) {
        close(c->clients[i].own_disk);
        close(c->clients[i].shared_disk);
        g_rand_free(c->clients[i].rand);
        g_array_free(c->clients[i].own, TRUE);
        g_array_free(c->clients[i].shared, TRUE);
        g_free(c->clients[i].name);
    }
    testutil_rmtree(c->dir);
    g_free(c->event_landed);
    g_free(c->db);
    g_free(c->dir);
    g_free(c);
}
