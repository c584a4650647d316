/*
 * inproc: the real server, command and store modules running in a thread
 * of the test process, reached through a real Unix socket, so that a
 * test can put an sqlite VFS shim under them.
 */
#ifndef SOFTPR_INPROC_H
#define SOFTPR_INPROC_H

#include "testutil.h"

#include "server.h"

typedef struct Inproc Inproc;

/*
 * Serve socket @socket_path with @options (their strings must outlive
 * the server) and a fixed initiator @initiator on target port 1.
 */
Inproc *inproc_start(const char *socket_path, const ServerOptions *options,
                     const char *initiator);

/* Stop the server as SIGTERM would, and join its thread. */
void inproc_stop(Inproc *inproc);

#endif /* SOFTPR_INPROC_H */
