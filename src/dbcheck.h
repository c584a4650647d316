/*
 * dbcheck: proving at startup, before the socket appears, that the
 * daemon will be able to use its database as the user it will run as.
 *
 * libvirt takes the socket file's existence as "the helper is up": a
 * daemon that creates its socket and then finds it cannot write the
 * database leaves QEMU with "Connection refused", or worse, answers
 * every PR OUT with a retryable error forever.  So the check runs first,
 * in a child process that drops privileges exactly as the daemon will
 * (so no sqlite connection crosses a fork), and says in one line which
 * user and which permission failed.
 */
#ifndef SOFTPR_DBCHECK_H
#define SOFTPR_DBCHECK_H

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "store.h"

typedef enum DbCheckResult {
    DBCHECK_OK,
    /* Another process held the database lock past the lock timeout: the
     * daemon can serve (its commands answer BUSY until the lock is
     * free), but could not prove it can write. */
    DBCHECK_BUSY,
    DBCHECK_FAILED,
} DbCheckResult;

/*
 * When @path is the daemon's default database and the daemon, started
 * as root, will run as @uid/@gid ((uid_t)-1: stay root): create its
 * directory (mode 0700) if missing, and give the directory and the
 * database files in it that belong to root to @uid/@gid (systemd's
 * StateDirectory= makes them root's at every start).  Call as root,
 * before dropping privileges; does nothing otherwise.
 */
bool dbcheck_prepare_default_dir(const char *path, uid_t uid, gid_t gid,
                                 GError **error);

/*
 * In a child that calls privs_drop(@uid, @gid, @keep_caps), check that
 * the database of @options can be used: its directory can be reached
 * and written (the rollback journal, or the WAL files, are created
 * there), the file and any journal left in it can be read and written,
 * sqlite opens it (creating or migrating it), and a change that creates
 * the journal can be made and rolled back.  Lock waits end after
 * @options->lock_timeout_ms.  Returns the verdict; with DBCHECK_BUSY and
 * DBCHECK_FAILED, @error says why (naming the user and the permission).
 */
DbCheckResult dbcheck_run(const StoreOptions *options, uid_t uid, gid_t gid,
                          guint64 keep_caps, GError **error);

#endif /* SOFTPR_DBCHECK_H */
