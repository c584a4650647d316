/*
 * daemonize: descriptors 0-2, -d's fork and the startup verdict its
 * parent waits for through a pipe.
 */
#include "daemonize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* With -d: where the child reports startup success or failure. */
static int startup_pipe = -1;

void daemonize_reserve_stdio(void)
{
    int fd;

    for (fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int null = open("/dev/null", O_RDWR);

            /* Best effort: valgrind, for one, keeps 2 for itself. */
            if (null >= 0 && null != fd) {
                dup2(null, fd);
                close(null);
            }
        }
    }
}

/* The parent: wait for the child's verdict and exit with it. */
G_GNUC_NORETURN static void wait_for_child(int fd)
{
    GString *report = g_string_new(NULL);
    char buf[256];
    bool ready;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            g_string_append_len(report, buf, n);
        }
    }
    ready = g_str_equal(report->str, "ready");
    if (!ready && report->len == 0) {
        fputs("softprd: the daemon exited during startup\n", stderr);
    } else if (!ready) {
        fputs(report->str, stderr);
    }
    g_string_free(report, TRUE);
    _exit(ready ? 0 : 1);
}

bool daemonize_start(GError **error)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "pipe: %s",
                    g_strerror(errno));
        return false;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "fork: %s",
                    g_strerror(errno));
        return false;
    }
    if (pid > 0) {
        close(fds[1]);
        wait_for_child(fds[0]);
    }
    close(fds[0]);
    startup_pipe = fds[1];
    if (setsid() < 0 || chdir("/") != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "cannot detach: %s", g_strerror(errno));
        return false;
    }
    return true;
}

bool daemonize_report_failure(const char *line, size_t len)
{
    if (startup_pipe < 0) {
        return false;
    }
    if (write(startup_pipe, line, len) < 0) {
        /* The parent is gone; nobody to tell. */
    }
    return true;
}

void daemonize_ready(void)
{
    int null;

    if (startup_pipe < 0) {
        return;
    }
    if (write(startup_pipe, "ready", 5) != 5) {
        /* The parent is gone; nothing to do. */
    }
    close(startup_pipe);
    startup_pipe = -1;
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    log_stderr_changed();
}
