/*
 * crashcheck: the crash tests' checks of the database against every
 * command the clients sent (crashload_check(), see crashload.h), over
 * any backend through the store.
 */
#include "crashload_int.h"

#include "engine.h"
#include "identity.h"
#include "scsi.h"
#include "store.h"

/* Check one LU's stored state with the store and the engine's rules. */
static PrState *check_lu(Store *store, const char *name)
{
    StoreLuInfo lu = {name, NULL, NULL};
    g_autoptr(PrState) state = pr_state_new();
    g_autoptr(GError) error = NULL;
    gint64 lu_id = 0;
    bool stale = false;

    assert_true(
        store_begin(store, false, g_get_monotonic_time() + 10000000, &error));
    if (!store_load_state(store, &lu, state, &lu_id, &stale, &error)) {
        fail_msg("LU %s: %s", name, error->message);
    }
    store_rollback(store);
    if (!engine_state_consistent(state)) {
        fail_msg("LU %s breaks SPC-4's invariants", name);
    }
    return g_steal_pointer(&state);
}

/* The LU name the daemons gave the file @fd (its user.softpr.lu
 * attribute, or its path where the filesystem has no user attributes). */
static char *lu_name_of(int fd)
{
    IdentityOptions options = {.sysfs = "/sys"};
    LuIdentity id;
    char *name;

    assert_true(identity_lu(fd, &options, false, &id, NULL));
    name = g_steal_pointer(&id.name);
    identity_lu_clear(&id);
    return name;
}

/* The history rows of @lu (and of @initiator when not NULL), in order. */
static GArray *history_of(Store *store, const char *lu, const char *initiator)
{
    StoreFilter filter = {.lu = lu, .initiator = initiator};
    g_autoptr(GError) error = NULL;
    GArray *rows = store_history(store, &filter,
                                 g_get_monotonic_time() + 10000000, &error);

    if (rows == NULL) {
        fail_msg("history of %s: %s", lu, error->message);
    }
    return rows;
}

/* Whether history row @row records the command @sent as it was answered
 * (when @answered) or as it would have been. */
static bool row_matches(const StoreHistoryRow *row, const Sent *sent,
                        bool answered)
{
    if (g_strcmp0(row->action, engine_out_action_name(sent->sa)) != 0 ||
        row->key != sent->rk || row->sa_key != sent->sark ||
        row->type != sent->type) {
        return false;
    }
    if (!answered) {
        return true;
    }
    return row->status == sent->status &&
           (sent->status != SCSI_STATUS_CHECK_CONDITION ||
            (row->sense_key == sent->sense[0] && row->asc == sent->sense[1] &&
             row->ascq == sent->sense[2]));
}

/*
 * Client @cl's own LU: one GOOD history row per committed command, in
 * order, with its key and PRgeneration; nothing else; the LU holds the
 * last committed key with that PRgeneration.
 */
static void check_own_lu(Store *store, Client *cl)
{
    g_autofree char *name = lu_name_of(cl->own_disk);
    g_autoptr(GArray) rows = history_of(store, name, NULL);
    g_autoptr(PrState) state = check_lu(store, name);
    guint row = 0;
    guint i;

    for (i = 0; i < cl->own->len; i++) {
        const Sent *sent = &g_array_index(cl->own, Sent, i);
        const StoreHistoryRow *r;

        if (!sent->committed) {
            continue;
        }
        if (row >= rows->len) {
            fail_msg("client %d: key 0x%" G_GINT64_MODIFIER "x committed (%s) "
                     "but the history ends after %u rows",
                     cl->index, sent->sark,
                     sent->outcome == OUTCOME_LOST ? "answer lost" : "GOOD",
                     rows->len);
        }
        r = &g_array_index(rows, StoreHistoryRow, row);
        row++;
        if (!row_matches(r, sent, true) || r->status != SCSI_STATUS_GOOD ||
            r->generation != row) {
            fail_msg(
                "client %d: key 0x%" G_GINT64_MODIFIER "x committed as "
                "PRgeneration %u; history row %u is %s 0x%" G_GINT64_MODIFIER
                "x status 0x%02x PRgeneration %u",
                cl->index, sent->sark, row, row, r->action, r->sa_key,
                r->status, r->generation);
        }
    }
    if (row != rows->len) {
        const StoreHistoryRow *r = &g_array_index(rows, StoreHistoryRow, row);

        fail_msg("client %d: history row %u (%s 0x%" G_GINT64_MODIFIER "x) is "
                 "no command that committed",
                 cl->index, row + 1, r->action, r->sa_key);
    }
    if (state->generation != row || state->regs->len != (row > 0 ? 1 : 0) ||
        (row > 0 && g_array_index(state->regs, PrRegistration, 0).key !=
                        crashload_last_committed(cl))) {
        fail_msg("client %d: the LU has PRgeneration %u and %u keys; %u "
                 "commands committed, the last with key 0x%" G_GINT64_MODIFIER
                 "x",
                 cl->index, state->generation, state->regs->len, row,
                 crashload_last_committed(cl));
    }
}

/*
 * Client @cl's rows in the shared LU's history: one per command that
 * got an answer other than BUSY or ABORTED COMMAND, with that answer, in
 * order; a command whose answer was lost may have one.  As a lost
 * command may look like the next, every way of matching them is tried:
 * @at holds the rows each way has matched so far.
 */
static void check_shared_lu(Store *store, const char *lu, Client *cl)
{
    g_autoptr(GArray) rows = history_of(store, lu, cl->name);
    g_autoptr(GArray) at = g_array_new(FALSE, FALSE, sizeof(guint));
    guint zero = 0;
    guint i, j;

    g_array_append_val(at, zero);
    for (i = 0; i < cl->shared->len; i++) {
        const Sent *sent = &g_array_index(cl->shared, Sent, i);
        g_autoptr(GArray) next = g_array_new(FALSE, FALSE, sizeof(guint));

        if (sent->outcome == OUTCOME_RETRY) {
            continue;
        }
        for (j = 0; j < at->len; j++) {
            guint row = g_array_index(at, guint, j);
            guint after = row + 1;

            if (sent->outcome == OUTCOME_LOST) {
                g_array_append_val(next, row);
            }
            if (row < rows->len &&
                row_matches(&g_array_index(rows, StoreHistoryRow, row), sent,
                            sent->outcome == OUTCOME_ANSWERED) &&
                (next->len == 0 ||
                 g_array_index(next, guint, next->len - 1) != after)) {
                g_array_append_val(next, after);
            }
        }
        if (next->len == 0) {
            guint row = g_array_index(at, guint, 0);
            const StoreHistoryRow *r =
                row < rows->len ? &g_array_index(rows, StoreHistoryRow, row)
                                : NULL;

            fail_msg(
                "client %d: shared-LU command %u (%s rk 0x%" G_GINT64_MODIFIER
                "x sark 0x%" G_GINT64_MODIFIER "x type %u) answered "
                "0x%02x is not in the history (row %u: %s, status 0x%02x)",
                cl->index, i, engine_out_action_name(sent->sa), sent->rk,
                sent->sark, sent->type, sent->status, row + 1,
                r != NULL ? r->action : "none", r != NULL ? r->status : 0);
        }
        g_array_free(at, TRUE);
        at = g_steal_pointer(&next);
    }
    for (j = 0; j < at->len; j++) {
        if (g_array_index(at, guint, j) == rows->len) {
            return;
        }
    }
    fail_msg("client %d: %u history rows on the shared LU, more than its "
             "commands account for (%u)",
             cl->index, rows->len, g_array_index(at, guint, at->len - 1));
}

/* The GOOD rows of @lu's history whose service action raises the
 * PRgeneration (SPC-4 6.14.2: all but RESERVE and RELEASE). */
static guint generation_rows(Store *store, const char *lu)
{
    g_autoptr(GArray) rows = history_of(store, lu, NULL);
    guint n = 0;
    guint i;

    for (i = 0; i < rows->len; i++) {
        const StoreHistoryRow *r = &g_array_index(rows, StoreHistoryRow, i);

        if (r->has_fields && r->status == SCSI_STATUS_GOOD &&
            r->service_action != PR_OUT_RESERVE &&
            r->service_action != PR_OUT_RELEASE) {
            n++;
        }
    }
    return n;
}

void crashload_check(CrashLoad *c)
{
    StoreOptions o = {.path = c->db,
                      .journal = STORE_JOURNAL_DELETE,
                      .lock_timeout_ms = 10000,
                      .host_id = "checker"};
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = store_open(&o, &error);
    g_autofree char *shared = lu_name_of(c->clients[0].shared_disk);
    g_autoptr(PrState) state = NULL;
    int i;

    if (store == NULL) {
        fail_msg("opening %s: %s", c->db, error->message);
    }
    /* The database is whole: the backend's own check (what `softpr`
     * runs; sqlite's PRAGMA integrity_check). */
    if (!store_check_integrity(store, g_get_monotonic_time() + 60000000,
                               &error)) {
        fail_msg("%s", error->message);
    }
    for (i = 0; i < CLIENTS; i++) {
        check_own_lu(store, &c->clients[i]);
        check_shared_lu(store, shared, &c->clients[i]);
    }
    state = check_lu(store, shared);
    assert_int_equal(generation_rows(store, shared), state->generation);
}
