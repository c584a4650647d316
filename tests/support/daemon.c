/*
 * daemon: real softprd processes for integration tests.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 60000

char *testd_binary(void)
{
    return g_build_filename(testutil_build_dir(), "softprd", NULL);
}

/* argv: the valgrind prefix, if any, the binary, then @args. */
static char **make_argv(const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    size_t i;

    testutil_add_wrapper(argv);
    g_ptr_array_add(argv, testd_binary());
    for (i = 0; args != NULL && args[i] != NULL; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_free(argv, FALSE);
}

static pid_t spawn(char **argv, const char *log, const char *const *env)
{
    pid_t pid = fork();

    if (pid < 0) {
        fail_msg("fork: %s", g_strerror(errno));
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        size_t i;

        testutil_die_with_parent();
        if (fd < 0) {
            _exit(127);
        }
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        for (i = 0; env != NULL && env[i] != NULL; i++) {
            putenv((char *)env[i]);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

TestDaemon *testd_spawn(const char *dir, const char *name,
                        const char *const *args, const char *const *env)
{
    TestDaemon *d = g_new0(TestDaemon, 1);
    g_auto(GStrv) argv = make_argv(args);
    g_autofree char *sock = g_strconcat(name, ".sock", NULL);
    g_autofree char *log = g_strconcat(name, ".log", NULL);

    d->dir = g_strdup(dir);
    d->socket = g_build_filename(dir, sock, NULL);
    d->db = g_build_filename(dir, "pr.db", NULL);
    d->log = g_build_filename(dir, log, NULL);
    d->pid = spawn(argv, d->log, env);
    return d;
}

TestDaemon *testd_start(const char *dir, const char *name,
                        const char *config_text, const char *const *extra)
{
    GPtrArray *args = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *sock = g_strconcat(name, ".sock", NULL);
    g_autofree char *conf = g_strconcat(name, ".conf", NULL);
    g_autofree char *config = NULL;
    TestDaemon *d;
    size_t i;

    g_ptr_array_add(args, g_strdup("-k"));
    g_ptr_array_add(args, g_build_filename(dir, sock, NULL));
    g_ptr_array_add(args, g_strdup("--db"));
    g_ptr_array_add(args, g_build_filename(dir, "pr.db", NULL));
    /* Always a configuration file of the test's own, so that a file in
     * /etc never changes what a test sees. */
    config = g_build_filename(dir, conf, NULL);
    if (!g_file_set_contents(config, config_text != NULL ? config_text : "", -1,
                             NULL)) {
        fail_msg("cannot write %s", config);
    }
    g_ptr_array_add(args, g_strdup("-c"));
    g_ptr_array_add(args, g_strdup(config));
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        g_ptr_array_add(args, g_strdup(extra[i]));
    }
    g_ptr_array_add(args, NULL);
    d = testd_spawn(dir, name, (const char *const *)args->pdata, NULL);
    d->config = g_steal_pointer(&config);
    g_ptr_array_free(args, TRUE);
    if (!testd_wait_ready(d)) {
        g_autofree char *out = testd_output(d);

        /* cmocka shortens long messages: the output goes out whole. */
        fprintf(stderr, "--- softprd output:\n%s---\n", out);
        if (d->reaped) {
            fail_msg("softprd exited during start-up (wait status 0x%x)",
                     d->status);
        }
        fail_msg("softprd did not answer on %s within %d s", d->socket,
                 READY_TIMEOUT_MS / 1000);
    }
    return d;
}

static bool reap(TestDaemon *d, bool block)
{
    pid_t r;

    if (d->reaped) {
        return true;
    }
    do {
        r = waitpid(d->pid, &d->status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == d->pid) {
        d->reaped = true;
    }
    return d->reaped;
}

bool testd_wait_ready(TestDaemon *d)
{
    gint64 end = g_get_monotonic_time() + READY_TIMEOUT_MS * 1000LL;

    while (g_get_monotonic_time() < end) {
        if (reap(d, false)) {
            return false;
        }
        if (g_file_test(d->socket, G_FILE_TEST_EXISTS)) {
            PrClient *client = client_connect(d->socket, 0, 2000, NULL);

            if (client != NULL) {
                client_close(client);
                return true;
            }
        }
        g_usleep(2000);
    }
    return false;
}

static int exit_code(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + WTERMSIG(status);
}

/*
 * The reaped daemon @d's exit, when it is not the one expected: a
 * message naming it, with the daemon's output written to stderr (cmocka
 * shortens long messages).  NULL when it is as expected, or was judged
 * already.
 */
static char *unexpected_exit(TestDaemon *d)
{
    g_autofree char *out = NULL;
    int code = exit_code(d->status);

    if (d->exit_checked) {
        return NULL;
    }
    d->exit_checked = true;
    if (code == d->expected_exit) {
        return NULL;
    }
    out = testd_output(d);
    fprintf(stderr, "--- softprd output (%s):\n%s---\n", d->log, out);
    return g_strdup_printf(
        "softprd (pid %d) exited with %s %d where %d was expected%s",
        (int)d->pid, WIFEXITED(d->status) ? "status" : "signal",
        WIFEXITED(d->status) ? code : WTERMSIG(d->status), d->expected_exit,
        code == 99 ? " (valgrind's error exit code: see its report above)"
                   : "");
}

static void check_exit(TestDaemon *d)
{
    g_autofree char *why = unexpected_exit(d);

    if (why != NULL) {
        testutil_fail("%s", why);
    }
}

void testd_expect_exit(TestDaemon *d, int code)
{
    d->expected_exit = code;
}

/* Wait at most @timeout_ms for @d to exit; whether it did. */
static bool wait_reaped(TestDaemon *d, unsigned timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!reap(d, false)) {
        if (g_get_monotonic_time() >= end) {
            return false;
        }
        g_usleep(2000);
    }
    return true;
}

int testd_wait_exit(TestDaemon *d, unsigned timeout_ms)
{
    if (!wait_reaped(d, timeout_ms)) {
        return -1;
    }
    check_exit(d);
    return exit_code(d->status);
}

/* Send @sig to a running @d and reap it; false when it does not exit. */
static bool stop_signal(TestDaemon *d, int sig)
{
    if (!d->reaped) {
        /* A daemon that exited by itself keeps the expectation it had. */
        d->expected_exit = sig == SIGKILL ? 128 + SIGKILL : 0;
        kill(d->pid, sig);
    }
    if (!wait_reaped(d, READY_TIMEOUT_MS)) {
        kill(d->pid, SIGKILL);
        reap(d, true);
        d->exit_checked = true;
        return false;
    }
    return true;
}

int testd_stop_signal(TestDaemon *d, int sig)
{
    if (!stop_signal(d, sig)) {
        testutil_fail("softprd did not exit after signal %d", sig);
    }
    check_exit(d);
    return exit_code(d->status);
}

int testd_stop(TestDaemon *d)
{
    return testd_stop_signal(d, SIGTERM);
}

void testd_free(TestDaemon *d)
{
    g_autofree char *why = NULL;

    if (d == NULL) {
        return;
    }
    /* Stopped as a clean stop, so that valgrind and the sanitizers check
     * the daemon's exit too (SIGKILL would hide their reports). */
    if (!stop_signal(d, SIGTERM)) {
        why = g_strdup("softprd did not exit after signal 15");
    } else {
        why = unexpected_exit(d);
    }
    g_free(d->dir);
    g_free(d->socket);
    g_free(d->db);
    g_free(d->config);
    g_free(d->log);
    g_free(d);
    if (why != NULL) {
        testutil_fail("%s", why);
    }
}

PrClient *testd_connect_path(const char *socket_path)
{
    g_autoptr(GError) error = NULL;
    PrClient *client = client_connect(socket_path, 0, 30000, &error);

    if (client == NULL) {
        testutil_fail("connect: %s", error->message);
    }
    return client;
}

PrClient *testd_connect(TestDaemon *d)
{
    return testd_connect_path(d->socket);
}

char *testd_output(TestDaemon *d)
{
    char *text = NULL;

    if (!g_file_get_contents(d->log, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

int testd_run(const char *dir, const char *const *args, char **output)
{
    g_autofree char *log = g_build_filename(dir, "run.log", NULL);
    g_auto(GStrv) argv = make_argv(args);
    TestDaemon d;
    int code;

    memset(&d, 0, sizeof(d));
    unlink(log);
    d.pid = spawn(argv, log, NULL);
    /* The caller judges the exit code, which is the point of the run. */
    if (!wait_reaped(&d, READY_TIMEOUT_MS)) {
        kill(d.pid, SIGKILL);
        reap(&d, true);
        fail_msg("softprd did not exit");
    }
    code = exit_code(d.status);
    if (output != NULL && !g_file_get_contents(log, output, NULL, NULL)) {
        *output = g_strdup("");
    }
    return code;
}

int testd_disk(const char *dir, const char *name, int flags)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, flags | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        fail_msg("open %s: %s", path, g_strerror(errno));
    }
    return fd;
}

void testd_command(PrClient *client, int disk_fd, const uint8_t *cdb,
                   const uint8_t *param, size_t len, ClientReply *reply)
{
    g_autoptr(GError) error = NULL;

    if (!client_command(client, cdb, disk_fd, param, len, reply, &error)) {
        testutil_fail("command: %s", error->message);
    }
}

uint8_t testd_prout(PrClient *client, int disk_fd, uint8_t sa, uint8_t type,
                    uint64_t rk, uint64_t sark, uint8_t flags,
                    ClientReply *reply)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, rk, sark, flags, NULL, 0);

    cdb_pr_out(cdb, sa, 0, type, (uint32_t)len);
    testd_command(client, disk_fd, cdb, param, len, reply);
    return reply->status;
}

uint8_t testd_prin(PrClient *client, int disk_fd, uint8_t sa, uint16_t alloc,
                   ClientReply *reply)
{
    uint8_t cdb[CDB_LEN];

    cdb_pr_in(cdb, sa, alloc);
    testd_command(client, disk_fd, cdb, NULL, 0, reply);
    return reply->status;
}

bool testd_wait_output(TestDaemon *d, const char *text, unsigned timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    do {
        g_autofree char *out = testd_output(d);

        if (strstr(out, text) != NULL) {
            return true;
        }
        g_usleep(10000);
    } while (g_get_monotonic_time() < end);
    return false;
}
