/*
 * daemonize: the process around softprd's startup: descriptors 0-2 kept
 * open, -d's fork into the background with the parent waiting for the
 * child's verdict (so that -d still gives a one-line error and a
 * non-zero status), and the detaching once the daemon serves.
 */
#ifndef SOFTPR_DAEMONIZE_H
#define SOFTPR_DAEMONIZE_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

/*
 * Open /dev/null on whichever of descriptors 0, 1 and 2 is closed: the
 * next open() would reuse it, and a log line would then land in a
 * listening socket or the database.  Best effort.
 */
void daemonize_reserve_stdio(void);

/*
 * Fork into the background.  The parent does not return: it exits 0
 * once the child calls daemonize_ready(), else 1 with the line the child
 * sent through daemonize_report_failure() on stderr.  The child returns
 * true in a session of its own, in /; false with @error when that failed.
 */
bool daemonize_start(GError **error);

/*
 * Tell a waiting parent the startup failure @line (@len bytes, ending in
 * a newline) for it to print.  Returns false when no parent waits.  Async-
 * signal-safe and allocation-free: called on the way to exit().
 */
bool daemonize_report_failure(const char *line, size_t len);

/*
 * The daemon serves: release a waiting parent (exit 0) and point
 * descriptors 0-2 at /dev/null.  Nothing without daemonize_start().
 */
void daemonize_ready(void);

#endif /* SOFTPR_DAEMONIZE_H */
