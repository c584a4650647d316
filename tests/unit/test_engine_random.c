/*
 * test_engine_random: random command sequences from several nexuses,
 * with SPC-4's invariants checked after every command.  Seeds are fixed,
 * so a failure reproduces; the failing seed and step are printed.
 *
 * Invariants (SPC-4 r37):
 * - 5.12.10: at most one holder; a reservation that is not
 *   all-registrants has exactly one, registered; an all-registrants
 *   reservation has at least one registrant; no holder without one;
 * - 5.12.7: no key is zero, and no two registrations cover one nexus;
 * - 5.12.1: a command that does not complete GOOD leaves registrations,
 *   reservation, PRgeneration and APTPL as they were;
 * - 6.13.2: PRgeneration rises by exactly one with every REGISTER,
 *   REGISTER AND IGNORE EXISTING KEY, REGISTER AND MOVE, CLEAR, PREEMPT
 *   and PREEMPT AND ABORT that completes, and with nothing else (the
 *   oracle, expected_generation(), reads the command and its status, not
 *   the engine's state);
 * - 6.13: PR IN payloads never exceed the allocation length and report
 *   the full ADDITIONAL LENGTH;
 * - SAM-5: CHECK CONDITION carries fixed-format sense, RESERVATION
 *   CONFLICT none.
 */
#include <string.h>

#include "enginetest.h"

#define STEPS_PER_SEED 4000

static const uint64_t keys[] = {0, KEY_A, KEY_B, KEY_C, 0x1};

typedef struct Run {
    TestLu *lu;
    GRand *rand;
    const PrNexus *nexuses[5];
    guint32 seed;
    int step;
} Run;

static guint pick(Run *run, guint n)
{
    return (guint)g_rand_int_range(run->rand, 0, (gint32)n);
}

static uint64_t pick_key(Run *run, const PrNexus *nexus)
{
    int me = engine_find_registration(run->lu->state, nexus);

    /* Mostly the issuer's own key, so that commands get somewhere. */
    if (me >= 0 && pick(run, 3) != 0) {
        return g_array_index(run->lu->state->regs, PrRegistration, me).key;
    }
    return keys[pick(run, G_N_ELEMENTS(keys))];
}

static uint8_t pick_type(Run *run)
{
    static const uint8_t valid[] = {1, 3, 5, 6, 7, 8};

    return pick(run, 8) == 0 ? (uint8_t)pick(run, 16)
                             : valid[pick(run, G_N_ELEMENTS(valid))];
}

#define check(run, cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fail_msg("seed %u step %d: %s", (run)->seed, (run)->step, #cond);  \
        }                                                                      \
    } while (0)

static void check_state(Run *run)
{
    const PrState *s = run->lu->state;
    guint holders = 0;
    guint i;
    guint j;

    for (i = 0; i < s->regs->len; i++) {
        const PrRegistration *r = &g_array_index(s->regs, PrRegistration, i);

        check(run, r->key != 0);
        check(run, !r->all_tg_pt || r->rtpi == 0);
        holders += r->holder ? 1 : 0;
    }
    if (s->res_type == PR_TYPE_NONE) {
        check(run, holders == 0);
    } else if (engine_type_all_registrants(s->res_type)) {
        check(run, holders == 0);
        check(run, s->regs->len > 0);
    } else {
        check(run, engine_type_valid(s->res_type));
        check(run, holders == 1);
    }
    for (i = 0; i < G_N_ELEMENTS(run->nexuses); i++) {
        guint covering = 0;

        for (j = 0; j < s->regs->len; j++) {
            const PrRegistration *r =
                &g_array_index(s->regs, PrRegistration, j);

            if (tid_matches(&r->initiator, &run->nexuses[i]->initiator) &&
                (r->all_tg_pt || r->rtpi == run->nexuses[i]->rtpi)) {
                covering++;
            }
        }
        check(run, covering <= 1);
    }
    for (i = 0; i < s->uas->len; i++) {
        for (j = i + 1; j < s->uas->len; j++) {
            const PrUnitAttention *a =
                &g_array_index(s->uas, PrUnitAttention, i);
            const PrUnitAttention *b =
                &g_array_index(s->uas, PrUnitAttention, j);

            check(run, !(tid_equal(&a->initiator, &b->initiator) &&
                         a->rtpi == b->rtpi && a->asc == b->asc &&
                         a->ascq == b->ascq));
        }
    }
}

static void check_result(Run *run, const uint8_t *cdb)
{
    const PrResult *r = &run->lu->result;
    static const uint8_t zeros[SCSI_SENSE_FIXED_LEN];

    switch (r->status) {
    case SCSI_STATUS_GOOD:
        break;
    case SCSI_STATUS_CHECK_CONDITION:
        check(run, r->sense[0] == 0x70 && r->sense[7] == 0x0a);
        check(run,
              r->sense[2] == 0x5 || r->sense[2] == 0x6 || r->sense[2] == 0x7);
        break;
    case SCSI_STATUS_RESERVATION_CONFLICT:
        check(run, memcmp(r->sense, zeros, sizeof(zeros)) == 0);
        break;
    default:
        check(run, !"unexpected status");
    }
    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        check(run, r->data_len <= get_be16(cdb + 7));
    } else {
        check(run, r->data_len == 0);
    }
}

/* The full ADDITIONAL LENGTH of a PR IN answer for the current state. */
static void check_pr_in(Run *run, const uint8_t *cdb)
{
    const PrResult *r = &run->lu->result;
    const PrState *s = run->lu->state;
    uint8_t sa = cdb_service_action(cdb);
    guint32 expect = 0;
    guint i;

    if (r->status != SCSI_STATUS_GOOD || r->data_len < 8 || sa == 2) {
        return;
    }
    check(run, get_be32(r->data) == s->generation);
    if (sa == PR_IN_READ_KEYS) {
        expect = 8 * s->regs->len;
    } else if (sa == PR_IN_READ_RESERVATION) {
        expect = s->res_type == PR_TYPE_NONE ? 0 : 16;
    } else {
        for (i = 0; i < s->regs->len; i++) {
            expect +=
                24 + (guint32)tid_encoded_len(
                         &g_array_index(s->regs, PrRegistration, i).initiator);
        }
    }
    check(run, get_be32(r->data + 4) == expect);
}

/* Whether @s holds a registration for @nexus: its initiator through its
 * target port (5.12.7), or through every port (a row of ALL_TG_PT). */
static bool registered(const PrState *s, const PrNexus *nexus)
{
    guint i;

    for (i = 0; i < s->regs->len; i++) {
        const PrRegistration *r = &g_array_index(s->regs, PrRegistration, i);

        if (tid_matches(&r->initiator, &nexus->initiator) &&
            (r->all_tg_pt || r->rtpi == nexus->rtpi)) {
            return true;
        }
    }
    return false;
}

/*
 * PRgeneration after PR OUT @cdb with parameter list @param (@len bytes)
 * from @n answered @status, against state @before, by the standard's
 * rules alone: 6.13.2 raises it by exactly one for every REGISTER,
 * REGISTER AND IGNORE EXISTING KEY, REGISTER AND MOVE, CLEAR, PREEMPT and
 * PREEMPT AND ABORT, and never for RESERVE, RELEASE or a command ended by
 * an error or a reservation conflict; tables 67 and 68 have the register
 * actions from an unregistered nexus with SERVICE ACTION RESERVATION KEY
 * zero do nothing but return GOOD; SPC-5 5.14.11.3 sets it to zero with
 * REPLACE LOST RESERVATION.
 */
static uint32_t expected_generation(Run *run, const PrState *before,
                                    const PrNexus *n, const uint8_t *cdb,
                                    const uint8_t *param, size_t len,
                                    uint8_t status)
{
    uint64_t sark = len >= 16 ? get_be64(param + 8) : 0;
    uint32_t raised = before->generation + 1;

    if (status != SCSI_STATUS_GOOD) {
        return before->generation;
    }
    switch (cdb_service_action(cdb)) {
    case PR_OUT_REGISTER:
    case PR_OUT_REGISTER_IGNORE:
        return !registered(before, n) && sark == 0 ? before->generation
                                                   : raised;
    case PR_OUT_CLEAR:
    case PR_OUT_PREEMPT:
    case PR_OUT_PREEMPT_AND_ABORT:
    case PR_OUT_REGISTER_AND_MOVE:
        return raised;
    case PR_OUT_RESERVE:
    case PR_OUT_RELEASE:
        return before->generation;
    case PR_OUT_REPLACE_LOST:
        return 0;
    default:
        check(run, !"a reserved service action completed");
        return before->generation;
    }
}

static bool same_reservations(const PrState *a, const PrState *b)
{
    g_autoptr(PrState) x = pr_state_copy(a);
    g_autoptr(PrState) y = pr_state_copy(b);

    /* Unit attentions may be consumed by a failing command. */
    g_array_set_size(x->uas, 0);
    g_array_set_size(y->uas, 0);
    return pr_state_equal(x, y);
}

static void random_command(Run *run)
{
    TestLu *lu = run->lu;
    const PrNexus *n = run->nexuses[pick(run, G_N_ELEMENTS(run->nexuses))];
    g_autoptr(PrState) before = pr_state_copy(lu->state);
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = 0;
    uint8_t sa;

    if (pick(run, 3) == 0) {
        sa =
            pick(run, 10) == 0 ? (uint8_t)pick(run, 32) : (uint8_t)pick(run, 4);
        cdb_pr_in(cdb, sa,
                  pick(run, 4) == 0 ? (uint16_t)pick(run, 8193)
                                    : (uint16_t)pick(run, 64));
    } else {
        sa =
            pick(run, 20) == 0 ? (uint8_t)pick(run, 32) : (uint8_t)pick(run, 9);
        if (sa == PR_OUT_REGISTER_AND_MOVE) {
            const PrNexus *to =
                run->nexuses[pick(run, G_N_ELEMENTS(run->nexuses))];

            len = cdb_prout_move(param, pick_key(run, n), pick_key(run, n),
                                 pick(run, 2), pick(run, 2),
                                 (uint16_t)pick(run, 4), &to->initiator);
        } else {
            uint8_t flags = 0;
            TransportId tids[2];
            guint n_tids = 0;

            flags |= pick(run, 4) == 0 ? PROUT_APTPL : 0;
            flags |= pick(run, 6) == 0 ? PROUT_ALL_TG_PT : 0;
            if (pick(run, 6) == 0) {
                flags |= PROUT_SPEC_I_PT;
                n_tids = pick(run, 3);
                tids[0] = run->nexuses[pick(run, 5)]->initiator;
                tids[1] = run->nexuses[pick(run, 5)]->initiator;
            }
            len = cdb_prout_basic(param, pick_key(run, n), pick_key(run, n),
                                  flags, tids, n_tids);
            if (pick(run, 40) == 0) {
                param[21] = 1; /* a reserved field */
            }
        }
        cdb_pr_out(cdb, sa, pick(run, 30) == 0 ? 1 : 0, pick_type(run),
                   (uint32_t)len);
    }
    testlu_run(lu, n, cdb, param, len);
    check_result(run, cdb);
    check_state(run);

    if (cdb[0] == SCSI_OP_PERSISTENT_RESERVE_IN) {
        check(run, same_reservations(before, lu->state));
        check_pr_in(run, cdb);
        return;
    }
    check(run, lu->state->generation == expected_generation(run, before, n, cdb,
                                                            param, len,
                                                            lu->result.status));
    if (lu->result.status != SCSI_STATUS_GOOD) {
        check(run, same_reservations(before, lu->state));
        return;
    }
    if (sa == PR_OUT_RESERVE || sa == PR_OUT_RELEASE) {
        check(run, lu->state->regs->len == before->regs->len);
    }
}

static void run_seed(guint32 seed, PrUaPolicy policy)
{
    Run run;
    int i;

    memset(&run, 0, sizeof(run));
    run.seed = seed;
    run.lu = testlu_new();
    run.lu->config.ua_policy = policy;
    run.lu->config.max_registrations = 4;
    run.rand = g_rand_new_with_seed(seed);
    run.nexuses[0] = &run.lu->a;
    run.nexuses[1] = &run.lu->b;
    run.nexuses[2] = &run.lu->c;
    run.nexuses[3] = &run.lu->a2;
    run.nexuses[4] = &run.lu->observer;
    for (i = 0; i < STEPS_PER_SEED; i++) {
        run.step = i;
        if (pick(&run, 500) == 0) {
            engine_power_loss(run.lu->state);
            check(&run, run.lu->state->generation == 0);
            check_state(&run);
        }
        if (pick(&run, 700) == 0) {
            run.lu->state->info_lost = true;
        }
        random_command(&run);
    }
    g_rand_free(run.rand);
    testlu_free(run.lu);
}

static void test_random_sequences_record(void **state)
{
    guint32 seed;

    for (seed = 1; seed <= 4; seed++) {
        run_seed(seed, PR_UA_RECORD);
    }
}

static void test_random_sequences_report(void **state)
{
    guint32 seed;

    for (seed = 101; seed <= 104; seed++) {
        run_seed(seed, PR_UA_REPORT);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_sequences_record),
        cmocka_unit_test(test_random_sequences_report),
    };

    return TESTUTIL_RUN("engine-random", tests, NULL, NULL);
}
