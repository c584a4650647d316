/*
 * pidfile: a locked process id file.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/*
 * What was opened must be a plain file of ours with one name: a FIFO,
 * a device, another user's file or a hard link to some other file are
 * what someone who can write the directory may have planted there.
 */
static bool check_opened(int fd, const char *path, GError **error)
{
    struct stat st;
    const char *why = NULL;

    if (fstat(fd, &st) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "Cannot check pid file %s: %s", path, g_strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        why = "it is not a regular file";
    } else if (st.st_uid != geteuid()) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "Refusing pid file %s: it belongs to uid %u, not to uid "
                    "%u; remove it",
                    path, (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    } else if (st.st_nlink != 1) {
        why = "it has other names (hard links); remove it";
    }
    if (why != NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "Refusing pid file %s: %s", path, why);
        return false;
    }
    return true;
}

bool pidfile_write(const char *path, GError **error)
{
    for (;;) {
        struct flock lock;
        struct stat by_fd;
        struct stat by_path;
        char text[32];
        int len;
        /* No O_NOFOLLOW means a planted symlink would have us, as root,
         * write where it points; O_NONBLOCK keeps a FIFO from blocking. */
        int fd =
            open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                 0600);

        if (fd < 0) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                        "Cannot open pid file %s: %s", path,
                        errno == ELOOP   ? "it is a symbolic link"
                        : errno == ENXIO ? "it is not a regular file (a "
                                           "FIFO or a socket)"
                                         : g_strerror(errno));
            return false;
        }
        if (!check_opened(fd, path, error)) {
            close(fd);
            return false;
        }
        memset(&lock, 0, sizeof(lock));
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        if (fcntl(fd, F_SETLK, &lock) != 0) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                        "Cannot lock pid file %s: %s", path, g_strerror(errno));
            close(fd);
            return false;
        }
        /* Someone may have replaced the file between open and lock. */
        if (fstat(fd, &by_fd) != 0 || lstat(path, &by_path) != 0 ||
            by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev) {
            close(fd);
            continue;
        }
        len = snprintf(text, sizeof(text), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) != 0 || write(fd, text, (size_t)len) != len) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                        "Cannot write pid file %s: %s", path,
                        g_strerror(errno));
            close(fd);
            return false;
        }
        /* Deliberately kept open: the lock lives as long as we do. */
        return true;
    }
}
