/*
 * test_engine_in: PERSISTENT RESERVE IN payloads, unit attentions, the
 * access conflict table and power loss, against the SPC-4 r37 text.
 */
#include <string.h>

#include "enginetest.h"

/* 6.13.1 table 162: service actions 04h-1Fh are reserved;
 * 00h-03h all answer GOOD (libiscsi PrinServiceactionRange). */
static void test_6_13_1_service_action_range(void **state)
{
    TestLu *lu = *state;
    unsigned sa;

    for (sa = 0; sa <= 3; sa++) {
        testlu_in(lu, &lu->a, (uint8_t)sa, 8192);
        assert_good(lu);
    }
    for (sa = 4; sa <= 0x1f; sa++) {
        testlu_in(lu, &lu->a, (uint8_t)sa, 8192);
        assert_sense(lu, 0x5, 0x24, 0x00);
    }
}

/* 6.13.1: reserved CDB bytes and unsupported CONTROL bits. */
static void test_6_13_1_reserved_fields(void **state)
{
    TestLu *lu = *state;
    static const struct {
        int byte;
        uint8_t value;
    } cases[] = {{1, 0x40}, {2, 1}, {3, 1},    {4, 1},
                 {5, 1},    {6, 1}, {9, 0x04}, {9, 0x01}};
    uint8_t cdb[CDB_LEN];
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        cdb_pr_in(cdb, PR_IN_READ_KEYS, 8192);
        cdb[cases[i].byte] |= cases[i].value;
        testlu_run(lu, &lu->a, cdb, NULL, 0);
        assert_sense(lu, 0x5, 0x24, 0x00);
        assert_int_equal(get_be16(lu->result.sense + 16), cases[i].byte);
    }
}

/* 6.13.2: READ KEYS of a unit nobody registered with. */
static void test_6_13_2_read_keys_empty(void **state)
{
    TestLu *lu = *state;

    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 8192);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 8);
    assert_memory_equal(lu->result.data, "\0\0\0\0\0\0\0\0", 8);
}

/*
 * 6.13.2, 4.2.5.6 (libiscsi PrinReadKeys.Truncate): the payload
 * is truncated to the allocation length (zero included, not an error)
 * but ADDITIONAL LENGTH reports the full list; duplicate keys of two
 * nexuses are both listed.
 */
static void test_6_13_2_read_keys_truncated(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_A);
    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 0);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 0);

    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 8);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 8);
    assert_int_equal(get_be32(lu->result.data), 2);
    assert_int_equal(get_be32(lu->result.data + 4), 16);

    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 12);
    assert_int_equal(lu->result.data_len, 12);
    assert_int_equal(get_be32(lu->result.data + 4), 16);

    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 6);
    assert_int_equal(lu->result.data_len, 6);

    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 8192);
    assert_int_equal(lu->result.data_len, 24);
    assert_true(get_be64(lu->result.data + 8) == KEY_A);
    assert_true(get_be64(lu->result.data + 16) == KEY_A);
}

/* 6.13.3: READ RESERVATION with and without a reservation. */
static void test_6_13_3_read_reservation(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_in(lu, &lu->b, PR_IN_READ_RESERVATION, 8192);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 8);
    assert_int_equal(get_be32(lu->result.data), 1);
    assert_int_equal(get_be32(lu->result.data + 4), 0);

    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_RO, KEY_A,
               0, 0);
    testlu_in(lu, &lu->b, PR_IN_READ_RESERVATION, 8192);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 24);
    assert_int_equal(get_be32(lu->result.data + 4), 16);
    assert_true(get_be64(lu->result.data + 8) == KEY_A);
    assert_int_equal(lu->result.data[21], PR_TYPE_EXCLUSIVE_ACCESS_RO);

    /* Truncated: ADDITIONAL LENGTH still 16. */
    testlu_in(lu, &lu->b, PR_IN_READ_RESERVATION, 10);
    assert_int_equal(lu->result.data_len, 10);
    assert_int_equal(get_be32(lu->result.data + 4), 16);
}

/* 6.13.3: an all-registrants reservation has key zero. */
static void test_6_13_3_all_registrants_key_zero(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS_AR, KEY_A,
               0, 0);
    testlu_in(lu, &lu->b, PR_IN_READ_RESERVATION, 8192);
    assert_true(get_be64(lu->result.data + 8) == 0);
    assert_int_equal(lu->result.data[21], PR_TYPE_EXCLUSIVE_ACCESS_AR);
}

/*
 * 6.13.4: REPORT CAPABILITIES: LENGTH 8, RLR_C, SIP_C, ATP_C,
 * PTPL_C, no CRH, TMV, ALLOW COMMANDS 000b, all six types in the mask.
 */
static void test_6_13_4_report_capabilities(void **state)
{
    TestLu *lu = *state;

    testlu_in(lu, &lu->a, PR_IN_REPORT_CAPABILITIES, 8192);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 8);
    assert_int_equal(get_be16(lu->result.data), 8);
    assert_int_equal(lu->result.data[2], 0x8d);
    assert_int_equal(lu->result.data[3], 0x80);
    assert_int_equal(lu->result.data[4], 0xea);
    assert_int_equal(lu->result.data[5], 0x01);
    assert_int_equal(lu->result.data[6], 0);
    assert_int_equal(lu->result.data[7], 0);

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_APTPL);
    testlu_in(lu, &lu->a, PR_IN_REPORT_CAPABILITIES, 4);
    assert_int_equal(lu->result.data_len, 4);
    assert_int_equal(lu->result.data[3], 0x81);
}

/*
 * 6.13.5: READ FULL STATUS: one descriptor per registration
 * with its key, R_HOLDER and scope/type for the holder only, its relative
 * target port, and its TransportID, which decodes back to the initiator.
 */
static void test_6_13_5_read_full_status(void **state)
{
    TestLu *lu = *state;
    const uint8_t *d;
    TransportId tid;
    size_t used = 0;
    size_t total;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    testlu_in(lu, &lu->c, PR_IN_READ_FULL_STATUS, 8192);
    assert_good(lu);
    assert_int_equal(get_be32(lu->result.data), 2);
    total = 8 + get_be32(lu->result.data + 4);
    assert_int_equal(lu->result.data_len, total);

    d = lu->result.data + 8;
    assert_true(get_be64(d) == KEY_A);
    assert_int_equal(d[12], 0x01);
    assert_int_equal(d[13], PR_TYPE_WRITE_EXCLUSIVE);
    assert_int_equal(get_be16(d + 18), 1);
    assert_int_equal(tid_decode(d + 24, get_be32(d + 20), &tid, &used), TID_OK);
    assert_int_equal(used, get_be32(d + 20));
    assert_true(tid_equal(&tid, &lu->a.initiator));

    d += 24 + get_be32(d + 20);
    assert_true(get_be64(d) == KEY_B);
    assert_int_equal(d[12], 0x00);
    assert_int_equal(d[13], 0x00);
    assert_int_equal(tid_decode(d + 24, get_be32(d + 20), &tid, &used), TID_OK);
    assert_true(tid_equal(&tid, &lu->b.initiator));
    assert_int_equal((size_t)(d + 24 + used - lu->result.data), total);
}

/* 6.13.5: ADDITIONAL LENGTH is not truncated either. */
static void test_6_13_5_read_full_status_truncated(void **state)
{
    TestLu *lu = *state;
    uint32_t full;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_in(lu, &lu->c, PR_IN_READ_FULL_STATUS, 8192);
    full = get_be32(lu->result.data + 4);
    testlu_in(lu, &lu->c, PR_IN_READ_FULL_STATUS, 30);
    assert_good(lu);
    assert_int_equal(lu->result.data_len, 30);
    assert_int_equal(get_be32(lu->result.data + 4), full);
}

/*
 * 6.14.3, 5.12.7 table 69: ALL_TG_PT registers the initiator through
 * every target port, as if the request had come through each; READ KEYS
 * lists the key of every registered I_T nexus (6.13.2), so once per port.
 */
static void test_6_13_2_read_keys_all_tg_pt(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[8];
    guint n;
    guint i;
    guint a = 0;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    assert_good(lu);
    testlu_register(lu, &lu->b, KEY_B);
    n = testlu_keys(lu, keys, 8);
    assert_int_equal(n, 3);
    for (i = 0; i < n; i++) {
        a += keys[i] == KEY_A ? 1 : 0;
    }
    assert_int_equal(a, 2);
    assert_true(testlu_key_present(lu, KEY_B));
    /* One command, one PRgeneration step (6.13.2). */
    assert_int_equal(testlu_generation(lu), 2);
}

/*
 * 5.12.6.4, 6.13.5: READ FULL STATUS reports every registered I_T nexus
 * of an ALL_TG_PT registration with its own relative target port; a
 * descriptor for one nexus has ALL_TG_PT zero.  The holder (5.12.10) is
 * the one nexus the reservation came through.
 */
static void test_6_13_5_read_full_status_all_tg_pt(void **state)
{
    TestLu *lu = *state;
    TestDescriptor d[4];
    const TestDescriptor *p1;
    const TestDescriptor *p2;
    guint n;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    assert_good(lu);
    testlu_out(lu, &lu->a2, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
    n = testlu_full_status(lu, d, 4);
    assert_int_equal(n, 2);
    p1 = testlu_descriptor(d, n, &lu->a);
    p2 = testlu_descriptor(d, n, &lu->a2);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_true(p1->key == KEY_A && p2->key == KEY_A);
    assert_false(p1->all_tg_pt);
    assert_false(p2->all_tg_pt);
    assert_false(p1->holder);
    assert_int_equal(p1->scope_type, 0);
    assert_true(p2->holder);
    assert_int_equal(p2->scope_type, PR_TYPE_WRITE_EXCLUSIVE);
}

/*
 * A database written before ALL_TG_PT registrations were kept per target
 * port holds one row for every port.  PR IN reports it as one I_T nexus
 * per target port (6.13.2, 6.13.5), the one on the lowest port holding a
 * reservation the row held (5.12.10: one holder); the next PR OUT stores
 * it that way, and each nexus is then on its own (5.12.11.2.2).
 */
static void test_6_13_all_tg_pt_row_of_earlier_versions(void **state)
{
    TestLu *lu = *state;
    PrRegistration row = {0};
    TestDescriptor d[4];
    const TestDescriptor *p1;
    const TestDescriptor *p2;
    uint64_t keys[4];
    guint n;

    row.initiator = lu->a.initiator;
    row.all_tg_pt = true;
    row.key = KEY_A;
    row.holder = true;
    g_array_append_val(lu->state->regs, row);
    lu->state->res_type = PR_TYPE_WRITE_EXCLUSIVE;
    lu->state->generation = 7;
    assert_true(engine_state_consistent(lu->state));

    assert_int_equal(testlu_keys(lu, keys, 4), 2);
    assert_true(keys[0] == KEY_A && keys[1] == KEY_A);
    n = testlu_full_status(lu, d, 4);
    assert_int_equal(n, 2);
    p1 = testlu_descriptor(d, n, &lu->a);
    p2 = testlu_descriptor(d, n, &lu->a2);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_false(p1->all_tg_pt || p2->all_tg_pt);
    assert_true(p1->holder);
    assert_false(p2->holder);
    /* PR IN changed nothing. */
    assert_int_equal(lu->state->regs->len, 1);

    testlu_register(lu, &lu->b, KEY_B);
    assert_int_equal(lu->state->regs->len, 3);
    assert_true(engine_state_consistent(lu->state));
    assert_int_equal(testlu_generation(lu), 8);
    /* Not the holder: nothing released. */
    testlu_out(lu, &lu->a2, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_WRITE_EXCLUSIVE);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    assert_good(lu);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
}

/* ------------------------------------------------------------------ */
/* Unit attentions (SAM-5 5.14, SPC-4 5.12.11)                         */
/* ------------------------------------------------------------------ */

/*
 * Strict policy: a pending unit attention is reported, once, on the
 * nexus's next PR command instead of running it; other nexuses are not
 * affected.
 */
static void test_ua_reported_once_when_strict(void **state)
{
    TestLu *lu = *state;

    lu->config.ua_policy = PR_UA_REPORT;
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_CLEAR, 0, KEY_A, 0, 0);
    assert_good(lu);

    /* A (the issuer) has no unit attention. */
    testlu_in(lu, &lu->a, PR_IN_READ_KEYS, 8192);
    assert_good(lu);

    /* B's next command reports RESERVATIONS PREEMPTED and is not run. */
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, 0, KEY_B, 0);
    assert_sense(lu, 0x6, 0x2a, 0x03);
    assert_true(lu->result.ua_reported);
    assert_true(lu->result.changed);
    assert_false(testlu_key_present(lu, KEY_B));
    /* The next one runs. */
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, 0, KEY_B, 0);
    assert_good(lu);
    assert_true(testlu_key_present(lu, KEY_B));
}

/* Strict policy: several conditions are reported one per command. */
static void test_ua_reported_in_order(void **state)
{
    TestLu *lu = *state;

    lu->config.ua_policy = PR_UA_REPORT;
    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_RELEASE, PR_TYPE_WRITE_EXCLUSIVE_RO, KEY_A, 0,
               0);
    testlu_out(lu, &lu->a, PR_OUT_CLEAR, 0, KEY_A, 0, 0);
    testlu_in(lu, &lu->b, PR_IN_READ_KEYS, 8);
    assert_sense(lu, 0x6, 0x2a, 0x04);
    testlu_in(lu, &lu->b, PR_IN_READ_KEYS, 8);
    assert_sense(lu, 0x6, 0x2a, 0x03);
    testlu_in(lu, &lu->b, PR_IN_READ_KEYS, 8);
    assert_good(lu);
}

/*
 * Record policy (the default): conditions are queued for the tool and
 * dropped unreported by the nexus's next PR command, which runs normally.
 */
static void test_ua_recorded_by_default(void **state)
{
    TestLu *lu = *state;

    testlu_register(lu, &lu->a, KEY_A);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->a, PR_OUT_PREEMPT, 0, KEY_A, KEY_B, 0);
    assert_good(lu);
    assert_true(testlu_ua_pending(lu, &lu->b, 0x2a, 0x05));
    testlu_in(lu, &lu->b, PR_IN_READ_KEYS, 8192);
    assert_good(lu);
    assert_true(lu->result.changed);
    assert_int_equal(testlu_pending_uas(lu, &lu->b), 0);
}

/* A unit attention for an ALL_TG_PT registration reaches every port. */
static void test_ua_all_target_ports(void **state)
{
    TestLu *lu = *state;

    lu->config.ua_policy = PR_UA_REPORT;
    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_ALL_TG_PT);
    testlu_register(lu, &lu->b, KEY_B);
    testlu_out(lu, &lu->b, PR_OUT_PREEMPT, 0, KEY_B, KEY_A, 0);
    assert_good(lu);
    assert_true(testlu_ua_pending(lu, &lu->a, 0x2a, 0x05));
    assert_true(testlu_ua_pending(lu, &lu->a2, 0x2a, 0x05));
    testlu_in(lu, &lu->a2, PR_IN_READ_KEYS, 8);
    assert_sense(lu, 0x6, 0x2a, 0x05);
}

/* A condition is queued once per code and nexus, however often raised. */
static void test_ua_not_duplicated(void **state)
{
    TestLu *lu = *state;
    int i;

    testlu_register(lu, &lu->a, KEY_A);
    for (i = 0; i < 5; i++) {
        testlu_register(lu, &lu->b, KEY_B);
        testlu_out(lu, &lu->a, PR_OUT_PREEMPT, 0, KEY_A, KEY_B, 0);
        assert_good(lu);
    }
    assert_int_equal(testlu_pending_uas(lu, &lu->b), 1);
}

/* ------------------------------------------------------------------ */
/* Access by other commands (5.12.1 table 63)                          */
/* ------------------------------------------------------------------ */

static bool conflicts(TestLu *lu, const PrNexus *nexus, uint8_t opcode)
{
    uint8_t cdb[16] = {opcode};

    return engine_access_conflicts(lu->state, nexus, cdb);
}

/*
 * Table 63 as libiscsi's ProutReserve.Access* tests project it: READ and
 * WRITE from a second nexus while registered, then while unregistered
 * (1 = allowed): EA 00/00, WE 10/10, EARO 11/00, WERO 11/10, EAAR 11/00,
 * WEAR 11/10.  The holder may always do both.
 */
static void test_5_12_1_access_matrix(void **state)
{
    TestLu *lu = *state;
    static const struct {
        uint8_t type;
        bool reg_read, reg_write, unreg_read, unreg_write;
    } rows[] = {
        {PR_TYPE_EXCLUSIVE_ACCESS, false, false, false, false},
        {PR_TYPE_WRITE_EXCLUSIVE, true, false, true, false},
        {PR_TYPE_EXCLUSIVE_ACCESS_RO, true, true, false, false},
        {PR_TYPE_WRITE_EXCLUSIVE_RO, true, true, true, false},
        {PR_TYPE_EXCLUSIVE_ACCESS_AR, true, true, false, false},
        {PR_TYPE_WRITE_EXCLUSIVE_AR, true, true, true, false},
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(rows); i++) {
        testlu_free(lu);
        lu = testlu_new();
        *state = lu;
        testlu_register(lu, &lu->a, KEY_A);
        testlu_register(lu, &lu->b, KEY_B);
        testlu_out(lu, &lu->a, PR_OUT_RESERVE, rows[i].type, KEY_A, 0, 0);
        assert_good(lu);
        assert_false(conflicts(lu, &lu->a, 0x28));
        assert_false(conflicts(lu, &lu->a, 0x2a));
        assert_int_equal(!conflicts(lu, &lu->b, 0x28), rows[i].reg_read);
        assert_int_equal(!conflicts(lu, &lu->b, 0x2a), rows[i].reg_write);
        assert_int_equal(!conflicts(lu, &lu->c, 0x28), rows[i].unreg_read);
        assert_int_equal(!conflicts(lu, &lu->c, 0x2a), rows[i].unreg_write);
        /* INQUIRY, TEST UNIT READY, REPORT LUNS: always allowed. */
        assert_false(conflicts(lu, &lu->c, 0x12));
        assert_false(conflicts(lu, &lu->c, 0x00));
        assert_false(conflicts(lu, &lu->c, 0xa0));
    }
    /* No reservation: nothing conflicts. */
    testlu_out(lu, &lu->a, PR_OUT_CLEAR, 0, KEY_A, 0, 0);
    assert_false(conflicts(lu, &lu->c, 0x2a));
}

/* ------------------------------------------------------------------ */
/* Power loss (5.12.4)                                                 */
/* ------------------------------------------------------------------ */

/* 5.12.4: without APTPL everything goes; PRgeneration returns to 0. */
static void test_5_12_4_power_loss_without_aptpl(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];

    testlu_register(lu, &lu->a, KEY_A);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_WRITE_EXCLUSIVE, KEY_A, 0,
               0);
    engine_power_loss(lu->state);
    assert_int_equal(testlu_keys(lu, keys, 4), 0);
    assert_int_equal(testlu_reservation(lu, NULL), PR_TYPE_NONE);
    assert_int_equal(testlu_generation(lu), 0);
}

/* 5.12.4: with APTPL last set to one, state persists; generation 0. */
static void test_5_12_4_power_loss_with_aptpl(void **state)
{
    TestLu *lu = *state;
    uint64_t keys[4];
    uint64_t key = 0;

    testlu_out(lu, &lu->a, PR_OUT_REGISTER, 0, 0, KEY_A, PROUT_APTPL);
    testlu_out(lu, &lu->b, PR_OUT_REGISTER, 0, 0, KEY_B, PROUT_APTPL);
    testlu_out(lu, &lu->a, PR_OUT_RESERVE, PR_TYPE_EXCLUSIVE_ACCESS, KEY_A, 0,
               0);
    engine_power_loss(lu->state);
    assert_int_equal(testlu_keys(lu, keys, 4), 2);
    assert_int_equal(testlu_reservation(lu, &key), PR_TYPE_EXCLUSIVE_ACCESS);
    assert_int_equal(key, KEY_A);
    assert_int_equal(testlu_generation(lu), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, testlu_setup, testlu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_6_13_1_service_action_range),
        T(test_6_13_1_reserved_fields),
        T(test_6_13_2_read_keys_empty),
        T(test_6_13_2_read_keys_truncated),
        T(test_6_13_3_read_reservation),
        T(test_6_13_3_all_registrants_key_zero),
        T(test_6_13_4_report_capabilities),
        T(test_6_13_5_read_full_status),
        T(test_6_13_5_read_full_status_truncated),
        T(test_6_13_2_read_keys_all_tg_pt),
        T(test_6_13_5_read_full_status_all_tg_pt),
        T(test_6_13_all_tg_pt_row_of_earlier_versions),
        T(test_ua_reported_once_when_strict),
        T(test_ua_reported_in_order),
        T(test_ua_recorded_by_default),
        T(test_ua_all_target_ports),
        T(test_ua_not_duplicated),
        T(test_5_12_1_access_matrix),
        T(test_5_12_4_power_loss_without_aptpl),
        T(test_5_12_4_power_loss_with_aptpl),
    };
#undef T

    return TESTUTIL_RUN("engine-in", tests, NULL, NULL);
}
