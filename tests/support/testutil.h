/*
 * testutil: helpers shared by the test programs: running a cmocka group
 * with a name filter, scratch directories, and where the build is.
 */
#ifndef SOFTPR_TESTUTIL_H
#define SOFTPR_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <glib.h>

#include "store.h"

/*
 * Apply CHECK_FILTER (a test-name glob) and run the group.  A failure in
 * a thread that no testutil_thread_join() reported fails the program.
 */
#define TESTUTIL_RUN(name, tests, setup, teardown)                             \
    (testutil_apply_filter(), testutil_finish(cmocka_run_group_tests_name(     \
                                  name, tests, setup, teardown)))

void testutil_apply_filter(void);
int testutil_finish(int failed);

/*
 * Fail the test with a message, from any thread of the test program.
 * On the thread that runs the test this is cmocka's fail_msg().  cmocka
 * cannot fail a test from another thread (its jump buffer is the test
 * thread's, and the message would be lost): there the message is
 * printed and kept, the thread ends (g_thread_exit()), and
 * testutil_thread_join() fails the test with it on the test's thread.
 */
#define testutil_fail(...) testutil_fail_at(__FILE__, __LINE__, __VA_ARGS__)
G_NORETURN void testutil_fail_at(const char *file, int line, const char *format,
                                 ...) G_GNUC_PRINTF(3, 4);

/*
 * g_thread_join() @thread, then fail the test with the first failure a
 * thread met (testutil_fail()) not yet reported, if any.  Test threads
 * that may fail are joined with this.
 */
gpointer testutil_thread_join(GThread *thread);

/* A new empty directory under $TMPDIR (g_free() the name). */
char *testutil_tmpdir(void);

/* Remove @path and everything below it. */
void testutil_rmtree(const char *path);

/* A scratch directory and a database path in it, as a cmocka fixture:
 * testutil_db_setup() makes them, testutil_db_teardown() removes them. */
typedef struct TestDb {
    char *dir;
    char *path; /* dir/pr.db, not created */
} TestDb;

int testutil_db_setup(void **state);
int testutil_db_teardown(void **state);

/*
 * Store options for the database @path as the daemon opens it by
 * default (rollback journal, history kept), created when missing, host
 * "test-host", lock timeout 1 s; tests change what they need.
 */
StoreOptions testutil_store_options(const char *path);

/*
 * In a child after fork(): have the kernel kill it when the test process
 * exits, so a failed assertion never leaves a daemon or QEMU running.
 */
void testutil_die_with_parent(void);

/*
 * Append to @argv (of char *, owning them) the words of the command
 * prefix in $SOFTPR_VALGRIND, if any: programs under test run under it.
 */
void testutil_add_wrapper(GPtrArray *argv);

/* The build directory holding softprd (SOFTPR_BUILD, default "build"). */
const char *testutil_build_dir(void);

/* Column 0 of the first row of @sql run on the sqlite file @path, as
 * another program would (-1 when there is no row). */
gint64 testutil_sql_int(const char *path, const char *sql);

/*
 * Column 0 of the first row of @sql with text parameters @a and @b, in
 * an in-memory sqlite (for its JSON functions); NULL when absent.
 */
char *testutil_sql_text(const char *sql, const char *a, const char *b);

/* The value at JSON path @path of @json as text; NULL when absent. */
char *testutil_json_text(const char *json, const char *path);

/* The same as a number (fails the test when absent). */
gint64 testutil_json_int(const char *json, const char *path);

/* Fail the test unless PRAGMA integrity_check of @path says "ok". */
void testutil_integrity_ok(const char *path);

/* ------------------------------------------------------------------ */
/* The same tests on each store backend                                */
/* ------------------------------------------------------------------ */

/* A store backend the tests run on. */
typedef struct TestBackend {
    const char *name; /* "sqlite", "PostgreSQL": the group's name part */
    bool pg;
} TestBackend;

/*
 * The database of one test: a scratch directory of its own and what
 * softprd, softpr and store_open() take as the database: @dir/pr.db
 * (not created) for sqlite, a new empty database on the program's
 * throwaway server (tests/support/pgserver.c) for PostgreSQL.
 */
typedef struct TestStore {
    const TestBackend *backend;
    char *dir;
    char *db;
    bool skip;  /* PostgreSQL is not installed: the test skips */
    void *priv; /* the program's own (testutil_run_per_backend_with()) */
} TestStore;

/* One test of a program that runs per backend. */
typedef struct TestPerBackend {
    const char *name;
    CMUnitTestFunction test;
    bool sqlite; /* run in the sqlite group */
    bool pg;     /* run in the PostgreSQL group */
} TestPerBackend;

/* Both groups, sqlite's only, PostgreSQL's only. */
#define TESTUTIL_BOTH(t) {#t, t, true, true}
#define TESTUTIL_SQLITE_ONLY(t) {#t, t, true, false}
#define TESTUTIL_PG_ONLY(t) {#t, t, false, true}

/*
 * Run @tests as two cmocka groups, "@prog/sqlite" and "@prog/PostgreSQL",
 * each test named "@prog/<backend>/<name>", with CHECK_FILTER applied.
 * Each test's state is a TestStore (testutil_store()).  The PostgreSQL
 * group starts one server for the program (pgserver_start_for_group)
 * unless the filter selects none of its tests; without the binaries its
 * tests skip with PGSERVER_SKIP_MESSAGE.  Returns what testutil_finish()
 * does for the failures of both groups.
 */
int testutil_run_per_backend(const char *prog, const TestPerBackend *tests,
                             size_t n);

/*
 * testutil_run_per_backend() with @setup run after each test's TestStore
 * is made (to fill @priv; nonzero fails the test) and @teardown before
 * it goes; neither runs for a test that skips.
 */
int testutil_run_per_backend_with(const char *prog, const TestPerBackend *tests,
                                  size_t n, int (*setup)(TestStore *s),
                                  void (*teardown)(TestStore *s));

/* The test's TestStore; skips the test (saying why) when its backend
 * cannot run here. */
TestStore *testutil_store(void **state);

/* Whether the test runs on PostgreSQL. */
bool testutil_store_is_pg(const TestStore *s);

/*
 * Store options for @s's database as testutil_store_options() gives
 * them, with a PostgreSQL open allowed the time a loaded test machine
 * needs to connect and create the schema.
 */
StoreOptions testutil_store_db_options(const TestStore *s);

/*
 * The connection string of a database that does not exist on @s's
 * server (PostgreSQL), or a path whose directory does not exist
 * (sqlite).  g_free() it.
 */
char *testutil_store_missing_db(const TestStore *s);

/*
 * Column 0 of the first row of @sql (an integer) on @s's database, as
 * another program would read it, on either backend (-1 when there is no
 * row).  Write SQL both understand (quote "asc").
 */
gint64 testutil_db_int(const TestStore *s, const char *sql);

/*
 * From a connection of the test's own, keep everyone else from writing
 * @s's database while reads go on, as another busy writer would:
 * sqlite's BEGIN IMMEDIATE; on PostgreSQL the lu table locked in
 * EXCLUSIVE mode (every PR OUT writes its LU's row).  Held until
 * testutil_db_unlock().  Fails the test when it cannot.
 */
typedef struct TestDbLock TestDbLock;
TestDbLock *testutil_db_lock_writes(const TestStore *s);
void testutil_db_unlock(TestDbLock *lock);

#endif /* SOFTPR_TESTUTIL_H */
