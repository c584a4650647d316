/*
 * launch: softprd started as systemd, libvirt and operators start it.
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"

#define SERVING_TIMEOUT_MS 60000

/* valgrind's own log, when the daemon's stderr is to be closed:
 * valgrind refuses to start without one. */
#define VALGRIND_LOG_FD 9

static char **make_argv(const char *const *args, bool stderr_closed)
{
    GPtrArray *argv = g_ptr_array_new();
    size_t i;

    testutil_add_wrapper(argv);
    if (argv->len > 0 && stderr_closed) {
        g_ptr_array_add(argv, g_strdup_printf("--log-fd=%d", VALGRIND_LOG_FD));
    }
    g_ptr_array_add(argv,
                    g_build_filename(testutil_build_dir(), "softprd", NULL));
    for (i = 0; args != NULL && args[i] != NULL; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_free(argv, FALSE);
}

static void child_output(const Launch *launch)
{
    int fd = -1;

    switch (launch->out) {
    case LAUNCH_OUT_LOG:
        fd = open(launch->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        break;
    case LAUNCH_OUT_NULL:
        fd = open("/dev/null", O_WRONLY);
        break;
    case LAUNCH_OUT_PIPE:
        fd = launch->pipe_fd;
        break;
    case LAUNCH_OUT_CLOSED:
        if (g_getenv("SOFTPR_VALGRIND") != NULL) {
            dup2(STDERR_FILENO, VALGRIND_LOG_FD);
        }
        close(STDOUT_FILENO);
        close(STDERR_FILENO);
        return;
    }
    if (fd < 0) {
        _exit(127);
    }
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) {
        close(fd);
    }
}

/* In the child: what systemd does with a socket unit's descriptor. */
static void child_listen_fd(int listen_fd)
{
    char pid[32];

    if (listen_fd == 3) {
        fcntl(3, F_SETFD, 0);
    } else if (dup2(listen_fd, 3) != 3) {
        _exit(127);
    }
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
}

G_GNUC_NORETURN static void child(const Launch *launch, char **argv)
{
    size_t i;

    testutil_die_with_parent();
    if (launch->detach) {
        int null = open("/dev/null", O_RDONLY);

        setsid();
        dup2(null, STDIN_FILENO);
    }
    /* Only what the test gives: not the test runner's own. */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("SYSTEMD_EXEC_PID");
    child_output(launch);
    if (launch->setup != NULL) {
        launch->setup(launch->setup_data);
    }
    if (launch->listen_fd >= 0) {
        child_listen_fd(launch->listen_fd);
    }
    for (i = 0; launch->env != NULL && launch->env[i] != NULL; i++) {
        putenv((char *)launch->env[i]);
    }
    if (launch->exec_pid) {
        char pid[32];

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("SYSTEMD_EXEC_PID", pid, 1);
    }
    if (launch->nofile_hard != 0) {
        struct rlimit rl = {launch->nofile_soft, launch->nofile_hard};

        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            _exit(127);
        }
    }
    execvp(argv[0], argv);
    _exit(127);
}

pid_t launch_start(const Launch *launch)
{
    g_auto(GStrv) argv =
        make_argv(launch->args, launch->out == LAUNCH_OUT_CLOSED);
    pid_t pid = fork();

    if (pid < 0) {
        fail_msg("fork: %s", g_strerror(errno));
    }
    if (pid == 0) {
        child(launch, argv);
    }
    return pid;
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int launch_wait(pid_t pid, unsigned timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return exit_code(status);
        }
        if (r < 0 && errno != EINTR) {
            fail_msg("waitpid %d: %s", (int)pid, g_strerror(errno));
        }
        if (g_get_monotonic_time() >= end) {
            return -1;
        }
        g_usleep(1000);
    }
}

int launch_stop(pid_t pid, int sig)
{
    int code;

    kill(pid, sig);
    code = launch_wait(pid, SERVING_TIMEOUT_MS);
    if (code < 0) {
        kill(pid, SIGKILL);
        launch_wait(pid, SERVING_TIMEOUT_MS);
        fail_msg("softprd (pid %d) did not exit after signal %d", (int)pid,
                 sig);
    }
    return code;
}

bool launch_wait_serving(const char *socket_path, pid_t pid, int *code)
{
    gint64 end = g_get_monotonic_time() + SERVING_TIMEOUT_MS * 1000LL;

    *code = -1;
    while (g_get_monotonic_time() < end) {
        PrClient *client;

        *code = launch_wait(pid, 0);
        if (*code >= 0) {
            return false;
        }
        client = client_connect(socket_path, 0, 2000, NULL);
        if (client != NULL) {
            client_close(client);
            return true;
        }
        g_usleep(2000);
    }
    *code = -1;
    return false;
}

void launch_libvirt(const char *socket_path, const char *const *extra,
                    const char *const *env, void (*setup)(const void *),
                    const void *setup_data, LibvirtHelper *helper)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    Launch launch = LAUNCH_INIT(NULL);
    gint64 end = g_get_monotonic_time() + SERVING_TIMEOUT_MS * 1000LL;
    gint64 wait_us = 1000;
    int fds[2];
    size_t i;

    memset(helper, 0, sizeof(*helper));
    g_ptr_array_add(args, (gpointer) "-k");
    g_ptr_array_add(args, (gpointer)socket_path);
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        g_ptr_array_add(args, (gpointer)extra[i]);
    }
    g_ptr_array_add(args, NULL);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    launch.args = (const char *const *)args->pdata;
    launch.env = env;
    launch.out = LAUNCH_OUT_PIPE;
    launch.pipe_fd = fds[1];
    launch.detach = true;
    launch.setup = setup;
    launch.setup_data = setup_data;
    helper->pid = launch_start(&launch);
    close(fds[1]);
    /* virTimeBackOffWait: short waits first, growing. */
    while (g_get_monotonic_time() < end) {
        if (g_file_test(socket_path, G_FILE_TEST_EXISTS)) {
            helper->up = true;
            break;
        }
        helper->code = launch_wait(helper->pid, 0);
        if (helper->code >= 0) {
            char buf[1024];
            ssize_t n = read(fds[0], buf, sizeof(buf) - 1);

            helper->reason = g_strndup(buf, n > 0 ? (gsize)n : 0);
            break;
        }
        g_usleep((gulong)wait_us);
        wait_us = MIN(wait_us * 2, 100000);
    }
    close(fds[0]);
    if (!helper->up && helper->reason == NULL) {
        fail_msg("the pr helper neither made %s nor exited", socket_path);
    }
}

void launch_libvirt_clear(LibvirtHelper *helper)
{
    /* Still ours to reap unless a test or launch_libvirt() did. */
    if (helper->pid > 0 && kill(helper->pid, 0) == 0) {
        kill(helper->pid, SIGKILL);
        while (waitpid(helper->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    helper->pid = 0;
    g_clear_pointer(&helper->reason, g_free);
}
