/*
 * test_store: the sqlite store on a real file: opening and refusing
 * databases, round trips of PR state, bounded lock waits, rollback.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "faultvfs.h"
#include "testutil.h"

#include "error.h"
#include "store.h"

static StoreOptions options_for(const char *path)
{
    StoreOptions o = testutil_store_options(path);

    o.lock_timeout_ms = 200;
    o.host_id = "host-a";
    /* Tests that want history turn it on. */
    o.history_keep_rows = 0;
    o.history_keep_days = 0;
    return o;
}

static Store *open_ok(const char *path)
{
    StoreOptions o = options_for(path);
    GError *error = NULL;
    Store *store = store_open(&o, &error);

    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    return store;
}

static void expect_open_error(const char *path, StoreJournal journal, int code,
                              const char *fragment)
{
    StoreOptions o = options_for(path);
    GError *error = NULL;
    Store *store;

    o.journal = journal;
    store = store_open(&o, &error);
    assert_null(store);
    assert_non_null(error);
    if (error->code != code || strstr(error->message, fragment) == NULL) {
        fail_msg("expected error %d with '%s', got %d: %s", code, fragment,
                 error->code, error->message);
    }
    /* One line, for the one-line startup error. */
    assert_null(strchr(error->message, '\n'));
    g_error_free(error);
}

/* Run SQL directly on the file, as another program would. */
static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
}

/* A new file gets our application_id, the schema version and the
 * rollback journal. */
static void test_create(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);

    store_close(store);
    assert_int_equal(testutil_sql_int(f->path, "PRAGMA application_id"),
                     STORE_APPLICATION_ID);
    assert_int_equal(testutil_sql_int(f->path, "PRAGMA user_version"),
                     store_schema_version());
    assert_true(store_schema_version() >= 1);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM lu"), 0);
    /* Reopening an existing database is fine. */
    store_close(open_ok(f->path));
}

static void test_missing_directory(void **state)
{
    TestDb *f = *state;
    g_autofree char *path = g_build_filename(f->dir, "no", "pr.db", NULL);

    expect_open_error(path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_IO,
                      "does not exist");
}

static void test_not_sqlite(void **state)
{
    TestDb *f = *state;

    assert_true(g_file_set_contents(
        f->path,
        "this is a text file, certainly not a database, but long "
        "enough to have a header ............................",
        -1, NULL));
    expect_open_error(f->path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_FOREIGN, "");
}

static void test_foreign_database(void **state)
{
    TestDb *f = *state;

    raw_sql(f->path, "CREATE TABLE t (x)");
    expect_open_error(f->path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_FOREIGN,
                      "not a softpr database");
    unlink(f->path);
    raw_sql(f->path, "PRAGMA application_id = 1234");
    expect_open_error(f->path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_FOREIGN,
                      "application_id");
}

static void test_newer_schema(void **state)
{
    TestDb *f = *state;
    g_autofree char *sql = NULL;

    store_close(open_ok(f->path));
    sql =
        g_strdup_printf("PRAGMA user_version = %d", store_schema_version() + 1);
    raw_sql(f->path, sql);
    expect_open_error(f->path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_NEWER,
                      "newer");
}

/* A WAL file is refused where the rollback journal is required, and
 * accepted in single-host WAL mode. */
static void test_wal_refused(void **state)
{
    TestDb *f = *state;
    StoreOptions o = options_for(f->path);
    Store *store;

    store_close(open_ok(f->path));
    raw_sql(f->path, "PRAGMA journal_mode = WAL");
    expect_open_error(f->path, STORE_JOURNAL_DELETE, SOFTPR_ERROR_JOURNAL,
                      "WAL");
    o.journal = STORE_JOURNAL_WAL;
    store = store_open(&o, NULL);
    assert_non_null(store);
    store_close(store);
}

static void test_no_create(void **state)
{
    TestDb *f = *state;
    StoreOptions o = options_for(f->path);
    GError *error = NULL;

    o.create = false;
    assert_null(store_open(&o, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_IO);
    g_error_free(error);
}

static PrState *sample_state(void)
{
    PrState *s = pr_state_new();
    PrRegistration reg = {0};
    PrUnitAttention ua = {0};

    s->generation = 0xfffffffeu;
    s->aptpl = true;
    s->res_type = PR_TYPE_WRITE_EXCLUSIVE_RO;
    assert_true(
        tid_from_iscsi_name("iqn.2026-11.test:a", &reg.initiator, NULL));
    reg.rtpi = 1;
    reg.key = 0xffffffffffffffffULL; /* all 64 bits survive */
    reg.holder = true;
    g_array_append_val(s->regs, reg);
    memset(&reg, 0, sizeof(reg));
    assert_true(tid_parse("fcp,2100001b32a1b2c3", &reg.initiator, NULL));
    reg.all_tg_pt = true;
    reg.key = 0x5eed;
    g_array_append_val(s->regs, reg);
    memset(&reg, 0, sizeof(reg));
    assert_true(
        tid_parse("iqn.2026-11.test:c,i,0x000000000001", &reg.initiator, NULL));
    reg.rtpi = 2;
    reg.key = 1;
    g_array_append_val(s->regs, reg);
    ua.initiator = reg.initiator;
    ua.rtpi = 2;
    ua.asc = 0x2a;
    ua.ascq = 0x04;
    g_array_append_val(s->uas, ua);
    return s;
}

static void save(Store *store, gint64 lu_id, const PrState *before,
                 const PrState *after)
{
    StoreLuInfo info = {"naa.600140512345678", "sysfs-wwid", "/dev/sdb"};
    GError *error = NULL;

    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 1000000, &error));
    if (!store_save_state(store, lu_id, &info, before, after, &error) ||
        !store_commit(store, &error)) {
        fail_msg("save: %s", error->message);
    }
}

static const StoreLuInfo sample_lu = {"naa.600140512345678", "sysfs-wwid",
                                      "/dev/sdb"};

static PrState *load(Store *store, gint64 *lu_id)
{
    PrState *s = pr_state_new();
    GError *error = NULL;
    bool stale = false;

    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 1000000, &error));
    if (!store_load_state(store, &sample_lu, s, lu_id, &stale, &error)) {
        fail_msg("load: %s", error->message);
    }
    store_rollback(store);
    return s;
}

/* Everything the engine keeps survives a round trip, in order. */
static void test_round_trip(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    g_autoptr(PrState) loaded = NULL;
    gint64 lu_id = -1;

    loaded = load(store, &lu_id);
    assert_int_equal(lu_id, 0);
    assert_true(pr_state_equal(loaded, empty));
    pr_state_free(g_steal_pointer(&loaded));

    save(store, 0, empty, s);
    store_close(store);

    /* Survives closing: a daemon restart loses nothing. */
    store = open_ok(f->path);
    loaded = load(store, &lu_id);
    assert_true(lu_id > 0);
    assert_true(pr_state_equal(loaded, s));
    store_close(store);
    assert_int_equal(
        testutil_sql_int(f->path,
                         "SELECT count(*) FROM registration WHERE host = "
                         "'host-a'"),
        3);
}

/* Saving writes only the difference: untouched rows keep their id and
 * registration time, removed ones go, new ones are appended. */
static void test_save_difference(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    g_autoptr(PrState) next = NULL;
    g_autoptr(PrState) loaded = NULL;
    PrRegistration reg = {0};
    gint64 lu_id = 0;
    gint64 first_id;

    save(store, 0, empty, s);
    pr_state_free(load(store, &lu_id));
    raw_sql(f->path, "UPDATE registration SET registered_at = 7");
    first_id = testutil_sql_int(f->path, "SELECT min(id) FROM registration");

    next = pr_state_copy(s);
    g_array_index(next->regs, PrRegistration, 0).key = 42;
    g_array_remove_index(next->regs, 1);
    assert_true(
        tid_from_iscsi_name("iqn.2026-11.test:d", &reg.initiator, NULL));
    reg.rtpi = 1;
    reg.key = 99;
    g_array_append_val(next->regs, reg);
    g_array_set_size(next->uas, 0);
    next->generation++;
    save(store, lu_id, s, next);

    loaded = load(store, &lu_id);
    assert_true(pr_state_equal(loaded, next));
    assert_int_equal(testutil_sql_int(f->path,
                                      "SELECT registered_at FROM registration "
                                      "WHERE key = 42"),
                     7);
    assert_int_equal(testutil_sql_int(f->path, "SELECT id FROM registration "
                                               "WHERE key = 42"),
                     first_id);
    assert_true(testutil_sql_int(f->path,
                                 "SELECT registered_at FROM registration "
                                 "WHERE key = 99") > 7);
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM unit_attention"), 0);
    store_close(store);
}

/* A stored state that breaks SPC-4's invariants is reported, not used. */
static void test_corrupt_state(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    g_autoptr(PrState) loaded = pr_state_new();
    GError *error = NULL;
    gint64 lu_id = 0;
    bool stale = false;

    save(store, 0, empty, s);
    raw_sql(f->path, "UPDATE registration SET holder = 1");
    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 1000000, NULL));
    assert_false(
        store_load_state(store, &sample_lu, loaded, &lu_id, &stale, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_CORRUPT);
    g_error_free(error);
    store_rollback(store);
    store_close(store);
}

/*
 * Another process holds the write lock: BEGIN IMMEDIATE gives up with
 * SOFTPR_ERROR_BUSY at the deadline, and succeeds once it is released.
 */
static void test_bounded_lock_wait(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    sqlite3 *other = NULL;
    GError *error = NULL;

    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_false(
        store_begin(store, true, g_get_monotonic_time() + 100000, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_BUSY);
    g_clear_error(&error);
    sqlite3_busy_timeout(other, 60000);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 100000, &error));
    store_rollback(store);
    sqlite3_close(other);
    store_close(store);
}

/*
 * A commit that cannot get the exclusive lock (a reader holds a shared
 * lock past the deadline) fails BUSY and writes nothing.
 */
static void test_commit_busy_writes_nothing(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    StoreLuInfo info = {"naa.600140512345678", "sysfs-wwid", "/dev/sdb"};
    sqlite3 *reader = NULL;
    sqlite3_stmt *stmt = NULL;
    GError *error = NULL;

    assert_int_equal(sqlite3_open(f->path, &reader), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(reader, "SELECT count(*) FROM lu", -1, &stmt, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);

    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 100000, &error));
    assert_true(store_save_state(store, 0, &info, empty, s, &error));
    assert_false(store_commit(store, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_BUSY);
    g_clear_error(&error);

    sqlite3_finalize(stmt);
    sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(reader);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM lu"), 0);
    store_close(store);
}

/* Rolling back discards everything saved in the transaction. */
static void test_rollback(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    StoreLuInfo info = {"naa.600140512345678", "sysfs-wwid", "/dev/sdb"};

    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 100000, NULL));
    assert_true(store_save_state(store, 0, &info, empty, s, NULL));
    store_rollback(store);
    store_close(store);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM lu"), 0);
}

/* Another process's lock, released once the opener has met it. */
typedef struct Holder {
    sqlite3 *db;
    int rc;      /* of the COMMIT that releases it */
    bool waited; /* the opener met the lock and tried again */
} Holder;

static gpointer release_when_waited_for(gpointer data)
{
    Holder *h = data;
    gint64 end = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;

    /* Each attempt at the lock is a lock call through faultvfs: a
     * second one means the first met this lock and the opener waits. */
    while (faultvfs_counted(FAULT_LOCK) < 2 && g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    h->waited = faultvfs_counted(FAULT_LOCK) >= 2;
    sqlite3_busy_timeout(h->db, 60000);
    h->rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/*
 * Opening waits for another process's exclusive lock up to the open
 * timeout (start-up has no guest waiting), else up to the lock timeout.
 */
static void test_open_waits_for_lock(void **state)
{
    TestDb *f = *state;
    StoreOptions o = options_for(f->path);
    Holder holder = {NULL, -1, false};
    GError *error = NULL;
    GThread *thread;
    Store *store;

    store_close(open_ok(f->path));
    assert_int_equal(sqlite3_open(f->path, &holder.db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(holder.db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
        SQLITE_OK);
    o.lock_timeout_ms = 50;
    assert_null(store_open(&o, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_BUSY);
    g_clear_error(&error);

    /* The lock goes only once the opener waits for it, however slow the
     * machine: no sleep decides which case this is. */
    faultvfs_register();
    o.vfs = FAULTVFS_NAME;
    o.open_timeout_ms = 60000;
    faultvfs_count();
    thread = g_thread_new("release", release_when_waited_for, &holder);
    store = store_open(&o, &error);
    g_thread_join(thread);
    faultvfs_off();
    assert_true(holder.waited);
    assert_int_equal(holder.rc, SQLITE_OK);
    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    store_close(store);
    sqlite3_close(holder.db);
}

/*
 * store_open_until(): a connection opened for a command waits for
 * another process's lock only until the command's deadline, and fails
 * BUSY (not an I/O error), so that the command is answered BUSY in time.
 */
static void test_open_until_deadline(void **state)
{
    TestDb *f = *state;
    StoreOptions o = options_for(f->path);
    sqlite3 *other = NULL;
    GError *error = NULL;
    gint64 start;
    gint64 took;

    store_close(open_ok(f->path));
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    /* The deadline wins over a long open timeout. */
    o.open_timeout_ms = 60000;
    start = g_get_monotonic_time();
    assert_null(store_open_until(&o, start + 200000, &error));
    took = g_get_monotonic_time() - start;
    assert_int_equal(error->code, SOFTPR_ERROR_BUSY);
    g_clear_error(&error);
    assert_true(took >= 200000 && took < 10 * G_USEC_PER_SEC);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(other);
}

/* A connection of @group. */
static Store *open_in_group(const char *path, StoreGroup *group)
{
    StoreOptions o = options_for(path);
    GError *error = NULL;
    Store *store;

    o.group = group;
    store = store_open(&o, &error);
    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    return store;
}

/*
 * Two stores without a group, in one thread, one read transaction inside
 * the other (as softpr check-fs may open them): neither waits for the
 * other.  A store of a group in the same thread after them too.
 */
static void test_two_stores_one_thread(void **state)
{
    TestDb *f = *state;
    g_autofree char *other_path = g_build_filename(f->dir, "other.db", NULL);
    Store *a = open_ok(f->path);
    Store *b = open_ok(other_path);
    StoreGroup *group = store_group_new(f->path);
    Store *c = open_in_group(f->path, group);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    assert_true(store_begin(a, false, deadline, NULL));
    assert_true(store_begin(b, false, deadline, NULL));
    assert_true(store_begin(c, false, deadline, NULL));
    store_rollback(c);
    store_rollback(b);
    store_rollback(a);
    store_close(c);
    store_close(b);
    store_close(a);
    store_group_free(group);
}

/*
 * The turn is the group's, not the process's: while a store of a group
 * holds it (a read transaction), a store with no group in the same
 * thread reads and commits a write to another database, and a store of
 * a second group, after the first gave its turn back, takes its own.
 * With a process-wide lock each of these would wait for the thread
 * itself until the deadline and fail BUSY.
 */
static void test_turn_is_per_group(void **state)
{
    TestDb *f = *state;
    g_autofree char *other_path = g_build_filename(f->dir, "other.db", NULL);
    Store *free_store = open_ok(other_path);
    StoreGroup *group = store_group_new(f->path);
    StoreGroup *other_group = store_group_new(other_path);
    Store *grouped = open_in_group(f->path, group);
    Store *other_grouped = open_in_group(other_path, other_group);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    GError *error = NULL;

    assert_true(store_begin(grouped, false, deadline, NULL));
    assert_true(store_begin(free_store, false, deadline, &error));
    assert_null(error);
    store_rollback(free_store);
    assert_true(store_begin(free_store, true, deadline, &error));
    assert_true(store_commit(free_store, &error));
    assert_null(error);
    store_rollback(grouped);
    /* Sequential use of two groups in one thread: each takes its own. */
    assert_true(store_begin(other_grouped, false, deadline, &error));
    store_rollback(other_grouped);
    assert_true(store_begin(grouped, true, deadline, &error));
    assert_true(store_commit(grouped, &error));
    assert_null(error);
    store_close(other_grouped);
    store_close(grouped);
    store_close(free_store);
    store_group_free(other_group);
    store_group_free(group);
}

/*
 * Nesting two stores of one group in one thread is a bug (two threads
 * doing it in opposite orders deadlock): it stops the process with an
 * assertion rather than waiting.
 */
static void test_nested_turn_asserts(void **state)
{
    TestDb *f = *state;
    int status = 0;
    pid_t pid;

    store_close(open_ok(f->path));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        StoreGroup *group = store_group_new(f->path);
        Store *a = open_in_group(f->path, group);
        Store *b = open_in_group(f->path, group);
        gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

        /* Quiet: the assertion's message is expected. */
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(3);
        }
        if (!store_begin(a, false, deadline, NULL)) {
            _exit(2);
        }
        store_begin(b, false, deadline, NULL);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

typedef struct TurnWaiter {
    Store *store;
    gint64 deadline;
    bool ok;
    int code;
    gint64 took;
} TurnWaiter;

static gpointer turn_waiter(gpointer data)
{
    TurnWaiter *w = data;
    GError *error = NULL;
    gint64 start = g_get_monotonic_time();

    w->ok = store_begin(w->store, false, w->deadline, &error);
    w->took = g_get_monotonic_time() - start;
    if (!w->ok) {
        w->code = error->code;
        g_error_free(error);
    } else {
        store_rollback(w->store);
    }
    return NULL;
}

/*
 * A connection of the group waits for the turn another thread holds
 * only until its deadline, then fails BUSY as for another process's
 * lock; when the turn comes back in time it is taken at once.
 */
static void test_turn_wait_bounded(void **state)
{
    TestDb *f = *state;
    StoreGroup *group = store_group_new(f->path);
    Store *holder = open_in_group(f->path, group);
    Store *waiter = open_in_group(f->path, group);
    TurnWaiter w = {waiter, 0, false, 0, 0};
    GThread *thread;

    assert_true(store_begin(holder, false,
                            g_get_monotonic_time() + 5 * G_USEC_PER_SEC, NULL));
    w.deadline = g_get_monotonic_time() + 200000;
    thread = g_thread_new("waiter", turn_waiter, &w);
    g_thread_join(thread);
    assert_false(w.ok);
    assert_int_equal(w.code, SOFTPR_ERROR_BUSY);
    assert_true(w.took < 10 * G_USEC_PER_SEC);

    /* Given back long before the waiter's deadline: it goes on at once. */
    w.deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    thread = g_thread_new("waiter", turn_waiter, &w);
    g_usleep(100000);
    store_rollback(holder);
    g_thread_join(thread);
    assert_true(w.ok);
    assert_true(w.took < 30 * G_USEC_PER_SEC);
    store_close(waiter);
    store_close(holder);
    store_group_free(group);
}

/* The number of logical units @store reads, in a read transaction. */
static gint64 lus_seen_by(Store *store)
{
    g_autoptr(GPtrArray) names = store_lu_names(
        store, NULL, g_get_monotonic_time() + 5 * G_USEC_PER_SEC, NULL);

    assert_non_null(names);
    return names->len;
}

/*
 * A file moved over the database (a restore) is noticed by
 * store_group_check(), which raises the generation; each store of the
 * group then reads the new file from its next transaction on.  With no
 * file at the path the check fails (SOFTPR_ERROR_IO) and nothing is
 * created there.
 */
static void test_group_follows_replaced_file(void **state)
{
    TestDb *f = *state;
    g_autofree char *other = g_build_filename(f->dir, "other.db", NULL);
    StoreGroup *group;
    Store *a;
    Store *b;
    GError *error = NULL;
    guint generation = 99;

    store_close(open_ok(f->path));
    store_close(open_ok(other));
    raw_sql(other, "INSERT INTO lu (name, id_source, created_at) VALUES "
                   "('lu-restored', 'xattr', 0)");
    group = store_group_new(f->path);
    a = open_in_group(f->path, group);
    b = open_in_group(f->path, group);
    assert_true(store_group_check(group, &generation, NULL));
    assert_int_equal(generation, 0);
    assert_int_equal(lus_seen_by(a), 0);

    assert_int_equal(rename(other, f->path), 0);
    assert_true(store_group_check(group, &generation, NULL));
    assert_int_equal(generation, 1);
    assert_int_equal(lus_seen_by(a), 1);
    assert_int_equal(lus_seen_by(b), 1);
    assert_true(store_group_check(group, &generation, NULL));
    assert_int_equal(generation, 1);

    assert_int_equal(unlink(f->path), 0);
    assert_false(store_group_check(group, &generation, &error));
    assert_int_equal(error->code, SOFTPR_ERROR_IO);
    assert_non_null(strstr(error->message, "is gone"));
    g_clear_error(&error);
    assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
    store_close(a);
    store_close(b);
    store_group_free(group);
}

/* A reader learns whether the database last saw the LU elsewhere. */
static void test_stale_location(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    StoreLuInfo moved = {"naa.600140512345678", "sysfs-wwid", "/dev/sdc"};
    g_autoptr(PrState) loaded = pr_state_new();
    gint64 lu_id = 0;
    bool stale = true;

    save(store, 0, empty, s);
    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 1000000, NULL));
    assert_true(
        store_load_state(store, &sample_lu, loaded, &lu_id, &stale, NULL));
    assert_false(stale);
    g_array_set_size(loaded->regs, 0);
    g_array_set_size(loaded->uas, 0);
    assert_true(store_load_state(store, &moved, loaded, &lu_id, &stale, NULL));
    assert_true(stale);
    store_rollback(store);
    store_close(store);
}

static char *vm_name(Store *store, const char *key, const char *preferred)
{
    StoreVm vm = {key, preferred, "web1", NULL};
    GError *error = NULL;
    char *name = NULL;

    if (!store_vm_initiator(store, &vm, g_get_monotonic_time() + 1000000, &name,
                            &error)) {
        fail_msg("store_vm_initiator: %s", error->message);
    }
    return name;
}

/*
 * A VM keeps the initiator name it got when first seen, from any host; a
 * different VM asking for a taken name gets "-2"; the host it was last
 * seen on is recorded.
 */
static void test_vm_initiator_names(void **state)
{
    TestDb *f = *state;
    StoreOptions other = options_for(f->path);
    Store *a = open_ok(f->path);
    Store *b;
    char *n1;
    char *n2;
    char *n3;

    other.host_id = "host-b";
    b = store_open(&other, NULL);
    assert_non_null(b);
    n1 = vm_name(a, "uuid:1111", "iqn.2026-11.org.softpr:vm:web1");
    assert_string_equal(n1, "iqn.2026-11.org.softpr:vm:web1");
    n2 = vm_name(b, "uuid:1111", "iqn.2026-11.org.softpr:vm:web1-renamed");
    assert_string_equal(n2, n1);
    assert_int_equal(testutil_sql_int(f->path,
                                      "SELECT count(*) FROM initiator WHERE "
                                      "last_host = 'host-b'"),
                     1);
    n3 = vm_name(a, "uuid:2222", "iqn.2026-11.org.softpr:vm:web1");
    assert_string_equal(n3, "iqn.2026-11.org.softpr:vm:web1-2");
    g_free(n1);
    g_free(n2);
    g_free(n3);
    store_close(a);
    store_close(b);
}

/* The registry entry of @key's last_seen, in seconds since the epoch. */
static gint64 vm_last_seen(const char *path, const char *key)
{
    g_autofree char *sql = g_strdup_printf(
        "SELECT last_seen FROM initiator WHERE key = '%s'", key);

    return testutil_sql_int(path, sql);
}

/*
 * The VM registry does not grow for ever: when a VM is added, entries
 * that hold no registration (alone or with an ISID) and were last seen
 * more than vm-keep-days ago are forgotten; one that holds a
 * registration is kept however old, and so is a recent one.  With
 * vm-keep-days 0 nothing is forgotten.
 */
static void test_vm_registry_pruned(void **state)
{
    TestDb *f = *state;
    StoreOptions o = options_for(f->path);
    Store *store;
    char *name;

    o.vm_keep_days = 30;
    store = store_open(&o, NULL);
    assert_non_null(store);
    g_free(vm_name(store, "uuid:idle", "iqn.2026-11.org.softpr:vm:idle"));
    g_free(vm_name(store, "uuid:reg", "iqn.2026-11.org.softpr:vm:reg"));
    g_free(vm_name(store, "uuid:port", "iqn.2026-11.org.softpr:vm:port"));
    g_free(vm_name(store, "uuid:recent", "iqn.2026-11.org.softpr:vm:recent"));
    raw_sql(f->path,
            "UPDATE initiator SET last_seen = last_seen - 40 * 86400 "
            "WHERE key <> 'uuid:recent';"
            "INSERT INTO lu (name, id_source, created_at) VALUES ('lu-1', "
            "'xattr', 0);"
            "INSERT INTO registration (lu_id, initiator, initiator_name, rtpi, "
            "key, host, registered_at) VALUES (1, x'00', "
            "'iqn.2026-11.org.softpr:vm:reg', 1, 7, 'host-a', 0), (1, x'01', "
            "'iqn.2026-11.org.softpr:vm:port,i,0x000000000001', 1, 8, "
            "'host-a', 0)");
    /* Seen again, not added: nothing is pruned. */
    g_free(vm_name(store, "uuid:recent", "iqn.2026-11.org.softpr:vm:recent"));
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM initiator"), 4);
    name = vm_name(store, "uuid:new", "iqn.2026-11.org.softpr:vm:new");
    g_free(name);
    assert_int_equal(
        testutil_sql_int(
            f->path, "SELECT count(*) FROM initiator WHERE key = 'uuid:idle'"),
        0);
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM initiator"), 4);
    store_close(store);

    /* vm-keep-days = 0: the old entries without registrations stay. */
    raw_sql(f->path, "DELETE FROM registration");
    o.vm_keep_days = 0;
    store = store_open(&o, NULL);
    g_free(vm_name(store, "uuid:new2", "iqn.2026-11.org.softpr:vm:new2"));
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT count(*) FROM initiator"), 5);
    store_close(store);
}

/*
 * A VM that stays on one host has its last_seen rewritten when it is a
 * day old, not on every connection: what pruning goes by stays true
 * within a day for a VM that runs for months.
 */
static void test_vm_last_seen_refreshed(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;

    g_free(vm_name(store, "uuid:1111", "iqn.2026-11.org.softpr:vm:web1"));
    raw_sql(f->path, "UPDATE initiator SET last_seen = last_seen - 3600");
    g_free(vm_name(store, "uuid:1111", "iqn.2026-11.org.softpr:vm:web1"));
    assert_true(vm_last_seen(f->path, "uuid:1111") <= now - 3600 + 1);
    raw_sql(f->path, "UPDATE initiator SET last_seen = last_seen - 2 * 86400");
    g_free(vm_name(store, "uuid:1111", "iqn.2026-11.org.softpr:vm:web1"));
    assert_true(vm_last_seen(f->path, "uuid:1111") >= now);
    store_close(store);
}

/* ------------------------------------------------------------------ */
/* Audit history, places seen, reports                                 */
/* ------------------------------------------------------------------ */

static Store *open_with_history(const char *path, unsigned rows, unsigned days)
{
    StoreOptions o = options_for(path);
    GError *error = NULL;
    Store *store;

    o.history_keep_rows = rows;
    o.history_keep_days = days;
    store = store_open(&o, &error);
    if (store == NULL) {
        fail_msg("store_open: %s", error->message);
    }
    return store;
}

/* A REGISTER from iqn.2026-11.test:a with service action key @sark. */
static void add_register(Store *store, uint64_t sark, bool commit)
{
    TransportId tid;
    PrOutFields fields = {.service_action = PR_OUT_REGISTER, .sark = sark};
    StoreHistoryEntry entry = {
        .origin = "softprd",
        .action = "REGISTER",
        .initiator = &tid,
        .rtpi = 1,
        .fields = &fields,
        .status = SCSI_STATUS_GOOD,
        .generation = 1,
    };
    GError *error = NULL;

    assert_true(tid_from_iscsi_name("iqn.2026-11.test:a", &tid, NULL));
    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 1000000, &error));
    if (!store_add_history(store, "lu-1", &entry, &error)) {
        fail_msg("store_add_history: %s", error->message);
    }
    if (!commit) {
        store_rollback(store);
        return;
    }
    if (!store_commit(store, &error)) {
        fail_msg("commit: %s", error->message);
    }
}

/* The history row is part of the transaction: gone with a rollback,
 * durable with a commit, every field as given. */
static void test_history_in_the_transaction(void **state)
{
    TestDb *f = *state;
    Store *store = open_with_history(f->path, 10, 0);

    assert_true(store_history_enabled(store));
    add_register(store, 0x5eed, false);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM history"),
                     0);
    add_register(store, 0x5eed, true);
    store_close(store);
    assert_int_equal(
        testutil_sql_int(f->path,
                         "SELECT count(*) FROM history WHERE host = 'host-a' "
                         "AND origin = 'softprd' AND lu_name = 'lu-1' AND "
                         "initiator_name = 'iqn.2026-11.test:a' AND rtpi = 1 "
                         "AND action = 'REGISTER' AND service_action = 0 AND "
                         "key = 0 AND sa_key = 24301 AND status = 0 AND "
                         "sense_key IS NULL AND generation = 1 AND "
                         "unreg IS NULL AND move_rtpi IS NULL"),
        1);
}

/* Retention: only the newest keep-rows rows stay; rows older than
 * keep-days go; keep-rows 0 records nothing. */
static void test_history_retention(void **state)
{
    TestDb *f = *state;
    Store *store = open_with_history(f->path, 5, 0);
    int i;

    for (i = 1; i <= 12; i++) {
        add_register(store, (uint64_t)i, true);
    }
    store_close(store);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM history"),
                     5);
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT min(sa_key) FROM history"), 8);

    /* Two rows 400 days old go when keep-days is 365. */
    testutil_sql_int(f->path, "UPDATE history SET at_ms = at_ms - "
                              "400 * 86400000 WHERE sa_key < 10");
    store = open_with_history(f->path, 100, 365);
    add_register(store, 13, true);
    store_close(store);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM history"),
                     4);
    assert_int_equal(
        testutil_sql_int(f->path, "SELECT min(sa_key) FROM history"), 10);

    store = open_with_history(f->path, 0, 0);
    assert_false(store_history_enabled(store));
    add_register(store, 14, true);
    store_close(store);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM history"),
                     4);
}

/* Each host and path an LU is reached through is recorded once, and a
 * place not seen before makes the state stale (to be recorded). */
static void test_places_seen(void **state)
{
    TestDb *f = *state;
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    StoreOptions other = options_for(f->path);
    StoreLuInfo there = {"naa.600140512345678", "sysfs-wwid", "/dev/sdx"};
    g_autoptr(PrState) loaded = pr_state_new();
    Store *store = open_ok(f->path);
    gint64 lu_id = 0;
    bool stale = false;

    save(store, 0, empty, s);
    store_close(store);

    other.host_id = "host-b";
    store = store_open(&other, NULL);
    assert_non_null(store);
    assert_true(
        store_begin(store, true, g_get_monotonic_time() + 1000000, NULL));
    assert_true(store_load_state(store, &there, loaded, &lu_id, &stale, NULL));
    assert_true(stale);
    assert_true(store_save_state(store, lu_id, &there, loaded, loaded, NULL));
    assert_true(store_commit(store, NULL));
    g_array_set_size(loaded->regs, 0);
    g_array_set_size(loaded->uas, 0);
    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 1000000, NULL));
    assert_true(store_load_state(store, &there, loaded, &lu_id, &stale, NULL));
    assert_false(stale);
    store_rollback(store);
    store_close(store);
    assert_int_equal(
        testutil_sql_int(f->path,
                         "SELECT count(*) FROM lu_seen WHERE (host, path) IN "
                         "(VALUES ('host-a', '/dev/sdb'), "
                         "('host-b', '/dev/sdx'))"),
        2);

    /* Each host reads its own places, oldest first. */
    store = open_ok(f->path);
    {
        g_auto(GStrv) paths = NULL;

        assert_true(store_lu_paths_here(store, "naa.600140512345678",
                                        g_get_monotonic_time() + 1000000,
                                        &paths, NULL));
        assert_int_equal(g_strv_length(paths), 1);
        assert_string_equal(paths[0], "/dev/sdb");
        g_clear_pointer(&paths, g_strfreev);
        assert_true(store_lu_paths_here(store, "naa.unknown",
                                        g_get_monotonic_time() + 1000000,
                                        &paths, NULL));
        assert_int_equal(g_strv_length(paths), 0);
    }
    store_close(store);
}

/* A place seen again moves its last time on and takes a new way of
 * identifying the LU; the first time stays. */
static void test_place_seen_again(void **state)
{
    TestDb *f = *state;
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    g_autoptr(PrState) loaded = NULL;
    Store *store = open_ok(f->path);
    gint64 lu_id = 0;

    save(store, 0, empty, s);
    loaded = load(store, &lu_id);
    store_close(store);
    raw_sql(f->path, "UPDATE lu_seen SET first_seen = 100, last_seen = 200, "
                     "id_source = 'path'");
    store = open_ok(f->path);
    save(store, lu_id, loaded, loaded);
    store_close(store);
    assert_int_equal(
        testutil_sql_int(f->path,
                         "SELECT count(*) FROM lu_seen WHERE host = 'host-a' "
                         "AND path = '/dev/sdb' AND first_seen = 100 "
                         "AND last_seen > 200 AND id_source = 'sysfs-wwid'"),
        1);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM lu_seen"),
                     1);
}

/* A database of schema 2 gains the history and its LUs' last place. */
static void test_migration_to_history(void **state)
{
    TestDb *f = *state;

    store_close(open_ok(f->path));
    raw_sql(f->path, "DROP TABLE history; DROP TABLE lu_seen; "
                     "PRAGMA user_version = 2; "
                     "INSERT INTO lu (name, id_source, last_host, last_path, "
                     "last_seen, created_at) VALUES ('lu-old', 'path', "
                     "'host-z', '/srv/disk.img', 200, 100)");
    store_close(open_ok(f->path));
    assert_int_equal(testutil_sql_int(f->path, "PRAGMA user_version"),
                     store_schema_version());
    assert_int_equal(
        testutil_sql_int(f->path,
                         "SELECT count(*) FROM lu_seen WHERE host = 'host-z' "
                         "AND path = '/srv/disk.img' AND first_seen = 100 "
                         "AND last_seen = 200"),
        1);
    assert_int_equal(testutil_sql_int(f->path, "SELECT count(*) FROM history"),
                     0);
}

/* A dump shows the LUs and registrations each filter selects. */
static void test_dump_filters(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    static const struct {
        StoreFilter filter;
        guint lus;
        guint regs; /* of the first LU */
    } cases[] = {
        {{0}, 1, 3},
        {{.lu = "naa.*"}, 1, 3},
        {{.lu = "/dev/sd?"}, 1, 3},
        {{.lu = "nothing*"}, 0, 0},
        {{.initiator = "IQN.2026-11.TEST:*"}, 1, 2},
        {{.initiator = "fcp,*"}, 1, 1},
        {{.has_key = true, .key = 0xffffffffffffffffULL}, 1, 1},
        {{.has_key = true, .key = 2}, 0, 0},
    };
    size_t i;

    save(store, 0, empty, s);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *error = NULL;
        gint64 deadline = g_get_monotonic_time() + 1000000;
        g_autoptr(StoreDump) dump =
            store_dump(store, &cases[i].filter, deadline, &error);

        assert_non_null(dump);
        assert_int_equal(dump->lus->len, cases[i].lus);
        if (cases[i].lus > 0) {
            StoreLuDump *lu = g_ptr_array_index(dump->lus, 0);

            assert_int_equal(lu->regs->len, cases[i].regs);
        }
    }
    store_close(store);
}

/*
 * What a dump says of the sample state, field by field: the holder
 * whatever the filter, the TransportID as stored (SPC-4 7.6.4.6: an
 * iSCSI device name, "iqn." NUL-terminated and padded to a multiple of
 * four), ALL_TG_PT with relative port 0, the unit attention's port.
 */
static void test_dump_rows(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    g_autoptr(PrState) empty = pr_state_new();
    g_autoptr(PrState) s = sample_state();
    StoreFilter only_fcp = {.initiator = "fcp,*"};
    g_autoptr(StoreDump) dump = NULL;
    g_autoptr(StoreDump) filtered = NULL;
    static const uint8_t tid_a[] = {
        0x05, 0x00, 0x00, 0x14, 'i', 'q', 'n', '.', '2', '0', '2', '6',
        '-',  '1',  '1',  '.',  't', 'e', 's', 't', ':', 'a', 0,   0,
    };
    const StoreLuDump *lu;
    const StoreRegDump *reg;
    const StoreUaDump *ua;
    gsize len = 0;
    const void *bytes;

    save(store, 0, empty, s);
    dump = store_dump(store, &(StoreFilter){0},
                      g_get_monotonic_time() + 1000000, NULL);
    filtered =
        store_dump(store, &only_fcp, g_get_monotonic_time() + 1000000, NULL);
    store_close(store);
    assert_non_null(dump);
    assert_int_equal(dump->lus->len, 1);
    lu = g_ptr_array_index(dump->lus, 0);
    assert_string_equal(lu->name, "naa.600140512345678");
    assert_string_equal(lu->id_source, "sysfs-wwid");
    assert_int_equal(lu->generation, 0xfffffffeu);
    assert_true(lu->aptpl);
    assert_int_equal(lu->res_type, PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(lu->seen->len, 1);
    assert_string_equal(g_array_index(lu->seen, StoreSeen, 0).path, "/dev/sdb");
    assert_int_equal(lu->regs->len, 3);
    reg = &g_array_index(lu->regs, StoreRegDump, 0);
    assert_true(reg->key == 0xffffffffffffffffULL);
    assert_string_equal(reg->initiator, "iqn.2026-11.test:a");
    assert_true(reg->holder);
    bytes = g_bytes_get_data(reg->transport_id, &len);
    assert_int_equal(len, sizeof(tid_a));
    assert_memory_equal(bytes, tid_a, sizeof(tid_a));
    reg = &g_array_index(lu->regs, StoreRegDump, 1);
    assert_true(reg->all_tg_pt);
    assert_int_equal(reg->rtpi, 0);
    assert_false(reg->holder);
    ua = &g_array_index(lu->uas, StoreUaDump, 0);
    assert_int_equal(ua->rtpi, 2);
    assert_int_equal(ua->asc, 0x2a);
    assert_int_equal(ua->ascq, 0x04);
    /* The reservation's holder is the LU's, even where the filter hides
     * its registration. */
    lu = g_ptr_array_index(filtered->lus, 0);
    assert_int_equal(lu->regs->len, 1);
    assert_int_equal(lu->holder->len, 1);
    assert_string_equal(g_array_index(lu->holder, StoreRegDump, 0).initiator,
                        "iqn.2026-11.test:a");
}

static void test_integrity_check(void **state)
{
    TestDb *f = *state;
    Store *store = open_ok(f->path);
    GError *error = NULL;

    assert_true(
        store_check_integrity(store, g_get_monotonic_time() + 1000000, &error));
    store_close(store);
}

int main(void)
{
#define T(f)                                                                   \
    cmocka_unit_test_setup_teardown(f, testutil_db_setup, testutil_db_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create),
        T(test_missing_directory),
        T(test_not_sqlite),
        T(test_foreign_database),
        T(test_newer_schema),
        T(test_wal_refused),
        T(test_no_create),
        T(test_round_trip),
        T(test_save_difference),
        T(test_corrupt_state),
        T(test_bounded_lock_wait),
        T(test_commit_busy_writes_nothing),
        T(test_rollback),
        T(test_open_waits_for_lock),
        T(test_open_until_deadline),
        T(test_two_stores_one_thread),
        T(test_turn_is_per_group),
        T(test_nested_turn_asserts),
        T(test_turn_wait_bounded),
        T(test_group_follows_replaced_file),
        T(test_stale_location),
        T(test_vm_initiator_names),
        T(test_vm_registry_pruned),
        T(test_vm_last_seen_refreshed),
        T(test_history_in_the_transaction),
        T(test_history_retention),
        T(test_places_seen),
        T(test_place_seen_again),
        T(test_migration_to_history),
        T(test_dump_filters),
        T(test_dump_rows),
        T(test_integrity_check),
    };
#undef T

    return TESTUTIL_RUN("store", tests, NULL, NULL);
}
