/*
 * engine_ua: unit attention conditions the engine queues for registrants
 * and reports (or drops) on a nexus's next command.
 */
#include "engine_int.h"

#include <string.h>

bool engine_ua_equal(const PrUnitAttention *a, const PrUnitAttention *b)
{
    return tid_equal(&a->initiator, &b->initiator) && a->rtpi == b->rtpi &&
           a->asc == b->asc && a->ascq == b->ascq;
}

/* Queue @code for the nexus (or every port) behind registration @reg. */
void engine_ua_raise(PrState *state, const PrRegistration *reg,
                     ScsiSenseCode code)
{
    PrUnitAttention ua;
    guint i;

    memset(&ua, 0, sizeof(ua));
    ua.initiator = reg->initiator;
    ua.rtpi = reg->all_tg_pt ? 0 : reg->rtpi;
    ua.asc = code.asc;
    ua.ascq = code.ascq;
    /* One pending condition per code and nexus is enough to report it. */
    for (i = 0; i < state->uas->len; i++) {
        if (engine_ua_equal(&g_array_index(state->uas, PrUnitAttention, i),
                            &ua)) {
            return;
        }
    }
    g_array_append_val(state->uas, ua);
}

/* Queue @code for every registrant except registration @except (or -1). */
void engine_ua_raise_others(PrState *state, int except, ScsiSenseCode code)
{
    guint i;

    for (i = 0; i < state->regs->len; i++) {
        if ((int)i != except) {
            engine_ua_raise(state, engine_reg(state, (int)i), code);
        }
    }
}

static bool ua_applies(const PrUnitAttention *ua, const PrNexus *nexus)
{
    return tid_matches(&ua->initiator, &nexus->initiator) &&
           (ua->rtpi == 0 || ua->rtpi == nexus->rtpi);
}

/*
 * Unit attentions (SAM-5 5.14): with PR_UA_REPORT the oldest condition
 * pending for @nexus is reported instead of running the command; with
 * PR_UA_RECORD every condition pending for it is dropped unreported.
 * Returns true when a condition was reported.
 */
bool engine_ua_handle(const PrConfig *config, const PrNexus *nexus,
                      PrState *state, PrResult *result)
{
    guint i = 0;

    while (i < state->uas->len) {
        PrUnitAttention *ua = &g_array_index(state->uas, PrUnitAttention, i);

        if (!ua_applies(ua, nexus)) {
            i++;
            continue;
        }
        result->changed = true;
        if (config->ua_policy == PR_UA_REPORT) {
            engine_result_check(
                result, SCSI_SENSE(SCSI_KEY_UNIT_ATTENTION, ua->asc, ua->ascq));
            result->ua_reported = true;
            g_array_remove_index(state->uas, i);
            return true;
        }
        g_array_remove_index(state->uas, i);
    }
    return false;
}
