/*
 * systemd: LISTEN_FDS and sd_notify, reimplemented from systemd's
 * interface documentation (sd_listen_fds(3), sd_notify(3)).
 */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"

int systemd_listen_fds(void)
{
    const char *pid_text = g_getenv("LISTEN_PID");
    const char *fds_text = g_getenv("LISTEN_FDS");
    guint64 pid = 0;
    guint64 n = 0;
    int fd;

    if (pid_text == NULL || fds_text == NULL) {
        return 0;
    }
    if (!g_ascii_string_to_unsigned(pid_text, 10, 1, G_MAXINT, &pid, NULL) ||
        pid != (guint64)getpid() ||
        !g_ascii_string_to_unsigned(fds_text, 10, 0, 1024, &n, NULL)) {
        return 0;
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

gboolean systemd_notify(const char *state, GError **error)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr;
    socklen_t addr_len;
    size_t path_len;
    ssize_t sent;
    int fd;

    if (path == NULL || *path == '\0') {
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
