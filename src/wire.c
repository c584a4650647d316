/*
 * wire: incremental decoding of pr-helper requests and encoding of replies.
 */
#include "wire.h"

#include <string.h>

#include "bytes.h"
#include "scsi.h"

void wire_reader_init(WireReader *reader)
{
    reader->phase = WIRE_PHASE_FEATURES;
    reader->have = 0;
    reader->fds = 0;
    reader->features = 0;
    reader->request.data_len = 0;
}

void wire_reader_expect_identity(WireReader *reader)
{
    reader->phase = WIRE_PHASE_IDENTITY_LEN;
    reader->have = 0;
    reader->identity_len = 0;
}

void wire_reader_next_request(WireReader *reader)
{
    reader->phase = WIRE_PHASE_CDB;
    reader->have = 0;
    reader->fds = 0;
    reader->request.data_len = 0;
}

uint16_t wire_transfer_length(const uint8_t *cdb)
{
    return get_be16(cdb + 7);
}

size_t wire_reader_want(const WireReader *reader)
{
    switch (reader->phase) {
    case WIRE_PHASE_FEATURES:
        return WIRE_FEATURES_LEN - reader->have;
    case WIRE_PHASE_IDENTITY_LEN:
        return 2 - reader->have;
    case WIRE_PHASE_IDENTITY:
        return reader->identity_len - reader->have;
    case WIRE_PHASE_CDB:
        return WIRE_CDB_LEN - reader->have;
    case WIRE_PHASE_DATA:
        return reader->request.data_len - reader->have;
    }
    return 0;
}

bool wire_reader_mid_frame(const WireReader *reader)
{
    return reader->have > 0 || reader->phase == WIRE_PHASE_DATA ||
           reader->phase == WIRE_PHASE_IDENTITY_LEN ||
           reader->phase == WIRE_PHASE_IDENTITY;
}

/* The CDB is complete: judge its descriptors, opcode and length. */
static WireEvent cdb_complete(WireReader *reader)
{
    const uint8_t *cdb = reader->request.cdb;
    size_t len;

    /* qemu-pr-helper checks in this order; keep its log messages' order. */
    if (reader->fds > 1) {
        return WIRE_ERR_FD_EXTRA;
    }
    if (reader->fds == 0) {
        return WIRE_ERR_FD_MISSING;
    }
    if (cdb[0] != SCSI_OP_PERSISTENT_RESERVE_IN &&
        cdb[0] != SCSI_OP_PERSISTENT_RESERVE_OUT) {
        return WIRE_ERR_OPCODE;
    }
    len = wire_transfer_length(cdb);
    if (len > WIRE_DATA_MAX) {
        return WIRE_ERR_LENGTH;
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT && len > 0) {
        reader->phase = WIRE_PHASE_DATA;
        reader->have = 0;
        reader->request.data_len = len;
        return WIRE_NEED_MORE;
    }
    reader->request.data_len = 0;
    return WIRE_REQUEST;
}

WireEvent wire_reader_feed(WireReader *reader, const uint8_t *buf, size_t len,
                           unsigned n_fds)
{
    size_t want = wire_reader_want(reader);

    if (len > want) {
        len = want;
    }
    switch (reader->phase) {
    case WIRE_PHASE_FEATURES:
        if (n_fds > 0) {
            return WIRE_ERR_FD_UNEXPECTED;
        }
        memcpy(reader->features_buf + reader->have, buf, len);
        reader->have += len;
        if (reader->have < WIRE_FEATURES_LEN) {
            return WIRE_NEED_MORE;
        }
        reader->features = wire_features_decode(reader->features_buf);
        return WIRE_FEATURES;

    case WIRE_PHASE_IDENTITY_LEN:
        if (n_fds > 0) {
            return WIRE_ERR_FD_UNEXPECTED;
        }
        memcpy(reader->identity + reader->have, buf, len);
        reader->have += len;
        if (reader->have < 2) {
            return WIRE_NEED_MORE;
        }
        reader->identity_len = get_be16(reader->identity);
        if (reader->identity_len < WIRE_IDENTITY_MIN ||
            reader->identity_len > WIRE_IDENTITY_MAX) {
            return WIRE_ERR_IDENTITY;
        }
        reader->phase = WIRE_PHASE_IDENTITY;
        reader->have = 0;
        return WIRE_NEED_MORE;

    case WIRE_PHASE_IDENTITY:
        if (n_fds > 0) {
            return WIRE_ERR_FD_UNEXPECTED;
        }
        memcpy(reader->identity + reader->have, buf, len);
        reader->have += len;
        return reader->have < reader->identity_len ? WIRE_NEED_MORE
                                                   : WIRE_IDENTITY;

    case WIRE_PHASE_CDB:
        reader->fds += n_fds;
        memcpy(reader->request.cdb + reader->have, buf, len);
        reader->have += len;
        if (reader->have < WIRE_CDB_LEN) {
            /* Too many descriptors is final even before the CDB ends. */
            return reader->fds > 1 ? WIRE_ERR_FD_EXTRA : WIRE_NEED_MORE;
        }
        return cdb_complete(reader);

    case WIRE_PHASE_DATA:
        if (n_fds > 0) {
            return WIRE_ERR_FD_UNEXPECTED;
        }
        memcpy(reader->request.data + reader->have, buf, len);
        reader->have += len;
        if (reader->have < reader->request.data_len) {
            return WIRE_NEED_MORE;
        }
        return WIRE_REQUEST;
    }
    return WIRE_ERR_FD_UNEXPECTED;
}

const char *wire_event_describe(WireEvent event)
{
    switch (event) {
    case WIRE_NEED_MORE:
        return "incomplete frame";
    case WIRE_FEATURES:
        return "feature word received";
    case WIRE_IDENTITY:
        return "initiator identity received";
    case WIRE_REQUEST:
        return "request received";
    case WIRE_ERR_FD_MISSING:
        return "No file descriptor in request.";
    case WIRE_ERR_FD_EXTRA:
        return "More than one file descriptor in request.";
    case WIRE_ERR_FD_UNEXPECTED:
        return "File descriptor outside the CDB.";
    case WIRE_ERR_OPCODE:
        return "Invalid CDB, closing socket.";
    case WIRE_ERR_LENGTH:
        return "Transfer length above 8192 bytes, closing socket.";
    case WIRE_ERR_IDENTITY:
        return "Initiator TransportID length out of bounds, closing socket.";
    }
    return "unknown protocol event";
}

void wire_features_encode(uint8_t *out, uint32_t features)
{
    put_be32(out, features);
}

uint32_t wire_features_decode(const uint8_t *in)
{
    return get_be32(in);
}

size_t wire_reply_encode(uint8_t *out, const uint8_t *cdb, uint8_t status,
                         const uint8_t *sense, size_t sense_len,
                         const uint8_t *payload, size_t payload_len)
{
    size_t size = 0;

    memset(out, 0, WIRE_REPLY_HEADER_LEN);
    if (status == SCSI_STATUS_CHECK_CONDITION) {
        if (sense_len > WIRE_SENSE_LEN) {
            sense_len = WIRE_SENSE_LEN;
        }
        if (sense_len > 0 && sense != NULL) {
            memcpy(out + 8, sense, sense_len);
        } else {
            scsi_sense_build(out + 8, SENSE_INTERNAL_TARGET_FAILURE);
        }
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN && status == SCSI_STATUS_GOOD &&
        payload != NULL) {
        size_t alloc = wire_transfer_length(cdb);

        size = payload_len < alloc ? payload_len : alloc;
        if (size > WIRE_DATA_MAX) {
            size = WIRE_DATA_MAX;
        }
        memcpy(out + WIRE_REPLY_HEADER_LEN, payload, size);
    }
    put_be32(out, status);
    put_be32(out + 4, (uint32_t)size);
    return WIRE_REPLY_HEADER_LEN + size;
}

void wire_reply_header_decode(const uint8_t *in, WireReplyHeader *header)
{
    header->status = (int32_t)get_be32(in);
    header->size = (int32_t)get_be32(in + 4);
    memcpy(header->sense, in + 8, WIRE_SENSE_LEN);
}
