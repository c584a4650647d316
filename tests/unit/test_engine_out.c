/*
 * test_engine_out: PERSISTENT RESERVE OUT against the SPC-4 text.
 *
 * Clause numbers are SPC-4 r37 unless marked SPC-5.
 */
#include <string.h>

#include "enginetest.h"

/* ------------------------------------------------------------------ */
/* CDB and parameter list validation (6.14.1-6.14.3)                   */
/* ------------------------------------------------------------------ */

/* 6.14.1 table 168: service actions 09h-1Fh are reserved. */
static void test_6_14_1_reserved_service_actions(void **state)
{
    TestLu *lu = *state;
    unsigned sa;

    testlu_register(lu, &lu->a, KEY_A);
    for (sa = 0x09; sa <= 0x1f; sa++) {
        testlu_out(lu, &lu->a, (uint8_t)sa, 1, KEY_A, 0, 0);
        assert_sense(lu, 0x5, 0x24, 0x00);
        /* Field pointer: CDB byte 1 (SKSV, C/D set). */
        assert_int_equal(lu->result.sense[15] & 0xc0, 0xc0);
        assert_int_equal(get_be16(lu->result.sense + 16), 1);
    }
}

/* 6.14.2 table 169: obsolete and reserved types for RESERVE. */
static void test_6_14_2_invalid_types(void **state)
{
    TestLu *lu = *state;
    static const uint8_t bad[] = {0x0, 0x2, 0x4, 0x9, 0xa,
                                  0xb, 0xc, 0xd, 0xe, 0xf};
    size_t i;

    testlu_register(lu, &lu->a, KEY_A);
    for (i = 0; i < sizeof(bad); i++) {
        testlu_out(lu, &lu->a, PR_OUT_RESERVE, bad[i], KEY_A, 0, 0);
        assert_sense(lu, 0x5, 0x24, 0x00);
    }
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/* 6.14.2: SCOPE other than LU_SCOPE is INVALID FIELD IN CDB. */
static void test_6_14_2_scope_not_lu(void **state)
{
    TestLu *lu = *state;
    uint8_t cdb[CDB_LEN];
    uint8_t param[24];
    uint8_t scope;

    testlu_register(lu, &lu->a, KEY_A);
    cdb_prout_basic(param, KEY_A, 0, 0, NULL, 0);
    for (scope = 1; scope < 16; scope++) {
        cdb_pr_out(cdb, PR_OUT_RESERVE, scope, PR_TYPE_WRITE_EXCLUSIVE, 24);
        testlu_run(lu, &lu->a, cdb, param, 24);
        assert_sense(lu, 0x5, 0x24, 0x00);
    }
}

/* 6.14.3: without SPEC_I_PT the list is exactly 24 bytes. */
static void test_6_14_3_parameter_list_length(void **state)
{
    TestLu *lu = *state;
    static const size_t lengths[] = {0, 1, 23, 25, 28, 32};
    uint8_t cdb[CDB_LEN];
    uint8_t param[64];
    size_t i;

    memset(param, 0, sizeof(param));
    put_be64(param + 8, KEY_A);
    for (i = 0; i < G_N_ELEMENTS(lengths); i++) {
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)lengths[i]);
        testlu_run(lu, &lu->a, cdb, param, lengths[i]);
        assert_sense(lu, 0x5, 0x1a, 0x00);
    }
    assert_int_equal(testlu_generation(lu), 0);
    assert_false(testlu_key_present(lu, KEY_A));
}

/*
 * 6.14.1: PARAMETER LIST LENGTH is CDB bytes 5-8.  QEMU frames only bytes
 * 7-8, so a length using bytes 5-6 cannot have been transferred whole.
 */
static void test_6_14_1_length_in_bytes_5_6(void **state)
{
    TestLu *lu = *state;
    uint8_t cdb[CDB_LEN];
    uint8_t param[24];

    cdb_prout_basic(param, 0, KEY_A, 0, NULL, 0);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 0x00010018);
    testlu_run(lu, &lu->a, cdb, param, 24);
    assert_sense(lu, 0x5, 0x1a, 0x00);
    assert_false(testlu_key_present(lu, KEY_A));
}

/* 6.14.1: reserved CDB fields and unsupported CONTROL bits. */
static void test_6_14_1_reserved_cdb_fields(void **state)
{
    TestLu *lu = *state;
    static const struct {
        int byte;
        uint8_t value;
    } cases[] = {
        {1, 0x20}, {1, 0x80}, {3, 0x01}, {4, 0xff}, {9, 0x04}, /* NACA */
        {9, 0x01},                                             /* LINK */
    };
    uint8_t cdb[CDB_LEN];
    uint8_t param[24];
    size_t i;

    cdb_prout_basic(param, 0, KEY_A, 0, NULL, 0);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
        cdb[cases[i].byte] |= cases[i].value;
        testlu_run(lu, &lu->a, cdb, param, 24);
        assert_sense(lu, 0x5, 0x24, 0x00);
        assert_int_equal(get_be16(lu->result.sense + 16), cases[i].byte);
    }
    assert_false(testlu_key_present(lu, KEY_A));
}

/* 6.14.3 table 170: reserved bits of the parameter list. */
static void test_6_14_3_reserved_parameter_bits(void **state)
{
    TestLu *lu = *state;
    static const struct {
        int byte;
        uint8_t value;
    } cases[] = {{20, 0x10}, {20, 0x80}, {20, 0x02}, {21, 0x01}};
    uint8_t cdb[CDB_LEN];
    uint8_t param[24];
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        cdb_prout_basic(param, 0, KEY_A, 0, NULL, 0);
        param[cases[i].byte] |= cases[i].value;
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
        testlu_run(lu, &lu->a, cdb, param, 24);
        assert_sense(lu, 0x5, 0x26, 0x00);
        /* Field pointer into the parameter list (C/D clear). */
        assert_int_equal(lu->result.sense[15] & 0xc0, 0x80);
        assert_int_equal(get_be16(lu->result.sense + 16), cases[i].byte);
    }
    assert_false(testlu_key_present(lu, KEY_A));
}

/* ------------------------------------------------------------------ */
/* REGISTER and REGISTER AND IGNORE EXISTING KEY (5.12.7)              */
/* ------------------------------------------------------------------ */

/* 5.12.7 table 67: unregistered nexus, RK non-zero: conflict. */
static void test_5_12_7_register_unregistered_nonzero_rk(void **state)
{
    TestLu *lu = *state;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_B, KEY_A, 0);
    assert_conflict(lu);
    assert_int_equal(testlu_generation(lu), 0);
    assert_false(testlu_key_present(lu, KEY_A));
}

/* 5.12.7 table 67: unregistered, RK zero, SARK non-zero registers. */
static void test_5_12_7_register_new(void **state)
{
    TestLu *lu = *state;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, 0);
    assert_good(lu);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_generation(lu), 1);
}

/* 5.12.7 table 67: registered, wrong RK: conflict, no change. */
static void test_5_12_7_register_wrong_rk(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_B, KEY_C, 0);
    assert_conflict(lu);
    assert_int_equal(testlu_generation(lu), 1);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_false(testlu_key_present(lu, KEY_C));
    /* libiscsi ProutRegister.Simple: RK zero on a registered nexus. */
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A + 1, 0);
    assert_conflict(lu);
}

/* 5.12.7 table 68: REGISTER AND IGNORE EXISTING KEY ignores RK. */
static void test_5_12_7_register_ignore_wrong_rk(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER_IGNORE, 0, 0xdead, KEY_C, 0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_C);
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.7: a registered nexus registering a new key keeps the reservation
 * it holds, now under the new key; generation +1.
 */
static void test_5_12_7_rekey_keeps_reservation(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_A, KEY_C, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE);
    assert_int_equal(key, KEY_C);
    assert_int_equal(testlu_generation(lu), 2);
}

/* 5.12.11.2.3: unregistering removes only the issuer's registration. */
static void test_5_12_11_2_3_unregister(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_A, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_B);
    assert_int_equal(testlu_generation(lu), 3);
}

/*
 * 5.12.11.2.3: the holder of a WE/EA reservation unregisters:
 * the reservation is released and no unit attention is established.
 */
static void test_5_12_11_2_3_holder_unregisters_we(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_A, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_pending_uas(lu, &lu->b), 0);
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
}

/*
 * 5.12.11.2.3: the holder of a registrants-only reservation
 * unregisters: released, RESERVATIONS RELEASED to the other registrants
 * only (libiscsi ProutReserve.OwnershipWERO).
 */
static void test_5_12_11_2_3_holder_unregisters_ro(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER_IGNORE, 0, 0, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x04));
    assert_true(testlu_ua_pending(lu, &lu->c, 0x2a, 0x04));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
}

/*
 * 5.12.11.2.3: an all-registrants reservation stays while any
 * registrant remains and goes with the last one (libiscsi Ownership*AR).
 */
static void test_5_12_11_2_3_all_registrants_last_leaves(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 1;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, KEY_A, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_AR);
    assert_int_equal(key, 0);
    /* The remaining registrant holds it and may release it. */
    testlu_out(lu, &lu->b, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_B, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);

    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_B,
               0, 0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, KEY_B, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/* 5.12.4, 6.14.3: APTPL: the last value received wins (PTPL_A). */
static void test_5_12_4_aptpl_last_value(void **state)
{
    TestLu *lu = *state;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_APTPL);
    assert_good(lu);
    testlu_in(lu, &lu->observer, PR_IN_REPORT_CAPABILITIES, 8);
    assert_int_equal(lu->result.data[3] & 0x01, 1);
    testlu_out(lu, &lu->b, PR_OUT_REGISTER_IGNORE, 0, 0, KEY_B, 0);
    assert_good(lu);
    testlu_in(lu, &lu->observer, PR_IN_REPORT_CAPABILITIES, 8);
    assert_int_equal(lu->result.data[3] & 0x01, 0);
    /* RESERVE ignores APTPL (6.14.3). */
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               PROUT_APTPL);
    assert_good(lu);
    testlu_in(lu, &lu->observer, PR_IN_REPORT_CAPABILITIES, 8);
    assert_int_equal(lu->result.data[3] & 0x01, 0);
}

/* 5.12.7: PRgeneration is a 32-bit counter that wraps. */
static void test_5_12_7_generation_wraps(void **state)
{
    TestLu *lu = *state;

    lu->state->generation = 0xffffffffu;
    testlu_register(lu, &lu->a, KEY_A);
    assert_int_equal(testlu_generation(lu), 0);
}

/* 5.12.7: SPEC_I_PT registers the issuer and every listed initiator. */
static void test_5_12_7_spec_i_pt(void **state)
{
    TestLu *lu = *state;
    TransportId tids[4];
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    PrNexus fc;
    PrNexus sas;
    PrNexus port;
    size_t len;

    memset(tids, 0, sizeof(tids));
    tids[0] = lu->b.initiator;
    assert_true(tid_parse("fcp,2100001b32a1b2c3", &tids[1], NULL));
    assert_true(tid_parse("sas,5000c50012345678", &tids[2], NULL));
    assert_true(tid_parse("iqn.2026-11.org.softpr.test:p,i,0x23d000000001",
                          &tids[3], NULL));
    len = cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, tids, 4);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_good(lu);
    assert_int_equal(testlu_generation(lu), 1);

    memset(&fc, 0, sizeof(fc));
    fc.initiator = tids[1];
    fc.rtpi = 1;
    sas = fc;
    sas.initiator = tids[2];
    port = fc;
    port.initiator = tids[3];
    assert_true(engine_find_registration(lu->state, &lu->a) >= 0);
    assert_true(engine_find_registration(lu->state, &lu->b) >= 0);
    assert_true(engine_find_registration(lu->state, &fc) >= 0);
    assert_true(engine_find_registration(lu->state, &sas) >= 0);
    assert_true(engine_find_registration(lu->state, &port) >= 0);
    /* Registered on the target port the command came through only. */
    assert_true(engine_find_registration(lu->state, &lu->a2) < 0);

    /* Each listed nexus may now use its key. */
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
}

/*
 * 5.12.7: if any listed nexus is already registered, the command fails
 * with INVALID FIELD IN PARAMETER LIST and nobody is registered.
 */
static void test_5_12_7_spec_i_pt_all_or_nothing(void **state)
{
    TestLu *lu = *state;
    TransportId tids[2];
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len;

    testlu_register(lu, &lu->c, KEY_C);
    tids[0] = lu->b.initiator;
    tids[1] = lu->c.initiator;
    len = cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, tids, 2);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_true(engine_find_registration(lu->state, &lu->a) < 0);
    assert_true(engine_find_registration(lu->state, &lu->b) < 0);
    assert_int_equal(testlu_generation(lu), 1);
}

/* 5.12.7: SPEC_I_PT with REGISTER AND IGNORE EXISTING KEY. */
static void test_5_12_7_spec_i_pt_with_register_ignore(void **state)
{
    TestLu *lu = *state;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len =
        cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, &lu->b.initiator, 1);

    cdb_pr_out(cdb, PR_OUT_REGISTER_IGNORE, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_int_equal(testlu_generation(lu), 0);
}

/*
 * 6.14.3: SPEC_I_PT set to one with any service action but REGISTER
 * terminates the command with INVALID FIELD IN PARAMETER LIST, whether
 * the list stops at 24 bytes or carries TransportIDs, and nothing
 * changes.  REPLACE LOST RESERVATION is tried while PR information is
 * lost, the only time it would run.
 */
static void test_6_14_3_spec_i_pt_only_with_register(void **state)
{
    TestLu *lu = *state;
    static const uint8_t actions[] = {
        PR_OUT_RESERVE,      PR_OUT_RELEASE,           PR_OUT_CLEAR,
        PR_OUT_PREEMPT,      PR_OUT_PREEMPT_AND_ABORT, PR_OUT_REGISTER_IGNORE,
        PR_OUT_REPLACE_LOST,
    };
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t i;
    int with_tids;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    for (with_tids = 0; with_tids < 2; with_tids++) {
        for (i = 0; i < sizeof(actions); i++) {
            g_autoptr(PrState) before = NULL;
            size_t len = cdb_prout_basic(param, KEY_A, KEY_B, PROUT_SPEC_I_PT,
                                         &lu->c.initiator, 1);

            if (!with_tids) {
                len = 24;
            }
            lu->state->info_lost = actions[i] == PR_OUT_REPLACE_LOST;
            before = pr_state_copy(lu->state);
            cdb_pr_out(cdb, actions[i], 0, PR_TYPE_EXCLUSIVE_ACCESS,
                       (uint32_t)len);
            testlu_run(lu, &lu->a, cdb, param, len);
            assert_sense(lu, 0x5, 0x26, 0x00);
            /* Field pointer: byte 20, bit 3 (SPEC_I_PT). */
            assert_int_equal(lu->result.sense[15], 0x80 | 0x08 | 3);
            assert_int_equal(get_be16(lu->result.sense + 16), 20);
            assert_true(pr_state_equal(before, lu->state));
        }
    }
}

/* 5.12.7: SPEC_I_PT from a nexus that is already registered. */
static void test_5_12_7_spec_i_pt_registered_issuer(void **state)
{
    TestLu *lu = *state;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len;

    testlu_register(lu, &lu->a, KEY_A);
    len = cdb_prout_basic(param, KEY_A, KEY_A, PROUT_SPEC_I_PT,
                          &lu->b.initiator, 1);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_true(engine_find_registration(lu->state, &lu->b) < 0);
}

/*
 * 6.14.3, 7.6.4: the TransportID list must match TRANSPORTID PARAMETER
 * DATA LENGTH and hold well-formed, supported TransportIDs.
 */
static void test_6_14_3_spec_i_pt_bad_transport_ids(void **state)
{
    TestLu *lu = *state;
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len;

    /* Shorter than the 28-byte header. */
    len = cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, NULL, 0);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
    testlu_run(lu, &lu->a, cdb, param, 24);
    assert_sense(lu, 0x5, 0x1a, 0x00);

    /* TPDL larger than the list. */
    len =
        cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, &lu->b.initiator, 1);
    put_be32(param + 24, (uint32_t)(len - 28 + 4));
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x1a, 0x00);

    /* iSCSI ADDITIONAL LENGTH not a multiple of 4. */
    len =
        cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, &lu->b.initiator, 1);
    param[28 + 3] -= 1;
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x26, 0x00);

    /* iSCSI name without its NUL terminator. */
    len =
        cdb_prout_basic(param, 0, KEY_A, PROUT_SPEC_I_PT, &lu->b.initiator, 1);
    memset(param + 32, 'x', len - 32);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->a, cdb, param, len);
    assert_sense(lu, 0x5, 0x26, 0x00);

    /* A protocol softprd does not support (SPI, 1h). */
    memset(param, 0, sizeof(param));
    put_be64(param + 8, KEY_A);
    param[20] = PROUT_SPEC_I_PT;
    put_be32(param + 24, 24);
    param[28] = 0x01;
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 52);
    testlu_run(lu, &lu->a, cdb, param, 52);
    assert_sense(lu, 0x5, 0x26, 0x00);

    assert_int_equal(testlu_generation(lu), 0);
    assert_true(engine_find_registration(lu->state, &lu->a) < 0);
}

/*
 * 5.12.7 table 69: ALL_TG_PT registers an I_T nexus per target port, as
 * if the request had come through each, and each is then a registration
 * of its own (5.12.7: a registration has no effect on any other): the
 * holder is the one nexus that reserved (5.12.10), a key changed through
 * one port changes that nexus's only, and unregistering through one port
 * removes that nexus's registration only (5.12.11.2.3).
 */
static void test_5_12_7_all_tg_pt(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    assert_good(lu);
    assert_int_equal(testlu_generation(lu), 1);
    assert_true(engine_find_registration(lu->state, &lu->a) >= 0);
    assert_true(engine_find_registration(lu->state, &lu->a2) >= 0);
    assert_int_not_equal(engine_find_registration(lu->state, &lu->a),
                         engine_find_registration(lu->state, &lu->a2));

    testlu_out(lu, &lu->a2, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_good(lu);
    /* Through port 1 it is a registrant, not the holder (5.12.11.2.2). */
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_EXCLUSIVE_ACCESS);

    testlu_out(lu, &lu->a2, PR_OUT_REGISTER, 0, KEY_A, KEY_C, 0);
    assert_good(lu);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_true(testlu_key_present(lu, KEY_C));
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS);
    assert_true(key == KEY_C);

    /* The holder unregisters: its reservation goes, port 1's stays. */
    testlu_out(lu, &lu->a2, PR_OUT_REGISTER, 0, KEY_C, 0, 0);
    assert_good(lu);
    assert_true(engine_find_registration(lu->state, &lu->a2) < 0);
    assert_true(engine_find_registration(lu->state, &lu->a) >= 0);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_generation(lu), 3);
}

/*
 * 5.12.7, 6.14.2: ALL_TG_PT makes one registration per target port, each
 * counting against the logical unit's registration resources; short of
 * them, INSUFFICIENT REGISTRATION RESOURCES and no port is registered.
 */
static void test_5_12_7_all_tg_pt_resources(void **state)
{
    TestLu *lu = *state;

    lu->config.max_registrations = 2;
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    assert_sense(lu, 0x5, 0x55, 0x04);
    assert_true(engine_find_registration(lu->state, &lu->a) < 0);
    assert_true(engine_find_registration(lu->state, &lu->a2) < 0);

    lu->config.max_registrations = 3;
    testlu_out(lu, &lu->a, PR_OUT_REGISTER_IGNORE, 0, 0, KEY_A,
               PROUT_ALL_TG_PT);
    assert_good(lu);
    testlu_out(lu, &lu->c, PR_OUT_REGISTER, 0, 0, KEY_C, 0);
    assert_sense(lu, 0x5, 0x55, 0x04);
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.11.2.2, 5.12.11.2.7: unit attentions go to every other registered
 * I_T nexus, the issuer's initiator on its other target ports included.
 */
static void test_5_12_11_all_tg_pt_unit_attentions(void **state)
{
    TestLu *lu = *state;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    assert_true(testlu_ua_pending(lu, &lu->a2, 0x2a, 0x04));
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x04));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);

    testlu_out(lu, &lu->a, PR_OUT_CLEAR, 0, KEY_A, 0, 0);
    assert_good(lu);
    assert_true(testlu_ua_pending(lu, &lu->a2, 0x2a, 0x03));
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x03));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
}

/*
 * 5.12.11.2.4: the holder preempting its own key keeps its reservation
 * and registration, but the registrations of every other I_T nexus with
 * that key go, the same initiator's on another target port included,
 * with REGISTRATIONS PREEMPTED there.
 */
static void test_5_12_11_2_4_preempt_all_tg_pt(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 0;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_true(engine_find_registration(lu->state, &lu->a) >= 0);
    assert_true(engine_find_registration(lu->state, &lu->a2) < 0);
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_true(key == KEY_A);
    assert_true(testlu_ua_pending(lu, &lu->a2, 0x2a, 0x05));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
    assert_int_equal(testlu_pending_uas(lu, &lu->b), 0);
}

/*
 * 5.12.7: ALL_TG_PT from an initiator already registered through another
 * target port would register that nexus a second time: INVALID FIELD IN
 * PARAMETER LIST (as for a listed nexus under SPEC_I_PT), nothing changes.
 */
static void test_5_12_7_all_tg_pt_already_registered_elsewhere(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a2, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_int_equal(get_be16(lu->result.sense + 16), 20);
    assert_false(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_generation(lu), 1);
    /* Without ALL_TG_PT it is a separate nexus and registers. */
    testlu_register(lu, &lu->a, KEY_A);
    assert_true(testlu_key_present(lu, KEY_A));
}

/* 5.12.7: a nexus on another target port is another nexus. */
static void test_5_12_7_ports_are_separate_nexuses(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    assert_true(engine_find_registration(lu->state, &lu->a2) < 0);
    testlu_register(lu, &lu->a2, KEY_B);
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
}

/* 6.14.2: no room for a registration: INSUFFICIENT REGISTRATION RESOURCES. */
static void test_6_14_2_insufficient_resources(void **state)
{
    TestLu *lu = *state;

    lu->config.max_registrations = 2;
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->c, PR_OUT_REGISTER, 0, 0, KEY_C, 0);
    assert_sense(lu, 0x5, 0x55, 0x04);
    assert_int_equal(testlu_generation(lu), 2);
    /* Changing a key needs no new registration. */
    testlu_register(lu, &lu->b, KEY_C);
    assert_true(testlu_key_present(lu, KEY_C));
}

/* 5.12.7 table 68: unregistered and SARK zero: GOOD, nothing happens. */
static void test_5_12_7_register_zero_unregistered(void **state)
{
    TestLu *lu = *state;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER_IGNORE, 0, 0, 0, 0);
    assert_good(lu);
    assert_false(testlu_key_present(lu, 0));
    testlu_in(lu, &lu->observer, PR_IN_READ_KEYS, 8);
    assert_int_equal(get_be32(lu->result.data + 4), 0);
}

/* ------------------------------------------------------------------ */
/* Unregistered nexuses and the reservation key (5.12.7, 6.14.3)       */
/* ------------------------------------------------------------------ */

/*
 * 5.12.7 and table 66: every PR OUT other than the two register
 * actions from an unregistered nexus conflicts, with or without a
 * reservation held by another nexus.
 */
static void test_5_12_7_unregistered_nexus_conflicts(void **state)
{
    TestLu *lu = *state;
    static const uint8_t actions[] = {
        PR_OUT_RESERVE, PR_OUT_RELEASE,           PR_OUT_CLEAR,
        PR_OUT_PREEMPT, PR_OUT_PREEMPT_AND_ABORT, PR_OUT_REPLACE_LOST,
    };
    size_t i;
    int round;

    for (round = 0; round < 2; round++) {
        for (i = 0; i < sizeof(actions); i++) {
            testlu_out(lu, &lu->b, actions[i], PR_TYPE_WRITE_EXCLUSIVE, 0,
                       KEY_A, 0);
            assert_conflict(lu);
        }
        {
            uint8_t cdb[CDB_LEN];
            uint8_t param[WIRE_DATA_MAX];
            size_t len = cdb_prout_move(param, 0, KEY_C, false, false, 1,
                                        &lu->c.initiator);

            cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, 0, (uint32_t)len);
            testlu_run(lu, &lu->b, cdb, param, len);
            assert_conflict(lu);
        }
        if (round == 0) {
            testlu_register(lu, &lu->a, KEY_A);
            testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS,
                       KEY_A, 0, 0);
            assert_good(lu);
        }
    }
    assert_int_equal(testlu_generation(lu), 1);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_EXCLUSIVE_ACCESS);
}

/* 6.14.3: RK is verified for every action but the register ones. */
static void test_6_14_3_wrong_reservation_key(void **state)
{
    TestLu *lu = *state;
    static const uint8_t actions[] = {PR_OUT_RESERVE, PR_OUT_RELEASE,
                                      PR_OUT_CLEAR, PR_OUT_PREEMPT,
                                      PR_OUT_PREEMPT_AND_ABORT};
    size_t i;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    for (i = 0; i < sizeof(actions); i++) {
        testlu_out(lu, &lu->a, actions[i], PR_TYPE_WRITE_EXCLUSIVE, KEY_C,
                   KEY_B, 0);
        assert_conflict(lu);
    }
    assert_int_equal(testlu_generation(lu), 2);
    assert_true(testlu_key_present(lu, KEY_B));
}

/* ------------------------------------------------------------------ */
/* RESERVE (5.12.9)                                                    */
/* ------------------------------------------------------------------ */

/* 5.12.9 (libiscsi ProutReserve.Simple): all six types. */
static void test_5_12_9_reserve_each_type(void **state)
{
    TestLu *lu = *state;
    static const uint8_t types[] = {1, 3, 5, 6, 7, 8};
    size_t i;

    testlu_register(lu, &lu->a, KEY_A);
    for (i = 0; i < sizeof(types); i++) {
        uint64_t key = 1;

        testlu_out(lu, &lu->a, PR_OUT_RESERVE, types[i], KEY_A, 0, 0);
        assert_good(lu);
        assert_int_equal(testlu_reservation(lu, &key), types[i]);
        assert_int_equal(key,
                         engine_type_all_registrants(types[i]) ? 0 : KEY_A);
        testlu_out(lu, &lu->a, PR_OUT_RELEASE, types[i], KEY_A, 0, 0);
        assert_good(lu);
        assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    }
    /* RESERVE and RELEASE never change the generation. */
    assert_int_equal(testlu_generation(lu), 1);
}

/* 5.12.9: the holder again, same type: GOOD, no change. */
static void test_5_12_9_reserve_again_same_type(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_good(lu);
    assert_false(lu->result.changed);
    /* A different type from the holder conflicts. */
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_conflict(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_EXCLUSIVE_ACCESS);
}

/* 5.12.9: a registered non-holder's RESERVE conflicts. */
static void test_5_12_9_reserve_by_non_holder(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    assert_conflict(lu);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    assert_conflict(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(key, KEY_A);
}

/* 5.12.10: under all-registrants every registrant is a holder. */
static void test_5_12_10_all_registrants_reserve(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_A,
               0, 0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_B,
               0, 0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_B, 0,
               0);
    assert_conflict(lu);
    /* A nexus registering later becomes a holder too. */
    testlu_register(lu, &lu->c, KEY_C);
    testlu_in(lu, &lu->observer, PR_IN_READ_FULL_STATUS, 8192);
    assert_good(lu);
    {
        size_t off = 8;
        int holders = 0;

        while (off < lu->result.data_len) {
            holders += lu->result.data[off + 12] & 1;
            assert_int_equal(lu->result.data[off + 13],
                             PR_TYPE_EXCLUSIVE_ACCESS_AR);
            off += 24 + get_be32(lu->result.data + off + 20);
        }
        assert_int_equal(holders, 3);
    }
}

/* ------------------------------------------------------------------ */
/* RELEASE (5.12.11.2.2)                                               */
/* ------------------------------------------------------------------ */

/* 5.12.11.2.2: no reservation: GOOD, nothing changes. */
static void test_5_12_11_2_2_release_nothing_reserved(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
    assert_false(lu->result.changed);
}

/* 5.12.11.2.2: a non-holder's RELEASE: GOOD, not released. */
static void test_5_12_11_2_2_release_by_non_holder(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_WRITE_EXCLUSIVE);
}

/*
 * 5.12.11.2.2: the holder releasing with another TYPE gets
 * INVALID RELEASE OF PERSISTENT RESERVATION and keeps the reservation.
 */
static void test_5_12_11_2_2_release_wrong_type(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    assert_sense(lu, 0x5, 0x26, 0x04);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_WRITE_EXCLUSIVE);
}

/*
 * 5.12.11.2.2: releasing a registrants-only or all-registrants
 * reservation establishes RESERVATIONS RELEASED for the other
 * registrants only; WE and EA establish none.  Registrations stay.
 */
static void test_5_12_11_2_2_release_unit_attentions(void **state)
{
    TestLu *lu = *state;
    static const struct {
        uint8_t type;
        bool ua;
    } cases[] = {{1, false}, {3, false}, {5, true},
                 {6, true},  {7, true},  {8, true}};
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_array_set_size(lu->state->uas, 0);
        g_array_set_size(lu->state->regs, 0);
        testlu_register(lu, &lu->a, KEY_A);
        testlu_register(lu, &lu->b, KEY_B);
        testlu_out(lu, &lu->a, PR_OUT_RESERVE, cases[i].type, KEY_A, 0, 0);
        assert_good(lu);
        testlu_out(lu, &lu->a, PR_OUT_RELEASE, cases[i].type, KEY_A, 0, 0);
        assert_good(lu);
        assert_int_equal(testlu_ua_pending(lu, &lu->b, 0x2a, 0x04),
                         cases[i].ua);
        assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
        assert_true(testlu_key_present(lu, KEY_A));
        assert_true(testlu_key_present(lu, KEY_B));
    }
}

/* ------------------------------------------------------------------ */
/* CLEAR (5.12.11.2.7)                                                 */
/* ------------------------------------------------------------------ */

/*
 * 5.12.11.2.7 (libiscsi ProutClear.Simple): no keys, no
 * reservation, RESERVATIONS PREEMPTED to the others, generation +1.
 */
static void test_5_12_11_2_7_clear(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint32_t gen;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    gen = testlu_generation(lu);
    /* CLEAR ignores TYPE. */
    testlu_out(lu, &lu->a, PR_OUT_CLEAR, 0x0f, KEY_A, 0, 0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 0);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_generation(lu), gen + 1);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x03));
    assert_true(testlu_ua_pending(lu, &lu->c, 0x2a, 0x03));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
}

/* ------------------------------------------------------------------ */
/* PREEMPT and PREEMPT AND ABORT (5.12.11.2.4-6)                       */
/* ------------------------------------------------------------------ */

/*
 * 5.12.11.2.5 (libiscsi ProutPreempt.RemoveRegistration): no
 * reservation: every registration with key SARK is removed, REGISTRATIONS
 * PREEMPTED to each, the issuer keeps its own; generation +1 once.
 */
static void test_5_12_11_2_5_preempt_removes_registrations(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->c, KEY_A); /* two nexuses sharing a key */
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, PR_TYPE_EXCLUSIVE_ACCESS, KEY_B,
               KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_B);
    assert_int_equal(testlu_generation(lu), 4);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x05));
    assert_true(testlu_ua_pending(lu, &lu->c, 0x2a, 0x05));
    assert_int_equal(testlu_pending_uas(lu, &lu->b), 0);
    /* TYPE was ignored: nothing is reserved. */
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/*
 * 5.12.11.2.5: SARK equal to the issuer's own key removes the
 * issuer's registration too (fence_scsi relies on it), with no unit
 * attention to itself.  TYPE 0 is accepted: it is ignored here (QEMU 11's
 * migrate-pr sends it).
 */
static void test_5_12_11_2_5_preempt_own_key(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_A);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, 0, KEY_A, KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_C);
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x05));
    assert_int_equal(testlu_pending_uas(lu, &lu->c), 0);
}

/* 5.12.11.2.4: a SARK no registration has: conflict. */
static void test_5_12_11_2_4_preempt_unknown_key(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE, KEY_A,
               KEY_B, 0);
    assert_conflict(lu);
    assert_int_equal(testlu_generation(lu), 1);
}

/*
 * 5.12.11.2.4 figure 9: SARK zero is allowed only with an
 * all-registrants reservation: otherwise INVALID FIELD IN PARAMETER LIST.
 */
static void test_5_12_11_2_4_preempt_zero_sark(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_sense(lu, 0x5, 0x26, 0x00);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    assert_good(lu);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.11.2.4: preempting the holder: the issuer holds the new
 * reservation with the CDB's type; the preempted nexus gets REGISTRATIONS
 * PREEMPTED; the remaining registrants get RESERVATIONS RELEASED only
 * because the type changed.
 */
static void test_5_12_11_2_4_preempt_holder_new_type(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A,
               KEY_B, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS);
    assert_int_equal(key, KEY_A);
    assert_false(testlu_key_present(lu, KEY_B));
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x05));
    assert_true(testlu_ua_pending(lu, &lu->c, 0x2a, 0x04));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
    assert_int_equal(testlu_generation(lu), 4);
}

/* 5.12.11.2.4: same type: no RESERVATIONS RELEASED to the others. */
static void test_5_12_11_2_4_preempt_holder_same_type(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT_AND_ABORT, PR_TYPE_WRITE_EXCLUSIVE_RO,
               KEY_A, KEY_B, 0);
    assert_good(lu);
    /* PREEMPT AND ABORT raises PRgeneration by one. */
    assert_int_equal(testlu_generation(lu), 4);
    assert_int_equal(testlu_pending_uas(lu, &lu->c), 0);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x05));
}

/* 5.12.11.2.4: the holder preempting itself may change the type. */
static void test_5_12_11_2_4_holder_preempts_itself(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS);
    assert_int_equal(key, KEY_A);
    assert_true(testlu_key_present(lu, KEY_A));
}

/* 5.12.11.2.4: preempting the holder validates the new TYPE. */
static void test_5_12_11_2_4_preempt_holder_invalid_type(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, 0x2, KEY_A, KEY_B, 0);
    assert_sense(lu, 0x5, 0x24, 0x00);
    assert_true(testlu_key_present(lu, KEY_B));
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.11.2.4: a reservation held under another key is not
 * affected when SARK names only non-holders.
 */
static void test_5_12_11_2_4_preempt_non_holder_key(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, PR_TYPE_EXCLUSIVE_ACCESS, KEY_B,
               KEY_C, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE);
    assert_int_equal(key, KEY_A);
    assert_false(testlu_key_present(lu, KEY_C));
}

/*
 * 5.12.11.2.4: all-registrants reservation and SARK zero: every
 * other registration is removed and the issuer holds the CDB's type.
 */
static void test_5_12_11_2_4_preempt_all_registrants_zero(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 1;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_A, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_B);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(key, KEY_B);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x05));
    assert_true(testlu_ua_pending(lu, &lu->c, 0x2a, 0x05));
}

/* 5.12.11.2.4: all-registrants and SARK non-zero removes only that key. */
static void test_5_12_11_2_4_preempt_all_registrants_key(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_A,
               0, 0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE, KEY_A,
               KEY_B, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_EXCLUSIVE_ACCESS_AR);
    assert_false(testlu_key_present(lu, KEY_B));
    /* Preempting the last registrant's own key releases it. */
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/*
 * 5.12.11.2.6: fence_scsi's sequence (fence-agents' fence_scsi): both
 * nodes unfence with type 5, one fences the other with PREEMPT AND
 * ABORT, the victim is gone, the reservation moved with the same type;
 * then the victim unfences again.
 */
static void test_5_12_11_2_6_fence_scsi_sequence(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    /* Node A unfences: register, then reserve type 5. */
    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    /* Node B unfences: register; the reservation exists already. */
    testlu_register(lu, &lu->b, KEY_B);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);

    /* B fences A. */
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT_AND_ABORT, PR_TYPE_WRITE_EXCLUSIVE_RO,
               KEY_B, KEY_A, 0);
    assert_good(lu);
    assert_false(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(key, KEY_B);

    /* A unfences again: its key does not exist, so register and check. */
    testlu_register(lu, &lu->a, KEY_A);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);

    /* fence_scsi's self-preempt when its key already existed. */
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_false(testlu_key_present(lu, KEY_A));
    assert_true(testlu_key_present(lu, KEY_B));
}

/* ------------------------------------------------------------------ */
/* REGISTER AND MOVE (5.12.8)                                          */
/* ------------------------------------------------------------------ */

static void move(TestLu *lu, const PrNexus *from, uint64_t rk, uint64_t sark,
                 bool unreg, uint16_t rtpi, const TransportId *tid)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_move(param, rk, sark, unreg, false, rtpi, tid);

    cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, 0, (uint32_t)len);
    testlu_run(lu, from, cdb, param, len);
}

/* 5.12.8: no reservation: INVALID FIELD IN CDB. */
static void test_5_12_8_move_without_reservation(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    move(lu, &lu->a, KEY_A, KEY_B, false, 1, &lu->b.initiator);
    assert_sense(lu, 0x5, 0x24, 0x00);
}

/* 5.12.8: all-registrants reservation or non-holder: conflict. */
static void test_5_12_8_move_conflicts(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_A, 0,
               0);
    move(lu, &lu->a, KEY_A, KEY_C, false, 1, &lu->c.initiator);
    assert_conflict(lu);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_AR, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    move(lu, &lu->b, KEY_B, KEY_C, false, 1, &lu->c.initiator);
    assert_conflict(lu);
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.8: SARK zero, the issuer's own TransportID, or a target
 * port that does not exist: INVALID FIELD IN PARAMETER LIST.
 */
static void test_5_12_8_move_invalid_parameters(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    move(lu, &lu->a, KEY_A, 0, false, 1, &lu->b.initiator);
    assert_sense(lu, 0x5, 0x26, 0x00);
    move(lu, &lu->a, KEY_A, KEY_B, false, 1, &lu->a.initiator);
    assert_sense(lu, 0x5, 0x26, 0x00);
    move(lu, &lu->a, KEY_A, KEY_B, false, 7, &lu->b.initiator);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_int_equal(testlu_generation(lu), 1);
}

/*
 * 5.12.8: success registers the destination with SARK and moves
 * the reservation, same type; the issuer stays registered; generation +1.
 */
static void test_5_12_8_move(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_RO, KEY_A,
               0, 0);
    move(lu, &lu->a, KEY_A, KEY_B, false, 1, &lu->b.initiator);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS_RO);
    assert_int_equal(key, KEY_B);
    assert_true(testlu_key_present(lu, KEY_A));
    assert_int_equal(testlu_generation(lu), 2);
    /* The destination now holds it and can release it. */
    testlu_out(lu, &lu->b, PR_OUT_RELEASE, PR_TYPE_EXCLUSIVE_ACCESS_RO, KEY_B,
               0, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/* 5.12.8: UNREG unregisters the issuer; a registered destination is
 * re-keyed; a different port of the same initiator is another nexus. */
static void test_5_12_8_move_unreg(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    move(lu, &lu->a, KEY_A, KEY_C, true, 1, &lu->b.initiator);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_C);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE);
    assert_int_equal(key, KEY_C);

    move(lu, &lu->b, KEY_C, KEY_A, false, 2, &lu->b.initiator);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
}

/* ------------------------------------------------------------------ */
/* REPLACE LOST RESERVATION (SPC-5 5.14.11.3)                          */
/* ------------------------------------------------------------------ */

/*
 * The order of REPLACE LOST RESERVATION's checks, from the text: SPC-4
 * 5.12.7 (and SPC-5 table 66) make every PR OUT but the two register
 * actions from an unregistered nexus a RESERVATION CONFLICT; SPC-5's
 * RESERVATION KEY field description (6.16.3) exempts REPLACE LOST
 * RESERVATION from matching the nexus's key and requires zero instead,
 * any other key being a key "other than" the one required; only then
 * does SPC-5 5.14.11.3 answer INVALID RELEASE OF PERSISTENT RESERVATION
 * when no PR information was lost.  While it is lost, SPC-5 5.14.5.3.2
 * forbids RESERVATION CONFLICT for this service action altogether.
 */

/* Nothing lost, registered nexus, key zero: INVALID RELEASE. */
static void test_spc5_replace_lost_nothing_lost(void **state)
{
    TestLu *lu = *state;
    g_autoptr(PrState) before = NULL;

    testlu_register(lu, &lu->a, KEY_A);
    before = pr_state_copy(lu->state);
    testlu_out(lu, &lu->a, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, 0,
               KEY_B, 0);
    assert_sense(lu, 0x5, 0x26, 0x04);
    assert_true(pr_state_equal(before, lu->state));
}

/* Nothing lost, registered nexus, its own key or another one: the
 * key is not the zero required, RESERVATION CONFLICT. */
static void test_spc5_replace_lost_nothing_lost_key_not_zero(void **state)
{
    TestLu *lu = *state;
    g_autoptr(PrState) before = NULL;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    before = pr_state_copy(lu->state);
    testlu_out(lu, &lu->a, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, KEY_A,
               KEY_C, 0);
    assert_conflict(lu);
    testlu_out(lu, &lu->a, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, KEY_B,
               KEY_C, 0);
    assert_conflict(lu);
    assert_true(pr_state_equal(before, lu->state));
}

/* Nothing lost, unregistered nexus: RESERVATION CONFLICT whatever the
 * key, before anything else is looked at. */
static void test_spc5_replace_lost_nothing_lost_unregistered(void **state)
{
    TestLu *lu = *state;
    g_autoptr(PrState) before = NULL;

    testlu_register(lu, &lu->a, KEY_A);
    before = pr_state_copy(lu->state);
    testlu_out(lu, &lu->b, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, 0,
               KEY_B, 0);
    assert_conflict(lu);
    testlu_out(lu, &lu->b, PR_OUT_REPLACE_LOST, 0xf, KEY_A, 0, 0);
    assert_conflict(lu);
    assert_true(pr_state_equal(before, lu->state));
}

/*
 * Information lost: other PR OUT commands end with DATA PROTECT /
 * PERSISTENT RESERVATION INFORMATION LOST; REPLACE LOST RESERVATION (RK
 * zero) from an unregistered nexus replaces every registration, without
 * unit attentions, reserves for the issuer, sets PRgeneration to zero and
 * processes APTPL (SPC-5 5.14.5.1).
 */
static void test_spc5_replace_lost(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    lu->state->info_lost = true;
    testlu_out(lu, &lu->a, PR_OUT_REGISTER_IGNORE, 0, 0, KEY_C, 0);
    assert_sense(lu, 0x7, 0x44, 0x01);
    /* PR IN still answers. */
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
    testlu_out(lu, &lu->c, PR_OUT_REPLACE_LOST, PR_TYPE_EXCLUSIVE_ACCESS, 0,
               KEY_C, PROUT_APTPL);
    assert_good(lu);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_C);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS);
    assert_int_equal(key, KEY_C);
    assert_int_equal(testlu_generation(lu), 0);
    assert_int_equal(lu->state->uas->len, 0);
    testlu_in(lu, &lu->observer, PR_IN_REPORT_CAPABILITIES, 8);
    assert_int_equal(lu->result.data[3] & 0x01, 1); /* PTPL_A */
    /* Back to normal. */
    testlu_register(lu, &lu->a, KEY_A);
    assert_int_equal(testlu_generation(lu), 1);
}

/* Information lost, registered nexus, key zero: it replaces the lot too. */
static void test_spc5_replace_lost_registered(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 0;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    lu->state->info_lost = true;
    testlu_out(lu, &lu->a, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE_RO, 0,
               KEY_C, 0);
    assert_good(lu);
    assert_false(lu->state->info_lost);
    assert_int_equal(testlu_keys(lu, keys, 4), 1);
    assert_int_equal(keys[0], KEY_C);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_int_equal(key, KEY_C);
    assert_true(engine_find_registration(lu->state, &lu->a) >= 0);
    assert_int_equal(testlu_generation(lu), 0);
}

/*
 * Information lost, key not zero: never RESERVATION CONFLICT (SPC-5
 * 5.14.5.3.2), from a registered nexus with its own key or from an
 * unregistered one; the key breaks the field's rule, INVALID FIELD IN
 * PARAMETER LIST pointing at it, and the condition stays.
 */
static void test_spc5_replace_lost_key_not_zero(void **state)
{
    TestLu *lu = *state;
    g_autoptr(PrState) before = NULL;

    testlu_register(lu, &lu->a, KEY_A);
    lu->state->info_lost = true;
    before = pr_state_copy(lu->state);
    testlu_out(lu, &lu->a, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, KEY_A,
               KEY_C, 0);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_int_equal(lu->result.sense[15], 0x80);
    assert_int_equal(get_be16(lu->result.sense + 16), 0);
    testlu_out(lu, &lu->b, PR_OUT_REPLACE_LOST, PR_TYPE_WRITE_EXCLUSIVE, KEY_B,
               KEY_C, 0);
    assert_sense(lu, 0x5, 0x26, 0x00);
    assert_true(pr_state_equal(before, lu->state));
}

/* ------------------------------------------------------------------ */
/* QEMU 11 migrate-pr: REGISTER K then PREEMPT K,K from the destination */
/* ------------------------------------------------------------------ */

/*
 * Per-host nexuses (what QEMU assumes): the destination host registers K
 * (5.12.7) and preempts the holder's key K (5.12.11.2.4): it now holds the
 * reservation with the same type and the source's registration is gone.
 */
static void test_migrate_pr_per_host_nexuses(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;
    uint64_t keys[4];

    /* a = source host, b = destination host, c = another cluster node. */
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, 0, KEY_A, 0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_true(key == KEY_A);
    assert_true(engine_find_registration(lu->state, &lu->b) >= 0);
    assert_true(engine_find_registration(lu->state, &lu->a) < 0);
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
}

/*
 * Per-host nexuses, the VM holding no reservation: QEMU sends PREEMPT
 * K,K with type 0, which removes every registration with key K, the
 * destination's new one included (5.12.11.2.5).
 */
static void test_migrate_pr_per_host_without_reservation(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->c, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_C, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, 0, KEY_A, 0);
    assert_good(lu);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, 0, KEY_A, KEY_A, 0);
    assert_good(lu);
    assert_false(testlu_key_present(lu, KEY_A));
    assert_true(testlu_key_present(lu, KEY_C));
}

/*
 * A nexus that follows the VM (softprd's auto identity) is the same on
 * both hosts: QEMU's REGISTER with reservation key 0 from a registered
 * nexus conflicts (5.12.7 table 67); its PREEMPT K,K keeps a reservation
 * the VM holds, but removes the VM's own registration when the VM does
 * not hold the reservation (5.12.11.2.5).  Hence migrate-pr=off with
 * auto identity (docs/identity.md).
 */
static void test_migrate_pr_vm_nexus(void **state)
{
    TestLu *lu = *state;
    uint64_t key = 0;

    /* a = the VM (on either host), c = another cluster node. */
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->c, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, 0);
    assert_conflict(lu);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A,
               KEY_A, 0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE_RO);
    assert_true(key == KEY_A);
    assert_true(testlu_key_present(lu, KEY_A));

    /* Not the holder: the VM's registration goes. */
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->c, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_C, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, 0, KEY_A, KEY_A, 0);
    assert_good(lu);
    assert_false(testlu_key_present(lu, KEY_A));
}

/*
 * 5.12.8: REGISTER AND MOVE names one I_T nexus (TransportID and
 * relative target port); moving to an initiator registered through
 * every port re-keys and makes holder that nexus alone.
 */
static void test_5_12_8_move_to_one_port_of_all_tg_pt(void **state)
{
    TestLu *lu = *state;
    TestDescriptor d[4];
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    uint64_t key = 0;
    size_t len;
    guint n;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    len =
        cdb_prout_move(param, KEY_B, KEY_C, false, false, 2, &lu->a.initiator);
    cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, 0, (uint32_t)len);
    testlu_run(lu, &lu->b, cdb, param, len);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_WRITE_EXCLUSIVE);
    assert_true(key == KEY_C);
    n = testlu_full_status(lu, d, 4);
    assert_int_equal(n, 3);
    assert_true(testlu_descriptor(d, n, &lu->a)->key == KEY_A);
    assert_false(testlu_descriptor(d, n, &lu->a)->holder);
    assert_true(testlu_descriptor(d, n, &lu->a2)->key == KEY_C);
    assert_true(testlu_descriptor(d, n, &lu->a2)->holder);
    assert_false(testlu_descriptor(d, n, &lu->b)->holder);
}

/* 5.12.8: a target port a registration came through is a port, even one
 * this daemon does not serve (another host's); others are not. */
static void test_5_12_8_move_to_port_of_another_host(void **state)
{
    TestLu *lu = *state;
    PrNexus remote = lu->c;

    remote.rtpi = 9;
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &remote, KEY_C);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    {
        uint8_t cdb[CDB_LEN];
        uint8_t param[WIRE_DATA_MAX];
        size_t len = cdb_prout_move(param, KEY_A, KEY_B, false, false, 12,
                                    &lu->b.initiator);

        cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, 0, (uint32_t)len);
        testlu_run(lu, &lu->a, cdb, param, len);
        assert_sense(lu, 0x5, 0x26, 0x00);
        len = cdb_prout_move(param, KEY_A, KEY_B, false, false, 9,
                             &lu->b.initiator);
        testlu_run(lu, &lu->a, cdb, param, len);
        assert_good(lu);
    }
}

/* ------------------------------------------------------------------ */
/* Indivisibility (5.12.1)                                             */
/* ------------------------------------------------------------------ */

/* 5.12.1: a command that fails changes nothing at all. */
static void test_5_12_1_failure_changes_nothing(void **state)
{
    TestLu *lu = *state;
    g_autoptr(PrState) before = NULL;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    before = pr_state_copy(lu->state);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, 0x9, KEY_B, KEY_A, 0);
    assert_sense(lu, 0x5, 0x24, 0x00);
    assert_false(lu->result.changed);
    assert_true(pr_state_equal(before, lu->state));
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_B, 0,
               0);
    assert_conflict(lu);
    assert_true(pr_state_equal(before, lu->state));
}

/* ------------------------------------------------------------------ */
/* Administrators' changes (softpr clear, forget) and field decoding   */
/* ------------------------------------------------------------------ */

/*
 * softpr clear acts as PR OUT CLEAR from nobody (5.12.11.2.7): every
 * registration and the reservation go, RESERVATIONS PREEMPTED reaches
 * every registrant, PRgeneration rises by one.
 */
static void test_admin_clear_as_5_12_11_2_7(void **state)
{
    TestLu *lu = *state;
    uint32_t gen;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    gen = testlu_generation(lu);
    engine_clear(lu->state);
    assert_true(engine_state_consistent(lu->state));
    assert_false(testlu_key_present(lu, KEY_A));
    assert_false(testlu_key_present(lu, KEY_B));
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_generation(lu), gen + 1);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x03));
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x03));
}

/*
 * softpr forget removes an initiator's registrations as if it had
 * unregistered (5.12.11.2.3): the registrants-only reservation it holds
 * is released with RESERVATIONS RELEASED to the others; its own pending
 * unit attentions go with it; PRgeneration rises by one.
 */
static void test_admin_forget_holder_as_5_12_11_2_3(void **state)
{
    TestLu *lu = *state;
    uint32_t gen;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_register(lu, &lu->c, KEY_C);
    /* c's release of a registrants-only reservation leaves a condition
     * pending for a and b (5.12.11.2.2). */
    testlu_out(lu, &lu->c, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_C, 0,
               0);
    testlu_out(lu, &lu->c, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_C, 0,
               0);
    assert_good(lu);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x04));
    /* Now a holds one of the same type. */
    engine_forget(lu->state, &lu->c.initiator);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    assert_good(lu);
    gen = testlu_generation(lu);
    assert_int_equal(engine_forget(lu->state, &lu->a.initiator), 1);
    assert_true(engine_state_consistent(lu->state));
    assert_false(testlu_key_present(lu, KEY_A));
    assert_true(testlu_key_present(lu, KEY_B));
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_generation(lu), gen + 1);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x04));
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
}

/* Every port's registration goes; an all-registrants reservation stays
 * while a registrant remains (5.12.11.2.3). */
static void test_admin_forget_every_port(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->a2, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    /* Conditions pending for a on both ports (5.12.11.2.2). */
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    testlu_out(lu, &lu->b, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_B, 0,
               0);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x04));
    assert_true(testlu_ua_pending(lu, &lu->a2, 0x2a, 0x04));
    testlu_out(lu, &lu->b, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_B,
               0, 0);
    assert_good(lu);
    assert_int_equal(engine_forget(lu->state, &lu->a.initiator), 2);
    assert_false(testlu_key_present(lu, KEY_A));
    /* Its pending conditions went with it. */
    assert_int_equal(testlu_pending_uas(lu, &lu->a), 0);
    assert_int_equal(testlu_pending_uas(lu, &lu->a2), 0);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_EXCLUSIVE_ACCESS_AR);
    /* Nothing of c's: nothing changes, PRgeneration included. */
    {
        g_autoptr(PrState) before = pr_state_copy(lu->state);

        assert_int_equal(engine_forget(lu->state, &lu->c.initiator), 0);
        assert_true(pr_state_equal(before, lu->state));
    }
    /* The last registrant of an all-registrants reservation leaves. */
    assert_int_equal(engine_forget(lu->state, &lu->b.initiator), 1);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/* engine_out_fields() reads 6.14.1's CDB and 6.14.3/6.14.4's lists as
 * sent, short ones included. */
static void test_6_14_out_fields(void **state)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    PrOutFields f;
    TransportId tid;
    size_t len;

    assert_true(tid_from_iscsi_name("iqn.2026-11.test:x", &tid, NULL));
    cdb_pr_out(cdb, PR_OUT_PREEMPT, 0, PR_TYPE_EXCLUSIVE_ACCESS, 24);
    len = cdb_prout_basic(param, KEY_A, KEY_B, PROUT_ALL_TG_PT | PROUT_APTPL,
                          NULL, 0);
    engine_out_fields(cdb, param, len, &f);
    assert_int_equal(f.service_action, PR_OUT_PREEMPT);
    assert_int_equal(f.type, PR_TYPE_EXCLUSIVE_ACCESS);
    assert_int_equal(f.scope, 0);
    assert_true(f.rk == KEY_A && f.sark == KEY_B);
    assert_true(f.all_tg_pt && f.aptpl && !f.spec_i_pt && !f.unreg);

    cdb_pr_out(cdb, PR_OUT_REGISTER_AND_MOVE, 0, PR_TYPE_WRITE_EXCLUSIVE, 0);
    len = cdb_prout_move(param, KEY_A, KEY_B, true, false, 7, &tid);
    engine_out_fields(cdb, param, len, &f);
    assert_int_equal(f.service_action, PR_OUT_REGISTER_AND_MOVE);
    assert_true(f.unreg && !f.aptpl && !f.all_tg_pt);
    assert_int_equal(f.move_rtpi, 7);

    /* A list too short for the keys leaves them zero. */
    engine_out_fields(cdb, param, 4, &f);
    assert_true(f.rk == 0 && f.sark == 0 && !f.unreg);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testlu_setup, testlu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_6_14_1_reserved_service_actions),
        T(test_admin_clear_as_5_12_11_2_7),
        T(test_admin_forget_holder_as_5_12_11_2_3),
        T(test_admin_forget_every_port),
        T(test_6_14_out_fields),
        T(test_6_14_2_invalid_types),
        T(test_6_14_2_scope_not_lu),
        T(test_6_14_3_parameter_list_length),
        T(test_6_14_1_length_in_bytes_5_6),
        T(test_6_14_1_reserved_cdb_fields),
        T(test_6_14_3_reserved_parameter_bits),
        T(test_5_12_7_register_unregistered_nonzero_rk),
        T(test_5_12_7_register_new),
        T(test_5_12_7_register_wrong_rk),
        T(test_5_12_7_register_ignore_wrong_rk),
        T(test_5_12_7_rekey_keeps_reservation),
        T(test_5_12_11_2_3_unregister),
        T(test_5_12_11_2_3_holder_unregisters_we),
        T(test_5_12_11_2_3_holder_unregisters_ro),
        T(test_5_12_11_2_3_all_registrants_last_leaves),
        T(test_5_12_4_aptpl_last_value),
        T(test_5_12_7_generation_wraps),
        T(test_5_12_7_spec_i_pt),
        T(test_5_12_7_spec_i_pt_all_or_nothing),
        T(test_5_12_7_spec_i_pt_with_register_ignore),
        T(test_6_14_3_spec_i_pt_only_with_register),
        T(test_5_12_7_spec_i_pt_registered_issuer),
        T(test_6_14_3_spec_i_pt_bad_transport_ids),
        T(test_5_12_7_all_tg_pt),
        T(test_5_12_7_all_tg_pt_resources),
        T(test_5_12_11_all_tg_pt_unit_attentions),
        T(test_5_12_11_2_4_preempt_all_tg_pt),
        T(test_5_12_7_all_tg_pt_already_registered_elsewhere),
        T(test_5_12_7_ports_are_separate_nexuses),
        T(test_6_14_2_insufficient_resources),
        T(test_5_12_7_register_zero_unregistered),
        T(test_5_12_7_unregistered_nexus_conflicts),
        T(test_6_14_3_wrong_reservation_key),
        T(test_5_12_9_reserve_each_type),
        T(test_5_12_9_reserve_again_same_type),
        T(test_5_12_9_reserve_by_non_holder),
        T(test_5_12_10_all_registrants_reserve),
        T(test_5_12_11_2_2_release_nothing_reserved),
        T(test_5_12_11_2_2_release_by_non_holder),
        T(test_5_12_11_2_2_release_wrong_type),
        T(test_5_12_11_2_2_release_unit_attentions),
        T(test_5_12_11_2_7_clear),
        T(test_5_12_11_2_5_preempt_removes_registrations),
        T(test_5_12_11_2_5_preempt_own_key),
        T(test_5_12_11_2_4_preempt_unknown_key),
        T(test_5_12_11_2_4_preempt_zero_sark),
        T(test_5_12_11_2_4_preempt_holder_new_type),
        T(test_5_12_11_2_4_preempt_holder_same_type),
        T(test_5_12_11_2_4_holder_preempts_itself),
        T(test_5_12_11_2_4_preempt_holder_invalid_type),
        T(test_5_12_11_2_4_preempt_non_holder_key),
        T(test_5_12_11_2_4_preempt_all_registrants_zero),
        T(test_5_12_11_2_4_preempt_all_registrants_key),
        T(test_5_12_11_2_6_fence_scsi_sequence),
        T(test_5_12_8_move_without_reservation),
        T(test_5_12_8_move_conflicts),
        T(test_5_12_8_move_invalid_parameters),
        T(test_5_12_8_move),
        T(test_5_12_8_move_unreg),
        T(test_spc5_replace_lost_nothing_lost),
        T(test_spc5_replace_lost_nothing_lost_key_not_zero),
        T(test_spc5_replace_lost_nothing_lost_unregistered),
        T(test_spc5_replace_lost),
        T(test_spc5_replace_lost_registered),
        T(test_spc5_replace_lost_key_not_zero),
        T(test_migrate_pr_per_host_nexuses),
        T(test_migrate_pr_per_host_without_reservation),
        T(test_migrate_pr_vm_nexus),
        T(test_5_12_8_move_to_port_of_another_host),
        T(test_5_12_8_move_to_one_port_of_all_tg_pt),
        T(test_5_12_1_failure_changes_nothing),
    };
#undef T

    return TESTUTIL_RUN("engine-out", tests, NULL, NULL);
}
