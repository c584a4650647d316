/*
 * test_pg_daemon: softprd and softpr on a PostgreSQL database, chosen
 * with --db <connection string>: the daemon serves and keeps state
 * across its restarts and the server's, never shows the password (log,
 * ps), two daemons serve other LUs while one LU is locked, and
 * `softpr dump` reads what it wrote.  One throwaway server for
 * the program (tests/support/pgserver.c); skipped without PostgreSQL.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gio/gio.h>

#include "daemon.h"
#include "pgserver.h"
#include "tool.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"
#include "store.h"

#define PASSWORD "s3cret-pw"

static PgServer *server;

typedef struct Fixture {
    char *dir;
    char *conninfo; /* a fresh database, with a password (trust ignores it) */
} Fixture;

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
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    if (server != NULL) {
        g_autofree char *db = pgserver_new_database(server);
        f->conninfo = g_strdup_printf("%s password=" PASSWORD, db);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->conninfo);
    g_free(f);
    return 0;
}

static Fixture *fixture(void **state)
{
    if (server == NULL) {
        print_message("%s\n", PGSERVER_SKIP_MESSAGE);
        skip();
    }
    return *state;
}

static TestDaemon *start_pg(Fixture *f)
{
    const char *const extra[] = {"--db", f->conninfo, NULL};

    return testd_start(f->dir, "prh", NULL, extra);
}

/* What ps shows of @pid's arguments: the connection string, without
 * its password. */
static void assert_cmdline_hides_password(pid_t pid)
{
    g_autofree char *proc = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;

    assert_true(g_file_get_contents(proc, &cmdline, &len, NULL));
    for (gsize i = 0; i + 1 < len; i++) {
        cmdline[i] = cmdline[i] == '\0' ? ' ' : cmdline[i];
    }
    assert_null(g_strstr_len(cmdline, (gssize)len, PASSWORD));
    assert_non_null(g_strstr_len(cmdline, (gssize)len, "dbname="));
}

/* The daemon serves from PostgreSQL, says so on its ready line, and the
 * reservation outlives a daemon restart; the password is in neither its
 * output nor its command line as ps reads it. */
static void test_pg_daemon_serves(void **state)
{
    Fixture *f = fixture(state);
    TestDaemon *d = start_pg(f);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);

    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0xabc, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prout(c, disk, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, 0xabc, 0, 0,
                &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);

    /* Under valgrind, /proc shows valgrind's own copy of the arguments,
     * which the daemon cannot reach: checked without it. */
    if (g_getenv("SOFTPR_VALGRIND") == NULL) {
        assert_cmdline_hides_password(d->pid);
    }
    testd_stop(d);
    g_autofree char *out = testd_output(d);
    testd_free(d);
    assert_non_null(strstr(out, "database PostgreSQL "));
    assert_null(strstr(out, PASSWORD));

    d = start_pg(f);
    c = testd_connect(d);
    testd_prin(c, disk, PR_IN_READ_RESERVATION, 8192, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), 1);
    assert_true(get_be64(reply.data + 8) == 0xabc);
    assert_int_equal(reply.data[21], PR_TYPE_EXCLUSIVE_ACCESS);
    client_close(c);
    testd_free(d);
    close(disk);
}

/* The server restarts under a running daemon: commands meanwhile are
 * answered BUSY (never hang, never fail otherwise), then GOOD again,
 * and every GOOD one is in the database. */
static void test_pg_daemon_server_restart(void **state)
{
    Fixture *f = fixture(state);
    TestDaemon *d = start_pg(f);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);
    uint64_t key = 1;

    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, key, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_true(pgserver_stop(server));
    testd_prout(c, disk, PR_OUT_REGISTER, 0, key, key + 1, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_BUSY);
    assert_true(pgserver_resume(server));
    gint64 until = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;
    do {
        testd_prout(c, disk, PR_OUT_REGISTER, 0, key, key + 1, 0, &reply);
        if (reply.status != SCSI_STATUS_BUSY) {
            break;
        }
        g_usleep(50 * 1000);
    } while (g_get_monotonic_time() < until);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prin(c, disk, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_true(get_be64(reply.data + 8) == key + 1);
    client_close(c);
    testd_free(d);
    close(disk);
}

/* A disk file named @lu for every daemon (its user.softpr.lu). */
static int named_disk(Fixture *f, const char *file, const char *lu)
{
    int fd = testd_disk(f->dir, file, O_RDWR);

    if (fsetxattr(fd, "user.softpr.lu", lu, strlen(lu), 0) != 0) {
        fail_msg("setting user.softpr.lu on %s: %s", file, g_strerror(errno));
    }
    return fd;
}

/*
 * Two daemons, two LUs (issue 13 item 3): while a transaction holds LU
 * x's lock, both daemons keep serving LU y (a command that waited for
 * x's lock would end BUSY, not GOOD), and a command for x from either
 * is answered BUSY once lock-timeout passes, with nothing written
 * (SPC-4 5.12.1: a command that does not complete changes nothing: its
 * key is not registered and PRgeneration stays).  Once the lock goes,
 * x is served again.
 */
static void test_pg_two_daemons_other_lu_not_held(void **state)
{
    Fixture *f = fixture(state);
    const char *const extra[] = {"--db", f->conninfo, NULL};
    const char *config = "[database]\nlock-timeout = 1\n";
    TestDaemon *a = testd_start(f->dir, "a", config, extra);
    TestDaemon *b = testd_start(f->dir, "b", config, extra);
    int x = named_disk(f, "x.img", "lu-x");
    int y = named_disk(f, "y.img", "lu-y");
    PrClient *ca = testd_connect(a);
    PrClient *cb = testd_connect(b);
    ClientReply reply;

    assert_int_equal(testd_prout(ca, x, PR_OUT_REGISTER, 0, 0, 0x1, 0, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(testd_prout(cb, y, PR_OUT_REGISTER, 0, 0, 0x2, 0, &reply),
                     SCSI_STATUS_GOOD);

    /* Hold x's lock as a daemon's command does: a write transaction
     * that has loaded the LU. */
    StoreOptions o = {.path = f->conninfo, .lock_timeout_ms = 10000,
                      .host_id = "holder"};
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) holder = store_open(&o, &error);
    g_autoptr(PrState) held = pr_state_new();
    StoreLuInfo info = {.name = "lu-x"};
    gint64 lu_id = 0;
    bool stale = false;
    assert_non_null(holder);
    assert_true(store_begin(holder, true,
                            g_get_monotonic_time() + 60 * G_USEC_PER_SEC,
                            &error));
    assert_true(store_load_state(holder, &info, held, &lu_id, &stale, &error));
    assert_int_equal(held->generation, 1);

    for (int i = 0; i < 3; i++) {
        uint8_t ay = testd_prout(ca, y, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 0x10 + (uint64_t)i, 0, &reply);
        uint8_t by = testd_prout(cb, y, PR_OUT_REGISTER_IGNORE, 0, 0,
                                 0x20 + (uint64_t)i, 0, &reply);

        assert_int_equal(ay, SCSI_STATUS_GOOD);
        assert_int_equal(by, SCSI_STATUS_GOOD);
    }
    assert_int_equal(testd_prout(ca, x, PR_OUT_REGISTER, 0, 0x1, 0x5, 0, &reply),
                     SCSI_STATUS_BUSY);
    assert_int_equal(
        testd_prout(cb, x, PR_OUT_REGISTER_IGNORE, 0, 0, 0x6, 0, &reply),
        SCSI_STATUS_BUSY);
    store_rollback(holder);

    /* Nothing of the two BUSY commands was written: PRgeneration 1 and
     * the first key. */
    assert_int_equal(testd_prin(cb, x, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), 1);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_true(get_be64(reply.data + 8) == 0x1);
    /* y: PRgeneration 1 + 3 + 3: the two daemons' commands (SPC-4
     * 6.14.2: one per REGISTER AND IGNORE EXISTING KEY). */
    assert_int_equal(testd_prin(ca, y, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), 7);
    /* And x is served again. */
    assert_int_equal(testd_prout(ca, x, PR_OUT_REGISTER, 0, 0x1, 0x5, 0, &reply),
                     SCSI_STATUS_GOOD);

    client_close(ca);
    client_close(cb);
    testd_free(a);
    testd_free(b);
    close(x);
    close(y);
}

/*
 * docs/deployment.md's least privilege: an owner role creates the
 * schema once; the daemon then runs as a role holding only the GRANTs
 * the document lists, and serves, keeps state across its restart, and
 * `softpr dump` reads the database as that role.  A role without the
 * GRANTs is refused with one line naming the database.
 */
static void test_pg_least_privilege_role(void **state)
{
    Fixture *f = fixture(state);
    const char *admin = pgserver_conninfo(server);
    g_autofree char *suffix = g_strdup_printf("%u", (unsigned)getpid());
    g_autofree char *owner = g_strconcat("softpr_owner_", suffix, NULL);
    g_autofree char *daemon_role = g_strconcat("softprd_", suffix, NULL);
    g_autofree char *other = g_strconcat("nogrant_", suffix, NULL);
    g_autofree char *db = g_strconcat("lp_", suffix, NULL);
    g_autofree char *roles = g_strdup_printf(
        "CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN; CREATE ROLE %s LOGIN",
        owner, daemon_role, other);
    g_autofree char *create = g_strdup_printf(
        "CREATE DATABASE %s OWNER %s", db, owner);
    const char *socket_dir = pgserver_socket_dir(server);
    g_autofree char *as_owner = g_strdup_printf(
        "host=%s dbname=%s user=%s", socket_dir, db, owner);
    g_autofree char *as_daemon = g_strdup_printf(
        "host=%s dbname=%s user=%s", socket_dir, db, daemon_role);
    g_autofree char *as_other = g_strdup_printf(
        "host=%s dbname=%s user=%s", socket_dir, db, other);

    g_free(pgserver_sql_value(admin, roles));
    g_free(pgserver_sql_value(admin, create));
    /* The owner creates the schema (a daemon's first start). */
    const char *const first[] = {"--db", as_owner, NULL};
    testd_free(testd_start(f->dir, "owner", NULL, first));
    /* The GRANTs of docs/deployment.md, as the owner gives them. */
    g_autofree char *grants = g_strdup_printf(
        "GRANT CONNECT ON DATABASE %s TO %s; "
        "GRANT USAGE ON SCHEMA public TO %s; "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
        "TO %s; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO %s",
        db, daemon_role, daemon_role, daemon_role, daemon_role);
    g_free(pgserver_sql_value(as_owner, grants));

    const char *const extra[] = {"--db", as_daemon, NULL};
    TestDaemon *d = testd_start(f->dir, "prh", NULL, extra);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);

    assert_int_equal(testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x77, 0,
                                 &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(testd_prout(c, disk, PR_OUT_RESERVE,
                                 PR_TYPE_WRITE_EXCLUSIVE, 0x77, 0, 0, &reply),
                     SCSI_STATUS_GOOD);
    client_close(c);
    testd_free(d);
    d = testd_start(f->dir, "prh", NULL, extra);
    c = testd_connect(d);
    assert_int_equal(testd_prin(c, disk, PR_IN_READ_RESERVATION, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_true(get_be64(reply.data + 8) == 0x77);
    client_close(c);
    testd_free(d);
    close(disk);

    const char *const dump[] = {"dump", "--db", as_daemon, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    if (testtool_run(dump, NULL, NULL, &out, &err) != 0) {
        fail_msg("softpr dump as %s: %s", daemon_role, err);
    }
    assert_non_null(strstr(out, "0x77"));

    /* No GRANT: refused in one line, naming the database. */
    const char *const refused[] = {"dump", "--db", as_other, NULL};
    g_autofree char *out2 = NULL;
    g_autofree char *err2 = NULL;
    assert_int_not_equal(testtool_run(refused, NULL, NULL, &out2, &err2), 0);
    print_message("without GRANTs: %s", err2);
    assert_non_null(strstr(err2, db));
    assert_int_equal(strchr(err2, '\n') - err2, (long)strlen(err2) - 1);
}

/*
 * A connection string libpq cannot parse is a broken configuration, not
 * a server that may come back: softprd and softpr exit non-zero at once
 * with one line, which shows no piece of the password (libpq's own
 * reason would quote "cret" here).
 */
static void test_pg_bad_conninfo_refused(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *sock = g_build_filename(f->dir, "bad.sock", NULL);
    const char *bad = "host=/nonexistent dbname=x password=se cret";
    const char *const args[] = {"--db", bad, "-k", sock, NULL};
    g_autofree char *out = NULL;
    int status = testd_run(f->dir, args, &out);

    assert_int_not_equal(status, 0);
    assert_non_null(strstr(out, "invalid PostgreSQL connection string"));
    assert_null(strstr(out, "cret"));
    assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
    assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));

    const char *const dump[] = {"dump", "--db", bad, NULL};
    g_autofree char *tool_out = NULL;
    g_autofree char *tool_err = NULL;
    assert_int_not_equal(testtool_run(dump, NULL, NULL, &tool_out, &tool_err),
                         0);
    assert_non_null(strstr(tool_err, "invalid PostgreSQL connection string"));
    assert_null(strstr(tool_err, "cret"));
}

/* softpr reads the daemon's PostgreSQL database with the same --db:
 * the key it registered, and no password in its output. */
static void test_pg_tool_dump(void **state)
{
    Fixture *f = fixture(state);
    TestDaemon *d = start_pg(f);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);

    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0xfeed, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);
    testd_free(d);
    close(disk);

    const char *const args[] = {"dump", "--db", f->conninfo, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = testtool_run(args, NULL, NULL, &out, &err);
    if (status != 0) {
        fail_msg("softpr dump: %d: %s", status, err);
    }
    assert_non_null(strstr(out, "feed"));
    assert_null(strstr(out, PASSWORD));
    assert_null(strstr(err, PASSWORD));
}

/* The same commands through a daemon on each backend: `softpr dump`
 * prints the same report from both, but for the database's name and
 * the times (normalized here). */
static char *dump_after_commands(Fixture *f, const char *db)
{
    const char *const extra[] = {"--db", db, NULL};
    TestDaemon *d = testd_start(f->dir, "prh", NULL, extra);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);

    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0xaa, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prout(c, disk, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, 0xaa, 0, 0,
                &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);
    testd_free(d);
    close(disk);

    const char *const args[] = {"dump", "--db", db, NULL};
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    if (testtool_run(args, NULL, NULL, &out, &err) != 0) {
        fail_msg("softpr dump --db %s: %s", db, err);
    }
    g_autoptr(GRegex) times =
        g_regex_new("[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:]{8}[^ \\n]*", 0, 0,
                    NULL);
    const char *body = strchr(out, '\n');
    return g_regex_replace_literal(times, body ? body : out, -1, 0, "TIME",
                                   0, NULL);
}

static void test_pg_dump_same_as_sqlite(void **state)
{
    Fixture *f = fixture(state);
    g_autofree char *sqlite_db = g_build_filename(f->dir, "pr.db", NULL);
    g_autofree char *from_sqlite = dump_after_commands(f, sqlite_db);
    g_autofree char *from_pg = dump_after_commands(f, f->conninfo);

    assert_non_null(strstr(from_pg, "aa"));
    assert_string_equal(from_pg, from_sqlite);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_daemon_serves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_daemon_server_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_two_daemons_other_lu_not_held,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_least_privilege_role, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_bad_conninfo_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_tool_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_dump_same_as_sqlite, setup,
                                        teardown),
    };

    return TESTUTIL_RUN("pg_daemon", tests, group_setup, group_teardown);
}
