/*
 * test_store_pg: what only the PostgreSQL backend has: selection by a
 * connection string, its schema check, the per-LU lock between daemons,
 * and faults: a restarting server, an unreachable one at start, a
 * connection lost around COMMIT, and a failover to a synchronous
 * standby.  One throwaway server for the program (tests/support/
 * pgserver.c), a fresh database per test (the failover test makes its own
 * primary and standby); every test skips when the PostgreSQL binaries are
 * not installed.
 */
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include <gio/gio.h>

#include <libpq-fe.h>

#include "pgserver.h"
#include "testutil.h"

#include "engine.h"
#include "error.h"
#include "store.h"
#include "store_pg.h"
#include "tid.h"

static PgServer *server;

typedef struct PgTest {
    char *conninfo; /* a fresh database */
} PgTest;

static int group_setup(void **state)
{
    return pgserver_start_for_group(&server) ? 0 : -1;
}

static int group_teardown(void **state)
{
    g_clear_pointer(&server, pgserver_free);
    return 0;
}

static int setup(void **state)
{
    PgTest *t = g_new0(PgTest, 1);

    if (server != NULL) {
        t->conninfo = pgserver_new_database(server);
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    PgTest *t = *state;

    g_free(t->conninfo);
    g_free(t);
    return 0;
}

/* Every test starts with this: without the binaries it skips. */
#define NEED_SERVER()                                                          \
    do {                                                                       \
        if (server == NULL) {                                                  \
            print_message("%s\n", PGSERVER_SKIP_MESSAGE);                      \
            skip();                                                            \
        }                                                                      \
    } while (0)

static StoreOptions options_for(const char *conninfo)
{
    StoreOptions o = testutil_store_options(conninfo);

    o.lock_timeout_ms = 300;
    /* Connecting and creating the schema on a loaded test machine. */
    o.open_timeout_ms = 20000;
    o.host_id = "host-a";
    return o;
}

static Store *open_ok(const char *conninfo)
{
    StoreOptions o = options_for(conninfo);
    g_autoptr(GError) error = NULL;
    Store *store = store_open(&o, &error);

    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    return store;
}

static gint64 in_ms(unsigned ms)
{
    return g_get_monotonic_time() + (gint64)ms * 1000;
}


/*
 * One PR OUT's store work on LU @lu: register key @key for one
 * initiator, as a command does (begin, load, save, history, commit).
 */
static bool write_key(Store *store, const char *lu, uint64_t key,
                      GError **error)
{
    StoreLuInfo info = {.name = lu, .id_source = "serial", .path = "/dev/x"};
    g_autoptr(PrState) before = pr_state_new();
    PrRegistration reg = {.key = key, .rtpi = 1};
    gint64 lu_id = 0;
    bool stale = false;

    g_assert(tid_parse("iqn.2026-12.test:a", &reg.initiator, NULL));
    if (!store_begin(store, true, in_ms(2000), error)) {
        return false;
    }
    if (!store_load_state(store, &info, before, &lu_id, &stale, error)) {
        store_rollback(store);
        return false;
    }
    g_autoptr(PrState) after = pr_state_copy(before);
    g_array_set_size(after->regs, 0);
    g_array_append_val(after->regs, reg);
    after->generation++;
    if (!store_save_state(store, lu_id, &info, before, after, error)) {
        store_rollback(store);
        return false;
    }
    return store_commit(store, error);
}

/* The key registered on LU @lu (0: none), read in a read transaction. */
static uint64_t read_key(Store *store, const char *lu)
{
    StoreLuInfo info = {.name = lu, .id_source = "serial", .path = "/dev/x"};
    g_autoptr(PrState) state = pr_state_new();
    g_autoptr(GError) error = NULL;
    gint64 lu_id = 0;
    bool stale = false;

    if (!store_begin(store, false, in_ms(2000), &error) ||
        !store_load_state(store, &info, state, &lu_id, &stale, &error)) {
        fail_msg("reading %s: %s", lu, error->message);
    }
    store_rollback(store);
    return state->regs->len == 0
               ? 0
               : g_array_index(state->regs, PrRegistration, 0).key;
}

/* A URL or keyword=value connection string selects PostgreSQL; a path
 * stays sqlite's.  The description names server and database only. */
static void test_pg_selected_by_conninfo(void **state)
{
    assert_true(store_pg_claims("postgresql://u:secret@db1/softpr"));
    assert_true(store_pg_claims("postgres://db1/softpr"));
    assert_true(store_pg_claims("host=db1 dbname=softpr"));
    assert_false(store_pg_claims("/var/lib/softpr/pr.db"));

    g_autofree char *d =
        store_pg_describe_conninfo("postgresql://u:secret@db1/softpr");
    assert_string_equal(d, "PostgreSQL db1/softpr");
    g_autofree char *k = store_pg_describe_conninfo(
        "host=db1,db2 dbname=softpr password=secret "
        "target_session_attrs=read-write");
    assert_string_equal(k, "PostgreSQL db1,db2/softpr");

    char url[] = "postgresql://u:secret@db1/softpr";
    store_pg_scrub_password(url);
    assert_string_equal(url, "postgresql://u:xxxxxx@db1/softpr");
    char kv[] = "host=db1 password=secret dbname=softpr";
    store_pg_scrub_password(kv);
    assert_string_equal(kv, "host=db1 password=xxxxxx dbname=softpr");
}

/* A PR OUT's change round-trips, and the first open creates the schema
 * with its version. */
static void test_pg_round_trip(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(Store) store = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;

    g_autofree char *desc = store_describe(store);
    assert_non_null(strstr(desc, "PostgreSQL"));
    assert_true(write_key(store, "lu-1", 0x1234, &error));
    assert_int_equal(read_key(store, "lu-1"), 0x1234);
    g_autofree char *version = pgserver_sql_value(
        t->conninfo,
        "SELECT value FROM softpr_meta WHERE key = 'schema_version'");
    assert_string_equal(version, "1");
}

/* A database holding other tables is refused in one line, untouched. */
static void test_pg_foreign_database_refused(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    StoreOptions o = options_for(t->conninfo);
    g_autoptr(GError) error = NULL;

    g_free(pgserver_sql_value(t->conninfo, "CREATE TABLE invoices (id int)"));
    assert_null(store_open(&o, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_FOREIGN));
    assert_null(strchr(error->message, '\n'));
    g_autofree char *meta =
        pgserver_sql_value(t->conninfo, "SELECT to_regclass('softpr_meta')::text");
    assert_null(meta);
}

/* A schema from a newer softpr is refused, in one line. */
static void test_pg_newer_schema_refused(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    StoreOptions o = options_for(t->conninfo);
    g_autoptr(GError) error = NULL;

    store_close(open_ok(t->conninfo));
    g_free(pgserver_sql_value(t->conninfo, "UPDATE softpr_meta SET value = '999' "
                                "WHERE key = 'schema_version'"));
    assert_null(store_open(&o, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_NEWER));
    assert_null(strchr(error->message, '\n'));
}

/* The integrity check finds a reservation without its holder (SPC-4
 * 5.12.7: a reservation that is not all-registrants has exactly one
 * holder), and its message names the database without the password. */
static void test_pg_integrity_finds_missing_holder(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autofree char *conninfo =
        g_strdup_printf("%s password=s3cret-pw", t->conninfo);
    g_autoptr(Store) store = open_ok(conninfo);
    g_autoptr(GError) error = NULL;

    assert_true(write_key(store, "lu-1", 1, &error));
    assert_true(store_check_integrity(store, in_ms(2000), &error));
    g_free(pgserver_sql_value(t->conninfo, "UPDATE lu SET res_type = 1"));
    assert_false(store_check_integrity(store, in_ms(2000), &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT));
    assert_non_null(strstr(error->message, "lu-1"));
    assert_null(strstr(error->message, "s3cret"));
    g_clear_error(&error);
    /* An all-registrants type has no flagged holder: consistent. */
    g_free(pgserver_sql_value(t->conninfo, "UPDATE lu SET res_type = 7"));
    assert_true(store_check_integrity(store, in_ms(2000), &error));
}

/* Commands for different LUs do not wait for each other; a second
 * command for a locked LU waits only until its deadline, then BUSY. */
static void test_pg_lu_lock_is_per_lu(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(Store) a = open_ok(t->conninfo);
    g_autoptr(Store) b = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;
    StoreLuInfo info = {.name = "lu-1", .id_source = "serial", .path = "/x"};
    g_autoptr(PrState) s = pr_state_new();
    gint64 lu_id;
    bool stale;

    assert_true(store_begin(a, true, in_ms(1000), &error));
    assert_true(store_load_state(a, &info, s, &lu_id, &stale, &error));
    /* Another LU: no wait. */
    assert_true(write_key(b, "lu-2", 7, &error));
    /* The same LU: BUSY once b's deadline passes, nothing written. */
    gint64 start = g_get_monotonic_time();
    assert_false(write_key(b, "lu-1", 8, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
    g_clear_error(&error);
    store_rollback(a);
    assert_int_equal(read_key(b, "lu-1"), 0);
    assert_true(write_key(b, "lu-1", 8, &error));
    assert_int_equal(read_key(a, "lu-1"), 8);
}

/* What test_pg_read_is_one_snapshot's writer commits as step @i: odd
 * steps a registration holding a Write Exclusive reservation, even
 * steps neither; PRgeneration @i. */
static void torn_step_state(PrState *state, guint i)
{
    PrRegistration reg = {.key = 0x1000 + i, .rtpi = 1, .holder = true};

    g_assert(tid_parse("iqn.2026-12.test:a", &reg.initiator, NULL));
    g_array_set_size(state->regs, 0);
    state->generation = i;
    state->res_type = 0;
    if (i % 2 == 1) {
        g_array_append_val(state->regs, reg);
        state->res_type = PR_TYPE_WRITE_EXCLUSIVE;
    }
}

typedef struct TornWriter {
    const char *conninfo;
    gint stop;
    guint steps;
} TornWriter;

static gpointer torn_writer(gpointer data)
{
    TornWriter *w = data;
    g_autoptr(Store) store = open_ok(w->conninfo);
    StoreLuInfo info = {.name = "lu-torn", .id_source = "serial"};

    while (!g_atomic_int_get(&w->stop)) {
        g_autoptr(PrState) before = pr_state_new();
        g_autoptr(PrState) after = pr_state_new();
        g_autoptr(GError) error = NULL;
        gint64 lu_id = 0;
        bool stale = false;

        if (!store_begin(store, true, in_ms(5000), &error) ||
            !store_load_state(store, &info, before, &lu_id, &stale, &error)) {
            testutil_fail("writer: %s", error->message);
        }
        torn_step_state(after, before->generation + 1);
        if (!store_save_state(store, lu_id, &info, before, after, &error) ||
            !store_commit(store, &error)) {
            testutil_fail("writer: %s", error->message);
        }
        w->steps++;
    }
    return NULL;
}

/*
 * A read transaction loads an LU in several statements (the LU, its
 * registrations, its unit attentions): all of them must see one
 * commit, never the LU row of one and the registrations of the next,
 * whatever commits meanwhile.  Such a torn state would break SPC-4
 * 5.12.10 (a Write Exclusive reservation with no registered holder),
 * which store_load_state() refuses as a damaged database.
 */
static void test_pg_read_is_one_snapshot(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    TornWriter w = {.conninfo = t->conninfo};
    g_autoptr(Store) reader = open_ok(t->conninfo);
    StoreLuInfo info = {.name = "lu-torn", .id_source = "serial"};
    guint reads = 0;

    GThread *thread = g_thread_new("writer", torn_writer, &w);
    while (reads < 3000) {
        g_autoptr(PrState) seen = pr_state_new();
        g_autoptr(GError) error = NULL;
        gint64 lu_id = 0;
        bool stale = false;

        if (!store_begin(reader, false, in_ms(5000), &error) ||
            !store_load_state(reader, &info, seen, &lu_id, &stale, &error)) {
            g_atomic_int_set(&w.stop, 1);
            g_thread_join(thread);
            fail_msg("read %u (writer at step %u): %s", reads, w.steps,
                     error->message);
        }
        store_rollback(reader);
        g_autoptr(PrState) expected = pr_state_new();
        torn_step_state(expected, seen->generation);
        assert_int_equal(seen->regs->len, expected->regs->len);
        assert_int_equal(seen->res_type, expected->res_type);
        reads++;
    }
    g_atomic_int_set(&w.stop, 1);
    g_thread_join(thread);
    print_message("%u reads while %u commits changed the LU\n", reads,
                  w.steps);
    assert_true(w.steps > 0);
}

/*
 * Names are bytes (an LU's name from user.softpr.lu, a path, a VM's
 * name) and PostgreSQL's text is UTF-8: a name that is not UTF-8 is
 * stored and read back byte for byte, and never meets the name of
 * another LU, not even one spelled like its stored form.
 */
static void test_pg_names_not_utf8(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    static const char *const names[] = {
        "lu-\xff",                         /* not UTF-8 */
        "lu-\xef\xb7\x90\xee\x83\xbf", /* U+FDD0 U+E0FF: its stored form */
        "lu-\xef\xb7\x90",                 /* U+FDD0 alone */
        "lu-\xc3",                          /* a sequence cut short */
        "lu-",
    };
    g_autoptr(Store) store = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (!write_key(store, names[i], 0x100 + i, &error)) {
            fail_msg("writing LU %u: %s", i, error->message);
        }
    }
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        assert_int_equal(read_key(store, names[i]), 0x100 + i);
    }
    /* The names as the reports read them back, each once. */
    g_autoptr(GPtrArray) listed =
        store_lu_names(store, NULL, in_ms(5000), &error);
    assert_non_null(listed);
    assert_int_equal(listed->len, G_N_ELEMENTS(names));
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < listed->len; i++) {
        g_hash_table_add(seen, g_ptr_array_index(listed, i));
    }
    /* A glob of the name, as `softpr dump --lu` passes it. */
    g_autoptr(GPtrArray) matched =
        store_lu_names(store, "lu-\xff", in_ms(5000), &error);
    assert_non_null(matched);
    assert_int_equal(matched->len, 1);
    assert_string_equal(g_ptr_array_index(matched, 0), names[0]);
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        assert_true(g_hash_table_contains(seen, names[i]));
    }
}

/* Retry @store's write until GOOD or 15 s; returns how many BUSY. */
static unsigned write_until_good(Store *store, const char *lu, uint64_t key)
{
    gint64 until = in_ms(15000);
    unsigned busy = 0;

    for (;;) {
        g_autoptr(GError) error = NULL;

        if (write_key(store, lu, key, &error)) {
            return busy;
        }
        if (!g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY) ||
            g_get_monotonic_time() > until) {
            fail_msg("writing %s: %s", lu, error->message);
        }
        busy++;
        g_usleep(50 * 1000);
    }
}

/* The server restarts between commands: while it is down, commands are
 * answered BUSY within their bound; once back, GOOD again. */
static void test_pg_reconnect_after_restart(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(Store) store = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;

    assert_true(write_key(store, "lu-1", 1, &error));
    assert_true(pgserver_stop(server));
    gint64 start = g_get_monotonic_time();
    assert_false(write_key(store, "lu-1", 2, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
    assert_true(pgserver_resume(server));
    write_until_good(store, "lu-1", 2);
    assert_int_equal(read_key(store, "lu-1"), 2);
    /* A restart while idle costs no BUSY at all: BEGIN retries once. */
    assert_true(pgserver_restart(server, 0));
    assert_true(write_key(store, "lu-1", 3, &error));
    assert_int_equal(read_key(store, "lu-1"), 3);
}

/* The server is down when the daemon starts: the daemon's store opens
 * anyway, answers BUSY, and creates the schema once the server is back;
 * the tool's says so at once. */
static void test_pg_unreachable_at_start(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(GError) error = NULL;

    assert_true(pgserver_stop(server));
    StoreOptions o = options_for(t->conninfo);
    /* The tool's open fails at once, with the reason; the daemon's
     * (open_unreachable) opens and answers BUSY until the server is
     * back. */
    g_autoptr(GError) tool_error = NULL;
    g_autoptr(Store) tool = store_open(&o, &tool_error);
    o.open_unreachable = true;
    g_autoptr(Store) store = tool == NULL ? store_open(&o, &error) : NULL;
    bool resumed = pgserver_resume(server);
    assert_true(resumed);
    assert_null(tool);
    assert_true(g_error_matches(tool_error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    if (store == NULL) {
        fail_msg("store_open with the server down: %s", error->message);
    }
    /* The first attempt may come before the backoff ends: BUSY then. */
    write_until_good(store, "lu-1", 5);
    assert_int_equal(read_key(store, "lu-1"), 5);
}

/* The connection drops after COMMIT reached the server: the daemon
 * looks its command id up and answers GOOD, which is what happened. */
static void test_pg_commit_lost_after_send(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(Store) store = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;

    assert_true(write_key(store, "lu-1", 1, &error));
    store_pg_inject_fault(store, STORE_PG_FAULT_DROP_AFTER_COMMIT);
    bool good = write_key(store, "lu-1", 2, &error);
    g_autoptr(Store) other = open_ok(t->conninfo);
    uint64_t stored = read_key(other, "lu-1");
    if (!good) {
        fail_msg("answered %s, but the database holds key %" PRIu64,
                 error->message, stored);
    }
    assert_int_equal(stored, 2);
}

/* The connection drops before COMMIT was sent: the server rolled the
 * transaction back, and the answer is BUSY (retry), never GOOD. */
static void test_pg_commit_lost_before_send(void **state)
{
    PgTest *t = *state;
    NEED_SERVER();
    g_autoptr(Store) store = open_ok(t->conninfo);
    g_autoptr(GError) error = NULL;

    assert_true(write_key(store, "lu-1", 1, &error));
    store_pg_inject_fault(store, STORE_PG_FAULT_DROP_BEFORE_COMMIT);
    bool good = write_key(store, "lu-1", 2, &error);
    g_autoptr(Store) other = open_ok(t->conninfo);
    uint64_t stored = read_key(other, "lu-1");
    if (good) {
        fail_msg("answered GOOD, but the database holds key %" PRIu64, stored);
    }
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    assert_int_equal(stored, 1);
    /* And the store goes on. */
    g_clear_error(&error);
    assert_true(write_key(store, "lu-1", 3, &error));
}

/* A primary with a synchronous standby, and a two-host connection
 * string for a fresh database on them: the state of a failover test,
 * made and freed by cmocka so that a failing test leaves no server. */
typedef struct PgPair {
    PgServer *primary;
    PgServer *standby;
    char *conninfo;
} PgPair;

static int pair_teardown(void **state)
{
    PgPair *pair = *state;

    pgserver_free(pair->standby);
    pgserver_free(pair->primary);
    g_free(pair->conninfo);
    g_free(pair);
    return 0;
}

static int pair_setup(void **state)
{
    PgPair *pair = g_new0(PgPair, 1);
    g_autoptr(GError) error = NULL;

    *state = pair;
    if (server == NULL) {
        return 0; /* the test skips */
    }
    pair->primary = pgserver_start(&error);
    if (pair->primary != NULL) {
        pair->standby = pgserver_start_standby(pair->primary, &error);
    }
    if (pair->standby == NULL) {
        print_error("primary and standby: %s\n", error->message);
        pair_teardown(state);
        return -1;
    }
    g_autofree char *db = pgserver_create_database(pair->primary);
    pair->conninfo =
        pgserver_failover_conninfo(pair->primary, pair->standby, db);
    return 0;
}

/* Kill the primary as in a crash (an immediate stop): nothing is
 * flushed that a COMMIT had not already waited for. */
static void pair_kill_primary(PgPair *pair)
{
    assert_true(pgserver_stop(pair->primary));
}

/*
 * The primary dies and its synchronous standby is promoted: every
 * change whose commit returned (GOOD) is on the new primary.  Between
 * the two, the store's command is answered BUSY within its bound (the
 * standby, still read-only, is refused by target_session_attrs), never
 * GOOD and never a hang; after the reconnect backoff, GOOD again.
 */
static void test_pg_failover_keeps_acknowledged(void **state)
{
    PgPair *pair = *state;
    NEED_SERVER();
    g_autoptr(GError) error = NULL;
    char lu[16];

    g_autoptr(Store) store = open_ok(pair->conninfo);
    for (unsigned i = 0; i < 20; i++) {
        g_snprintf(lu, sizeof(lu), "lu-%u", i);
        if (!write_key(store, lu, 100 + i, &error)) {
            fail_msg("writing %s before the failover: %s", lu,
                     error->message);
        }
    }
    pair_kill_primary(pair);
    gint64 start = g_get_monotonic_time();
    assert_false(write_key(store, "lu-0", 1, &error));
    assert_true(g_error_matches(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
    assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
    g_clear_error(&error);
    assert_true(pgserver_promote(pair->standby));
    write_until_good(store, "lu-20", 120);
    for (unsigned i = 0; i <= 20; i++) {
        g_snprintf(lu, sizeof(lu), "lu-%u", i);
        assert_int_equal(read_key(store, lu), 100 + i);
    }
}

/* A write in flight on another thread: its outcome once joined. */
/*
 * The synchronous standby is down while the primary runs: no write may
 * be answered GOOD, as none can reach the standby and a failover would
 * lose it.  A plain COMMIT waits for the standby until the client's
 * bound, then its connection is dropped; the lost COMMIT is resolved by
 * its command id after its backend is ended, and PostgreSQL keeps the
 * commit of a backend ended while it waited for the standby, locally
 * only: found, it is still not durable.  Neither that nor a COMMIT
 * whose connection a fault drops may be answered GOOD; each is
 * answered within its bound; after the failover the new primary holds
 * the last key answered GOOD.
 */
static void test_pg_standby_down_never_good(void **state)
{
    PgPair *pair = *state;
    NEED_SERVER();
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = open_ok(pair->conninfo);

    assert_true(write_key(store, "lu-1", 1, &error));
    assert_true(pgserver_stop(pair->standby));
    if (write_key(store, "lu-1", 2, &error)) {
        fail_msg("a COMMIT was answered GOOD with the synchronous standby "
                 "down");
    }
    print_message("COMMIT with the standby down: %s\n", error->message);
    g_clear_error(&error);
    store_pg_inject_fault(store, STORE_PG_FAULT_DROP_AFTER_COMMIT);
    if (write_key(store, "lu-1", 3, &error)) {
        fail_msg("a lost COMMIT was resolved as GOOD with the synchronous "
                 "standby down");
    }
    print_message("lost COMMIT with the standby down: %s\n", error->message);
    pair_kill_primary(pair);
    assert_true(pgserver_resume(pair->standby));
    assert_true(pgserver_promote(pair->standby));
    g_autoptr(Store) promoted = open_ok(pair->conninfo);
    assert_int_equal(read_key(promoted, "lu-1"), 1);
}

typedef struct InFlight {
    Store *store;
    GError *error;
    bool good;
} InFlight;

static gpointer in_flight_write(gpointer data)
{
    InFlight *w = data;

    w->good = write_key(w->store, "lu-1", 2, &w->error);
    return NULL;
}

/* Whether @sql (a boolean query) becomes true on @conninfo within 20 s. */
static bool becomes_true(const char *conninfo, const char *sql)
{
    gint64 until = in_ms(20000);

    for (;;) {
        g_autofree char *value = pgserver_sql_value(conninfo, sql);
        if (g_strcmp0(value, "t") == 0) {
            return true;
        }
        if (g_get_monotonic_time() > until) {
            return false;
        }
        g_usleep(20 * 1000);
    }
}

/*
 * The primary dies while a COMMIT waits for the standby's flush (its
 * walreceiver is held stopped): the connection drops with the outcome
 * unknown to the daemon.  The store asks the promoted standby by the
 * command id and answers what is there: GOOD only if the change is on
 * the new primary, BUSY only if nothing of it is.
 */
static void test_pg_failover_resolves_lost_commit(void **state)
{
    PgPair *pair = *state;
    NEED_SERVER();
    g_autoptr(GError) error = NULL;
    InFlight w = {0};

    w.store = open_ok(pair->conninfo);
    assert_true(write_key(w.store, "lu-1", 1, &error));
    g_autofree char *receiver =
        pgserver_sql_value(pgserver_conninfo(pair->standby),
                "SELECT pid FROM pg_stat_wal_receiver");
    assert_non_null(receiver);
    pid_t receiver_pid = (pid_t)strtol(receiver, NULL, 10);
    assert_int_equal(kill(receiver_pid, SIGSTOP), 0);
    GThread *thread = g_thread_new("in-flight", in_flight_write, &w);
    bool waiting = becomes_true(
        pgserver_conninfo(pair->primary),
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
        "WHERE wait_event = 'SyncRep')");
    pair_kill_primary(pair);
    assert_int_equal(kill(receiver_pid, SIGCONT), 0);
    bool promoted = pgserver_promote(pair->standby);
    g_thread_join(thread);
    g_autoptr(Store) store = g_steal_pointer(&w.store);
    g_autoptr(GError) outcome = g_steal_pointer(&w.error);
    assert_true(waiting);
    assert_true(promoted);

    g_autoptr(Store) other = open_ok(pair->conninfo);
    uint64_t stored = read_key(other, "lu-1");
    print_message("in-flight COMMIT answered %s; the new primary holds "
                  "key %" PRIu64 "\n",
                  w.good ? "GOOD" : outcome->message, stored);
    if (w.good) {
        assert_int_equal(stored, 2);
    } else {
        assert_true(
            g_error_matches(outcome, SOFTPR_ERROR, SOFTPR_ERROR_BUSY));
        assert_int_equal(stored, 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_selected_by_conninfo),
        cmocka_unit_test_setup_teardown(test_pg_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_foreign_database_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_newer_schema_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_integrity_finds_missing_holder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_names_not_utf8, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_read_is_one_snapshot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_lu_lock_is_per_lu, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnect_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_unreachable_at_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_commit_lost_after_send, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_commit_lost_before_send,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_failover_keeps_acknowledged,
                                        pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_pg_failover_resolves_lost_commit,
                                        pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_pg_standby_down_never_good,
                                        pair_setup, pair_teardown),
    };

    return TESTUTIL_RUN("store_pg", tests, group_setup, group_teardown);
}
