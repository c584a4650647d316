/*
 * store_group: the connections one process keeps to one database, as a
 * group (store.h): the turn they take on the file, and following the
 * file when an administrator replaces or deletes it.
 */
#include "store_int.h"

#include <errno.h>
#include <sys/stat.h>

#include "error.h"

/* The group whose turn this thread holds, to catch nesting. */
static __thread const StoreGroup *turn_held_here;

StoreGroup *store_group_new(const char *path)
{
    StoreGroup *group = g_new0(StoreGroup, 1);
    struct stat st;

    group->path = g_strdup(path);
    group->is_file = store_backend_for(path)->is_file;
    g_mutex_init(&group->lock);
    g_cond_init(&group->free);
    if (group->is_file && stat(path, &st) == 0) {
        group->dev = st.st_dev;
        group->ino = st.st_ino;
    }
    return group;
}

bool store_group_check(StoreGroup *group, guint *generation, GError **error)
{
    struct stat st;
    bool replaced;

    if (!group->is_file) {
        /* A database server's database is not replaced under a path. */
        *generation = (guint)g_atomic_int_get(&group->generation);
        return true;
    }
    if (stat(group->path, &st) != 0) {
        int err = errno;

        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_IO,
                    "database %s is gone (%s): it was deleted or moved "
                    "away; commands fail until a database is put back at "
                    "that path (none is created, which would lose every "
                    "registration)",
                    group->path, g_strerror(err));
        return false;
    }
    g_mutex_lock(&group->lock);
    replaced = st.st_dev != group->dev || st.st_ino != group->ino;
    if (replaced) {
        group->dev = st.st_dev;
        group->ino = st.st_ino;
        g_atomic_int_inc(&group->generation);
    }
    *generation = (guint)g_atomic_int_get(&group->generation);
    g_mutex_unlock(&group->lock);
    if (replaced) {
        g_warning("database %s was replaced by another file (inode %llu): "
                  "reopening the daemon's connections to it",
                  group->path, (unsigned long long)st.st_ino);
    }
    return true;
}

void store_group_free(StoreGroup *group)
{
    if (group == NULL) {
        return;
    }
    g_assert(!group->held);
    g_mutex_clear(&group->lock);
    g_cond_clear(&group->free);
    g_free(group->path);
    g_free(group);
}

bool store_turn_take(Store *store, GError **error)
{
    StoreGroup *group = store->group;
    bool timed_out = false;

    if (group == NULL || store->has_turn) {
        return true;
    }
    /* Nested turns deadlock when two threads nest them in turn. */
    g_assert(turn_held_here == NULL);
    g_mutex_lock(&group->lock);
    group->waiting++;
    while (group->held && !timed_out) {
        timed_out =
            !g_cond_wait_until(&group->free, &group->lock, store->deadline);
    }
    group->waiting--;
    if (!group->held) {
        group->held = true;
        timed_out = false;
    }
    g_mutex_unlock(&group->lock);
    if (timed_out) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_BUSY,
                    "%s: this daemon's other database connection did not "
                    "give its turn back in time",
                    store->path_shown);
        return false;
    }
    store->has_turn = true;
    turn_held_here = group;
    return true;
}

void store_turn_give(Store *store)
{
    StoreGroup *group = store->group;

    if (!store->has_turn) {
        return;
    }
    store->has_turn = false;
    turn_held_here = NULL;
    g_mutex_lock(&group->lock);
    group->held = false;
    if (group->waiting > 0) {
        g_cond_signal(&group->free);
    }
    g_mutex_unlock(&group->lock);
}
