/*
 * enginetest: a test logical unit for engine tests.
 */
#include "enginetest.h"

#include <string.h>

static void nexus_init(PrNexus *nexus, const char *name, uint16_t rtpi)
{
    memset(nexus, 0, sizeof(*nexus));
    if (!tid_from_iscsi_name(name, &nexus->initiator, NULL)) {
        fail_msg("bad test initiator name %s", name);
    }
    nexus->rtpi = rtpi;
}

TestLu *testlu_new(void)
{
    TestLu *lu = g_new0(TestLu, 1);

    lu->state = pr_state_new();
    lu->ports[0] = 1;
    lu->ports[1] = 2;
    lu->config.ports = lu->ports;
    lu->config.n_ports = 2;
    lu->config.max_registrations = PR_MAX_REGISTRATIONS_DEFAULT;
    lu->config.ua_policy = PR_UA_RECORD;
    nexus_init(&lu->a, "iqn.2026-11.org.softpr.test:a", 1);
    nexus_init(&lu->b, "iqn.2026-11.org.softpr.test:b", 1);
    nexus_init(&lu->c, "iqn.2026-11.org.softpr.test:c", 1);
    nexus_init(&lu->a2, "iqn.2026-11.org.softpr.test:a", 2);
    nexus_init(&lu->observer, "iqn.2026-11.org.softpr.test:observer", 1);
    return lu;
}

void testlu_free(TestLu *lu)
{
    pr_state_free(lu->state);
    g_free(lu);
}

int testlu_setup(void **state)
{
    *state = testlu_new();
    return 0;
}

int testlu_teardown(void **state)
{
    testlu_free(*state);
    return 0;
}

void testlu_register(TestLu *lu, const PrNexus *nexus, uint64_t key)
{
    testlu_out(lu, nexus, PR_OUT_REGISTER_IGNORE, 0, 0, key, 0);
    assert_int_equal(lu->result.status, SCSI_STATUS_GOOD);
}

uint8_t testlu_run(TestLu *lu, const PrNexus *nexus, const uint8_t *cdb,
                   const uint8_t *param, size_t len)
{
    engine_execute(&lu->config, nexus, cdb, param, len, lu->state, &lu->result);
    /* Invariant of every result: no payload unless PR IN with GOOD. */
    if (lu->result.status != SCSI_STATUS_GOOD || cdb[0] != 0x5e) {
        assert_int_equal(lu->result.data_len, 0);
    }
    if (cdb[0] == 0x5e) {
        assert_true(lu->result.data_len <= get_be16(cdb + 7));
    }
    return lu->result.status;
}

uint8_t testlu_out(TestLu *lu, const PrNexus *nexus, uint8_t sa, uint8_t type,
                   uint64_t rk, uint64_t sark, uint8_t flags)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, rk, sark, flags, NULL, 0);

    cdb_pr_out(cdb, sa, PR_SCOPE_LU, type, (uint32_t)len);
    return testlu_run(lu, nexus, cdb, param, len);
}

uint8_t testlu_in(TestLu *lu, const PrNexus *nexus, uint8_t sa, uint16_t alloc)
{
    uint8_t cdb[CDB_LEN];

    cdb_pr_in(cdb, sa, alloc);
    return testlu_run(lu, nexus, cdb, NULL, 0);
}

uint32_t testlu_generation(TestLu *lu)
{
    assert_int_equal(testlu_in(lu, &lu->observer, PR_IN_READ_KEYS, 8),
                     SCSI_STATUS_GOOD);
    return get_be32(lu->result.data);
}

guint testlu_keys(TestLu *lu, uint64_t *keys, guint max)
{
    guint n;
    guint i;

    assert_int_equal(testlu_in(lu, &lu->observer, PR_IN_READ_KEYS, 8192),
                     SCSI_STATUS_GOOD);
    n = get_be32(lu->result.data + 4) / 8;
    for (i = 0; i < n && i < max; i++) {
        keys[i] = get_be64(lu->result.data + 8 + 8 * i);
    }
    return n;
}

bool testlu_key_present(TestLu *lu, uint64_t key)
{
    uint64_t keys[64];
    guint n = testlu_keys(lu, keys, 64);
    guint i;

    for (i = 0; i < n && i < 64; i++) {
        if (keys[i] == key) {
            return true;
        }
    }
    return false;
}

uint8_t testlu_reservation(TestLu *lu, uint64_t *key)
{
    assert_int_equal(testlu_in(lu, &lu->observer, PR_IN_READ_RESERVATION, 8192),
                     SCSI_STATUS_GOOD);
    if (get_be32(lu->result.data + 4) == 0) {
        assert_int_equal(lu->result.data_len, 8);
        return PR_TYPE_NONE;
    }
    assert_int_equal(get_be32(lu->result.data + 4), 16);
    assert_int_equal(lu->result.data_len, 24);
    if (key != NULL) {
        *key = get_be64(lu->result.data + 8);
    }
    return lu->result.data[21] & 0x0f;
}

guint testlu_full_status(TestLu *lu, TestDescriptor *d, guint max)
{
    const uint8_t *p;
    const uint8_t *end;
    guint n = 0;

    assert_int_equal(testlu_in(lu, &lu->observer, PR_IN_READ_FULL_STATUS, 8192),
                     SCSI_STATUS_GOOD);
    assert_int_equal(lu->result.data_len, 8 + get_be32(lu->result.data + 4));
    p = lu->result.data + 8;
    end = lu->result.data + lu->result.data_len;
    while (p < end) {
        size_t tid_len;
        size_t used = 0;

        assert_true(p + 24 <= end);
        tid_len = get_be32(p + 20);
        assert_true(p + 24 + tid_len <= end);
        if (n < max) {
            memset(&d[n], 0, sizeof(d[n]));
            d[n].key = get_be64(p);
            d[n].all_tg_pt = (p[12] & 0x02) != 0;
            d[n].holder = (p[12] & 0x01) != 0;
            d[n].scope_type = p[13];
            d[n].rtpi = get_be16(p + 18);
            assert_int_equal(
                tid_decode(p + 24, tid_len, &d[n].initiator, &used), TID_OK);
            assert_int_equal(used, tid_len);
        }
        n++;
        p += 24 + tid_len;
    }
    return n;
}

const TestDescriptor *testlu_descriptor(const TestDescriptor *d, guint n,
                                        const PrNexus *nexus)
{
    guint i;

    for (i = 0; i < n; i++) {
        if (tid_equal(&d[i].initiator, &nexus->initiator) &&
            d[i].rtpi == nexus->rtpi) {
            return &d[i];
        }
    }
    return NULL;
}

static bool ua_for(const PrUnitAttention *ua, const PrNexus *nexus)
{
    return tid_matches(&ua->initiator, &nexus->initiator) &&
           (ua->rtpi == 0 || ua->rtpi == nexus->rtpi);
}

guint testlu_pending_uas(TestLu *lu, const PrNexus *nexus)
{
    guint n = 0;
    guint i;

    for (i = 0; i < lu->state->uas->len; i++) {
        if (ua_for(&g_array_index(lu->state->uas, PrUnitAttention, i), nexus)) {
            n++;
        }
    }
    return n;
}

bool testlu_ua_pending(TestLu *lu, const PrNexus *nexus, uint8_t asc,
                       uint8_t ascq)
{
    guint i;

    for (i = 0; i < lu->state->uas->len; i++) {
        const PrUnitAttention *ua =
            &g_array_index(lu->state->uas, PrUnitAttention, i);

        if (ua_for(ua, nexus) && ua->asc == asc && ua->ascq == ascq) {
            return true;
        }
    }
    return false;
}
