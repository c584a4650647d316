/*
 * test_scsi: the sense data decoder (SPC-4 4.5) and the builder it must
 * read back: fixed and descriptor formats, data that stops short, and
 * response codes that are neither.
 */
#include <string.h>

#include "testutil.h"

#include "scsi.h"

/* SPC-4 4.5.3: fixed format, current (70h) and deferred (71h); the VALID
 * bit is not part of the RESPONSE CODE. */
static void test_4_5_3_fixed(void **state)
{
    uint8_t s[18] = {0xf0, 0, 0x15, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x26, 0x04};
    ScsiSense d;

    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_int_equal(d.response_code, 0x70);
    assert_false(d.descriptor);
    assert_false(d.deferred);
    assert_int_equal(d.code.key, 0x5);
    assert_int_equal(d.code.asc, 0x26);
    assert_int_equal(d.code.ascq, 0x04);
    assert_true(d.complete);
    assert_true(d.overflow); /* SDAT_OVFL, byte 2 bit 4 */
    assert_int_equal(d.len, 18);

    s[0] = 0x71;
    s[2] = 0x06;
    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_true(d.deferred);
    assert_false(d.descriptor);
    assert_false(d.overflow);
    assert_int_equal(d.code.key, 0x6);
}

/* What scsi_sense_build() writes decodes to the code it was given. */
static void test_4_5_3_built_round_trip(void **state)
{
    uint8_t s[SCSI_SENSE_FIXED_LEN];
    ScsiSenseCode code;
    ScsiSense d;

    scsi_sense_build(s, SENSE_RESERVATIONS_PREEMPTED);
    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_int_equal(d.code.key, 0x6);
    assert_int_equal(d.code.asc, 0x2a);
    assert_int_equal(d.code.ascq, 0x03);
    assert_int_equal(d.len, SCSI_SENSE_FIXED_LEN);
    assert_true(scsi_sense_parse(s, sizeof(s), &code));
    assert_int_equal(code.asc, 0x2a);
    assert_int_equal(scsi_sense_length(s, 96), SCSI_SENSE_FIXED_LEN);
}

/* SPC-4 4.5.2: descriptor format, current (72h) and deferred (73h): key,
 * ASC and ASCQ in bytes 1-3, SDAT_OVFL in byte 4 bit 7. */
static void test_4_5_2_descriptor(void **state)
{
    /* One sense-key specific descriptor (02h, 6 bytes) follows. */
    uint8_t s[16] = {0x72, 0x0b, 0x44, 0x00, 0x80, 0, 0,    8,
                     0x02, 0x06, 0,    0,    0x80, 0, 0x05, 0};
    ScsiSense d;

    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_int_equal(d.response_code, 0x72);
    assert_true(d.descriptor);
    assert_false(d.deferred);
    assert_int_equal(d.code.key, 0xb);
    assert_int_equal(d.code.asc, 0x44);
    assert_int_equal(d.code.ascq, 0x00);
    assert_true(d.complete);
    assert_true(d.overflow);
    assert_int_equal(d.len, 16);

    s[0] = 0x73;
    s[4] = 0;
    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_true(d.descriptor);
    assert_true(d.deferred);
    assert_false(d.overflow);
}

/*
 * Data that stops short: the buffer, or the ADDITIONAL SENSE LENGTH
 * (SPC-4 4.5.3: bytes past it are not sense data), ends before ASC and
 * ASCQ; those read as zero and the data is not complete.
 */
static void test_4_5_truncated(void **state)
{
    uint8_t s[18] = {0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x01};
    ScsiSenseCode code;
    ScsiSense d;

    /* The buffer ends after ASC. */
    assert_true(scsi_sense_decode(s, 13, &d));
    assert_int_equal(d.code.key, 0x5);
    assert_int_equal(d.code.asc, 0x24);
    assert_int_equal(d.code.ascq, 0);
    assert_false(d.complete);
    assert_int_equal(d.len, 13);
    assert_false(scsi_sense_parse(s, 13, &code));

    /* ADDITIONAL SENSE LENGTH 4: bytes 12 and 13 do not count. */
    s[7] = 4;
    assert_true(scsi_sense_decode(s, sizeof(s), &d));
    assert_int_equal(d.len, 12);
    assert_int_equal(d.code.key, 0x5);
    assert_int_equal(d.code.asc, 0);
    assert_int_equal(d.code.ascq, 0);
    assert_false(d.complete);
    assert_int_equal(scsi_sense_length(s, sizeof(s)), 12);

    /* Descriptor format cut after the key. */
    s[0] = 0x72;
    s[1] = 0x06;
    s[2] = 0x29;
    assert_true(scsi_sense_decode(s, 2, &d));
    assert_true(d.descriptor);
    assert_int_equal(d.code.key, 0x6);
    assert_int_equal(d.code.asc, 0);
    assert_false(d.complete);
    assert_int_equal(d.len, 2);
}

/* SPC-4 4.5.1: response codes other than 70h-73h (00h-6Fh reserved or
 * SCSI-1, 74h-7Eh reserved, 7Fh vendor specific), and no data at all. */
static void test_4_5_1_invalid_response_code(void **state)
{
    static const uint8_t codes[] = {0x00, 0x6f, 0x74, 0x7e, 0x7f, 0xff};
    uint8_t s[18] = {0, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0x00};
    ScsiSenseCode code;
    ScsiSense d;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(codes); i++) {
        s[0] = codes[i];
        memset(&d, 0xee, sizeof(d));
        assert_false(scsi_sense_decode(s, sizeof(s), &d));
        assert_int_equal(d.response_code, 0);
        assert_int_equal(d.code.key, 0);
        assert_int_equal(d.len, 0);
        assert_false(scsi_sense_parse(s, sizeof(s), &code));
        /* A length for data of no known format: all of it. */
        assert_int_equal(scsi_sense_length(s, sizeof(s)), sizeof(s));
    }
    s[0] = 0x70;
    assert_false(scsi_sense_decode(s, 0, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_4_5_3_fixed),
        cmocka_unit_test(test_4_5_3_built_round_trip),
        cmocka_unit_test(test_4_5_2_descriptor),
        cmocka_unit_test(test_4_5_truncated),
        cmocka_unit_test(test_4_5_1_invalid_response_code),
    };

    return TESTUTIL_RUN("scsi", tests, NULL, NULL);
}
