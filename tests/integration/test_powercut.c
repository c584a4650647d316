/*
 * test_powercut: a power cut at any moment loses no command answered.
 *
 * A command answered GOOD is durable (docs/emulation.md; store.h: once
 * store_commit() returns, the change is on disk).  kill -9 cannot test
 * that: the page cache survives it.  Here, as sqlite tests itself, the
 * disk is a model (powercut.c) that keeps apart what was written but not
 * yet synced, per file, and the directory entries created or removed
 * since the directory's last sync; faultvfs feeds it every change.
 *
 * A workload of PR OUT commands from several initiators to several LUs
 * (REGISTER, REGISTER AND IGNORE EXISTING KEY, RESERVE, RELEASE,
 * PREEMPT, PREEMPT AND ABORT, CLEAR, with APTPL now and then) runs in
 * groups through command_execute_group(), as the writer runs them.  A
 * reference run records every answer and the state after each group.
 * Then, for each of SOFTPR_POWERCUT_POINTS cut points, the same workload
 * runs again until the power goes at a random change (write, sync,
 * truncate, delete or directory sync); the disk loses everything not
 * synced, or a random subset of it (its cache writes back in any
 * order), and the database is opened again with the default VFS.
 *
 * It must pass PRAGMA integrity_check, every LU must satisfy SPC-4's
 * invariants (engine_state_consistent), and it must be exactly as the
 * reference was after the last group answered before the cut, or after
 * the group in flight (whose answers never left the machine): the PR
 * state of every LU (keys, PRgeneration, reservation, APTPL) and every
 * history row, each command answered before the cut with the answer it
 * got.  A command answered GOOD and then lost fails the test.
 */
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "faultvfs.h"
#include "powercut.h"
#include "testutil.h"

#include "cdb.h"
#include "command.h"
#include "engine.h"
#include "log.h"
#include "scsi.h"
#include "store.h"

#define LUS 3
#define INITIATORS 4
#define GROUPS 16
#define GROUP_MAX 4
#define COMMANDS_MAX (GROUPS * GROUP_MAX)
/* Cut points per workload; each workload has its own seed. */
#define CUTS_PER_WORKLOAD 25
#define DEFAULT_POINTS 200
#define DEFAULT_SEED 20261205

static const char *const lu_names[LUS] = {"lu-0", "lu-1", "lu-2"};
static const uint16_t ports[] = {1};
static const PrConfig pr = {.ports = ports,
                            .n_ports = 1,
                            .max_registrations = PR_MAX_REGISTRATIONS_DEFAULT,
                            .ua_policy = PR_UA_RECORD};

/* One command, with everything CommandItem points to. */
typedef struct Cmd {
    PrNexus nexus;
    StoreLuInfo lu;
    uint8_t cdb[16];
    uint8_t param[WIRE_DATA_MAX];
    CommandRequest request;
    PrResult result;
} Cmd;

/* What a command was answered: status, and sense key, ASC, ASCQ. */
typedef struct Answer {
    uint8_t status;
    uint8_t sense[3];
} Answer;

/* The database as a reader sees it after some groups. */
typedef struct Snapshot {
    PrState *lus[LUS];
    GArray *history; /* StoreHistoryRow */
} Snapshot;

typedef struct Workload {
    guint32 seed;
    Cmd cmds[COMMANDS_MAX];
    guint starts[GROUPS + 1]; /* group g: cmds[starts[g]..starts[g+1]) */
    Answer answers[COMMANDS_MAX];
    Snapshot after[GROUPS + 1]; /* after[g]: the first g groups */
    unsigned changes;           /* changes the whole run makes */
} Workload;

typedef struct Fixture {
    char *dir;
    char *template; /* an empty, durable database */
    Workload *w;
} Fixture;

static guint env_uint(const char *name, guint fallback)
{
    const char *value = g_getenv(name);

    return value != NULL && *value != '\0' ? (guint)atoi(value) : fallback;
}

static Answer answer_of(const PrResult *r)
{
    Answer a = {r->status, {0, 0, 0}};

    if (r->status == SCSI_STATUS_CHECK_CONDITION) {
        a.sense[0] = r->sense[2] & 0x0f;
        a.sense[1] = r->sense[12];
        a.sense[2] = r->sense[13];
    }
    return a;
}

/* ------------------------------------------------------------------ */
/* The workload                                                        */
/* ------------------------------------------------------------------ */

static void cmd_make(Cmd *c, guint initiator, guint lu, uint8_t sa,
                     uint8_t type, uint64_t rk, uint64_t sark, uint8_t flags)
{
    g_autofree char *name =
        g_strdup_printf("iqn.2026-12.test:power-%u", initiator);
    size_t len;

    memset(c, 0, sizeof(*c));
    assert_true(tid_from_iscsi_name(name, &c->nexus.initiator, NULL));
    c->nexus.rtpi = 1;
    c->lu.name = lu_names[lu];
    c->lu.id_source = "path";
    c->lu.path = lu_names[lu];
    len = cdb_prout_basic(c->param, rk, sark, flags, NULL, 0);
    cdb_pr_out(c->cdb, sa, 0, type, (uint32_t)len);
    c->request.cdb = c->cdb;
    c->request.data = c->param;
    c->request.data_len = len;
}

/* One random command; @keys[i][l] is the key initiator i last
 * registered (or tried to) with LU l. */
static void random_command(Cmd *c, GRand *r, uint64_t keys[][LUS],
                           uint32_t *seq)
{
    static const uint8_t types[] = {1, 3, 5, 6, 7, 8};
    guint i = (guint)g_rand_int_range(r, 0, INITIATORS);
    guint l = (guint)g_rand_int_range(r, 0, LUS);
    guint other = (i + (guint)g_rand_int_range(r, 1, INITIATORS)) % INITIATORS;
    uint8_t type = types[g_rand_int_range(r, 0, G_N_ELEMENTS(types))];
    uint8_t aptpl = g_rand_int_range(r, 0, 8) == 0 ? PROUT_APTPL : 0;
    uint64_t fresh = ((uint64_t)(i + 1) << 40) | ((uint64_t)l << 32) | ++*seq;
    uint64_t mine = keys[i][l];
    int pick = g_rand_int_range(r, 0, 100);

    if (pick < 35) {
        cmd_make(c, i, l, PR_OUT_REGISTER_IGNORE, 0, 0, fresh, aptpl);
        keys[i][l] = fresh;
    } else if (pick < 47) {
        cmd_make(c, i, l, PR_OUT_REGISTER, 0, mine, fresh, aptpl);
        keys[i][l] = fresh;
    } else if (pick < 52) {
        cmd_make(c, i, l, PR_OUT_REGISTER, 0, mine, 0, 0);
        keys[i][l] = 0;
    } else if (pick < 70) {
        cmd_make(c, i, l, PR_OUT_RESERVE, type, mine, 0, 0);
    } else if (pick < 80) {
        cmd_make(c, i, l, PR_OUT_RELEASE, type, mine, 0, 0);
    } else if (pick < 94) {
        cmd_make(c, i, l, pick < 89 ? PR_OUT_PREEMPT : PR_OUT_PREEMPT_AND_ABORT,
                 type, mine, keys[other][l] != 0 ? keys[other][l] : fresh, 0);
    } else {
        cmd_make(c, i, l, PR_OUT_CLEAR, 0, mine, 0, 0);
    }
}

static void workload_make(Workload *w, guint32 seed)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(seed);
    uint64_t keys[INITIATORS][LUS];
    uint32_t seq = 0;
    guint g, n = 0;

    memset(keys, 0, sizeof(keys));
    w->seed = seed;
    for (g = 0; g < GROUPS; g++) {
        guint size = (guint)g_rand_int_range(r, 1, GROUP_MAX + 1);
        guint k;

        w->starts[g] = n;
        for (k = 0; k < size; k++) {
            random_command(&w->cmds[n++], r, keys, &seq);
        }
    }
    w->starts[GROUPS] = n;
}

/* Run group @g of @w on @store, as the writer would. */
static void run_group(Store *store, Workload *w, guint g)
{
    CommandItem items[GROUP_MAX];
    gint64 deadline = g_get_monotonic_time() + 60 * G_TIME_SPAN_SECOND;
    guint i, n = w->starts[g + 1] - w->starts[g];

    for (i = 0; i < n; i++) {
        Cmd *c = &w->cmds[w->starts[g] + i];

        c->request.deadline = deadline;
        items[i].nexus = &c->nexus;
        items[i].lu = &c->lu;
        items[i].request = &c->request;
        items[i].result = &c->result;
    }
    command_execute_group(store, &pr, items, n);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static Store *open_store(const char *path, const char *vfs, GError **error)
{
    StoreOptions o = testutil_store_options(path);

    o.vfs = vfs;
    o.create = false;
    return store_open(&o, error);
}

static void snapshot_clear(Snapshot *s)
{
    guint l;

    for (l = 0; l < LUS; l++) {
        g_clear_pointer(&s->lus[l], pr_state_free);
    }
    g_clear_pointer(&s->history, g_array_unref);
}

/* Read the database @path as a reader does; false with @why when it
 * cannot be read. */
static bool snapshot_take(const char *path, Snapshot *s, GString *why)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = open_store(path, NULL, &error);
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    StoreFilter all = {0};
    guint l;

    if (store == NULL || !store_check_integrity(store, deadline, &error) ||
        !store_begin(store, false, deadline, &error)) {
        g_string_append_printf(why, "%s: %s\n", path, error->message);
        return false;
    }
    for (l = 0; l < LUS; l++) {
        StoreLuInfo info = {lu_names[l], NULL, NULL};
        gint64 id;
        bool stale;

        s->lus[l] = pr_state_new();
        if (!store_load_state(store, &info, s->lus[l], &id, &stale, &error)) {
            store_rollback(store);
            g_string_append_printf(why, "%s: %s\n", lu_names[l],
                                   error->message);
            return false;
        }
        if (!engine_state_consistent(s->lus[l])) {
            g_string_append_printf(why, "%s breaks SPC-4's invariants\n",
                                   lu_names[l]);
            store_rollback(store);
            return false;
        }
    }
    store_rollback(store);
    s->history = store_history(store, &all, deadline, &error);
    if (s->history == NULL) {
        g_string_append_printf(why, "history: %s\n", error->message);
        return false;
    }
    return true;
}

static bool row_equal(const StoreHistoryRow *a, const StoreHistoryRow *b)
{
    return g_strcmp0(a->lu_name, b->lu_name) == 0 &&
           g_strcmp0(a->initiator, b->initiator) == 0 &&
           g_strcmp0(a->action, b->action) == 0 && a->type == b->type &&
           a->key == b->key && a->sa_key == b->sa_key && a->aptpl == b->aptpl &&
           a->status == b->status && a->sense_key == b->sense_key &&
           a->asc == b->asc && a->ascq == b->ascq &&
           a->generation == b->generation;
}

/* Whether @got is @want (the reference after @groups groups); what
 * differs goes to @why. */
static bool snapshot_is(const Snapshot *got, const Snapshot *want, guint groups,
                        GString *why)
{
    bool same = true;
    guint l, i;

    for (l = 0; l < LUS; l++) {
        if (!pr_state_equal(got->lus[l], want->lus[l])) {
            g_string_append_printf(
                why,
                "  after %u groups: %s has PRgeneration %u, %u keys, "
                "reservation type %u; the reference PRgeneration %u, %u "
                "keys, type %u\n",
                groups, lu_names[l], got->lus[l]->generation,
                got->lus[l]->regs->len, got->lus[l]->res_type,
                want->lus[l]->generation, want->lus[l]->regs->len,
                want->lus[l]->res_type);
            same = false;
        }
    }
    for (i = 0; i < MAX(got->history->len, want->history->len); i++) {
        const StoreHistoryRow *a =
            i < got->history->len
                ? &g_array_index(got->history, StoreHistoryRow, i)
                : NULL;
        const StoreHistoryRow *b =
            i < want->history->len
                ? &g_array_index(want->history, StoreHistoryRow, i)
                : NULL;

        if (a == NULL || b == NULL || !row_equal(a, b)) {
            g_string_append_printf(
                why,
                "  after %u groups: history row %u is %s %s; the "
                "reference's %s %s\n",
                groups, i + 1, a != NULL ? a->lu_name : "(none)",
                a != NULL ? a->action : "", b != NULL ? b->lu_name : "(none)",
                b != NULL ? b->action : "");
            same = false;
            break;
        }
    }
    return same;
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

static char *copy_template(Fixture *f, const char *name)
{
    g_autofree char *data = NULL;
    char *dir = g_build_filename(f->dir, name, NULL);
    g_autofree char *db = g_build_filename(dir, "pr.db", NULL);
    gsize len;

    assert_int_equal(g_mkdir(dir, 0755), 0);
    assert_true(g_file_get_contents(f->template, &data, &len, NULL));
    assert_true(g_file_set_contents(db, data, (gssize)len, NULL));
    return dir;
}

/* Run @w without a cut: its answers, the state after each group, and
 * how many changes it makes. */
static void workload_reference(Fixture *f, Workload *w)
{
    g_autofree char *name = g_strdup_printf("ref-%u", w->seed);
    g_autofree char *dir = copy_template(f, name);
    g_autofree char *db = g_build_filename(dir, "pr.db", NULL);
    g_autoptr(GString) why = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    Store *store;
    guint g, i;

    faultvfs_count();
    store = open_store(db, FAULTVFS_NAME, &error);
    if (store == NULL) {
        fail_msg("%s: %s", db, error->message);
    }
    for (g = 0; g <= GROUPS; g++) {
        if (!snapshot_take(db, &w->after[g], why)) {
            fail_msg("reference of workload %u: %s", w->seed, why->str);
        }
        if (g == GROUPS) {
            break;
        }
        run_group(store, w, g);
        for (i = w->starts[g]; i < w->starts[g + 1]; i++) {
            w->answers[i] = answer_of(&w->cmds[i].result);
        }
    }
    store_close(store);
    faultvfs_events(&w->changes);
    faultvfs_off();
    testutil_rmtree(dir);
}

static void workload_clear(Workload *w)
{
    guint g;

    for (g = 0; g <= GROUPS; g++) {
        snapshot_clear(&w->after[g]);
    }
}

/* What one cut did. */
typedef struct Cut {
    unsigned at; /* the change that failed */
    PowerCutLoss loss;
    bool fired;
    guint acked;     /* groups answered before the cut */
    guint recovered; /* groups the database holds after it */
} Cut;

/* The changes up to the cut, for a failure's message. */
static void describe_cut(const Cut *cut, GString *why)
{
    unsigned n, i;
    const FaultEvent *events = faultvfs_events(&n);

    g_string_append_printf(why, "the last changes up to the cut:");
    for (i = cut->at > 8 ? cut->at - 8 : 0; i < cut->at && i < n; i++) {
        g_string_append_printf(why, " %s %s%s", faultvfs_op_name(events[i].op),
                               faultvfs_file_name(events[i].file),
                               i + 1 == cut->at ? " (cut)" : ",");
    }
    g_string_append_c(why, '\n');
}

/* Run @w until the power goes at change @cut->at. */
static void run_until_cut(Workload *w, const char *db, Cut *cut,
                          PowerCut *model, GString *trace)
{
    g_autoptr(GError) error = NULL;
    Store *store;
    guint g, i;

    faultvfs_power(model, cut->at);
    store = open_store(db, FAULTVFS_NAME, &error);
    for (g = 0; store != NULL && g < GROUPS; g++) {
        run_group(store, w, g);
        if (faultvfs_fired()) {
            break; /* these answers never leave the machine */
        }
        for (i = w->starts[g]; i < w->starts[g + 1]; i++) {
            Answer a = answer_of(&w->cmds[i].result);

            if (memcmp(&a, &w->answers[i], sizeof(a)) != 0) {
                fail_msg("workload %u command %u: answered 0x%02x "
                         "%02x/%02x/%02x before any cut, 0x%02x in the "
                         "reference",
                         w->seed, i, a.status, a.sense[0], a.sense[1],
                         a.sense[2], w->answers[i].status);
            }
        }
        cut->acked = g + 1;
    }
    cut->fired = faultvfs_fired();
    if (store == NULL && !cut->fired) {
        fail_msg("%s: %s", db, error->message);
    }
    /* Closed while the power is off: nothing more reaches the disk. */
    store_close(store);
    describe_cut(cut, trace);
    faultvfs_off();
}

/* Whether the database @db is as the reference was after the groups
 * answered before @cut, or after the one in flight then. */
static bool recovered_as_answered(const char *db, Workload *w, Cut *cut,
                                  GString *why)
{
    Snapshot got = {{NULL}, NULL};
    bool ok = false;

    if (snapshot_take(db, &got, why)) {
        if (snapshot_is(&got, &w->after[cut->acked], cut->acked, why)) {
            cut->recovered = cut->acked;
            ok = true;
        } else if (cut->fired && cut->acked < GROUPS &&
                   snapshot_is(&got, &w->after[cut->acked + 1], cut->acked + 1,
                               why)) {
            cut->recovered = cut->acked + 1;
            ok = true;
        }
    }
    snapshot_clear(&got);
    return ok;
}

static void cut_once(Fixture *f, Workload *w, Cut *cut, GRand *rand,
                     guint index)
{
    g_autofree char *name = g_strdup_printf("cut-%u", index);
    g_autofree char *dir = copy_template(f, name);
    g_autofree char *db = g_build_filename(dir, "pr.db", NULL);
    g_autofree char *out = g_build_filename(dir, "after", NULL);
    g_autofree char *out_db = g_build_filename(out, "pr.db", NULL);
    g_autofree char *lost = NULL;
    g_autoptr(GString) trace = g_string_new(NULL);
    g_autoptr(GString) why = g_string_new(NULL);
    PowerCut *model = powercut_new(dir);

    run_until_cut(w, db, cut, model, trace);
    assert_int_equal(g_mkdir(out, 0755), 0);
    lost = powercut_restore(model, out, cut->loss, rand);
    powercut_free(model);
    if (!recovered_as_answered(out_db, w, cut, why)) {
        /* cmocka shortens long messages: the details go out whole. */
        fprintf(stderr,
                "power cut %u: the database is not as the %u groups "
                "answered before the cut left it:\n%s%s\nthe disk after the "
                "cut:\n%s",
                index, cut->acked, why->str, trace->str, lost);
        fail_msg("power cut %u (SOFTPR_POWERCUT_SEED=%u, workload %u, at "
                 "change %u of %u, losing %s) lost what was answered",
                 index, w->seed - index / CUTS_PER_WORKLOAD, w->seed, cut->at,
                 w->changes,
                 cut->loss == POWERCUT_LOSE_ALL
                     ? "everything not synced"
                     : "some of what was not synced");
    }
    testutil_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* The test                                                            */
/* ------------------------------------------------------------------ */

static void test_power_cut_loses_no_answered_command(void **state)
{
    Fixture *f = *state;
    guint points = env_uint("SOFTPR_POWERCUT_POINTS", DEFAULT_POINTS);
    guint32 seed = env_uint("SOFTPR_POWERCUT_SEED", DEFAULT_SEED);
    g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
    gint64 start = g_get_monotonic_time();
    guint i, mid = 0, answered = 0, in_flight_kept = 0, all = 0, workloads = 0;
    unsigned most = 0;

    for (i = 0; i < points; i++) {
        Cut cut = {0};

        if (i % CUTS_PER_WORKLOAD == 0) {
            workload_clear(f->w);
            workload_make(f->w, seed + i / CUTS_PER_WORKLOAD);
            workload_reference(f, f->w);
            workloads++;
            most = MAX(most, f->w->changes);
        }
        /* Up to one past the last change: a cut after everything. */
        cut.at = (unsigned)g_rand_int_range(rand, 1, (gint32)f->w->changes + 2);
        cut.loss =
            g_rand_boolean(rand) ? POWERCUT_LOSE_ALL : POWERCUT_LOSE_SOME;
        cut_once(f, f->w, &cut, rand, i);
        mid += cut.fired && cut.acked < GROUPS;
        answered += cut.acked > 0;
        in_flight_kept += cut.recovered > cut.acked;
        all += cut.loss == POWERCUT_LOSE_ALL;
    }
    print_message("powercut: %u cuts over %u workloads (up to %u changes each, "
                  "%u groups of up to %u PR OUT) in %.1f s: %u in the "
                  "middle of the run, %u after groups were answered, %u "
                  "losing all that was not synced, %u a random subset; "
                  "%u kept the group in flight; every database intact, as "
                  "answered\n",
                  points, workloads, most, GROUPS, GROUP_MAX,
                  (g_get_monotonic_time() - start) / 1e6, mid, answered, all,
                  points - all, in_flight_kept);
    /* The cuts must have come where something was at stake. */
    assert_true(answered * 2 >= points);
    assert_true(mid * 2 >= points);
}

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);
    StoreOptions o;
    g_autoptr(GError) error = NULL;
    Store *store;

    faultvfs_register();
    f->dir = testutil_tmpdir();
    f->template = g_build_filename(f->dir, "template.db", NULL);
    f->w = g_new0(Workload, 1);
    o = testutil_store_options(f->template);
    store = store_open(&o, &error);
    if (store == NULL) {
        fail_msg("%s: %s", f->template, error->message);
    }
    store_close(store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    workload_clear(f->w);
    g_free(f->w);
    testutil_rmtree(f->dir);
    g_free(f->dir);
    g_free(f->template);
    g_free(f);
    return 0;
}

int main(void)
{
    /* The daemon's warnings about the failing disk are expected here. */
    log_setup("test_powercut", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_power_cut_loses_no_answered_command, setup, teardown),
    };

    return TESTUTIL_RUN("powercut", tests, NULL, NULL);
}
