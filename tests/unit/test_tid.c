/*
 * test_tid: TransportIDs, SPC-4 r37 7.6.4 (7.6.4.2 FCP, 7.6.4.6 iSCSI,
 * 7.6.4.7 SAS).
 */
#include <string.h>

#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "tid.h"

/* 7.6.4.6 table 394: iSCSI device format, NUL-terminated, padded to 4,
 * ADDITIONAL LENGTH at least 20. */
static void test_7_6_4_6_iscsi_device_encoding(void **state)
{
    TransportId tid;
    uint8_t buf[TID_ENCODED_MAX];
    size_t len;

    assert_true(tid_from_iscsi_name("iqn.2026-11.org.softpr:a", &tid, NULL));
    len = tid_encode(&tid, buf);
    /* 24 name bytes + NUL = 25, padded to 28. */
    assert_int_equal(len, 4 + 28);
    assert_int_equal(buf[0], 0x05);
    assert_int_equal(get_be16(buf + 2), 28);
    assert_string_equal((const char *)buf + 4, "iqn.2026-11.org.softpr:a");

    /* A short name still gets the minimum ADDITIONAL LENGTH of 20. */
    assert_true(tid_from_iscsi_name("iqn.x", &tid, NULL));
    len = tid_encode(&tid, buf);
    assert_int_equal(len, 24);
    assert_int_equal(get_be16(buf + 2), 20);
}

/* 7.6.4.6 table 395: iSCSI port format, name ",i,0x" ISID. */
static void test_7_6_4_6_iscsi_port_round_trip(void **state)
{
    TransportId tid;
    TransportId back;
    uint8_t buf[TID_ENCODED_MAX];
    size_t len;
    size_t used = 0;
    g_autofree char *text = NULL;

    assert_true(
        tid_parse("iqn.2026-11.org.softpr:b,i,0x23D000000001", &tid, NULL));
    assert_int_equal(tid.format, TID_FORMAT_ISCSI_PORT);
    assert_string_equal(tid.isid, "23d000000001");
    len = tid_encode(&tid, buf);
    assert_int_equal(buf[0], 0x45);
    assert_int_equal(len % 4, 0);
    assert_int_equal(tid_decode(buf, len, &back, &used), TID_OK);
    assert_int_equal(used, len);
    assert_true(tid_equal(&tid, &back));
    text = tid_to_string(&back);
    assert_string_equal(text, "iqn.2026-11.org.softpr:b,i,0x23d000000001");
}

/* 7.6.4.2 and 7.6.4.7: FCP and SAS TransportIDs are 24 bytes. */
static void test_7_6_4_fcp_and_sas(void **state)
{
    TransportId tid;
    TransportId back;
    uint8_t buf[TID_ENCODED_MAX];
    size_t used = 0;
    g_autofree char *fcp = NULL;
    g_autofree char *sas = NULL;

    assert_true(tid_parse("fcp,2100001b32a1b2c3", &tid, NULL));
    assert_int_equal(tid_encode(&tid, buf), 24);
    assert_int_equal(buf[0], 0x00);
    assert_memory_equal(buf + 8, "\x21\x00\x00\x1b\x32\xa1\xb2\xc3", 8);
    assert_int_equal(tid_decode(buf, 24, &back, &used), TID_OK);
    assert_true(tid_equal(&tid, &back));
    fcp = tid_to_string(&back);
    assert_string_equal(fcp, "fcp,2100001b32a1b2c3");

    assert_true(tid_parse("SAS,0x5000C50012345678", &tid, NULL));
    assert_int_equal(tid_encode(&tid, buf), 24);
    assert_int_equal(buf[0], 0x06);
    assert_memory_equal(buf + 4, "\x50\x00\xc5\x00\x12\x34\x56\x78", 8);
    assert_int_equal(tid_decode(buf, 24, &back, &used), TID_OK);
    sas = tid_to_string(&back);
    assert_string_equal(sas, "sas,5000c50012345678");
}

/* iSCSI names compare case-insensitively: decoding folds to lower case. */
static void test_7_6_4_6_names_fold_case(void **state)
{
    TransportId upper;
    TransportId lower;

    assert_true(
        tid_from_iscsi_name("IQN.2026-11.ORG.SOFTPR:Host", &upper, NULL));
    assert_true(
        tid_from_iscsi_name("iqn.2026-11.org.softpr:host", &lower, NULL));
    assert_true(tid_equal(&upper, &lower));
}

/* A device-format id matches every port (ISID) of that node; two port
 * ids match only with the same ISID. */
static void test_7_6_4_6_matching(void **state)
{
    TransportId dev;
    TransportId p1;
    TransportId p2;
    TransportId other;

    assert_true(tid_parse("iqn.2026-11.org.softpr:n", &dev, NULL));
    assert_true(
        tid_parse("iqn.2026-11.org.softpr:n,i,0x000000000001", &p1, NULL));
    assert_true(
        tid_parse("iqn.2026-11.org.softpr:n,i,0x000000000002", &p2, NULL));
    assert_true(tid_parse("iqn.2026-11.org.softpr:m", &other, NULL));
    assert_true(tid_matches(&dev, &p1));
    assert_true(tid_matches(&p2, &dev));
    assert_false(tid_matches(&p1, &p2));
    assert_false(tid_equal(&dev, &p1));
    assert_false(tid_matches(&dev, &other));
}

static TidStatus decode_bytes(const uint8_t *buf, size_t len)
{
    TransportId tid;
    size_t used = 0;

    return tid_decode(buf, len, &tid, &used);
}

/* 7.6.4.6: malformed iSCSI TransportIDs are rejected, never over-read. */
static void test_7_6_4_6_malformed(void **state)
{
    uint8_t buf[64];

    /* ADDITIONAL LENGTH below 20. */
    memset(buf, 0, sizeof(buf));
    buf[0] = 0x05;
    put_be16(buf + 2, 16);
    memcpy(buf + 4, "iqn.a", 5);
    assert_int_equal(decode_bytes(buf, 20), TID_INVALID);
    /* Not a multiple of four. */
    put_be16(buf + 2, 22);
    assert_int_equal(decode_bytes(buf, 26), TID_INVALID);
    /* Longer than the buffer. */
    put_be16(buf + 2, 40);
    assert_int_equal(decode_bytes(buf, 24), TID_TRUNCATED);
    /* No NUL inside ADDITIONAL LENGTH. */
    put_be16(buf + 2, 20);
    memset(buf + 4, 'a', 20);
    memcpy(buf + 4, "iqn.", 4);
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* A comma in a device-format name. */
    memset(buf + 4, 0, 20);
    memcpy(buf + 4, "iqn.a,b", 7);
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* Port format without the ",i,0x" separator (LIO's missing-ISID bug). */
    buf[0] = 0x45;
    memset(buf + 4, 0, 20);
    memcpy(buf + 4, "iqn.2026-11.a", 13);
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* Port format with a short ISID. */
    memset(buf + 4, 0, 20);
    memcpy(buf + 4, "iqn.a,i,0x1234", 14);
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* Format code 10b. */
    buf[0] = 0x85;
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* Not an iSCSI name at all. */
    buf[0] = 0x05;
    memset(buf + 4, 0, 20);
    memcpy(buf + 4, "hello world", 11);
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    /* Fewer than 4 bytes. */
    assert_int_equal(decode_bytes(buf, 3), TID_TRUNCATED);
}

/* 7.6.4.1 table 389: FCP/SAS need 24 bytes and format code 00b; other
 * protocols are not supported by softprd. */
static void test_7_6_4_fixed_and_unsupported(void **state)
{
    uint8_t buf[24] = {0};

    assert_int_equal(decode_bytes(buf, 23), TID_TRUNCATED);
    assert_int_equal(decode_bytes(buf, 24), TID_OK);
    buf[0] = 0x40;
    assert_int_equal(decode_bytes(buf, 24), TID_INVALID);
    buf[0] = 0x06;
    assert_int_equal(decode_bytes(buf, 24), TID_OK);
    buf[0] = 0x01; /* SPI */
    assert_int_equal(decode_bytes(buf, 24), TID_UNSUPPORTED);
    buf[0] = 0x04; /* SRP */
    assert_int_equal(decode_bytes(buf, 24), TID_UNSUPPORTED);
    buf[0] = 0x0a; /* SOP */
    assert_int_equal(decode_bytes(buf, 24), TID_UNSUPPORTED);
}

/* Text forms that are not initiator names are refused with a message. */
static void test_parse_errors(void **state)
{
    TransportId tid;
    GError *error = NULL;

    assert_false(tid_parse("fcp,12", &tid, &error));
    assert_non_null(error);
    g_clear_error(&error);
    assert_false(tid_parse("host name", &tid, &error));
    assert_non_null(strstr(error->message, "not an initiator name"));
    g_clear_error(&error);
    assert_false(tid_from_iscsi_name("iqn.under_score", &tid, &error));
    g_clear_error(&error);
    {
        char name[300];

        memset(name, 'a', sizeof(name));
        memcpy(name, "iqn.", 4);
        name[224] = '\0';
        assert_false(tid_iscsi_name_valid(name));
        name[223] = '\0';
        assert_true(tid_iscsi_name_valid(name));
        assert_true(tid_from_iscsi_name(name, &tid, NULL));
        assert_true(tid_encoded_len(&tid) <= TID_ENCODED_MAX);
        assert_true(tid_parse(name, &tid, NULL));
    }
}

/* The longest port-format id still fits TID_ENCODED_MAX. */
static void test_7_6_4_6_longest(void **state)
{
    char text[300];
    TransportId tid;
    uint8_t buf[TID_ENCODED_MAX];
    TransportId back;
    size_t used = 0;

    memset(text, 'a', 223);
    memcpy(text, "iqn.", 4);
    strcpy(text + 223, ",i,0xffffffffffff");
    assert_true(tid_parse(text, &tid, NULL));
    assert_int_equal(tid_encoded_len(&tid), TID_ENCODED_MAX);
    assert_int_equal(tid_encode(&tid, buf), TID_ENCODED_MAX);
    assert_int_equal(tid_decode(buf, sizeof(buf), &back, &used), TID_OK);
    assert_true(tid_equal(&tid, &back));
}

/*
 * Parameter lists carrying TransportIDs as already-encoded bytes (what a
 * tool got from its user), SPC-4 6.14.3 table 170 and 6.14.4 table 172:
 * the same layout as from TransportId structs, the bytes copied as they
 * are, and the WIRE_DATA_MAX bound.
 */
static void test_6_14_raw_transport_ids(void **state)
{
    static uint8_t list[WIRE_DATA_MAX];
    static uint8_t expected[WIRE_DATA_MAX];
    static uint8_t big[WIRE_DATA_MAX];
    /* SPI, which softprd does not decode: sent all the same. */
    static const uint8_t spi[24] = {0x01, 0, 0, 7, 0, 0, 0, 1};
    TransportId tids[2];
    uint8_t raw[2 * TID_ENCODED_MAX];
    size_t raw_len;
    size_t len;

    assert_true(tid_parse("iqn.2024-01.org.example:a", &tids[0], NULL));
    assert_true(tid_parse("sas,5000c50005b32001", &tids[1], NULL));
    raw_len = tid_encode(&tids[0], raw);
    raw_len += tid_encode(&tids[1], raw + raw_len);

    /* SPEC_I_PT: TRANSPORTID PARAMETER DATA LENGTH, then the bytes. */
    len = cdb_prout_basic_raw(list, 0x1234, 0x5678,
                              PROUT_SPEC_I_PT | PROUT_APTPL, raw, raw_len);
    assert_int_equal(len, 28 + raw_len);
    assert_int_equal(get_be64(list), 0x1234);
    assert_int_equal(get_be64(list + 8), 0x5678);
    assert_int_equal(list[20], PROUT_SPEC_I_PT | PROUT_APTPL);
    assert_int_equal(get_be32(list + 24), raw_len);
    assert_memory_equal(list + 28, raw, raw_len);
    assert_int_equal(cdb_prout_basic(expected, 0x1234, 0x5678,
                                     PROUT_SPEC_I_PT | PROUT_APTPL, tids, 2),
                     len);
    assert_memory_equal(list, expected, len);

    /* Without SPEC_I_PT: 24 bytes, whatever TransportIDs were given. */
    assert_int_equal(
        cdb_prout_basic_raw(list, 1, 2, PROUT_ALL_TG_PT, raw, raw_len), 24);
    assert_int_equal(list[20], PROUT_ALL_TG_PT);

    /* Bytes no decoder accepts go out unchanged. */
    len = cdb_prout_basic_raw(list, 0, 9, PROUT_SPEC_I_PT, spi, sizeof(spi));
    assert_int_equal(len, 28 + sizeof(spi));
    assert_memory_equal(list + 28, spi, sizeof(spi));

    /* The largest list that fits, and one byte more. */
    assert_int_equal(cdb_prout_basic_raw(list, 0, 1, PROUT_SPEC_I_PT, big,
                                         WIRE_DATA_MAX - 28),
                     WIRE_DATA_MAX);
    assert_int_equal(cdb_prout_basic_raw(list, 0, 1, PROUT_SPEC_I_PT, big,
                                         WIRE_DATA_MAX - 27),
                     0);

    /* REGISTER AND MOVE: UNREG, APTPL, RELATIVE TARGET PORT IDENTIFIER,
     * TRANSPORTID PARAMETER DATA LENGTH, the TransportID. */
    raw_len = tid_encode(&tids[0], raw);
    len = cdb_prout_move_raw(list, 7, 8, true, true, 0x0102, raw, raw_len);
    assert_int_equal(len, 24 + raw_len);
    assert_int_equal(list[17], 0x03);
    assert_int_equal(get_be16(list + 18), 0x0102);
    assert_int_equal(get_be32(list + 20), raw_len);
    assert_int_equal(
        cdb_prout_move(expected, 7, 8, true, true, 0x0102, &tids[0]), len);
    assert_memory_equal(list, expected, len);
    assert_int_equal(cdb_prout_move_raw(list, 7, 8, false, false, 1, NULL, 0),
                     24);
    assert_int_equal(get_be32(list + 20), 0);
    assert_int_equal(cdb_prout_move_raw(list, 7, 8, false, false, 1, big,
                                        WIRE_DATA_MAX - 23),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_7_6_4_6_iscsi_device_encoding),
        cmocka_unit_test(test_7_6_4_6_iscsi_port_round_trip),
        cmocka_unit_test(test_7_6_4_fcp_and_sas),
        cmocka_unit_test(test_7_6_4_6_names_fold_case),
        cmocka_unit_test(test_7_6_4_6_matching),
        cmocka_unit_test(test_7_6_4_6_malformed),
        cmocka_unit_test(test_7_6_4_fixed_and_unsupported),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_7_6_4_6_longest),
        cmocka_unit_test(test_6_14_raw_transport_ids),
    };

    return TESTUTIL_RUN("tid", tests, NULL, NULL);
}
