/*
 * fuzz_wire: libFuzzer harness for the pure modules a client can reach:
 * bytes and descriptor counts go through the wire reader in chunks the
 * input chooses, through the feature-word negotiation and, on a socket
 * that lets clients declare their initiator, the TransportID declaration
 * (feature bit 0); every complete request runs through the engine
 * against one persistent LU state, and its reply is encoded.  Checks
 * QEMU's reply assertions, the state's holder invariant and that a
 * declared TransportID encodes back to what was decoded.
 *
 * Input: a sequence of (control, length, bytes...) records.  control
 * bits 0-1: descriptors with the chunk; bit 2: which of two nexuses a
 * request comes from on a QEMU socket; bit 3: strict unit attentions for
 * this request; bit 4, on the record that completes a connection's
 * feature word: the socket is one where clients declare their initiator.
 * tests/fuzz/corpus holds seeds in this format and fuzz_wire.dict the
 * tokens that matter (tests/fuzz/seeds.sh writes the seeds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "engine.h"
#include "scsi.h"
#include "tid.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The target port of the socket where clients declare their initiator. */
#define CLIENT_SOCKET_RTPI 2

/* One connection as the server sees it (src/server.c). */
typedef struct Conn {
    WireReader reader;
    bool client_socket; /* the initiator is the one declared */
    PrNexus declared;
} Conn;

static void conn_start(Conn *conn)
{
    memset(conn, 0, sizeof(*conn));
    wire_reader_init(&conn->reader);
}

/*
 * The feature word arrived: what the server does with it, as in
 * conn_features().  Returns false when the connection must close.
 */
static bool conn_features(Conn *conn, bool client_socket)
{
    uint32_t supported = client_socket ? WIRE_FEATURE_INITIATOR_ID : 0;
    uint32_t requested = conn->reader.features;

    conn->client_socket = client_socket;
    if (requested & ~supported) {
        return false;
    }
    if (client_socket) {
        if (!(requested & WIRE_FEATURE_INITIATOR_ID)) {
            return false;
        }
        wire_reader_expect_identity(&conn->reader);
        return true;
    }
    wire_reader_next_request(&conn->reader);
    return true;
}

/*
 * The declared TransportID arrived: accepted only when it decodes whole,
 * as in conn_identity().  What was decoded must encode back to a
 * TransportID that decodes to the same initiator.
 */
static bool conn_identity(Conn *conn)
{
    uint8_t encoded[TID_ENCODED_MAX];
    TransportId again;
    size_t used = 0;
    size_t len;
    char *name;

    if (tid_decode(conn->reader.identity, conn->reader.identity_len,
                   &conn->declared.initiator, &used) != TID_OK ||
        used != conn->reader.identity_len) {
        return false;
    }
    len = tid_encode(&conn->declared.initiator, encoded);
    if (len != tid_encoded_len(&conn->declared.initiator) ||
        len > TID_ENCODED_MAX ||
        tid_decode(encoded, len, &again, &used) != TID_OK || used != len ||
        !tid_equal(&again, &conn->declared.initiator)) {
        abort();
    }
    name = tid_to_string(&conn->declared.initiator);
    g_free(name);
    conn->declared.rtpi = CLIENT_SOCKET_RTPI;
    wire_reader_next_request(&conn->reader);
    return true;
}

/* Run a complete request and check the reply QEMU would decode. */
static void conn_request(Conn *conn, const PrNexus *nexus, PrConfig *config,
                         PrState *state)
{
    static uint8_t out[WIRE_REPLY_MAX];
    static PrResult result;
    const WireRequest *req = &conn->reader.request;
    WireReplyHeader h;
    size_t total;

    engine_execute(config, nexus, req->cdb, req->data, req->data_len, state,
                   &result);
    if (!engine_state_consistent(state)) {
        abort();
    }
    total =
        wire_reply_encode(out, req->cdb, result.status, result.sense,
                          sizeof(result.sense), result.data, result.data_len);
    wire_reply_header_decode(out, &h);
    /* What QEMU asserts. */
    if (total != WIRE_REPLY_HEADER_LEN + (size_t)h.size || h.size < 0 ||
        (req->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN &&
         (size_t)h.size > wire_transfer_length(req->cdb)) ||
        (req->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT && h.size != 0)) {
        abort();
    }
    wire_reader_next_request(&conn->reader);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[] = {1, CLIENT_SOCKET_RTPI};
    PrState *state = pr_state_new();
    PrNexus nexus[2];
    PrConfig config = {.ports = ports,
                       .n_ports = 2,
                       .max_registrations = 8,
                       .ua_policy = PR_UA_RECORD};
    Conn conn;
    size_t off = 0;

    memset(nexus, 0, sizeof(nexus));
    tid_from_iscsi_name("iqn.2026-11.test:a", &nexus[0].initiator, NULL);
    tid_from_iscsi_name("iqn.2026-11.test:b", &nexus[1].initiator, NULL);
    nexus[0].rtpi = 1;
    nexus[1].rtpi = 2;
    conn_start(&conn);

    while (off + 2 <= size) {
        uint8_t control = data[off];
        size_t len = data[off + 1];
        size_t want = wire_reader_want(&conn.reader);
        bool open = true;
        WireEvent ev;

        off += 2;
        if (len > size - off) {
            len = size - off;
        }
        if (len > want) {
            len = want;
        }
        if (len == 0) {
            continue;
        }
        ev = wire_reader_feed(&conn.reader, data + off, len, control & 3);
        off += len;
        if (ev == WIRE_FEATURES) {
            open = conn_features(&conn, (control & 0x10) != 0);
        } else if (ev == WIRE_IDENTITY) {
            open = conn_identity(&conn);
        } else if (ev == WIRE_REQUEST) {
            config.ua_policy = (control & 8) ? PR_UA_REPORT : PR_UA_RECORD;
            conn_request(&conn,
                         conn.client_socket ? &conn.declared
                                            : &nexus[(control >> 2) & 1],
                         &config, state);
        } else if (ev != WIRE_NEED_MORE) {
            open = false;
        }
        if (!open) {
            /* A violation ends the connection; the next one starts. */
            conn_start(&conn);
        }
    }
    pr_state_free(state);
    return 0;
}
