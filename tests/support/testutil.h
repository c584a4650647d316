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

#endif /* SOFTPR_TESTUTIL_H */
