/*
 * sockfile: the socket files softprd bound, and removing exactly those
 * at exit.
 *
 * A file is removed only while it is still the file this process bound
 * (same device, inode and birth time): a socket another daemon bound at
 * the same path later (after ours went stale) is left alone.
 *
 * Once privileges are dropped, the daemon may no longer write the
 * socket's directory (root's /run without CAP_DAC_OVERRIDE, libvirt's
 * domain directory, or any directory once -u is given).  So a root
 * daemon forks a remover before it binds anything: a process that stays
 * root with CAP_DAC_OVERRIDE alone, holds nothing but one end of a pipe
 * (never a listening socket, which would keep accepting), ignores
 * SIGTERM, SIGINT and SIGHUP, learns from the daemon through the pipe
 * which files it bound, and when the pipe closes (the daemon stops or
 * dies, however it dies) removes them and exits.
 */
#ifndef SOFTPR_SOCKFILE_H
#define SOFTPR_SOCKFILE_H

#include <stdbool.h>

#include <glib.h>

typedef struct SocketFiles SocketFiles;

SocketFiles *sockfile_new(void);

/*
 * Fork the remover (see above).  Call as root, before dropping
 * privileges and before binding the sockets it is to remove.
 */
bool sockfile_start_remover(SocketFiles *files, GError **error);

/*
 * Record @path, which this process has just bound, as the file that is
 * there now (and tell the remover, if there is one).
 */
bool sockfile_add(SocketFiles *files, const char *path, GError **error);

/*
 * Remove every recorded file that is still the one recorded: through
 * the remover when there is one (this waits for it), else directly.
 * Idempotent; allocates nothing, so that an exit path may call it.
 */
void sockfile_remove_all(SocketFiles *files);

/* Remove what is left to remove (sockfile_remove_all()), then free. */
void sockfile_free(SocketFiles *files);

#endif /* SOFTPR_SOCKFILE_H */
