/*
 * defaults: where softprd listens when nothing says otherwise, so that
 * the daemon and its clients (libsoftpr-preload.so) agree on it.
 */
#ifndef SOFTPR_DEFAULTS_H
#define SOFTPR_DEFAULTS_H

/*
 * The default socket: /run/softprd.sock for root, else softprd.sock in
 * the user's runtime directory ($XDG_RUNTIME_DIR).  g_free() it.
 */
char *defaults_socket_path(void);

#endif /* SOFTPR_DEFAULTS_H */
