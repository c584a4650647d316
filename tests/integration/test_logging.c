/*
 * test_logging: where softprd's messages end up when nobody reads its
 * stderr: libvirt runs the helper with stderr on a pipe it closes once
 * the socket is up, -d points stderr at /dev/null, a caller may close
 * it.  The messages must reach the system log: syslog(3)'s /dev/log, or
 * the journal's native socket.  Each test binds those sockets in a mount
 * namespace of the daemon's own, so that what it sends is read here as a
 * syslog daemon or journald would read it.  And -q, which silences
 * protocol errors only.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "launch.h"
#include "sandbox.h"

#include "engine.h"
#include "scsi.h"

typedef struct Fixture {
    char *dir;
    int disk;
    pid_t detached; /* a -d daemon: killed at teardown if still there */
} Fixture;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = testutil_tmpdir();
    f->disk = testd_disk(f->dir, "disk.img", O_RDWR);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    if (f->detached > 0) {
        kill(f->detached, SIGKILL);
    }
    close(f->disk);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static char *path_in(Fixture *f, const char *name)
{
    return g_build_filename(f->dir, name, NULL);
}

static char *contents(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

/* ------------------------------------------------------------------ */
/* The system log, as the daemon sees it                               */
/* ------------------------------------------------------------------ */

typedef enum LogService {
    SYSLOG,  /* /dev/log, read as a syslog daemon reads it */
    JOURNAL, /* journald's native socket */
} LogService;

/* A datagram socket, bound in the daemon's namespace by its setup. */
typedef struct Capture {
    LogService service;
    int fd;
    char *scratch; /* room for the overlay over /dev */
    GString *seen; /* every datagram so far, one per line */
} Capture;

static void capture_init(Fixture *f, Capture *c, LogService service)
{
    memset(c, 0, sizeof(*c));
    c->service = service;
    c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    c->scratch = path_in(f, "scratch-XXXXXX");
    assert_non_null(g_mkdtemp(c->scratch));
    c->seen = g_string_new(NULL);
}

static void capture_clear(Capture *c)
{
    close(c->fd);
    g_free(c->scratch);
    g_string_free(c->seen, TRUE);
}

/*
 * In the daemon's child: the capture socket where the service listens.
 * /run/systemd is hidden either way, so that a journal running on the
 * test host never takes the messages meant for /dev/log.
 */
static void capture_setup(const void *data)
{
    const Capture *c = data;

    sandbox_enter();
    sandbox_tmpfs("/run/systemd", 0755);
    if (c->service == SYSLOG) {
        sandbox_overlay("/dev", c->scratch);
        sandbox_bind_socket(c->fd, "/dev/log");
    } else {
        if (mkdir("/run/systemd/journal", 0755) != 0) {
            _exit(SANDBOX_FAILED);
        }
        sandbox_bind_socket(c->fd, "/run/systemd/journal/socket");
    }
    close(c->fd);
}

/* Wait (at most 60 s) for a datagram holding @text. */
static bool capture_wait(Capture *c, const char *text)
{
    gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (strstr(c->seen->str, text) == NULL) {
        char buf[8192];
        struct timeval tv = {1, 0};
        ssize_t n;

        if (g_get_monotonic_time() > end) {
            return false;
        }
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            g_string_append_len(c->seen, buf, n);
            g_string_append_c(c->seen, '\n');
        }
    }
    return true;
}

static void expect_logged(Capture *c, const char *text)
{
    if (!capture_wait(c, text)) {
        fail_msg("'%s' never reached the system log; it got:\n%s", text,
                 c->seen->str);
    }
}

/* READ KEYS through a new connection; its status (20 s at most). */
static uint8_t read_keys(const char *socket_path, int disk)
{
    g_autoptr(GError) error = NULL;
    uint8_t cdb[CDB_LEN];
    ClientReply reply;
    PrClient *c = client_connect(socket_path, 0, 20000, &error);

    if (c == NULL) {
        fail_msg("connect %s: %s", socket_path, error->message);
    }
    cdb_pr_in(cdb, PR_IN_READ_KEYS, 8);
    if (!client_command(c, cdb, disk, NULL, 0, &reply, &error)) {
        fail_msg("READ KEYS: %s", error->message);
    }
    client_close(c);
    return reply.status;
}

static pid_t start_serving(Launch *launch, const char *socket_path)
{
    pid_t pid = launch_start(launch);
    int code;

    if (!launch_wait_serving(socket_path, pid, &code)) {
        fail_msg("softprd did not serve %s (exit %d)", socket_path, code);
    }
    return pid;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/*
 * stderr closed (as a caller that closes it leaves it): the startup
 * lines and each command's line (-vv) go to syslog, with the program's
 * name and pid, at the priority of their level.
 */
static void test_stderr_closed(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = path_in(f, "prh.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    g_autofree char *tag = NULL;
    const char *args[] = {"-vv", "-c", conf, "-k", sock, "--db", db, NULL};
    Launch launch = LAUNCH_INIT(NULL);
    Capture c;
    pid_t pid;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    capture_init(f, &c, SYSLOG);
    launch.args = args;
    launch.out = LAUNCH_OUT_CLOSED;
    launch.setup = capture_setup;
    launch.setup_data = &c;
    pid = start_serving(&launch, sock);
    tag = g_strdup_printf("softprd[%d]: ", (int)pid);
    /* LOG_DAEMON | LOG_NOTICE: <29> */
    expect_logged(&c, "<29>");
    expect_logged(&c, tag);
    expect_logged(&c, "listening on ");
    assert_int_equal(read_keys(sock, f->disk), SCSI_STATUS_GOOD);
    expect_logged(&c, ": READ KEYS from ");
    assert_int_equal(launch_stop(pid, SIGTERM), 0);
    expect_logged(&c, "stopped");
    capture_clear(&c);
}

/*
 * -d: once detached, stderr is /dev/null: the lines written before are
 * repeated in the system log, and the later ones go there.
 */
static void test_daemonized(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = path_in(f, "prh.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    g_autofree char *pidfile = path_in(f, "prh.pid");
    g_autofree char *log = path_in(f, "parent.log");
    g_autofree char *text = NULL;
    const char *args[] = {"-d", "-f", pidfile, "-vv", "-c", conf,
                          "-k", sock, "--db",  db,    NULL};
    Launch launch = LAUNCH_INIT(log);
    Capture c;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    capture_init(f, &c, SYSLOG);
    launch.args = args;
    launch.setup = capture_setup;
    launch.setup_data = &c;
    assert_int_equal(launch_wait(launch_start(&launch), 60000), 0);
    expect_logged(&c, "listening on ");
    assert_int_equal(read_keys(sock, f->disk), SCSI_STATUS_GOOD);
    expect_logged(&c, ": READ KEYS from ");
    text = contents(pidfile);
    f->detached = atoi(text);
    assert_int_equal(kill(f->detached, SIGTERM), 0);
    expect_logged(&c, "stopped");
    f->detached = 0;
    capture_clear(&c);
}

/*
 * libvirt's managed mode: stderr is a pipe that libvirt reads only if
 * the helper dies, and closes once the socket is up.  The first line
 * that cannot be written moves logging to the system log, with the
 * lines stderr had taken (startup's), and every later line.
 */
static void test_libvirt_pipe_closed(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = path_in(f, "pr-helper0.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    const char *extra[] = {"-v", "-c", conf, "--db", db, NULL};
    LibvirtHelper helper;
    Capture c;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    capture_init(f, &c, SYSLOG);
    launch_libvirt(sock, extra, NULL, capture_setup, &c, &helper);
    if (!helper.up) {
        fail_msg("the helper died (exit %d): %s", helper.code, helper.reason);
    }
    /* -v logs each connection: the first line after libvirt closed. */
    assert_int_equal(read_keys(sock, f->disk), SCSI_STATUS_GOOD);
    expect_logged(&c, "stderr no longer takes log lines (Broken pipe)");
    expect_logged(&c, "listening on ");
    expect_logged(&c, "connection 1 from pid");
    assert_int_equal(launch_stop(helper.pid, SIGTERM), 0);
    expect_logged(&c, "stopped");
    launch_libvirt_clear(&helper);
    capture_clear(&c);
}

/*
 * The journal's native protocol, chosen with --log=journal (and by
 * "auto" when stderr is /dev/null and a journal listens): structured
 * fields, with the program as SYSLOG_IDENTIFIER; nothing on stderr.
 */
static void test_journal(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = path_in(f, "prh.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    g_autofree char *log = path_in(f, "prh.log");
    g_autofree char *out = NULL;
    const char *chosen[] = {"--log=journal", "-c", conf, "-k", sock,
                            "--db",          db,   NULL};
    const char *automatic[] = {"-c", conf, "-k", sock, "--db", db, NULL};
    Launch launch = LAUNCH_INIT(log);
    Capture c;
    pid_t pid;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    capture_init(f, &c, JOURNAL);
    launch.args = chosen;
    launch.setup = capture_setup;
    launch.setup_data = &c;
    pid = start_serving(&launch, sock);
    expect_logged(&c, "MESSAGE=listening on ");
    expect_logged(&c, "SYSLOG_IDENTIFIER=softprd\n");
    expect_logged(&c, "PRIORITY=5\n");
    assert_int_equal(launch_stop(pid, SIGTERM), 0);
    out = contents(log);
    assert_null(strstr(out, "listening on"));

    capture_clear(&c);

    capture_init(f, &c, JOURNAL);
    launch.args = automatic;
    launch.out = LAUNCH_OUT_NULL;
    launch.setup_data = &c;
    pid = start_serving(&launch, sock);
    expect_logged(&c, "MESSAGE=listening on ");
    assert_int_equal(launch_stop(pid, SIGTERM), 0);
    capture_clear(&c);
}

/* --log and [daemon] log take auto, stderr, journal or syslog. */
static void test_log_option_errors(void **state)
{
    Fixture *f = *state;
    g_autofree char *conf = path_in(f, "bad.conf");
    g_autofree char *out = NULL;
    const char *option[] = {"--log=files", NULL};
    const char *file[] = {"-c", conf, NULL};

    assert_int_equal(testd_run(f->dir, option, &out), 1);
    assert_non_null(strstr(out, "softprd: --log: expected auto, stderr, "
                                "journal or syslog, got 'files'"));
    g_free(out);
    assert_true(g_file_set_contents(conf, "[daemon]\nlog = files\n", -1, NULL));
    assert_int_equal(testd_run(f->dir, file, &out), 1);
    assert_non_null(strstr(out, "[daemon] log: expected one of auto, stderr, "
                                "journal, syslog, got 'files'"));
}

/* Send a CDB that is not PR IN or OUT: a protocol error (the connection
 * is closed); wait until it is. */
static void protocol_error(const char *socket_path, int disk)
{
    g_autoptr(GError) error = NULL;
    uint8_t cdb[CDB_LEN] = {0x12}; /* INQUIRY */
    ClientReply reply;
    PrClient *c = client_connect(socket_path, 0, 20000, &error);

    assert_non_null(c);
    assert_false(client_command(c, cdb, disk, NULL, 0, &reply, &error));
    client_close(c);
}

/*
 * -q silences protocol errors, as softprd(8) and qemu-pr-helper(8) say,
 * and nothing else: startup and stop are still logged.
 */
static void test_quiet(void **state)
{
    Fixture *f = *state;
    g_autofree char *sock = path_in(f, "prh.sock");
    g_autofree char *db = path_in(f, "pr.db");
    g_autofree char *conf = path_in(f, "empty.conf");
    int quiet;

    assert_true(g_file_set_contents(conf, "", -1, NULL));
    for (quiet = 0; quiet <= 1; quiet++) {
        g_autofree char *log = path_in(f, quiet ? "quiet.log" : "loud.log");
        g_autofree char *out = NULL;
        const char *args[] = {quiet ? "-q" : "--log=stderr",
                              "-c",
                              conf,
                              "-k",
                              sock,
                              "--db",
                              db,
                              NULL};
        Launch launch = LAUNCH_INIT(log);
        pid_t pid;

        launch.args = args;
        pid = start_serving(&launch, sock);
        protocol_error(sock, f->disk);
        assert_int_equal(launch_stop(pid, SIGTERM), 0);
        out = contents(log);
        assert_non_null(strstr(out, "listening on "));
        assert_non_null(strstr(out, "stopped"));
        if (quiet) {
            assert_null(strstr(out, "Invalid CDB"));
        } else {
            assert_non_null(strstr(out, "Invalid CDB, closing socket."));
        }
    }
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
    /* These bind /dev/log or the journal's socket in a mount namespace. */
    const struct CMUnitTest system_log[] = {
        T(test_stderr_closed),       T(test_daemonized),
        T(test_libvirt_pipe_closed), T(test_journal),
        T(test_log_option_errors),   T(test_quiet),
    };
    const struct CMUnitTest without[] = {
        T(test_log_option_errors),
        T(test_quiet),
    };
#undef T

    if (geteuid() == 0 && sandbox_available()) {
        return TESTUTIL_RUN("logging", system_log, NULL, NULL);
    }
    print_message("the system log tests skipped: they need root and mount "
                  "namespaces\n");
    return TESTUTIL_RUN("logging", without, NULL, NULL);
}
