/*
 * fuzz_wire: libFuzzer harness for the pure modules a client can reach:
 * bytes and descriptor counts go through the wire reader in chunks the
 * input chooses; every complete request runs through the engine against
 * one persistent LU state from two nexuses, and its reply is encoded.
 * Checks QEMU's reply assertions and the state's holder invariant.
 *
 * Input: a sequence of (control, length, bytes...) records.  control
 * bits 0-1: descriptors with the chunk; bit 2: nexus; bit 3: strict unit
 * attentions for this request.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t ports[] = {1, 2};
    static uint8_t out[WIRE_REPLY_MAX];
    static PrResult result;
    PrState *state = pr_state_new();
    PrNexus nexus[2];
    PrConfig config = {ports, 2, 8, PR_UA_RECORD};
    WireReader reader;
    size_t off = 0;

    memset(nexus, 0, sizeof(nexus));
    tid_from_iscsi_name("iqn.2026-11.test:a", &nexus[0].initiator, NULL);
    tid_from_iscsi_name("iqn.2026-11.test:b", &nexus[1].initiator, NULL);
    nexus[0].rtpi = 1;
    nexus[1].rtpi = 2;
    wire_reader_init(&reader);

    while (off + 2 <= size) {
        uint8_t control = data[off];
        size_t len = data[off + 1];
        size_t want = wire_reader_want(&reader);
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
        ev = wire_reader_feed(&reader, data + off, len, control & 3);
        off += len;
        if (ev == WIRE_FEATURES) {
            wire_reader_next_request(&reader);
        } else if (ev == WIRE_REQUEST) {
            const WireRequest *req = &reader.request;
            const PrNexus *n = &nexus[(control >> 2) & 1];
            WireReplyHeader h;
            size_t total;

            config.ua_policy = (control & 8) ? PR_UA_REPORT : PR_UA_RECORD;
            engine_execute(&config, n, req->cdb, req->data, req->data_len,
                           state, &result);
            if (!engine_state_consistent(state)) {
                abort();
            }
            total = wire_reply_encode(out, req->cdb, result.status,
                                      result.sense, sizeof(result.sense),
                                      result.data, result.data_len);
            wire_reply_header_decode(out, &h);
            /* What QEMU asserts. */
            if (total != WIRE_REPLY_HEADER_LEN + (size_t)h.size || h.size < 0 ||
                (req->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN &&
                 (size_t)h.size > wire_transfer_length(req->cdb)) ||
                (req->cdb[0] == SCSI_OP_PERSISTENT_RESERVE_OUT &&
                 h.size != 0)) {
                abort();
            }
            wire_reader_next_request(&reader);
        } else if (ev != WIRE_NEED_MORE) {
            /* A violation ends the connection; the next one starts. */
            wire_reader_init(&reader);
        }
    }
    pr_state_free(state);
    return 0;
}
