/*
 * systemd: LISTEN_FDS and sd_notify, reimplemented from systemd's
 * interface documentation (sd_listen_fds(3), sd_notify(3), systemd.exec(5)
 * for SYSTEMD_EXEC_PID).
 */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"

/* $NOTIFY_SOCKET when it is ours, taken by systemd_setup(). */
static char *notify_path;

/* Whether the environment variable @name holds our PID. */
static bool names_us(const char *name)
{
    const char *text = g_getenv(name);
    guint64 pid = 0;

    return text != NULL &&
           g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT, &pid, NULL) &&
           pid == (guint64)getpid();
}

/* Passed descriptors: only when LISTEN_PID is ours. */
static int take_listen_fds(void)
{
    const char *fds_text = g_getenv("LISTEN_FDS");
    guint64 n = 0;
    int fd;

    if (!names_us("LISTEN_PID") || fds_text == NULL ||
        !g_ascii_string_to_unsigned(fds_text, 10, 0, 1024, &n, NULL)) {
        n = 0;
    }
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    for (fd = SYSTEMD_FIRST_FD; fd < SYSTEMD_FIRST_FD + (int)n; fd++) {
        int flags = fcntl(fd, F_GETFD);

        if (flags >= 0) {
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    return (int)n;
}

int systemd_setup(char **notify_ignored)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    const char *exec_pid = g_getenv("SYSTEMD_EXEC_PID");
    bool activated = names_us("LISTEN_PID");

    *notify_ignored = NULL;
    g_clear_pointer(&notify_path, g_free);
    if (path != NULL && *path != '\0') {
        if (exec_pid != NULL ? names_us("SYSTEMD_EXEC_PID") : activated) {
            notify_path = g_strdup(path);
        } else if (exec_pid != NULL) {
            *notify_ignored = g_strdup_printf(
                "NOTIFY_SOCKET was inherited from process %s, which systemd "
                "started: not notifying its service manager",
                exec_pid);
        } else {
            *notify_ignored =
                g_strdup("NOTIFY_SOCKET is set but systemd did not start "
                         "this process (no SYSTEMD_EXEC_PID, not "
                         "socket-activated): not notifying");
        }
    }
    g_unsetenv("NOTIFY_SOCKET");
    g_unsetenv("SYSTEMD_EXEC_PID");
    return take_listen_fds();
}

gboolean systemd_notify(const char *state, GError **error)
{
    const char *path = notify_path;
    struct sockaddr_un addr;
    socklen_t addr_len;
    size_t path_len;
    ssize_t sent;
    int fd;

    if (path == NULL) {
        return TRUE;
    }
    path_len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') ||
        path_len >= sizeof(addr.sun_path)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "NOTIFY_SOCKET '%s' is not a socket address", path);
        return FALSE;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, path_len);
    if (path[0] == '@') {
        addr.sun_path[0] = '\0'; /* abstract namespace */
    }
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "notify socket: %s", g_strerror(errno));
        return FALSE;
    }
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                  (struct sockaddr *)&addr, addr_len);
    close(fd);
    if (sent < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "notifying %s: %s", path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
