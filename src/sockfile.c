/*
 * sockfile: removing the socket files softprd bound, and nothing else,
 * even after it gave up the privileges their directory needs.
 */
#include "sockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#include "child.h"
#include "error.h"
#include "privs.h"

/* One file as bound; also the record sent to the remover (one write,
 * shorter than PIPE_BUF, so it arrives whole). */
typedef struct SocketFile {
    guint64 dev;
    guint64 ino;
    gint64 btime_sec; /* birth time, when the filesystem keeps it */
    guint32 btime_nsec;
    guint32 has_btime;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} SocketFile;

struct SocketFiles {
    GArray *files; /* SocketFile */
    pid_t remover; /* 0: none */
    int pipe_fd;   /* the write end the remover reads, or -1 */
    bool removed;
};

SocketFiles *sockfile_new(void)
{
    SocketFiles *files = g_new0(SocketFiles, 1);

    files->files = g_array_new(FALSE, TRUE, sizeof(SocketFile));
    files->pipe_fd = -1;
    return files;
}

/* What is at @path now, as a record; false when it is not a socket. */
static bool identify(const char *path, SocketFile *file)
{
    struct statx stx;

    memset(file, 0, sizeof(*file));
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW,
              STATX_TYPE | STATX_INO | STATX_BTIME, &stx) != 0 ||
        !S_ISSOCK(stx.stx_mode)) {
        return false;
    }
    file->dev = ((guint64)stx.stx_dev_major << 32) | stx.stx_dev_minor;
    file->ino = stx.stx_ino;
    if (stx.stx_mask & STATX_BTIME) {
        file->has_btime = 1;
        file->btime_sec = stx.stx_btime.tv_sec;
        file->btime_nsec = stx.stx_btime.tv_nsec;
    }
    g_strlcpy(file->path, path, sizeof(file->path));
    return true;
}

/* Remove the files still ours: an inode number alone may have been
 * reused by a socket bound since, its birth time not. */
static void remove_files(const GArray *list)
{
    guint i;

    for (i = 0; i < list->len; i++) {
        const SocketFile *file = &g_array_index(list, SocketFile, i);
        SocketFile now;

        if (identify(file->path, &now) && now.dev == file->dev &&
            now.ino == file->ino && now.has_btime == file->has_btime &&
            now.btime_sec == file->btime_sec &&
            now.btime_nsec == file->btime_nsec) {
            unlink(file->path);
        }
    }
}

/* The remover holds nothing of the daemon's but @keep (made 3): no
 * stdio, which would keep a pipe (libvirt's, -d's) open. */
static void remover_close_fds(int keep)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int fd;

    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    if (keep != 3 && dup2(keep, 3) < 0) {
        _exit(1);
    }
    if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
        long max = sysconf(_SC_OPEN_MAX);

        for (fd = 4; fd < (max > 0 ? max : 65536); fd++) {
            close(fd);
        }
    }
}

G_GNUC_NORETURN static void remover_main(int fd, gpointer data)
{
    GArray *list = g_array_new(FALSE, TRUE, sizeof(SocketFile));
    SocketFile file;

    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    remover_close_fds(fd);
    prctl(PR_SET_NAME, "softprd-unlink", 0, 0, 0);
    /* Stays root: the socket files are root's.  Unlinking needs write
     * access to their directory, which CAP_DAC_OVERRIDE gives, when we
     * have it (a unit's bounding set may not): else none at all. */
    if (!privs_drop((uid_t)-1, (gid_t)-1, PRIVS_CAP(CAP_DAC_OVERRIDE), NULL)) {
        privs_drop((uid_t)-1, (gid_t)-1, 0, NULL);
    }
    for (;;) {
        ssize_t n = read(3, &file, sizeof(file));

        if (n == (ssize_t)sizeof(file)) {
            file.path[sizeof(file.path) - 1] = '\0';
            g_array_append_val(list, file);
        } else if (n == 0 || (n < 0 && errno != EINTR)) {
            break;
        }
    }
    remove_files(list);
    _exit(0);
}

bool sockfile_start_remover(SocketFiles *files, GError **error)
{
    pid_t pid;

    if (files->remover != 0) {
        return true;
    }
    pid = child_start(CHILD_READS, remover_main, NULL, &files->pipe_fd,
                      error);
    if (pid < 0) {
        return false;
    }
    files->remover = pid;
    return true;
}

bool sockfile_add(SocketFiles *files, const char *path, GError **error)
{
    SocketFile file;

    if (!identify(path, &file)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "socket %s vanished or was replaced as it was bound", path);
        return false;
    }
    g_array_append_val(files->files, file);
    if (files->remover != 0 &&
        write(files->pipe_fd, &file, sizeof(file)) != (ssize_t)sizeof(file)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "telling the socket remover about %s: %s", path,
                    g_strerror(errno));
        return false;
    }
    return true;
}

void sockfile_remove_all(SocketFiles *files)
{
    if (files == NULL || files->removed) {
        return;
    }
    files->removed = true;
    if (files->remover == 0) {
        remove_files(files->files);
        return;
    }
    close(files->pipe_fd);
    files->pipe_fd = -1;
    while (waitpid(files->remover, NULL, 0) < 0 && errno == EINTR) {
    }
    files->remover = 0;
}

void sockfile_free(SocketFiles *files)
{
    if (files == NULL) {
        return;
    }
    sockfile_remove_all(files);
    g_array_unref(files->files);
    g_free(files);
}
