/*
 * sandbox: mount namespaces and mounts for daemons under test.
 */
#include "sandbox.h"

/* Where the kernel ignores a mount's source and type, "none" rather than
 * NULL: valgrind takes a NULL there for an error. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) static void fail(const char *fmt, ...)
{
    va_list ap;

    fputs("sandbox: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    _exit(SANDBOX_FAILED);
}

bool sandbox_available(void)
{
    g_autofree char *scratch = g_dir_make_tmp("softpr-sandbox-XXXXXX", NULL);
    int status = -1;
    pid_t pid;

    if (scratch == NULL) {
        return false;
    }
    pid = fork();
    if (pid == 0) {
        /* Quietly: the caller says why it skips. */
        if (unshare(CLONE_NEWNS) != 0 ||
            mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", scratch, "tmpfs", 0, "mode=0700") != 0) {
            _exit(1);
        }
        {
            g_autofree char *upper = g_build_filename(scratch, "u", NULL);
            g_autofree char *work = g_build_filename(scratch, "w", NULL);
            g_autofree char *opts = g_strdup_printf(
                "lowerdir=/dev,upperdir=%s,workdir=%s", upper, work);

            if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0 ||
                mount("overlay", scratch, "overlay", 0, opts) != 0) {
                _exit(1);
            }
        }
        _exit(0);
    }
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    rmdir(scratch);
    return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void sandbox_enter(void)
{
    if (unshare(CLONE_NEWNS) != 0) {
        fail("unshare: %s", g_strerror(errno));
    }
    if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
        fail("making / private: %s", g_strerror(errno));
    }
}

void sandbox_tmpfs(const char *target, unsigned mode)
{
    g_autofree char *opts = g_strdup_printf("mode=%04o", mode);

    if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        fail("tmpfs at %s: %s", target, g_strerror(errno));
    }
}

void sandbox_bind(const char *source, const char *target, bool readonly)
{
    if (mount(source, target, "none", MS_BIND | MS_REC, NULL) != 0) {
        fail("binding %s at %s: %s", source, target, g_strerror(errno));
    }
    if (readonly && mount("none", target, "none",
                          MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) {
        fail("making %s read-only: %s", target, g_strerror(errno));
    }
}

void sandbox_overlay(const char *target, const char *scratch)
{
    g_autofree char *upper = g_build_filename(scratch, "upper", NULL);
    g_autofree char *work = g_build_filename(scratch, "work", NULL);
    g_autofree char *opts = NULL;

    sandbox_tmpfs(scratch, 0755);
    if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0) {
        fail("overlay directories in %s: %s", scratch, g_strerror(errno));
    }
    opts = g_strdup_printf("lowerdir=%s,upperdir=%s,workdir=%s", target, upper,
                           work);
    if (mount("overlay", target, "overlay", 0, opts) != 0) {
        fail("overlay at %s: %s", target, g_strerror(errno));
    }
}

typedef struct MountPoint {
    char *path;
    unsigned long flags; /* its per-mount flags, kept when remounting */
} MountPoint;

/* The per-mount flags in mountinfo's options field. */
static unsigned long mount_flags(const char *options)
{
    static const struct {
        const char *name;
        unsigned long flag;
    } known[] = {
        {"nosuid", MS_NOSUID},         {"nodev", MS_NODEV},
        {"noexec", MS_NOEXEC},         {"noatime", MS_NOATIME},
        {"nodiratime", MS_NODIRATIME}, {"relatime", MS_RELATIME},
    };
    g_auto(GStrv) opts = g_strsplit(options, ",", -1);
    unsigned long flags = 0;
    size_t i;
    size_t j;

    for (i = 0; opts[i] != NULL; i++) {
        for (j = 0; j < G_N_ELEMENTS(known); j++) {
            if (strcmp(opts[i], known[j].name) == 0) {
                flags |= known[j].flag;
            }
        }
    }
    return flags;
}

/* The mounts listed in /proc/self/mountinfo, in order. */
static GArray *mount_points(void)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GArray *points = g_array_new(FALSE, FALSE, sizeof(MountPoint));
    guint i;

    if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL)) {
        fail("cannot read /proc/self/mountinfo");
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", 7);
        MountPoint point;

        if (g_strv_length(f) >= 6) {
            point.path = g_strcompress(f[4]);
            point.flags = mount_flags(f[5]);
            g_array_append_val(points, point);
        }
    }
    return points;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

void sandbox_protect_system(const char *const *writable)
{
    static const char *const api[] = {"/dev", "/proc", "/sys", NULL};
    GArray *points;
    size_t i;

    /* Each writable path becomes a mount of its own first, so that making
     * its parent read-only leaves it as it is. */
    for (i = 0; writable[i] != NULL; i++) {
        sandbox_bind(writable[i], writable[i], false);
    }
    points = mount_points();
    for (i = 0; i < points->len; i++) {
        MountPoint *point = &g_array_index(points, MountPoint, i);
        bool keep = false;
        size_t j;

        for (j = 0; api[j] != NULL && !keep; j++) {
            keep = under(point->path, api[j]);
        }
        for (j = 0; writable[j] != NULL && !keep; j++) {
            keep = under(point->path, writable[j]);
        }
        if (!keep &&
            mount("none", point->path, "none",
                  MS_BIND | MS_REMOUNT | MS_RDONLY | point->flags, NULL) != 0 &&
            errno != EINVAL && errno != ENOENT) {
            fail("making %s read-only: %s", point->path, g_strerror(errno));
        }
    }
}

void sandbox_bind_socket(int fd, const char *path)
{
    struct sockaddr_un addr;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        fail("binding a socket at %s: %s", path, g_strerror(errno));
    }
}
