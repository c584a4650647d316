/*
 * store_check: what `softpr` and softprd check about a database, over
 * any backend: its own consistency check, that this process may change
 * it, and a backup that is never half-written under its name.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "error.h"

bool store_check_integrity(Store *store, gint64 deadline, GError **error)
{
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *list = NULL;
    bool ok;

    if (!store_begin(store, false, deadline, error)) {
        return false;
    }
    ok = store->backend->check_integrity(store, problems, error);
    store_rollback(store);
    if (!ok) {
        return false;
    }
    if (problems->len == 0) {
        return true;
    }
    g_ptr_array_add(problems, NULL);
    list = g_strjoinv("; ", (char **)problems->pdata);
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                "%s: integrity check failed: %s", store->path_shown,
                list);
    return false;
}

bool store_check_writable(Store *store, gint64 deadline, GError **error)
{
    bool ok;

    if (!store_begin(store, true, deadline, error)) {
        return false;
    }
    ok = store->backend->check_writable(store, error);
    store_rollback(store);
    return ok;
}

/* fsync() @path (a file or a directory). */
static bool sync_path(const char *path, GError **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO, "syncing %s: %s",
                    path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    close(fd);
    return true;
}

/* Give the synced copy @tmp the name @dest (not over a file unless
 * @replace), and sync the directory. */
static bool backup_publish(const char *tmp, const char *dest, bool replace,
                           GError **error)
{
    g_autofree char *dir = g_path_get_dirname(dest);

    if (!sync_path(tmp, error)) {
        return false;
    }
    if (replace ? rename(tmp, dest) != 0 : link(tmp, dest) != 0) {
        int err = errno;

        g_set_error(error, SOFTPR_ERROR,
                    err == EEXIST ? SOFTPR_ERROR_FAILED : SOFTPR_ERROR_IO,
                    err == EEXIST ? "%s exists already (nothing written)"
                                  : "writing %s: %s",
                    dest, g_strerror(err));
        return false;
    }
    if (!replace) {
        unlink(tmp);
    }
    return sync_path(dir, error);
}

bool store_backup(Store *store, const char *dest, bool replace, gint64 deadline,
                  GError **error)
{
    g_autofree char *tmp = g_strconcat(dest, ".XXXXXX", NULL);
    bool ok;
    int fd;

    if (store->backend->backup == NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_FAILED,
                    "%s: the %s backend has no file to back up; use the "
                    "database's own tools",
                    store->path_shown, store->backend->name);
        return false;
    }
    fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "backup: cannot create a file beside %s: %s", dest,
                    g_strerror(errno));
        return false;
    }
    close(fd);
    /* The snapshot: a read transaction. */
    ok = store_begin(store, false, deadline, error) &&
         store->backend->backup(store, tmp, error);
    store_rollback(store);
    ok = ok && backup_publish(tmp, dest, replace, error);
    if (!ok) {
        unlink(tmp);
    }
    return ok;
}
