/*
 * fscheck: which filesystem the database lives on, and whether sqlite's
 * locks on it keep hosts apart.
 *
 * sqlite serializes writers with POSIX (fcntl) locks.  On a filesystem
 * that several hosts mount, those locks must go through the server or
 * the cluster lock manager: NFS mounted with nolock or local_lock=, GFS2
 * or OCFS2 with localflocks, and CIFS with nobrl keep them on one host,
 * and then two hosts write at once.  WAL needs shared memory, which hosts
 * do not share.  Such configurations are refused.
 */
#ifndef SOFTPR_FSCHECK_H
#define SOFTPR_FSCHECK_H

#include <stdbool.h>

#include <glib.h>

#include "store.h"

typedef struct FsInfo {
    char *fstype; /* as /proc/self/mountinfo names it */
    char *mount_point;
    char *source;
    char *options; /* mount and superblock options, comma-separated */
    bool shared;   /* a filesystem several hosts mount */
} FsInfo;

/*
 * Find the mount holding @path (canonical, absolute) in the text of
 * /proc/self/mountinfo.  Returns false when no line covers it.
 */
bool fscheck_parse_mountinfo(const char *mountinfo, const char *path,
                             FsInfo *info);

/* Inspect the filesystem holding @path (which must exist). */
bool fscheck_inspect(const char *path, FsInfo *info, GError **error);

/* Refuse what would let two hosts write the database at once. */
bool fscheck_verdict(const FsInfo *info, StoreJournal journal, GError **error);

void fscheck_info_clear(FsInfo *info);

#endif /* SOFTPR_FSCHECK_H */
