/*
 * systemd: socket activation (LISTEN_PID/LISTEN_FDS) and readiness
 * notification ($NOTIFY_SOCKET), speaking systemd's documented
 * protocols directly instead of linking libsystemd.
 *
 * Both are honoured only when systemd started this very process: a
 * helper that libvirtd (itself a systemd service) spawns inherits
 * libvirtd's NOTIFY_SOCKET, and telling libvirtd's manager READY=1 from
 * another PID is wrong.  LISTEN_PID must be our PID (sd_listen_fds(3));
 * NOTIFY_SOCKET is used when SYSTEMD_EXEC_PID (systemd 248 and later)
 * is our PID, or, without SYSTEMD_EXEC_PID, when we were socket-activated.
 */
#ifndef SOFTPR_SYSTEMD_H
#define SOFTPR_SYSTEMD_H

#include <glib.h>

/* The first descriptor passed by socket activation. */
#define SYSTEMD_FIRST_FD 3

/*
 * Read and remove what systemd passed in the environment (LISTEN_*,
 * NOTIFY_SOCKET, SYSTEMD_EXEC_PID).  Call once, first thing, before any
 * fork.  Returns how many listening descriptors were passed (0 when not
 * socket-activated); they are made close-on-exec.  *@notify_ignored is
 * set to a sentence saying why an inherited NOTIFY_SOCKET is not ours,
 * or NULL (g_free() it).
 */
int systemd_setup(char **notify_ignored);

/*
 * Send @state ("READY=1", "STOPPING=1", ...) to the service manager
 * that started us, if any.  Returns false with @error set when sending
 * failed; true when sent or when there is no manager to tell.
 */
gboolean systemd_notify(const char *state, GError **error);

#endif /* SOFTPR_SYSTEMD_H */
