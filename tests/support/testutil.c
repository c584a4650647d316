/*
 * testutil: shared helpers for the cmocka test programs.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "pgserver.h"

/* The first failure in a thread other than the test's, not reported. */
static GMutex thread_failure_lock;
static char *thread_failure;

static bool on_test_thread(void)
{
    /* cmocka runs the tests on the program's main thread. */
    return gettid() == getpid();
}

void testutil_fail_at(const char *file, int line, const char *format, ...)
{
    char *message;
    va_list args;

    /* No g_autofree here: both ways out leave without unwinding. */
    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    if (on_test_thread()) {
        print_error("ERROR: %s\n", message);
        g_free(message);
        _fail(file, line);
    }
    fprintf(stderr, "ERROR in a thread of the test: %s:%d: %s\n", file, line,
            message);
    g_mutex_lock(&thread_failure_lock);
    if (thread_failure == NULL) {
        thread_failure =
            g_strdup_printf("%s:%d: in a thread: %s", file, line, message);
    }
    g_mutex_unlock(&thread_failure_lock);
    g_free(message);
    g_thread_exit(NULL);
    abort(); /* not reached */
}

/* Take the kept thread failure, if any (g_free() it). */
static char *take_thread_failure(void)
{
    char *message;

    g_mutex_lock(&thread_failure_lock);
    message = thread_failure;
    thread_failure = NULL;
    g_mutex_unlock(&thread_failure_lock);
    return message;
}

gpointer testutil_thread_join(GThread *thread)
{
    gpointer result = g_thread_join(thread);
    g_autofree char *message = take_thread_failure();

    if (message != NULL) {
        fail_msg("%s", message);
    }
    return result;
}

int testutil_finish(int failed)
{
    g_autofree char *message = take_thread_failure();

    if (message != NULL) {
        fprintf(stderr, "a thread failed and no test reported it: %s\n",
                message);
        return failed + 1;
    }
    return failed;
}

void testutil_apply_filter(void)
{
    const char *filter = g_getenv("CHECK_FILTER");

    if (filter != NULL && *filter != '\0') {
        cmocka_set_test_filter(filter);
    }
}

char *testutil_tmpdir(void)
{
    g_autoptr(GError) error = NULL;
    char *dir = g_dir_make_tmp("softpr-test-XXXXXX", &error);

    if (dir == NULL) {
        fprintf(stderr, "cannot make a scratch directory: %s\n",
                error->message);
        abort();
    }
    return dir;
}

void testutil_rmtree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    const char *name;

    if (dir != NULL) {
        while ((name = g_dir_read_name(dir)) != NULL) {
            g_autofree char *child = g_build_filename(path, name, NULL);

            if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                !g_file_test(child, G_FILE_TEST_IS_SYMLINK)) {
                testutil_rmtree(child);
            } else {
                g_unlink(child);
            }
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}

const char *testutil_build_dir(void)
{
    const char *build = g_getenv("SOFTPR_BUILD");

    return build != NULL && *build != '\0' ? build : "build";
}

gint64 testutil_sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    gint64 value = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 60000);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

char *testutil_sql_text(const char *sql, const char *a, const char *b)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char *value = NULL;

    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW &&
        sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
        value = g_strdup((const char *)sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

char *testutil_json_text(const char *json, const char *path)
{
    return testutil_sql_text("SELECT json_extract(?1, ?2)", json, path);
}

gint64 testutil_json_int(const char *json, const char *path)
{
    g_autofree char *text = testutil_json_text(json, path);

    if (text == NULL) {
        fail_msg("no %s in %s", path, json);
    }
    return g_ascii_strtoll(text, NULL, 10);
}

void testutil_integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 60000);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

void testutil_die_with_parent(void)
{
    /* SIGKILL: a wedged child must not outlive a crashed test either. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        _exit(127);
    }
}

void testutil_add_wrapper(GPtrArray *argv)
{
    const char *wrapper = g_getenv("SOFTPR_VALGRIND");
    g_auto(GStrv) words = NULL;
    size_t i;

    if (wrapper == NULL || *wrapper == '\0') {
        return;
    }
    if (!g_shell_parse_argv(wrapper, NULL, &words, NULL)) {
        fail_msg("cannot parse SOFTPR_VALGRIND");
    }
    for (i = 0; words[i] != NULL; i++) {
        g_ptr_array_add(argv, g_strdup(words[i]));
    }
}

int testutil_db_setup(void **state)
{
    TestDb *db = g_new0(TestDb, 1);

    db->dir = testutil_tmpdir();
    db->path = g_build_filename(db->dir, "pr.db", NULL);
    *state = db;
    return 0;
}

int testutil_db_teardown(void **state)
{
    TestDb *db = *state;

    testutil_rmtree(db->dir);
    g_free(db->dir);
    g_free(db->path);
    g_free(db);
    return 0;
}

StoreOptions testutil_store_options(const char *path)
{
    StoreOptions o = {0};

    o.path = path;
    o.journal = STORE_JOURNAL_DELETE;
    o.lock_timeout_ms = 1000;
    o.host_id = "test-host";
    o.create = true;
    o.history_keep_rows = STORE_HISTORY_KEEP_ROWS_DEFAULT;
    o.history_keep_days = STORE_HISTORY_KEEP_DAYS_DEFAULT;
    return o;
}

/* ------------------------------------------------------------------ */
/* The same tests on each store backend                                */
/* ------------------------------------------------------------------ */

static const TestBackend backend_sqlite = {"sqlite", false};
static const TestBackend backend_pg = {"PostgreSQL", true};

/* The PostgreSQL group's server (NULL: not installed, or not started). */
static PgServer *backend_server;

/* The program's own fixture (testutil_run_per_backend_with()). */
static int (*backend_hook_setup)(TestStore *s);
static void (*backend_hook_teardown)(TestStore *s);

static int backend_pg_group_setup(void **state)
{
    return pgserver_start_for_group(&backend_server) ? 0 : -1;
}

static int backend_pg_group_teardown(void **state)
{
    g_clear_pointer(&backend_server, pgserver_free);
    return 0;
}

/* cmocka setup: the test's TestStore, from the TestBackend in *@state. */
static int backend_setup(void **state)
{
    TestStore *s = g_new0(TestStore, 1);

    s->backend = *state;
    s->dir = testutil_tmpdir();
    if (!s->backend->pg) {
        s->db = g_build_filename(s->dir, "pr.db", NULL);
    } else if (backend_server != NULL) {
        s->db = pgserver_new_database(backend_server);
    } else {
        s->skip = true;
    }
    *state = s;
    return !s->skip && backend_hook_setup != NULL ? backend_hook_setup(s) : 0;
}

static int backend_teardown(void **state)
{
    TestStore *s = *state;

    if (!s->skip && backend_hook_teardown != NULL) {
        backend_hook_teardown(s);
    }
    testutil_rmtree(s->dir);
    g_free(s->dir);
    g_free(s->db);
    g_free(s);
    return 0;
}

TestStore *testutil_store(void **state)
{
    TestStore *s = *state;

    if (s->skip) {
        print_message("%s\n", PGSERVER_SKIP_MESSAGE);
        skip();
    }
    return s;
}

bool testutil_store_is_pg(const TestStore *s)
{
    return s->backend->pg;
}

StoreOptions testutil_store_db_options(const TestStore *s)
{
    StoreOptions o = testutil_store_options(s->db);

    if (s->backend->pg) {
        o.open_timeout_ms = 20000;
    }
    return o;
}

char *testutil_store_missing_db(const TestStore *s)
{
    if (s->backend->pg) {
        return g_strdup_printf("host=%s dbname=softpr_missing user=softpr",
                               pgserver_socket_dir(backend_server));
    }
    return g_build_filename(s->dir, "missing", "pr.db", NULL);
}

/* Whether CHECK_FILTER selects @name (cmocka's glob, all when unset). */
static bool filter_selects(const char *name)
{
    const char *filter = g_getenv("CHECK_FILTER");

    return filter == NULL || *filter == '\0' ||
           g_pattern_match_simple(filter, name);
}

/* Run the tests of @tests that belong to @backend's group. */
static int run_backend_group(const char *prog, const TestBackend *backend,
                             const TestPerBackend *tests, size_t n)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autofree struct CMUnitTest *group = g_new0(struct CMUnitTest, n);
    g_autofree char *group_name =
        g_strdup_printf("%s/%s", prog, backend->name);
    size_t selected = 0;
    size_t k = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        char *name;

        if (!(backend->pg ? tests[i].pg : tests[i].sqlite)) {
            continue;
        }
        name = g_strdup_printf("%s/%s", group_name, tests[i].name);
        g_ptr_array_add(names, name);
        selected += filter_selects(name) ? 1 : 0;
        group[k++] = (struct CMUnitTest){
            .name = name,
            .test_func = tests[i].test,
            .setup_func = backend_setup,
            .teardown_func = backend_teardown,
            .initial_state = (void *)backend,
        };
    }
    if (selected == 0) {
        return 0;
    }
    return _cmocka_run_group_tests(
        group_name, group, k,
        backend->pg ? backend_pg_group_setup : NULL,
        backend->pg ? backend_pg_group_teardown : NULL);
}

int testutil_run_per_backend(const char *prog, const TestPerBackend *tests,
                             size_t n)
{
    return testutil_run_per_backend_with(prog, tests, n, NULL, NULL);
}

int testutil_run_per_backend_with(const char *prog, const TestPerBackend *tests,
                                  size_t n, int (*setup)(TestStore *s),
                                  void (*teardown)(TestStore *s))
{
    int failed;

    backend_hook_setup = setup;
    backend_hook_teardown = teardown;

    testutil_apply_filter();
    failed = run_backend_group(prog, &backend_sqlite, tests, n);
    failed += run_backend_group(prog, &backend_pg, tests, n);
    return testutil_finish(failed);
}

/* Column 0 of the first row of @sql on the PostgreSQL database
 * @conninfo, as an integer (-1: no row). */
static gint64 pg_sql_int(const char *conninfo, const char *sql)
{
    g_autofree char *value = pgserver_sql_value(conninfo, sql);

    return value != NULL ? g_ascii_strtoll(value, NULL, 10) : -1;
}

gint64 testutil_db_int(const TestStore *s, const char *sql)
{
    return s->backend->pg ? pg_sql_int(s->db, sql)
                          : testutil_sql_int(s->db, sql);
}

struct TestDbLock {
    sqlite3 *sqlite;
    PGconn *pg;
};

TestDbLock *testutil_db_lock_writes(const TestStore *s)
{
    TestDbLock *lock = g_new0(TestDbLock, 1);

    if (!s->backend->pg) {
        /* The daemon may not have created the file yet. */
        assert_int_equal(sqlite3_open(s->db, &lock->sqlite), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(lock->sqlite, "BEGIN IMMEDIATE", NULL, NULL, NULL),
            SQLITE_OK);
        return lock;
    }
    /* The schema may not be there yet (the daemon makes it when it
     * first connects): make it as the daemon would. */
    {
        StoreOptions o = testutil_store_db_options(s);
        g_autoptr(GError) error = NULL;
        Store *store = store_open(&o, &error);

        if (store == NULL) {
            fail_msg("store_open: %s", error->message);
        }
        store_close(store);
    }
    lock->pg = PQconnectdb(s->db);
    assert_int_equal(PQstatus(lock->pg), CONNECTION_OK);
    PGresult *res =
        PQexec(lock->pg, "BEGIN; LOCK TABLE lu IN EXCLUSIVE MODE");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_msg("locking lu: %s", PQresultErrorMessage(res));
    }
    PQclear(res);
    return lock;
}

void testutil_db_unlock(TestDbLock *lock)
{
    if (lock->sqlite != NULL) {
        /* Even a COMMIT without changes can meet BUSY while a daemon
         * retries its lock (seen under valgrind): wait for it. */
        sqlite3_busy_timeout(lock->sqlite, 60000);
        assert_int_equal(
            sqlite3_exec(lock->sqlite, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(lock->sqlite);
    }
    if (lock->pg != NULL) {
        PQclear(PQexec(lock->pg, "COMMIT"));
        PQfinish(lock->pg);
    }
    g_free(lock);
}
