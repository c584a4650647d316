/*
 * wire: the pr-helper protocol spoken between QEMU's pr-manager-helper
 * and softprd (QEMU docs/interop/pr-helper.rst), as a pure codec.
 *
 * Connection: the daemon writes a 4-byte feature word, the client answers
 * with the features it requests.  Each request is a 16-byte CDB carrying
 * exactly one file descriptor (SCM_RIGHTS) on any chunk of it, followed
 * for PERSISTENT RESERVE OUT by be16(CDB bytes 7-8) parameter bytes, at
 * most WIRE_DATA_MAX.  Each reply is a big-endian int32 status, int32
 * payload size, 96 bytes of sense data, then the payload.
 *
 * Everything is big-endian.  No syscalls here: the server moves bytes and
 * counts descriptors, this module decides what they mean.
 */
#ifndef SOFTPR_WIRE_H
#define SOFTPR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_FEATURES_LEN 4
#define WIRE_CDB_LEN 16
#define WIRE_DATA_MAX 8192
#define WIRE_SENSE_LEN 96
#define WIRE_REPLY_HEADER_LEN (4 + 4 + WIRE_SENSE_LEN)
#define WIRE_REPLY_MAX (WIRE_REPLY_HEADER_LEN + WIRE_DATA_MAX)

/*
 * Feature bits.  QEMU requests none.  Bit 0 (initiator identity) is a
 * softpr extension: right after its feature word the client sends a
 * big-endian 2-byte length and an SPC-4 TransportID naming the initiator
 * it acts for; the daemon answers a 4-byte word, 0 for accepted, or
 * closes the connection.
 */
#define WIRE_FEATURE_INITIATOR_ID 0x00000001u

/* Bounds on the declared TransportID (SPC-4 7.6.4: at least 24 bytes). */
#define WIRE_IDENTITY_MIN 24
#define WIRE_IDENTITY_MAX 256
#define WIRE_IDENTITY_ACCEPTED 0u

/* What feeding bytes to a WireReader produced. */
typedef enum WireEvent {
    WIRE_NEED_MORE, /* frame incomplete: feed wire_reader_want() more */
    WIRE_FEATURES,  /* the client's feature word is complete */
    WIRE_IDENTITY,  /* the declared TransportID is complete */
    WIRE_REQUEST,   /* a request is complete in reader->request */
    /* Protocol violations: the connection must be closed. */
    WIRE_ERR_FD_MISSING,    /* a CDB arrived without a file descriptor */
    WIRE_ERR_FD_EXTRA,      /* more than one descriptor for one request */
    WIRE_ERR_FD_UNEXPECTED, /* a descriptor outside the CDB */
    WIRE_ERR_OPCODE,        /* neither PERSISTENT RESERVE IN nor OUT */
    WIRE_ERR_LENGTH,        /* transfer length above WIRE_DATA_MAX */
    WIRE_ERR_IDENTITY,      /* a declared TransportID length out of bounds */
} WireEvent;

typedef struct WireRequest {
    uint8_t cdb[WIRE_CDB_LEN];
    size_t data_len; /* PR OUT parameter bytes received */
    uint8_t data[WIRE_DATA_MAX];
} WireRequest;

typedef enum WirePhase {
    WIRE_PHASE_FEATURES,
    WIRE_PHASE_IDENTITY_LEN,
    WIRE_PHASE_IDENTITY,
    WIRE_PHASE_CDB,
    WIRE_PHASE_DATA,
} WirePhase;

/* Incremental decoder for the client-to-daemon direction. */
typedef struct WireReader {
    WirePhase phase;
    size_t have;  /* bytes of the current phase received */
    unsigned fds; /* descriptors received for the current request */
    uint8_t features_buf[WIRE_FEATURES_LEN];
    uint32_t features;   /* valid after WIRE_FEATURES */
    size_t identity_len; /* valid after WIRE_IDENTITY */
    uint8_t identity[WIRE_IDENTITY_MAX];
    WireRequest request;
} WireReader;

/* Start a connection: the client's feature word comes first. */
void wire_reader_init(WireReader *reader);

/* After WIRE_FEATURES, WIRE_IDENTITY or WIRE_REQUEST: expect the next
 * request. */
void wire_reader_next_request(WireReader *reader);

/* After WIRE_FEATURES with WIRE_FEATURE_INITIATOR_ID granted: expect the
 * length and TransportID of the declared initiator. */
void wire_reader_expect_identity(WireReader *reader);

/*
 * How many bytes the current frame still needs.  The server reads at most
 * this many, so descriptors always belong to the frame they came with.
 */
size_t wire_reader_want(const WireReader *reader);

/* True when part of a frame has arrived and the rest has not. */
bool wire_reader_mid_frame(const WireReader *reader);

/*
 * Consume @len bytes (at most wire_reader_want()) that arrived together
 * with @n_fds descriptors.  Returns WIRE_NEED_MORE, WIRE_FEATURES,
 * WIRE_IDENTITY, WIRE_REQUEST or a violation; after a violation the
 * reader is dead.
 */
WireEvent wire_reader_feed(WireReader *reader, const uint8_t *buf, size_t len,
                           unsigned n_fds);

/* A short sentence describing a violation, for the log. */
const char *wire_event_describe(WireEvent event);

/* Transfer length as QEMU frames it: CDB bytes 7-8. */
uint16_t wire_transfer_length(const uint8_t *cdb);

/* Encode and decode a 4-byte feature word. */
void wire_features_encode(uint8_t *out, uint32_t features);
uint32_t wire_features_decode(const uint8_t *in);

/*
 * Encode a reply to the request whose CDB is @cdb into @out (at least
 * WIRE_REPLY_MAX bytes); returns the number of bytes to send.
 *
 * QEMU aborts the whole VM when a PR IN reply is longer than the
 * allocation length or a PR OUT reply carries a payload, so this is the
 * one place that enforces it: a payload is sent only for PR IN with GOOD
 * status, truncated to the allocation length.  Sense is sent only with
 * CHECK CONDITION; a CHECK CONDITION without sense gets INTERNAL TARGET
 * FAILURE rather than an all-zero sense buffer.
 */
size_t wire_reply_encode(uint8_t *out, const uint8_t *cdb, uint8_t status,
                         const uint8_t *sense, size_t sense_len,
                         const uint8_t *payload, size_t payload_len);

/* A decoded reply header (client side). */
typedef struct WireReplyHeader {
    int32_t status;
    int32_t size;
    uint8_t sense[WIRE_SENSE_LEN];
} WireReplyHeader;

void wire_reply_header_decode(const uint8_t *in, WireReplyHeader *header);

#endif /* SOFTPR_WIRE_H */
