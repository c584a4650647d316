/*
 * systemd: socket activation (LISTEN_PID/LISTEN_FDS) and readiness
 * notification ($NOTIFY_SOCKET), speaking systemd's documented
 * protocols directly instead of linking libsystemd.
 */
#ifndef SOFTPR_SYSTEMD_H
#define SOFTPR_SYSTEMD_H

#include <glib.h>

/* The first descriptor passed by socket activation. */
#define SYSTEMD_FIRST_FD 3

/*
 * How many listening descriptors systemd passed to this process (0 when
 * it was not socket-activated).  The LISTEN_* variables are removed from
 * the environment and the descriptors made close-on-exec.
 */
int systemd_listen_fds(void);

/*
 * Send @state ("READY=1", "STOPPING=1", ...) to the service manager when
 * $NOTIFY_SOCKET is set.  Returns false with @error set when sending
 * failed; true when sent or when there is no service manager.
 */
gboolean systemd_notify(const char *state, GError **error);

#endif /* SOFTPR_SYSTEMD_H */
