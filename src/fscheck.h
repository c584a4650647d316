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
 *
 * An NFSv4 server tells clients apart by the identity string each
 * presents (Linux builds it from the hostname and the per-network-
 * namespace client identifier): two hosts that present the same one are
 * one client to the server, which drops the first one's locks when the
 * second mounts, and then both hold sqlite's exclusive lock at once.
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

/*
 * The NFSv4 client identity (nfs_client_id4 co_ownerid) that Linux
 * presents for the mount @info, built as the kernel builds it: for
 * NFSv4.1 and later "Linux NFSv4.<minor> [<uniquifier>/]<nodename>",
 * where the uniquifier is @identifier (the network namespace's
 * /sys/fs/nfs/net/nfs_client/identifier) or else @unique_id (the
 * nfs.nfs4_unique_id module parameter); for NFSv4.0 the client and
 * server addresses.  NULL or "" for @identifier or @unique_id: not set.
 * Returns NULL for anything but an NFSv4 mount.
 */
char *fscheck_nfs_identity_build(const FsInfo *info, const char *nodename,
                                 const char *identifier,
                                 const char *unique_id);

/*
 * fscheck_nfs_identity_build() with this process's hostname (the UTS
 * namespace it mounts from) and the identifier of its network namespace
 * as sysfs shows them.  NULL for anything but an NFSv4 mount.
 */
char *fscheck_nfs_identity(const FsInfo *info);

/*
 * Log (g_message) the NFSv4 client identity this host presents for the
 * mount @info, and that each host sharing the database needs its own.
 * Does nothing for other filesystems.
 */
void fscheck_log_nfs_identity(const FsInfo *info);

/*
 * Given the @n hosts' names @hosts and the NFSv4 client identities
 * @identities they present for the one export (a NULL identity is not
 * NFSv4 and is skipped), fail naming the first two hosts that present
 * the same identity, the identity, and the fix.
 */
bool fscheck_nfs_identities_distinct(const char *const *hosts,
                                     const char *const *identities, guint n,
                                     GError **error);

#endif /* SOFTPR_FSCHECK_H */
