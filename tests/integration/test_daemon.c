/*
 * test_daemon: softprd as an operator and libvirt see it: the command
 * line (qemu-pr-helper's options and messages), configuration errors,
 * the pid file, daemonizing, signals, socket activation, readiness
 * notification, privileges, persistence across restarts, bounded lock
 * waits, and two daemons sharing one database.  The tests of PR
 * behaviour run on both store backends (sqlite and PostgreSQL, chosen
 * with --db); those about the sqlite file and the process run on sqlite.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "daemon.h"

#include "bytes.h"
#include "engine.h"
#include "scsi.h"
#include "server.h"

/* A test's scratch directory and database (testutil_run_per_backend). */
typedef TestStore Fixture;

/*
 * testd_start() on the test's database (--db: the sqlite file in the
 * scratch directory, or the PostgreSQL database), with the
 * NULL-terminated @extra arguments after it.
 */
static TestDaemon *start_on(Fixture *f, const char *name,
                            const char *config_text, const char *const *extra)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    TestDaemon *d;

    g_ptr_array_add(args, (gpointer) "--db");
    g_ptr_array_add(args, f->db);
    for (; extra != NULL && *extra != NULL; extra++) {
        g_ptr_array_add(args, (gpointer)*extra);
    }
    g_ptr_array_add(args, NULL);
    d = testd_start(f->dir, name, config_text,
                    (const char *const *)args->pdata);
    /* The ready line names the backend: this run is on the one meant. */
    assert_true(testd_wait_output(d,
                                  testutil_store_is_pg(f)
                                      ? "; database PostgreSQL "
                                      : "; database /",
                                  10000));
    return d;
}

static char *path_in(Fixture *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

static void stop_ok(TestDaemon *d)
{
    int code = testd_stop(d);

    if (code != 0) {
        g_autofree char *out = testd_output(d);

        fail_msg("softprd exited %d:\n%s", code, out);
    }
}

/* Send a request through @c without waiting for the reply. */
static void send_request(PrClient *c, const uint8_t *cdb, int disk,
                         const uint8_t *param, size_t len)
{
    g_autoptr(GError) error = NULL;

    if (!client_send(c, cdb, disk, param, len, &error)) {
        fail_msg("send: %s", error->message);
    }
}

/* Read the reply to a request sent with send_request(); its status. */
static uint8_t read_status(PrClient *c, const uint8_t *cdb)
{
    g_autoptr(GError) error = NULL;
    ClientReply reply;

    if (!client_receive(c, cdb, &reply, &error)) {
        fail_msg("receive: %s", error->message);
    }
    return reply.status;
}

/* Run softprd with @args; expect exit 1 and one line containing @text. */
static void expect_failure(Fixture *f, const char *const *args,
                           const char *text)
{
    g_autofree char *out = NULL;
    int code = testd_run(f->dir, args, &out);
    const char *nl;

    if (code != 1 || strstr(out, text) == NULL) {
        fail_msg("expected exit 1 with '%s', got %d:\n%s", text, code, out);
    }
    /* The error itself is one line starting "softprd: ". */
    nl = strstr(out, "softprd: ");
    assert_non_null(nl);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

/* -V prints the version, -h the options; both exit 0. */
static void test_version_and_help(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *out = NULL;
    static const char *const version[] = {"-V", NULL};
    static const char *const help[] = {"-h", NULL};

    assert_int_equal(testd_run(f->dir, version, &out), 0);
    assert_true(g_str_has_prefix(out, "softprd " SOFTPR_VERSION));
    g_free(out);
    assert_int_equal(testd_run(f->dir, help, &out), 0);
    assert_non_null(strstr(out, "--socket"));
    assert_non_null(strstr(out, "--pidfile"));
    assert_non_null(strstr(out, "--daemon"));
    assert_non_null(strstr(out, "--db"));
}

/* qemu-pr-helper's usage errors, with its messages. */
static void test_usage_errors(void **state)
{
    Fixture *f = testutil_store(state);
    static const char *const relative[] = {"-k", "relative.sock", NULL};
    static const char *const unknown[] = {"--frobnicate", NULL};
    static const char *const extra[] = {"disk.img", NULL};
    g_autofree char *out = NULL;

    expect_failure(f, relative, "socket path must be absolute");
    expect_failure(f, unknown, "Try 'softprd --help'");
    expect_failure(f, extra, "unexpected argument 'disk.img'");
}

/* A broken configuration: one line naming file and key, exit 1. */
static void test_config_errors(void **state)
{
    Fixture *f = testutil_store(state);
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"[daemon]\nsokcet = /x\n", "unknown key 'sokcet'"},
        {"[deamon]\n", "unknown group [deamon]"},
        {"[database]\njournal-mode = memory\n", "journal-mode"},
        {"[database]\nlock-timeout = 60\n", "lock-timeout"},
        {"[daemon]\nworkers = many\n", "workers"},
        {"[scsi]\nunit-attentions = sometimes\n", "unit-attentions"},
        {"[daemon]\nidentity = not a name\n", "identity"},
        {"[daemon]\nrelative-target-port = 0\n", "relative-target-port"},
        {"not a key file", "softprd.conf"},
    };
    g_autofree char *conf = path_in(f, "softprd.conf");
    g_autofree char *sock = path_in(f, "s.sock");
    g_autofree char *db = path_in(f, "pr.db");
    const char *args[] = {"-c", conf, "-k", sock, "--db", db, NULL};
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        assert_true(g_file_set_contents(conf, cases[i].text, -1, NULL));
        expect_failure(f, args, cases[i].expect);
    }
    {
        g_autofree char *missing = path_in(f, "missing.conf");
        const char *margs[] = {"-c", missing, "-k", sock, NULL};

        expect_failure(f, margs, "missing.conf");
    }
}

/* Databases that cannot be used: one line, exit 1. */
static void test_database_errors(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *sock = path_in(f, "s.sock");
    g_autofree char *nodir = path_in(f, "nowhere/pr.db");
    g_autofree char *foreign = path_in(f, "foreign.db");
    g_autofree char *wal = path_in(f, "wal.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    sqlite3 *db = NULL;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    {
        const char *args[] = {"-c", conf, "-k", sock, "--db", nodir, NULL};

        expect_failure(f, args, "does not exist");
        /* The socket bound before the database check is gone again. */
        assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
    }
    assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    {
        const char *args[] = {"-c", conf, "-k", sock, "--db", foreign, NULL};

        expect_failure(f, args, "not a softpr database");
    }
    assert_int_equal(sqlite3_open(wal, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    {
        const char *args[] = {"-c", conf, "-k", sock, "--db", wal, NULL};

        expect_failure(f, args, "WAL");
    }
}

/* -T is accepted (with a warning) as qemu-pr-helper accepts it. */
static void test_trace_accepted(void **state)
{
    Fixture *f = testutil_store(state);
    static const char *const extra[] = {"-T", "pr_*", NULL};
    TestDaemon *d = testd_start(f->dir, "prh", NULL, extra);

    assert_true(testd_wait_output(d, "no trace points", 30000));
    stop_ok(d);
    testd_free(d);
}

/* ------------------------------------------------------------------ */
/* Signals, persistence, pid file, daemon mode                         */
/* ------------------------------------------------------------------ */

/* SIGTERM, SIGINT and SIGHUP: exit 0 with the socket file removed. */
static void test_signals_stop_cleanly(void **state)
{
    Fixture *f = testutil_store(state);
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(sigs); i++) {
        TestDaemon *d = testd_start(f->dir, "prh", NULL, NULL);

        assert_true(g_file_test(d->socket, G_FILE_TEST_EXISTS));
        assert_int_equal(testd_stop_signal(d, sigs[i]), 0);
        assert_false(g_file_test(d->socket, G_FILE_TEST_EXISTS));
        testd_free(d);
    }
}

/* A daemon restart is not a power loss: everything is still there. */
static void test_restart_keeps_state(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *d = start_on(f, "prh", NULL, NULL);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    ClientReply reply;
    PrClient *c = testd_connect(d);

    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0xabc, PROUT_APTPL, &reply);
    testd_prout(c, disk, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, 0xabc, 0, 0,
                &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    client_close(c);
    stop_ok(d);
    testd_free(d);

    d = start_on(f, "prh", NULL, NULL);
    c = testd_connect(d);
    testd_prin(c, disk, PR_IN_READ_RESERVATION, 8192, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), 1);
    assert_true(get_be64(reply.data + 8) == 0xabc);
    assert_int_equal(reply.data[21], PR_TYPE_EXCLUSIVE_ACCESS);
    testd_prin(c, disk, PR_IN_REPORT_CAPABILITIES, 8, &reply);
    assert_int_equal(reply.data[3] & 1, 1); /* PTPL_A */
    client_close(c);
    stop_ok(d);
    testd_free(d);
    close(disk);
}

/* -f: pid file with our pid, mode 0600, locked against a second daemon. */
static void test_pidfile(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *pidfile = path_in(f, "softprd.pid");
    g_autofree char *text = NULL;
    g_autofree char *sock2 = path_in(f, "other.sock");
    const char *extra[] = {"-f", pidfile, NULL};
    TestDaemon *d = testd_start(f->dir, "prh", NULL, extra);
    struct stat st;

    assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    assert_int_equal(atoi(text), d->pid);
    assert_int_equal(stat(pidfile, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    {
        g_autofree char *conf = path_in(f, "empty.conf");
        const char *args[] = {"-c",  conf, "-k",    sock2, "--db",
                              d->db, "-f", pidfile, NULL};

        assert_true(g_file_set_contents(conf, "", -1, NULL));
        expect_failure(f, args, "Cannot lock pid file");
    }
    stop_ok(d);
    testd_free(d);
}

static bool process_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno != ESRCH;
}

/* -d: the parent returns 0 once the daemon serves; the pid file names
 * the daemon; SIGTERM stops it and removes the socket. */
static void test_daemonize(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *pidfile = path_in(f, "d.pid");
    g_autofree char *sock = path_in(f, "d.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    const char *args[] = {"-d", "-f", pidfile, "-c", conf,
                          "-k", sock, "--db",  db,   NULL};
    PrClient *c;
    pid_t pid;
    int status = -1;
    int i;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    /* The daemon, orphaned by its parent, becomes this process's child,
     * so that its exit status (valgrind's, the sanitizers') is seen. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    assert_int_equal(testd_run(f->dir, args, &out), 0);
    /* The socket answers as soon as the parent has returned. */
    c = client_connect(sock, 0, 30000, NULL);
    assert_non_null(c);
    client_close(c);
    assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    pid = atoi(text);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGTERM), 0);
    for (i = 0; i < 6000 && waitpid(pid, &status, WNOHANG) == 0; i++) {
        g_usleep(10000);
    }
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    assert_false(process_alive(pid));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("the daemon ended with wait status 0x%x", status);
    }
    assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
}

/* -d with an unusable database: the parent reports it and exits 1. */
static void test_daemonize_failure_reported(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *pidfile = path_in(f, "d.pid");
    g_autofree char *sock = path_in(f, "d.sock");
    g_autofree char *db = path_in(f, "missing/pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    const char *args[] = {"-d", "-f", pidfile, "-c", conf,
                          "-k", sock, "--db",  db,   NULL};

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    expect_failure(f, args, "does not exist");
}

/*
 * SIGTERM while a command waits for the database lock: the listener goes
 * at once, the command still finishes and is answered, then exit 0.
 */
static void test_stop_finishes_in_flight(void **state)
{
    Fixture *f = testutil_store(state);
    static const char *const extra[] = {"-v", "-v", NULL};
    TestDaemon *d =
        start_on(f, "prh", "[database]\nlock-timeout = 25\n", extra);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    PrClient *c = testd_connect(d);
    TestDbLock *other = testutil_db_lock_writes(f);
    uint8_t cdb[CDB_LEN];
    uint8_t param[24];

    cdb_prout_basic(param, 0, 0x77, 0, NULL, 0);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
    /* The reply comes only after the lock is released. */
    send_request(c, cdb, disk, param, 24);
    assert_true(testd_wait_output(d, "REGISTER received", 30000));
    kill(d->pid, SIGTERM);
    /* The socket file goes while the command is still in flight. */
    {
        int i;

        for (i = 0; i < 3000 && g_file_test(d->socket, G_FILE_TEST_EXISTS);
             i++) {
            g_usleep(10000);
        }
    }
    assert_false(g_file_test(d->socket, G_FILE_TEST_EXISTS));
    assert_int_equal(testd_wait_exit(d, 0), -1);
    testutil_db_unlock(other);
    assert_int_equal(read_status(c, cdb), SCSI_STATUS_GOOD);
    assert_int_equal(testd_wait_exit(d, 60000), 0);
    client_close(c);
    testd_free(d);
    close(disk);
}

/* Wait until the peer has read everything sent on @sock; false when it
 * has not within 60 s. */
static bool wait_read_by_peer(int sock)
{
    gint64 end = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
    int unread = -1;

    while (ioctl(sock, SIOCOUTQ, &unread) == 0 && unread > 0 &&
           g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    return unread == 0;
}

/*
 * A stop closes idle connections at once and the daemon exits 0: ones
 * that answered commands and wait for the next (the worker threads have
 * them), one that never sent a command, and one in the middle of a
 * frame (the main thread has it).
 */
static void test_stop_closes_idle_connections(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *d = testd_start(f->dir, "prh", NULL, NULL);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    PrClient *clients[5];
    uint8_t cdb[CDB_LEN];
    uint8_t buf[16];
    ClientReply reply;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(clients); i++) {
        clients[i] = testd_connect(d);
        if (i < 3) {
            assert_int_equal(
                testd_prin(clients[i], disk, PR_IN_READ_KEYS, 8, &reply),
                SCSI_STATUS_GOOD);
        }
    }
    /* The last one sends 5 bytes of a CDB and no more; the stop comes
     * once the daemon has read them (none left unread in the socket:
     * SIOCOUTQ), so that it is in the middle of a frame. */
    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    assert_int_equal(send(client_socket(clients[4]), cdb, 5, MSG_NOSIGNAL), 5);
    assert_true(wait_read_by_peer(client_socket(clients[4])));
    assert_int_equal(testd_stop_signal(d, SIGTERM), 0);
    for (i = 0; i < G_N_ELEMENTS(clients); i++) {
        struct timeval tv = {30, 0};
        int sock = client_socket(clients[i]);

        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(recv(sock, buf, sizeof(buf), 0), 0);
        client_close(clients[i]);
    }
    testd_free(d);
    close(disk);
}

/*
 * Another process holds the database's write lock past the bound: PR OUT
 * answers BUSY (retryable, nothing written) while PR IN still reads;
 * once the lock is released the same PR OUT succeeds.
 */
static void test_busy_when_locked(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *d =
        start_on(f, "prh", "[database]\nlock-timeout = 0.2\n", NULL);
    int disk = testd_disk(f->dir, "disk.img", O_RDWR);
    PrClient *c = testd_connect(d);
    TestDbLock *other = testutil_db_lock_writes(f);
    ClientReply reply;

    assert_int_equal(
        testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x99, 0, &reply),
        SCSI_STATUS_BUSY);
    assert_int_equal(reply.sense[0], 0);
    assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 8, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 0);
    assert_true(testd_wait_output(d, "answering BUSY", 30000));
    testutil_db_unlock(other);
    /* Once the lock is free, a retry gets through, as a guest's does;
     * within 0.2 s each try may still meet BUSY on a slow machine (seen
     * under valgrind on PostgreSQL), so retry for a bounded time. */
    for (int tries = 0; tries < 100; tries++) {
        if (testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x99, 0,
                        &reply) != SCSI_STATUS_BUSY) {
            break;
        }
        g_usleep(100 * 1000);
    }
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prin(c, disk, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_equal(get_be32(reply.data + 4), 8);
    client_close(c);
    stop_ok(d);
    testd_free(d);
    close(disk);
}

/* ------------------------------------------------------------------ */
/* systemd                                                             */
/* ------------------------------------------------------------------ */

/* Run softprd with listening socket @lfd as fd 3 and LISTEN_FDS=@n. */
static pid_t spawn_activated(Fixture *f, int lfd, int n, bool with_k,
                             const char *log)
{
    g_autofree char *bin = testd_binary();
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    g_autofree char *sock = path_in(f, "k.sock");
    pid_t pid;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    pid = fork();
    if (pid == 0) {
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char pidbuf[32];
        char nbuf[32];
        GPtrArray *args = g_ptr_array_new();

        testutil_die_with_parent();
        dup2(out, 1);
        dup2(out, 2);
        if (lfd == 3) {
            fcntl(3, F_SETFD, 0);
        } else if (lfd >= 0) {
            dup2(lfd, 3);
        } else {
            close(3);
        }
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
        snprintf(nbuf, sizeof(nbuf), "%d", n);
        setenv("LISTEN_PID", pidbuf, 1);
        setenv("LISTEN_FDS", nbuf, 1);
        testutil_add_wrapper(args);
        g_ptr_array_add(args, bin);
        g_ptr_array_add(args, (char *)"-c");
        g_ptr_array_add(args, conf);
        g_ptr_array_add(args, (char *)"--db");
        g_ptr_array_add(args, db);
        if (with_k) {
            g_ptr_array_add(args, (char *)"-k");
            g_ptr_array_add(args, sock);
        }
        g_ptr_array_add(args, NULL);
        execvp(((char **)args->pdata)[0], (char **)args->pdata);
        _exit(127);
    }
    return pid;
}

static int wait_code(pid_t pid)
{
    int status = 0;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* LISTEN_FDS=1 on fd 3 serves that socket; -k with activation, more
 * than one descriptor, or a bad descriptor are refused as qemu-pr-helper
 * refuses them. */
static void test_socket_activation(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *sock = path_in(f, "activated.sock");
    g_autofree char *log = path_in(f, "activated.log");
    g_autofree char *out = NULL;
    int lfd = server_bind(sock, NULL);
    pid_t pid;
    PrClient *c = NULL;
    int i;

    assert_true(lfd >= 0);
    pid = spawn_activated(f, lfd, 1, false, log);
    for (i = 0; i < 6000 && c == NULL; i++) {
        int status;

        c = client_connect(sock, 0, 30000, NULL);
        if (c == NULL) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                g_autofree char *text = NULL;

                g_file_get_contents(log, &text, NULL, NULL);
                fail_msg("activated softprd exited:\n%s", text);
            }
            g_usleep(10000);
        }
    }
    assert_non_null(c);
    {
        int disk = testd_disk(f->dir, "disk.img", O_RDWR);
        ClientReply reply;

        assert_int_equal(testd_prin(c, disk, PR_IN_READ_KEYS, 8, &reply),
                         SCSI_STATUS_GOOD);
        close(disk);
    }
    client_close(c);
    kill(pid, SIGTERM);
    assert_int_equal(wait_code(pid), 0);

    pid = spawn_activated(f, lfd, 1, true, log);
    assert_int_equal(wait_code(pid), 1);
    assert_true(g_file_get_contents(log, &out, NULL, NULL));
    assert_non_null(
        strstr(out, "Unix socket can't be set when using socket activation"));
    g_free(out);

    pid = spawn_activated(f, lfd, 2, false, log);
    assert_int_equal(wait_code(pid), 1);
    assert_true(g_file_get_contents(log, &out, NULL, NULL));
    assert_non_null(strstr(out, "LISTEN_FDS > 1"));
    g_free(out);

    pid = spawn_activated(f, -1, 1, false, log);
    assert_int_equal(wait_code(pid), 1);
    assert_true(g_file_get_contents(log, &out, NULL, NULL));
    assert_non_null(strstr(out, "Socket activation failed: invalid file "
                                "descriptor fd = 3: Bad file descriptor"));
    close(lfd);
}

/* ------------------------------------------------------------------ */
/* Privileges                                                          */
/* ------------------------------------------------------------------ */

static char *status_line(pid_t pid, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint i;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] != NULL; i++) {
        if (g_str_has_prefix(lines[i], key)) {
            return g_strdup(g_strstrip(lines[i] + strlen(key)));
        }
    }
    return g_strdup("");
}

/* Asserts that /proc/PID/status says EXPECTED after KEY. */
static void assert_status_line(pid_t pid, const char *key, const char *expected)
{
    g_autofree char *value = status_line(pid, key);

    assert_string_equal(value, expected);
}

/* As root without -u: still uid 0, but no capability at all (emulation
 * needs none).  With -u nobody: that user, no capability. */
static void test_privileges(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *sub = path_in(f, "nobody");
    TestDaemon *d;
    char *uid;

    if (geteuid() != 0) {
        skip();
    }
    d = testd_start(f->dir, "root", NULL, NULL);
    assert_status_line(d->pid, "CapEff:", "0000000000000000");
    uid = status_line(d->pid, "Uid:");
    assert_true(g_str_has_prefix(uid, "0"));
    g_free(uid);
    stop_ok(d);
    testd_free(d);

    /* The database directory belongs to the user the daemon becomes. */
    assert_int_equal(chmod(f->dir, 0711), 0);
    assert_int_equal(g_mkdir(sub, 0755), 0);
    assert_int_equal(chown(sub, 65534, 65534), 0);
    {
        g_autofree char *db = path_in(f, "nobody/pr.db");
        const char *args[] = {"-u", "65534", "-g", "65534", "--db", db, NULL};

        d = testd_start(f->dir, "nobody", NULL, args);
    }
    assert_status_line(d->pid, "Uid:", "65534\t65534\t65534\t65534");
    assert_status_line(d->pid, "Gid:", "65534\t65534\t65534\t65534");
    assert_status_line(d->pid, "CapEff:", "0000000000000000");
    stop_ok(d);
    testd_free(d);

    /* Passthrough keeps CAP_SYS_RAWIO (bit 17), for SG_IO, and only it. */
    {
        static const char *const passthrough[] = {"--mode", "passthrough",
                                                  NULL};

        d = testd_start(f->dir, "raw", NULL, passthrough);
    }
    assert_status_line(d->pid, "CapEff:", "0000000000020000");
    assert_status_line(d->pid, "CapBnd:", "0000000000020000");
    stop_ok(d);
    testd_free(d);
}

/* ------------------------------------------------------------------ */
/* Logical units and several daemons                                   */
/* ------------------------------------------------------------------ */

/* Files are LUs by path; the user.softpr.lu attribute names the same LU
 * wherever the file is. */
static void test_lu_identity(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *d = start_on(f, "prh", NULL, NULL);
    int a = testd_disk(f->dir, "a.img", O_RDWR);
    int b = testd_disk(f->dir, "b.img", O_RDWR);
    PrClient *c = testd_connect(d);
    ClientReply reply;

    testd_prout(c, a, PR_OUT_REGISTER, 0, 0, 0xa, 0, &reply);
    testd_prin(c, b, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_equal(get_be32(reply.data + 4), 0);
    if (fsetxattr(a, "user.softpr.lu", "shared-lu", 9, 0) != 0) {
        client_close(c);
        stop_ok(d);
        testd_free(d);
        close(a);
        close(b);
        skip();
    }
    assert_int_equal(fsetxattr(b, "user.softpr.lu", "shared-lu", 9, 0), 0);
    testd_prout(c, a, PR_OUT_REGISTER, 0, 0, 0xb, 0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    testd_prin(c, b, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_true(get_be64(reply.data + 8) == 0xb);
    client_close(c);
    stop_ok(d);
    testd_free(d);
    close(a);
    close(b);
}

/*
 * Two daemons (two hosts' initiators) on one database: both see every
 * registration; concurrent RESERVEs leave exactly one holder; with
 * unit-attentions = report, a preempted nexus hears of it through its
 * own daemon.
 */
static void test_two_daemons_one_database(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *a = start_on(f, "a",
                                "[daemon]\nidentity = iqn.2026-11.test:a\n"
                                "[scsi]\nunit-attentions = report\n",
                                NULL);
    TestDaemon *b = start_on(f, "b",
                                "[daemon]\nidentity = iqn.2026-11.test:b\n"
                                "[scsi]\nunit-attentions = report\n",
                                NULL);
    int disk = testd_disk(f->dir, "shared.img", O_RDWR);
    PrClient *ca = testd_connect(a);
    PrClient *cb = testd_connect(b);
    ClientReply ra;
    ClientReply rb;
    uint8_t cdb[CDB_LEN];
    uint8_t pa[24];
    uint8_t pb[24];

    testd_prout(ca, disk, PR_OUT_REGISTER, 0, 0, 0xa, 0, &ra);
    testd_prout(cb, disk, PR_OUT_REGISTER, 0, 0, 0xb, 0, &rb);
    assert_int_equal(ra.status, SCSI_STATUS_GOOD);
    assert_int_equal(rb.status, SCSI_STATUS_GOOD);
    testd_prin(ca, disk, PR_IN_READ_KEYS, 8192, &ra);
    assert_int_equal(get_be32(ra.data + 4), 16);
    assert_int_equal(get_be32(ra.data), 2);

    /* Both RESERVE at once: send both, then read both answers. */
    cdb_pr_out(cdb, PR_OUT_RESERVE, 0, PR_TYPE_WRITE_EXCLUSIVE, 24);
    cdb_prout_basic(pa, 0xa, 0, 0, NULL, 0);
    cdb_prout_basic(pb, 0xb, 0, 0, NULL, 0);
    send_request(ca, cdb, disk, pa, 24);
    send_request(cb, cdb, disk, pb, 24);
    ra.status = read_status(ca, cdb);
    rb.status = read_status(cb, cdb);
    assert_true((ra.status == SCSI_STATUS_GOOD) !=
                (rb.status == SCSI_STATUS_GOOD));
    assert_true(ra.status == SCSI_STATUS_RESERVATION_CONFLICT ||
                rb.status == SCSI_STATUS_RESERVATION_CONFLICT);

    /* A preempts B; B's next command, through daemon b, reports it. */
    testd_prout(ca, disk, PR_OUT_PREEMPT_AND_ABORT, PR_TYPE_WRITE_EXCLUSIVE,
                0xa, 0xb, 0, &ra);
    assert_int_equal(ra.status, SCSI_STATUS_GOOD);
    testd_prin(cb, disk, PR_IN_READ_KEYS, 8192, &rb);
    assert_int_equal(rb.status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(rb.sense[2], SCSI_KEY_UNIT_ATTENTION);
    assert_int_equal(rb.sense[12], 0x2a);
    assert_int_equal(rb.sense[13], 0x05);
    testd_prin(cb, disk, PR_IN_READ_KEYS, 8192, &rb);
    assert_int_equal(rb.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(rb.data + 4), 8);

    client_close(ca);
    client_close(cb);
    stop_ok(a);
    stop_ok(b);
    testd_free(a);
    testd_free(b);
    close(disk);
}

/* The sense qemu-pr-helper answers when SG_IO fails with ENOTTY: ABORTED
 * COMMAND, I/O PROCESS TERMINATED, fixed format, zero-padded to 96. */
static void assert_io_process_terminated(const ClientReply *reply)
{
    uint8_t expect[WIRE_SENSE_LEN] = {0x70, 0, 0x0b, 0, 0, 0, 0,
                                      0x0a, 0, 0,    0, 0, 0, 0x06};

    assert_int_equal(reply->status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(reply->data_len, 0);
    assert_memory_equal(reply->sense, expect, sizeof(expect));
}

/*
 * --mode passthrough sends every command to the device with SG_IO and
 * answers what it says; a regular file is no SCSI device, so each
 * command gets qemu-pr-helper's answer for it, and nothing reaches the
 * database.
 */
static void test_passthrough_mode(void **state)
{
    Fixture *f = testutil_store(state);
    static const char *const passthrough[] = {"--mode", "passthrough", NULL};
    TestDaemon *d = testd_start(f->dir, "pt", NULL, passthrough);
    int disk = testd_disk(f->dir, "pt.img", O_RDWR);
    PrClient *c = testd_connect(d);
    ClientReply reply;

    testd_prin(c, disk, PR_IN_READ_KEYS, 8192, &reply);
    assert_io_process_terminated(&reply);
    testd_prout(c, disk, PR_OUT_REGISTER, 0, 0, 0x5eed, 0, &reply);
    assert_io_process_terminated(&reply);
    assert_true(testd_wait_output(d,
                                  "passthrough: PR commands are "
                                  "forwarded to the device with SG_IO, "
                                  "timeout 20.0 s",
                                  5000));
    client_close(c);
    close(disk);
    stop_ok(d);
    assert_int_equal(testutil_sql_int(d->db, "SELECT count(*) FROM lu"), 0);
    assert_int_equal(testutil_sql_int(d->db, "SELECT count(*) FROM history"),
                     0);
    testd_free(d);
}

/* [lu NAME] mode = passthrough sends that LU's commands to its device
 * while the others are emulated; [passthrough] timeout is taken. */
static void test_passthrough_per_lu(void **state)
{
    Fixture *f = testutil_store(state);
    g_autofree char *raw = path_in(f, "raw.img");
    g_autofree char *conf = g_strdup_printf(
        "[passthrough]\ntimeout = 7.5\n[lu san-disk]\npath = %s\n"
        "mode = passthrough\n",
        raw);
    TestDaemon *d = testd_start(f->dir, "mixed", conf, NULL);
    int device = testd_disk(f->dir, "raw.img", O_RDWR);
    int emulated = testd_disk(f->dir, "emulated.img", O_RDWR);
    PrClient *c = testd_connect(d);
    ClientReply reply;

    testd_prout(c, device, PR_OUT_REGISTER, 0, 0, 0x5eed, 0, &reply);
    assert_io_process_terminated(&reply);
    assert_int_equal(
        testd_prout(c, emulated, PR_OUT_REGISTER, 0, 0, 0x5eed, 0, &reply),
        SCSI_STATUS_GOOD);
    assert_true(testd_wait_output(d,
                                  "mode=passthrough are forwarded to the "
                                  "device with SG_IO, timeout 7.5 s",
                                  5000));
    client_close(c);
    close(device);
    close(emulated);
    stop_ok(d);
    assert_int_equal(testutil_sql_int(d->db, "SELECT count(*) FROM lu"), 1);
    testd_free(d);
}

/* One of the concurrent writers of test_concurrent_writers. */
typedef struct Writer {
    const char *socket;
    int disk;
    unsigned index;
    unsigned commands;
    unsigned good;
} Writer;

static gpointer writer_thread(gpointer data)
{
    Writer *w = data;
    g_autofree char *name =
        g_strdup_printf("iqn.2026-11.test:writer%u", w->index);
    TransportId tid;
    PrClient *c;
    unsigned i;

    if (!tid_from_iscsi_name(name, &tid, NULL) ||
        (c = client_connect_as(w->socket, &tid, 30000, NULL)) == NULL) {
        return NULL;
    }
    for (i = 0; i < w->commands; i++) {
        uint8_t cdb[CDB_LEN];
        uint8_t param[24];
        ClientReply reply;

        /* Each writer's key changes with every command: 0xIIII00CC. */
        cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, 24);
        cdb_prout_basic(param, 0, ((uint64_t)w->index << 16) | (i + 1), 0, NULL,
                        0);
        if (client_command(c, cdb, w->disk, param, sizeof(param), &reply,
                           NULL) &&
            reply.status == SCSI_STATUS_GOOD) {
            w->good++;
        }
    }
    client_close(c);
    return NULL;
}

/*
 * 16 connections send PR OUT at once (the daemon groups them into shared
 * commits): every command is answered GOOD, PRgeneration counts every
 * one of them (SPC-4 6.16.2: REGISTER AND IGNORE EXISTING KEY raises it),
 * each writer's last key is the one registered, and the history holds
 * one row per command.
 */
static void test_concurrent_writers(void **state)
{
    enum { WRITERS = 16, COMMANDS = 12 };
    Fixture *f = testutil_store(state);
    static const char *const client[] = {"--identity", "client", NULL};
    TestDaemon *d = start_on(f, "prh", NULL, client);
    int disk = testd_disk(f->dir, "shared.img", O_RDWR);
    Writer writers[WRITERS];
    GThread *threads[WRITERS];
    TransportId reader;
    PrClient *c;
    ClientReply reply;
    unsigned i;
    guint32 n_keys;

    for (i = 0; i < WRITERS; i++) {
        writers[i] = (Writer){d->socket, disk, i + 1, COMMANDS, 0};
        threads[i] = g_thread_new("writer", writer_thread, &writers[i]);
    }
    for (i = 0; i < WRITERS; i++) {
        testutil_thread_join(threads[i]);
        assert_int_equal(writers[i].good, COMMANDS);
    }
    assert_true(tid_from_iscsi_name("iqn.2026-11.test:reader", &reader, NULL));
    c = client_connect_as(d->socket, &reader, 30000, NULL);
    assert_non_null(c);
    testd_prin(c, disk, PR_IN_READ_KEYS, 8192, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data), WRITERS * COMMANDS);
    n_keys = get_be32(reply.data + 4) / 8;
    assert_int_equal(n_keys, WRITERS);
    for (i = 0; i < n_keys; i++) {
        uint64_t key = get_be64(reply.data + 8 + 8 * i);

        assert_int_equal(key & 0xffff, COMMANDS);
    }
    client_close(c);
    stop_ok(d);
    assert_int_equal(testutil_db_int(f, "SELECT count(*) FROM history"),
                     WRITERS * COMMANDS);
    testd_free(d);
    close(disk);
}

/*
 * unit-attentions = record (the default): REGISTRATIONS PREEMPTED is
 * stored for the preempted nexus, in the database, and its next command
 * (a PR IN) answers normally and drops it.
 */
static void test_recorded_unit_attentions(void **state)
{
    Fixture *f = testutil_store(state);
    TestDaemon *a =
        start_on(f, "a", "[daemon]\nidentity = iqn.2026-11.test:a\n", NULL);
    TestDaemon *b =
        start_on(f, "b", "[daemon]\nidentity = iqn.2026-11.test:b\n", NULL);
    int disk = testd_disk(f->dir, "shared.img", O_RDWR);
    PrClient *ca = testd_connect(a);
    PrClient *cb = testd_connect(b);
    ClientReply reply;

    testd_prout(ca, disk, PR_OUT_REGISTER, 0, 0, 0xa, 0, &reply);
    testd_prout(cb, disk, PR_OUT_REGISTER, 0, 0, 0xb, 0, &reply);
    testd_prout(ca, disk, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, 0xa, 0xb,
                0, &reply);
    assert_int_equal(reply.status, SCSI_STATUS_GOOD);
    assert_int_equal(
        testutil_db_int(f, "SELECT count(*) FROM unit_attention WHERE "
                           "initiator_name = 'iqn.2026-11.test:b' AND "
                           "\"asc\" = 42 AND ascq = 5"),
        1);
    assert_int_equal(testd_prin(cb, disk, PR_IN_READ_KEYS, 8192, &reply),
                     SCSI_STATUS_GOOD);
    assert_int_equal(get_be32(reply.data + 4), 8);
    assert_int_equal(
        testutil_db_int(f, "SELECT count(*) FROM unit_attention"), 0);
    client_close(ca);
    client_close(cb);
    stop_ok(a);
    stop_ok(b);
    testd_free(a);
    testd_free(b);
    close(disk);
}

int main(void)
{
#define SQLITE(t) TESTUTIL_SQLITE_ONLY(t)
#define BOTH(t) TESTUTIL_BOTH(t)
    static const TestPerBackend tests[] = {
        SQLITE(test_version_and_help),
        SQLITE(test_usage_errors),
        SQLITE(test_config_errors),
        SQLITE(test_database_errors),
        SQLITE(test_trace_accepted),
        SQLITE(test_signals_stop_cleanly),
        BOTH(test_restart_keeps_state),
        SQLITE(test_pidfile),
        SQLITE(test_daemonize),
        SQLITE(test_daemonize_failure_reported),
        BOTH(test_stop_finishes_in_flight),
        SQLITE(test_stop_closes_idle_connections),
        BOTH(test_busy_when_locked),
        SQLITE(test_socket_activation),
        SQLITE(test_privileges),
        BOTH(test_lu_identity),
        BOTH(test_two_daemons_one_database),
        BOTH(test_concurrent_writers),
        BOTH(test_recorded_unit_attentions),
        SQLITE(test_passthrough_mode),
        SQLITE(test_passthrough_per_lu),
    };
#undef SQLITE
#undef BOTH

    return testutil_run_per_backend("daemon", tests, G_N_ELEMENTS(tests));
}
