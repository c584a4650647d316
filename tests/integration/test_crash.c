/*
 * test_crash: the database stays exactly as the daemons answered while
 * they, or the database server, crash at random moments under load
 * (the load and its checks: tests/support/crashload.h).
 *
 * - Kills, on each backend: two daemons (two hosts) on one database,
 *   SIGKILL to one of them at a random moment and a restart,
 *   SOFTPR_CRASH_KILLS times (200 by default); at least a quarter of
 *   the kills must land while a command is in flight.
 * - PostgreSQL server restarts: both daemons keep running while the
 *   server is stopped as by a crash (immediate) and started again,
 *   SOFTPR_CRASH_RESTARTS times (20 by default), each once the load
 *   flows again; meanwhile the daemons answer BUSY or ABORTED COMMAND.
 * - PostgreSQL failover: the daemons run on a two-host connection string
 *   naming a primary and its synchronous streaming standby; the primary
 *   crashes under load, the standby is promoted, and the load goes on
 *   there (a primary and standby of the test's own).
 *
 * In every case no acknowledged command is lost, the PRgeneration and
 * the history count exactly the GOOD ones, the state satisfies SPC-4,
 * and no command was answered otherwise than what was committed.  The
 * PostgreSQL tests share one throwaway server (tests/support/pgserver.c),
 * each on a fresh database, and skip without the server binaries.
 */
#include <stdio.h>
#include <stdlib.h>

#include "crashload.h"
#include "pgserver.h"
#include "testutil.h"

#define DEFAULT_KILLS 200
#define DEFAULT_RESTARTS 20
/* Commands answered GOOD between two restarts: the load flows again. */
#define GOOD_BETWEEN_EVENTS 20
#define LOAD_TIMEOUT_MS 60000

static PgServer *server;

static int group_setup(void **state)
{
    return pgserver_start_for_group(&server) ? 0 : -1;
}

static int group_teardown(void **state)
{
    g_clear_pointer(&server, pgserver_free);
    return 0;
}

/* A count from the environment variable @name, else @fallback. */
static guint env_count(const char *name, guint fallback)
{
    const char *env = g_getenv(name);

    return env != NULL ? (guint)atoi(env) : fallback;
}

/* A fresh database on the program's server; skips the test without one. */
static char *pg_database(void)
{
    if (server == NULL) {
        print_message("%s\n", PGSERVER_SKIP_MESSAGE);
        skip();
    }
    return pgserver_new_database(server);
}

static void print_figures(const char *what, const CrashFigures *f,
                          gint64 start)
{
    print_message("crash %s: %u in %.1f s, %u with a command in flight, "
                  "%u took a command's answer; %u commands answered GOOD, "
                  "%u answers lost (%u of them had committed), %u BUSY, %u "
                  "ABORTED COMMAND; %u shared-LU commands, %u reads of it; "
                  "%u lost COMMITs "
                  "found committed by their command id; integrity check "
                  "ok, every command in the history as answered, invariants "
                  "hold\n",
                  what, f->events, (g_get_monotonic_time() - start) / 1e6,
                  f->landed_flight, f->landed_lost, f->good, f->lost,
                  f->lost_committed, f->busy, f->aborted, f->shared_ops,
                  f->shared_reads, f->resolved_commits);
}

/*
 * @kills SIGKILLs of either daemon on @db (NULL: sqlite) at random
 * moments, then the checks; at least a quarter of the kills must take
 * a command's answer (a kill between two commands tests little).
 */
static void kill_daemons_at_random(const char *db, const char *backend)
{
    guint kills = env_count("SOFTPR_CRASH_KILLS", DEFAULT_KILLS);
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261121);
    g_autofree char *what = g_strdup_printf("%s kills", backend);
    gint64 start = g_get_monotonic_time();
    CrashLoad *c = crashload_new(db, kills);
    CrashFigures f;
    guint k;

    crashload_start(c);
    for (k = 0; k < kills; k++) {
        int which = g_rand_int_range(rand, 0, 2);

        /* Random, not a synchronisation: where the kill lands. */
        g_usleep((gulong)g_rand_int_range(rand, 0, 15000));
        crashload_event(c);
        crashload_kill_daemon(c, which);
    }
    crashload_finish(c);
    crashload_check(c);
    crashload_figures(c, &f);
    print_figures(what, &f, start);
    if (f.landed_lost * 4 < kills) {
        fail_msg("only %u of %u kills landed while a command was in flight",
                 f.landed_lost, kills);
    }
    crashload_free(c);
}

static void test_sqlite_kill_daemons_at_random(void **state)
{
    kill_daemons_at_random(NULL, "sqlite");
}

static void test_pg_kill_daemons_at_random(void **state)
{
    g_autofree char *db = pg_database();

    kill_daemons_at_random(db, "PostgreSQL");
}

/*
 * The PostgreSQL server crashes (immediate stop) and comes back after a
 * random pause, SOFTPR_CRASH_RESTARTS times, each at a random moment once
 * commands commit again; both daemons run throughout.
 */
static void test_pg_server_restarts_under_load(void **state)
{
    g_autofree char *db = pg_database();
    guint restarts = env_count("SOFTPR_CRASH_RESTARTS", DEFAULT_RESTARTS);
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261206);
    gint64 start = g_get_monotonic_time();
    CrashLoad *c = crashload_new(db, restarts);
    CrashFigures f;
    guint k;

    crashload_start(c);
    for (k = 0; k <= restarts; k++) {
        if (!crashload_wait_good(c, crashload_good(c), GOOD_BETWEEN_EVENTS,
                                 LOAD_TIMEOUT_MS)) {
            fail_msg("no %d commands answered GOOD within %d s after "
                     "restart %u",
                     GOOD_BETWEEN_EVENTS, LOAD_TIMEOUT_MS / 1000, k);
        }
        if (k == restarts) {
            break;
        }
        g_usleep((gulong)g_rand_int_range(rand, 0, 200000));
        crashload_event(c);
        assert_true(pgserver_restart(
            server, (unsigned)g_rand_int_range(rand, 0, 500)));
        crashload_settled(c);
    }
    crashload_finish(c);
    crashload_check(c);
    crashload_figures(c, &f);
    print_figures("PostgreSQL server restarts", &f, start);
    if (f.busy + f.aborted == 0) {
        fail_msg("no command was answered BUSY or ABORTED COMMAND in %u "
                 "server restarts", restarts);
    }
    crashload_free(c);
}

/* A primary of the failover test's own, with a synchronous standby. */
typedef struct Failover {
    PgServer *primary;
    PgServer *standby;
} Failover;

static int failover_setup(void **state)
{
    Failover *f = g_new0(Failover, 1);
    g_autoptr(GError) error = NULL;

    *state = f;
    if (server == NULL) {
        return 0; /* no binaries: the test skips */
    }
    f->primary = pgserver_start(&error);
    if (f->primary != NULL) {
        f->standby = pgserver_start_standby(f->primary, &error);
    }
    if (f->standby == NULL) {
        g_printerr("failover servers: %s\n", error->message);
        return -1;
    }
    return 0;
}

static int failover_teardown(void **state)
{
    Failover *f = *state;

    g_clear_pointer(&f->standby, pgserver_free);
    g_clear_pointer(&f->primary, pgserver_free);
    g_free(f);
    return 0;
}

/*
 * The daemons run on a two-host connection string (primary, then its
 * synchronous standby; read-write only).  After a random stretch of
 * load the primary crashes (immediate stop) and the standby is
 * promoted; the load goes on there, and the promoted server must hold
 * every command as it was answered: each acknowledged one present.
 */
static void test_pg_failover_to_standby(void **state)
{
    Failover *fo = *state;
    g_autoptr(GRand) rand = g_rand_new_with_seed(20261207);
    g_autofree char *dbname = NULL;
    g_autofree char *db = NULL;
    gint64 start = g_get_monotonic_time();
    CrashLoad *c;
    CrashFigures f;

    if (fo->primary == NULL) {
        print_message("%s\n", PGSERVER_SKIP_MESSAGE);
        skip();
    }
    dbname = pgserver_create_database(fo->primary);
    db = pgserver_failover_conninfo(fo->primary, fo->standby, dbname);
    c = crashload_new(db, 1);
    crashload_start(c);
    if (!crashload_wait_good(c, 0, (guint)g_rand_int_range(rand, 100, 400),
                             LOAD_TIMEOUT_MS)) {
        fail_msg("the load does not flow on the primary");
    }
    crashload_event(c);
    assert_true(pgserver_stop(fo->primary));
    crashload_settled(c);
    assert_true(pgserver_promote(fo->standby));
    if (!crashload_wait_good(c, crashload_good(c), 200, LOAD_TIMEOUT_MS)) {
        fail_msg("no 200 commands answered GOOD within %d s on the promoted "
                 "standby", LOAD_TIMEOUT_MS / 1000);
    }
    crashload_finish(c);
    crashload_check(c);
    crashload_figures(c, &f);
    print_figures("PostgreSQL failovers", &f, start);
    crashload_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_kill_daemons_at_random),
        cmocka_unit_test(test_pg_kill_daemons_at_random),
        cmocka_unit_test(test_pg_server_restarts_under_load),
        cmocka_unit_test_setup_teardown(test_pg_failover_to_standby,
                                        failover_setup, failover_teardown),
    };

    return TESTUTIL_RUN("crash", tests, group_setup, group_teardown);
}
