/*
 * dispatch: one PERSISTENT RESERVE command of a peer, from its decoded
 * request to its answer, without sockets.
 *
 * It decides who sent the command (the initiator a peer is attributed
 * to: a fixed name, this host, the VM of a QEMU peer looked up in the
 * database's registry, or the one the client declared), which logical
 * unit the disk descriptor is, and who answers: the device (passthrough)
 * or the database.  A PR IN that only reads runs on the calling thread
 * with a database connection from a pool; every write (a PR OUT, or a
 * PR IN that drops a unit attention) goes to the writer's group commit,
 * so that the daemon's writes never wait for each other's locks.  The
 * server only moves bytes: it hands dispatch_run() a request and sends
 * the answer dispatch gives back.
 */
#ifndef SOFTPR_DISPATCH_H
#define SOFTPR_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "engine.h"
#include "identity.h"
#include "store.h"

typedef struct DispatchOptions {
    StoreOptions store; /* how database connections are opened; its
                         * host_id names this host's nexus */
    PrConfig pr;
    IdentityOptions lu;              /* how logical units are identified */
    LuMode mode;                     /* LUs without a mode of their own */
    unsigned lock_timeout_ms;        /* bound on lock waits, from arrival */
    unsigned passthrough_timeout_ms; /* 0: the default */
} DispatchOptions;

typedef struct Dispatch Dispatch;

/*
 * Who a peer's commands come from.  One per connection; only the thread
 * running that peer's command touches it, so one command at a time.
 */
typedef struct DispatchPeer {
    guint64 id;    /* the connection's number, for the log */
    pid_t pid;     /* the peer process (-1: unknown) */
    PeerInfo info; /* its command line, with an "auto" attribution */
    char *vm_key;  /* its VM's registry key, until resolved */
    PrNexus nexus; /* valid when nexus_ready */
    bool nexus_ready;
    guint nexus_file; /* the database generation the VM was looked up in */
} DispatchPeer;

/* A command to run. */
typedef struct DispatchRequest {
    const uint8_t *cdb;  /* 16 bytes */
    const uint8_t *data; /* PR OUT parameter list */
    size_t data_len;
    int fd;             /* the disk descriptor (taken); -1: not received */
    gint64 received_at; /* monotonic; the deadline counts from there */
    DispatchPeer *peer;
} DispatchRequest;

/*
 * The answer to a request: @result (status, sense, payload) is the
 * callback's to g_free().  Called exactly once per dispatch_run(), on
 * the calling thread or on the thread that commits the write.
 */
typedef void (*DispatchDone)(PrResult *result, gpointer user_data);

/*
 * A dispatcher with the settings @options (copied).  Fails when this
 * host's initiator name cannot be made from its host id.  Opens no
 * database yet.
 */
Dispatch *dispatch_new(const DispatchOptions *options, GError **error);

/* Close its database connections; no command may be running. */
void dispatch_free(Dispatch *dispatch);

/*
 * Attribute the commands of peer process @pid on a socket with policy
 * @identity (@fixed with IDENTITY_FIXED), relative target port @rtpi and
 * peers @peers: a fixed name, or with IDENTITY_AUTO the VM of a QEMU
 * peer (resolved on its first command) or else this host.  With
 * IDENTITY_CLIENT the nexus waits for dispatch_peer_declare().
 */
void dispatch_peer_init(Dispatch *dispatch, DispatchPeer *peer, guint64 id,
                        pid_t pid, IdentityPolicy identity,
                        const TransportId *fixed, uint16_t rtpi,
                        const PeerPolicy *peers);

/* The client declared initiator @tid: its commands come from it. */
void dispatch_peer_declare(DispatchPeer *peer, const TransportId *tid);

void dispatch_peer_clear(DispatchPeer *peer);

/*
 * Run @request and answer it through @done.  Its cdb, data and peer must
 * stay valid until then; its fd is closed here (it is the client's: its
 * flags are never changed).  A request without a descriptor is answered
 * BUSY, for the client to retry; one whose database lock is not obtained
 * within lock_timeout_ms of its arrival is answered BUSY too.
 */
void dispatch_run(Dispatch *dispatch, const DispatchRequest *request,
                  DispatchDone done, gpointer user_data);

#endif /* SOFTPR_DISPATCH_H */
