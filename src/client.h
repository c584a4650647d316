/*
 * client: the client side of the pr-helper protocol, as QEMU's
 * pr-manager-helper speaks it: connect, exchange feature words, send a
 * CDB with a disk descriptor (and a PR OUT parameter list), read the
 * reply.  Used by the tests and the softpr tool.
 *
 * Replies are checked the way QEMU asserts them: a PR IN payload no
 * longer than the allocation length, no payload for PR OUT.
 */
#ifndef SOFTPR_CLIENT_H
#define SOFTPR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "tid.h"
#include "wire.h"

typedef struct ClientReply {
    uint8_t status;
    uint8_t sense[WIRE_SENSE_LEN];
    size_t data_len;
    uint8_t data[WIRE_DATA_MAX];
} ClientReply;

typedef struct PrClient PrClient;

/*
 * Connect to the daemon at @socket_path, read its feature word and
 * request @features.  Every later read and write fails after
 * @timeout_ms without progress.
 */
PrClient *client_connect(const char *socket_path, uint32_t features,
                         unsigned timeout_ms, GError **error);

/*
 * Connect to a socket whose identity policy is "client" and act as
 * @initiator: request feature bit 0 and declare it.  Fails when the
 * daemon does not accept the declaration.
 */
PrClient *client_connect_as(const char *socket_path,
                            const TransportId *initiator, unsigned timeout_ms,
                            GError **error);

/* The feature word the daemon sent. */
uint32_t client_server_features(const PrClient *client);

/* The connected socket, for tests that speak the protocol by hand. */
int client_socket(const PrClient *client);

/*
 * Send the 16-byte @cdb with @disk_fd attached, and for PR OUT the
 * @data_len parameter bytes.
 */
bool client_send(PrClient *client, const uint8_t *cdb, int disk_fd,
                 const uint8_t *data, size_t data_len, GError **error);

/*
 * Read the reply to the request whose CDB was @cdb into @reply.  Fails
 * with SOFTPR_ERROR_PROTOCOL when the connection closes or the reply
 * breaks the protocol.
 */
bool client_receive(PrClient *client, const uint8_t *cdb, ClientReply *reply,
                    GError **error);

/* client_send(), then client_receive(). */
bool client_command(PrClient *client, const uint8_t *cdb, int disk_fd,
                    const uint8_t *data, size_t data_len, ClientReply *reply,
                    GError **error);

void client_close(PrClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PrClient, client_close)

#endif /* SOFTPR_CLIENT_H */
