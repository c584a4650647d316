/*
 * enginetest: a logical unit driven through engine_execute() by test
 * nexuses, with assertions on status and sense.
 */
#ifndef SOFTPR_ENGINETEST_H
#define SOFTPR_ENGINETEST_H

#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "engine.h"
#include "scsi.h"

typedef struct TestLu {
    PrState *state;
    PrConfig config;
    uint16_t ports[2];
    PrResult result;  /* of the last command */
    PrNexus a, b, c;  /* initiators a, b, c on target port 1 */
    PrNexus a2;       /* initiator a on target port 2 */
    PrNexus observer; /* never registers: reads without side effects */
} TestLu;

TestLu *testlu_new(void);
void testlu_free(TestLu *lu);

/* cmocka setup and teardown: a fresh TestLu in *state. */
int testlu_setup(void **state);
int testlu_teardown(void **state);

/* Register @nexus with @key (REGISTER AND IGNORE EXISTING KEY), GOOD. */
void testlu_register(TestLu *lu, const PrNexus *nexus, uint64_t key);

/* Run a raw CDB (10 meaningful bytes) with a parameter list. */
uint8_t testlu_run(TestLu *lu, const PrNexus *nexus, const uint8_t *cdb,
                   const uint8_t *param, size_t len);

/* PR OUT with the 24-byte basic parameter list. */
uint8_t testlu_out(TestLu *lu, const PrNexus *nexus, uint8_t sa, uint8_t type,
                   uint64_t rk, uint64_t sark, uint8_t flags);

/* PR IN; the payload is in lu->result.data. */
uint8_t testlu_in(TestLu *lu, const PrNexus *nexus, uint8_t sa, uint16_t alloc);

/* Observed through PR IN from the observer nexus. */
uint32_t testlu_generation(TestLu *lu);
guint testlu_keys(TestLu *lu, uint64_t *keys, guint max);
bool testlu_key_present(TestLu *lu, uint64_t key);
/* Reservation type (0: none) and key. */
uint8_t testlu_reservation(TestLu *lu, uint64_t *key);

/* One READ FULL STATUS descriptor (SPC-4 6.13.5), decoded. */
typedef struct TestDescriptor {
    uint64_t key;
    bool all_tg_pt;
    bool holder;
    uint8_t scope_type;
    uint16_t rtpi;
    TransportId initiator;
} TestDescriptor;

/*
 * READ FULL STATUS from the observer nexus, every descriptor decoded into
 * @d (at most @max); returns how many the ADDITIONAL LENGTH holds.
 */
guint testlu_full_status(TestLu *lu, TestDescriptor *d, guint max);

/* The descriptor of @d (@n of them) for @nexus's initiator and target
 * port, or NULL. */
const TestDescriptor *testlu_descriptor(const TestDescriptor *d, guint n,
                                        const PrNexus *nexus);

/* Unit attentions pending for @nexus, as "ASC/ASCQ" pairs packed. */
guint testlu_pending_uas(TestLu *lu, const PrNexus *nexus);
bool testlu_ua_pending(TestLu *lu, const PrNexus *nexus, uint8_t asc,
                       uint8_t ascq);

#define assert_status(lu, st) assert_int_equal((lu)->result.status, (st))
#define assert_good(lu) assert_status(lu, SCSI_STATUS_GOOD)
#define assert_conflict(lu)                                                    \
    do {                                                                       \
        assert_status(lu, SCSI_STATUS_RESERVATION_CONFLICT);                   \
        assert_int_equal((lu)->result.sense[0], 0);                            \
    } while (0)
#define assert_sense(lu, k, a, q)                                              \
    do {                                                                       \
        assert_status(lu, SCSI_STATUS_CHECK_CONDITION);                        \
        assert_int_equal((lu)->result.sense[0], 0x70);                         \
        assert_int_equal((lu)->result.sense[2] & 0x0f, (k));                   \
        assert_int_equal((lu)->result.sense[7], 0x0a);                         \
        assert_int_equal((lu)->result.sense[12], (a));                         \
        assert_int_equal((lu)->result.sense[13], (q));                         \
    } while (0)

#define KEY_A 0xaaaa000000000001ULL
#define KEY_B 0xbbbb000000000002ULL
#define KEY_C 0xcccc000000000003ULL

#endif /* SOFTPR_ENGINETEST_H */
