/*
 * server: the listening sockets and client connections of softprd: the
 * transport, and nothing else.
 *
 * The only module that touches sockets.  Worker threads wait on the
 * connections between requests: the one that wakes reads the request
 * with its descriptor, has dispatch (dispatch.h) identify the initiator
 * and LU, run the command and answer, and sends the answer.  The main
 * thread runs a GLib main loop that accepts connections, negotiates the
 * features, finishes frames that arrive in pieces (a pool runs those
 * requests), reads requests while every worker is busy (the pool runs
 * those too), writes answers the socket did not take at once, and closes.
 * One request at a time per connection.  Every command is answered
 * within lock_timeout_ms of its arrival (BUSY when another process's lock
 * is why), however many arrive at once.  A slow or hostile client only
 * ever occupies its own connection: a request that starts arriving must
 * finish within the request timeout, and the number of connections is
 * bounded.  Stopping closes the listeners, unlinks their socket files,
 * lets the commands in flight finish and answer, then returns.
 */
#ifndef SOFTPR_SERVER_H
#define SOFTPR_SERVER_H

#include <stdbool.h>

#include <glib.h>

#include "engine.h"
#include "identity.h"
#include "store.h"

typedef struct ServerOptions {
    unsigned workers; /* worker threads, and threads in the pool */
    unsigned max_connections;
    unsigned max_connections_per_peer; /* per process; 0: no limit */
    unsigned request_timeout_ms;
    unsigned lock_timeout_ms; /* bound on lock waits, from arrival */
    StoreOptions store;       /* how workers open the database; its
                               * host_id names this host's nexus */
    PrConfig pr;
    IdentityOptions lu; /* how logical units are identified */
    LuMode mode;        /* LUs without a mode of their own */
    unsigned passthrough_timeout_ms;
} ServerOptions;

/* How a listening socket attributes commands to initiators. */
typedef struct ListenerConfig {
    IdentityPolicy identity;
    TransportId initiator; /* with IDENTITY_FIXED */
    uint16_t rtpi;         /* the target port it stands for */
    PeerPolicy peers;      /* who may connect; which peers are VMs */
} ListenerConfig;

typedef struct Server Server;

/*
 * Create a listening Unix socket at @path.  A stale socket file there (one
 * whose server is gone: connecting is refused) is replaced; a socket that
 * still accepts connections, or a file that is not a socket, is refused
 * with @error set, so that a second daemon never takes over a live
 * daemon's path.  Returns the descriptor (non-blocking), or -1.
 */
int server_bind(const char *path, GError **error);

/*
 * Whether server_bind(@path) may go ahead as far as what is at @path now
 * is concerned (nothing, or a stale socket); checks without changing
 * anything, so that a daemon can give up before slower startup work.
 */
bool server_socket_path_free(const char *path, GError **error);

/*
 * Take inherited descriptor @fd (socket activation) as a listener: it
 * must be a listening Unix stream socket; it is made non-blocking, which
 * the main loop's accept() needs whatever the unit said.
 */
bool server_adopt_listener(int fd, GError **error);

/* A server with no listeners yet.  Copies what it keeps of @options. */
Server *server_new(const ServerOptions *options, GError **error);

/*
 * Serve listening socket @fd (from server_bind() or socket activation),
 * attributing its commands as @config says (copied).  A peer that
 * @config->peers does not allow is closed as it connects; an "auto"
 * peer that is not one of its QEMU binaries acts as this host.
 * @unlink_path, when not NULL, is removed when the server stops.
 */
void server_add_listener(Server *server, int fd, const ListenerConfig *config,
                         const char *unlink_path);

/* Serve until server_stop() has been called and everything has drained. */
void server_run(Server *server);

/* Begin stopping; call from the main loop (a signal source, say). */
void server_stop(Server *server);

void server_free(Server *server);

#endif /* SOFTPR_SERVER_H */
