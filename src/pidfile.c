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

bool pidfile_write(const char *path, GError **error)
{
    for (;;) {
        struct flock lock;
        struct stat by_fd;
        struct stat by_path;
        char text[32];
        int len;
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

        if (fd < 0) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                        "Cannot open pid file %s: %s", path, g_strerror(errno));
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
        if (fstat(fd, &by_fd) != 0 || stat(path, &by_path) != 0 ||
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
