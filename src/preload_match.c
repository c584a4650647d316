/*
 * preload_match: SOFTPR_DEVICES against a descriptor's paths.
 */
#include "preload_match.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "identity.h"

static bool entry_matches(const char *entry, const char *path)
{
    char real[PATH_MAX];

    if (fnmatch(entry, path, FNM_PATHNAME) == 0) {
        return true;
    }
    /* A plain name may reach the file through symbolic links. */
    return strpbrk(entry, "*?[") == NULL && realpath(entry, real) != NULL &&
           strcmp(real, path) == 0;
}

bool preload_match_path(const char *patterns, const char *path)
{
    const char *p = patterns;

    while (p != NULL && *p != '\0') {
        const char *end = strchrnul(p, ':');
        g_autofree char *entry = g_strndup(p, (gsize)(end - p));

        if (*entry != '\0' && entry_matches(entry, path)) {
            return true;
        }
        p = *end == ':' ? end + 1 : end;
    }
    return false;
}

/* The canonical path @fd was opened at, or NULL. */
static char *fd_path(int fd)
{
    char link[64];

    g_snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    return g_file_read_link(link, NULL);
}

static PreloadKind match_fd(int fd, const char *patterns)
{
    struct stat st;
    g_autofree char *path = NULL;
    g_autofree char *backing = NULL;

    if (fstat(fd, &st) != 0 ||
        !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))) {
        return PRELOAD_NONE;
    }
    path = fd_path(fd);
    backing = identity_loop_backing_path(fd, &st, "/sys");
    if (!(path != NULL && preload_match_path(patterns, path)) &&
        !(backing != NULL && preload_match_path(patterns, backing))) {
        return PRELOAD_NONE;
    }
    if (S_ISREG(st.st_mode)) {
        return PRELOAD_FILE;
    }
    return backing != NULL ? PRELOAD_LOOP : PRELOAD_DEVICE;
}

PreloadKind preload_match_fd(int fd, const char *patterns)
{
    int saved = errno;
    PreloadKind kind = PRELOAD_NONE;

    if (patterns != NULL && *patterns != '\0' && fd >= 0) {
        kind = match_fd(fd, patterns);
    }
    errno = saved;
    return kind;
}
