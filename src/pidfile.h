/*
 * pidfile: the process id file, locked for the life of the process so
 * that a second daemon on the same file refuses to start.
 */
#ifndef SOFTPR_PIDFILE_H
#define SOFTPR_PIDFILE_H

#include <stdbool.h>

#include <glib.h>

/*
 * Create or open @path (mode 0600), take an fcntl write lock on it, and
 * write "<pid>\n".  The last component is never followed if it is a
 * symbolic link, and what is opened must be a regular file owned by the
 * effective user with no other name: it is written before privileges
 * are dropped, often in a directory others can write.  The descriptor
 * stays open (and locked) until exit; the file is left behind, as
 * qemu-pr-helper leaves its own.
 */
bool pidfile_write(const char *path, GError **error);

#endif /* SOFTPR_PIDFILE_H */
