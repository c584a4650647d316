/*
 * test_wire: the pr-helper protocol codec, rule by rule
 * (QEMU docs/interop/pr-helper.rst; scsi/pr-manager-helper.c, the client,
 * and scsi/qemu-pr-helper.c, the helper).
 */
#include <string.h>

#include "testutil.h"

#include "scsi.h"
#include "wire.h"

static const uint8_t pr_in_read_keys[16] = {0x5e, 0x00, 0,    0,    0,
                                            0,    0,    0x00, 0xff, 0};
static const uint8_t pr_out_register[16] = {0x5f, 0x00, 0,    0,    0,
                                            0,    0,    0x00, 0x18, 0};

static void ready_for_request(WireReader *r)
{
    uint8_t zero[4] = {0};

    wire_reader_init(r);
    assert_int_equal(wire_reader_feed(r, zero, 4, 0), WIRE_FEATURES);
    wire_reader_next_request(r);
}

/* The feature word is big-endian and may arrive in pieces. */
static void test_features_in_pieces(void **state)
{
    WireReader r;
    uint8_t word[4];

    wire_reader_init(&r);
    wire_features_encode(word, 0x01020304);
    assert_memory_equal(word, "\x01\x02\x03\x04", 4);
    assert_int_equal(wire_reader_want(&r), 4);
    assert_int_equal(wire_reader_feed(&r, word, 1, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_want(&r), 3);
    assert_int_equal(wire_reader_feed(&r, word + 1, 3, 0), WIRE_FEATURES);
    assert_int_equal(r.features, 0x01020304);
}

/* A descriptor with the feature word is a violation. */
static void test_fd_with_features_is_violation(void **state)
{
    WireReader r;
    uint8_t zero[4] = {0};

    wire_reader_init(&r);
    assert_int_equal(wire_reader_feed(&r, zero, 4, 1), WIRE_ERR_FD_UNEXPECTED);
}

/* PR IN: 16 bytes plus one descriptor make a request; nothing follows. */
static void test_pr_in_request(void **state)
{
    WireReader r;

    ready_for_request(&r);
    assert_int_equal(wire_reader_want(&r), 16);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 1),
                     WIRE_REQUEST);
    assert_memory_equal(r.request.cdb, pr_in_read_keys, 16);
    assert_int_equal(r.request.data_len, 0);
}

/* The descriptor is accepted on any chunk of the CDB. */
static void test_fd_on_any_chunk(void **state)
{
    size_t split;
    int fd_chunk;

    for (split = 1; split < 16; split++) {
        for (fd_chunk = 0; fd_chunk < 2; fd_chunk++) {
            WireReader r;

            ready_for_request(&r);
            assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, split,
                                              fd_chunk == 0 ? 1 : 0),
                             WIRE_NEED_MORE);
            assert_int_equal(wire_reader_want(&r), 16 - split);
            assert_int_equal(wire_reader_feed(&r, pr_in_read_keys + split,
                                              16 - split,
                                              fd_chunk == 1 ? 1 : 0),
                             WIRE_REQUEST);
        }
    }
}

/* No descriptor: "No file descriptor in request." */
static void test_missing_fd(void **state)
{
    WireReader r;

    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 0),
                     WIRE_ERR_FD_MISSING);
    assert_string_equal(wire_event_describe(WIRE_ERR_FD_MISSING),
                        "No file descriptor in request.");
}

/* Two descriptors, together or on separate chunks. */
static void test_two_fds(void **state)
{
    WireReader r;

    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 2),
                     WIRE_ERR_FD_EXTRA);
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 4, 1),
                     WIRE_NEED_MORE);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys + 4, 4, 1),
                     WIRE_ERR_FD_EXTRA);
}

/* Any opcode but 5Eh/5Fh closes the connection. */
static void test_other_opcode(void **state)
{
    WireReader r;
    uint8_t inquiry[16] = {0x12, 0, 0, 0, 36, 0};

    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, inquiry, 16, 1), WIRE_ERR_OPCODE);
    assert_string_equal(wire_event_describe(WIRE_ERR_OPCODE),
                        "Invalid CDB, closing socket.");
}

/* Transfer length from bytes 7-8: 8192 is accepted, 8193 is not. */
static void test_length_limit(void **state)
{
    WireReader r;
    uint8_t cdb[16];

    memcpy(cdb, pr_in_read_keys, 16);
    cdb[7] = 0x20;
    cdb[8] = 0x00;
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, cdb, 16, 1), WIRE_REQUEST);
    cdb[8] = 0x01;
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, cdb, 16, 1), WIRE_ERR_LENGTH);

    memcpy(cdb, pr_out_register, 16);
    cdb[7] = 0x20;
    cdb[8] = 0x01;
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, cdb, 16, 1), WIRE_ERR_LENGTH);
}

/* PR OUT: exactly be16(CDB 7-8) parameter bytes follow, without fds. */
static void test_pr_out_parameters(void **state)
{
    WireReader r;
    uint8_t param[24];
    size_t i;

    for (i = 0; i < sizeof(param); i++) {
        param[i] = (uint8_t)i;
    }
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_out_register, 16, 1),
                     WIRE_NEED_MORE);
    assert_true(wire_reader_mid_frame(&r));
    assert_int_equal(wire_reader_want(&r), 24);
    assert_int_equal(wire_reader_feed(&r, param, 10, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_want(&r), 14);
    assert_int_equal(wire_reader_feed(&r, param + 10, 14, 0), WIRE_REQUEST);
    assert_int_equal(r.request.data_len, 24);
    assert_memory_equal(r.request.data, param, 24);
}

/* A descriptor with the parameter list is a violation. */
static void test_fd_with_parameters(void **state)
{
    WireReader r;
    uint8_t param[24] = {0};

    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_out_register, 16, 1),
                     WIRE_NEED_MORE);
    assert_int_equal(wire_reader_feed(&r, param, 24, 1),
                     WIRE_ERR_FD_UNEXPECTED);
}

/* Framing uses bytes 7-8 only, even when bytes 5-6 are set. */
static void test_framing_ignores_bytes_5_6(void **state)
{
    WireReader r;
    uint8_t cdb[16];
    uint8_t param[24] = {0};

    memcpy(cdb, pr_out_register, 16);
    cdb[6] = 0x01;
    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, cdb, 16, 1), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_want(&r), 24);
    assert_int_equal(wire_reader_feed(&r, param, 24, 0), WIRE_REQUEST);
}

/* PR OUT with length zero has no parameter phase. */
static void test_pr_out_zero_length(void **state)
{
    WireReader r;
    uint8_t cdb[16] = {0x5f, 0x01};

    ready_for_request(&r);
    assert_int_equal(wire_reader_feed(&r, cdb, 16, 1), WIRE_REQUEST);
    assert_int_equal(r.request.data_len, 0);
}

/* After a request the reader expects the next CDB, not mid-frame. */
static void test_next_request(void **state)
{
    WireReader r;

    ready_for_request(&r);
    assert_false(wire_reader_mid_frame(&r));
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 1),
                     WIRE_REQUEST);
    wire_reader_next_request(&r);
    assert_false(wire_reader_mid_frame(&r));
    assert_int_equal(wire_reader_want(&r), 16);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 3, 1),
                     WIRE_NEED_MORE);
    assert_true(wire_reader_mid_frame(&r));
}

/* Feature bit 0: after the feature word come a BE 2-byte length and
 * the TransportID, in any chunks; then requests as usual. */
static void test_identity_declaration(void **state)
{
    WireReader r;
    uint8_t word[4];
    uint8_t decl[2 + 32];
    size_t i;

    for (i = 0; i < sizeof(decl); i++) {
        decl[i] = (uint8_t)i;
    }
    decl[0] = 0;
    decl[1] = 32;
    wire_reader_init(&r);
    wire_features_encode(word, WIRE_FEATURE_INITIATOR_ID);
    assert_int_equal(wire_reader_feed(&r, word, 4, 0), WIRE_FEATURES);
    assert_int_equal(r.features, WIRE_FEATURE_INITIATOR_ID);
    wire_reader_expect_identity(&r);
    assert_true(wire_reader_mid_frame(&r));
    assert_int_equal(wire_reader_want(&r), 2);
    assert_int_equal(wire_reader_feed(&r, decl, 1, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_feed(&r, decl + 1, 1, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_want(&r), 32);
    assert_int_equal(wire_reader_feed(&r, decl + 2, 20, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_feed(&r, decl + 22, 12, 0), WIRE_IDENTITY);
    assert_int_equal(r.identity_len, 32);
    assert_memory_equal(r.identity, decl + 2, 32);
    wire_reader_next_request(&r);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 1),
                     WIRE_REQUEST);
}

/* A declared length below a TransportID's 24 bytes or above 256, or a
 * descriptor with the declaration, closes the connection. */
static void test_identity_violations(void **state)
{
    static const uint8_t too_short[2] = {0, 23};
    static const uint8_t too_long[2] = {0x01, 0x01};
    static const uint8_t fine[2] = {0, 24};
    WireReader r;

    wire_reader_init(&r);
    wire_reader_expect_identity(&r);
    assert_int_equal(wire_reader_feed(&r, too_short, 2, 0), WIRE_ERR_IDENTITY);
    wire_reader_init(&r);
    wire_reader_expect_identity(&r);
    assert_int_equal(wire_reader_feed(&r, too_long, 2, 0), WIRE_ERR_IDENTITY);
    wire_reader_init(&r);
    wire_reader_expect_identity(&r);
    assert_int_equal(wire_reader_feed(&r, fine, 2, 1), WIRE_ERR_FD_UNEXPECTED);
    wire_reader_init(&r);
    wire_reader_expect_identity(&r);
    assert_int_equal(wire_reader_feed(&r, fine, 2, 0), WIRE_NEED_MORE);
    assert_int_equal(wire_reader_feed(&r, pr_in_read_keys, 16, 1),
                     WIRE_ERR_FD_UNEXPECTED);
}

/* Reply layout: BE status, BE size, 96 sense bytes, payload. */
static void test_reply_layout(void **state)
{
    uint8_t out[WIRE_REPLY_MAX];
    uint8_t payload[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                           9, 10, 11, 12, 13, 14, 15, 16};
    WireReplyHeader h;
    size_t n = wire_reply_encode(out, pr_in_read_keys, SCSI_STATUS_GOOD, NULL,
                                 0, payload, sizeof(payload));

    assert_int_equal(n, WIRE_REPLY_HEADER_LEN + 16);
    assert_memory_equal(out, "\0\0\0\0\0\0\0\x10", 8);
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.size, 16);
    assert_memory_equal(out + WIRE_REPLY_HEADER_LEN, payload, 16);
}

/* QEMU asserts size <= allocation length: the payload is truncated. */
static void test_reply_truncated_to_allocation(void **state)
{
    uint8_t out[WIRE_REPLY_MAX];
    uint8_t cdb[16];
    uint8_t payload[64];
    WireReplyHeader h;

    memset(payload, 0xab, sizeof(payload));
    memcpy(cdb, pr_in_read_keys, 16);
    cdb[7] = 0;
    cdb[8] = 12;
    assert_int_equal(wire_reply_encode(out, cdb, SCSI_STATUS_GOOD, NULL, 0,
                                       payload, sizeof(payload)),
                     WIRE_REPLY_HEADER_LEN + 12);
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.size, 12);

    cdb[8] = 0;
    assert_int_equal(wire_reply_encode(out, cdb, SCSI_STATUS_GOOD, NULL, 0,
                                       payload, sizeof(payload)),
                     WIRE_REPLY_HEADER_LEN);
}

/* QEMU asserts a PR OUT reply has no payload; non-GOOD carries none. */
static void test_reply_no_payload_unless_pr_in_good(void **state)
{
    uint8_t out[WIRE_REPLY_MAX];
    uint8_t payload[8] = {1};
    uint8_t sense[SCSI_SENSE_FIXED_LEN];
    WireReplyHeader h;

    wire_reply_encode(out, pr_out_register, SCSI_STATUS_GOOD, NULL, 0, payload,
                      sizeof(payload));
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.size, 0);

    scsi_sense_build(sense, SENSE_INVALID_FIELD_IN_CDB);
    wire_reply_encode(out, pr_in_read_keys, SCSI_STATUS_CHECK_CONDITION, sense,
                      sizeof(sense), payload, sizeof(payload));
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(h.size, 0);

    wire_reply_encode(out, pr_in_read_keys, SCSI_STATUS_RESERVATION_CONFLICT,
                      NULL, 0, payload, sizeof(payload));
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.status, 0x18);
    assert_int_equal(h.size, 0);
}

/* Sense: fixed format, zero-padded to 96; only with CHECK CONDITION. */
static void test_reply_sense(void **state)
{
    uint8_t out[WIRE_REPLY_MAX];
    uint8_t sense[SCSI_SENSE_FIXED_LEN];
    uint8_t zeros[WIRE_SENSE_LEN] = {0};
    WireReplyHeader h;

    scsi_sense_build(sense, SENSE_INVALID_OPCODE);
    wire_reply_encode(out, pr_out_register, SCSI_STATUS_CHECK_CONDITION, sense,
                      sizeof(sense), NULL, 0);
    wire_reply_header_decode(out, &h);
    assert_memory_equal(h.sense,
                        "\x70\x00\x05\x00\x00\x00\x00\x0a\x00\x00\x00\x00"
                        "\x20\x00\x00\x00\x00\x00",
                        18);
    assert_memory_equal(h.sense + 18, zeros, WIRE_SENSE_LEN - 18);

    /* Sense passed with another status is not sent. */
    wire_reply_encode(out, pr_out_register, SCSI_STATUS_BUSY, sense,
                      sizeof(sense), NULL, 0);
    wire_reply_header_decode(out, &h);
    assert_int_equal(h.status, SCSI_STATUS_BUSY);
    assert_memory_equal(h.sense, zeros, WIRE_SENSE_LEN);
}

/* Never CHECK CONDITION with an all-zero sense buffer. */
static void test_reply_check_condition_without_sense(void **state)
{
    uint8_t out[WIRE_REPLY_MAX];
    WireReplyHeader h;
    ScsiSenseCode code;

    wire_reply_encode(out, pr_out_register, SCSI_STATUS_CHECK_CONDITION, NULL,
                      0, NULL, 0);
    wire_reply_header_decode(out, &h);
    assert_true(scsi_sense_parse(h.sense, WIRE_SENSE_LEN, &code));
    assert_int_equal(code.key, SCSI_KEY_ABORTED_COMMAND);
    assert_int_equal(code.asc, 0x44);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_in_pieces),
        cmocka_unit_test(test_fd_with_features_is_violation),
        cmocka_unit_test(test_pr_in_request),
        cmocka_unit_test(test_fd_on_any_chunk),
        cmocka_unit_test(test_missing_fd),
        cmocka_unit_test(test_two_fds),
        cmocka_unit_test(test_other_opcode),
        cmocka_unit_test(test_length_limit),
        cmocka_unit_test(test_pr_out_parameters),
        cmocka_unit_test(test_fd_with_parameters),
        cmocka_unit_test(test_framing_ignores_bytes_5_6),
        cmocka_unit_test(test_pr_out_zero_length),
        cmocka_unit_test(test_next_request),
        cmocka_unit_test(test_identity_declaration),
        cmocka_unit_test(test_identity_violations),
        cmocka_unit_test(test_reply_layout),
        cmocka_unit_test(test_reply_truncated_to_allocation),
        cmocka_unit_test(test_reply_no_payload_unless_pr_in_good),
        cmocka_unit_test(test_reply_sense),
        cmocka_unit_test(test_reply_check_condition_without_sense),
    };

    return TESTUTIL_RUN("wire", tests, NULL, NULL);
}
