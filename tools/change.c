/*
 * change: the subcommands that change PR state: power-cycle, clear,
 * forget and mark-lost.  They show what they are about to change and ask before
 * doing it (unless --yes); the changes themselves are admin.c's transactions.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "dbopts.h"
#include "engine.h"
#include "error.h"
#include "softpr.h"
#include "table.h"

typedef struct ChangeArgs {
    DbOptions db;
    gboolean yes;
    char **lus; /* --lu patterns (forget) */
} ChangeArgs;

/* Options common to the three commands; @with_lu adds --lu. */
static GOptionContext *change_context(const char *parameter,
                                      const char *summary, ChangeArgs *args,
                                      bool with_lu)
{
    GOptionContext *context = g_option_context_new(parameter);
    const GOptionEntry entries[] = {
        {"yes", 'y', 0, G_OPTION_ARG_NONE, &args->yes,
         "Do not ask for confirmation", NULL},
        {"lu", 0, 0, G_OPTION_ARG_STRING_ARRAY, &args->lus,
         "Only logical units matching PATTERN (repeatable)", "PATTERN"},
        {NULL},
    };

    g_option_context_set_summary(context, summary);
    if (!with_lu) {
        GOptionEntry yes_only[] = {entries[0], entries[2]};

        g_option_context_add_main_entries(context, yes_only, NULL);
    } else {
        g_option_context_add_main_entries(context, entries, NULL);
    }
    dbopts_add(context, &args->db);
    return context;
}

static void change_args_clear(ChangeArgs *args)
{
    dbopts_clear(&args->db);
    g_strfreev(args->lus);
}

/*
 * The names of the LUs @pattern names: by name or glob, or by a path
 * they were seen at (an existing file is looked up by its canonical
 * path).  Appends them to @names once each.
 */
static bool resolve_lus(Store *store, const DbOptions *db, const char *pattern,
                        GPtrArray *names, GError **error)
{
    g_autoptr(GPtrArray) found = NULL;
    guint i;

    found = store_lu_names(store, pattern, dbopts_deadline(db), error);
    if (found == NULL) {
        return false;
    }
    if (found->len == 0 && g_file_test(pattern, G_FILE_TEST_EXISTS)) {
        g_autofree char *real = realpath(pattern, NULL);

        if (real != NULL) {
            g_ptr_array_unref(found);
            found = store_lu_names(store, real, dbopts_deadline(db), error);
            if (found == NULL) {
                return false;
            }
        }
    }
    if (found->len == 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_NOT_FOUND,
                    "no logical unit in %s matches '%s' (softpr dump lists "
                    "them)",
                    store_path(store), pattern);
        return false;
    }
    for (i = 0; i < found->len; i++) {
        const char *name = g_ptr_array_index(found, i);

        if (!g_ptr_array_find_with_equal_func(names, name, g_str_equal, NULL)) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    return true;
}

/* One line on what @lu holds now. */
static void print_lu_summary(const StoreLuDump *lu)
{
    g_autofree char *name = table_escape(lu->name);

    printf("  %s: %u registration%s, reservation %s, PRgeneration 0x%x, "
           "APTPL %s\n",
           name, lu->regs->len, lu->regs->len == 1 ? "" : "s",
           engine_type_name(lu->res_type), lu->generation,
           lu->aptpl ? "on" : "off");
}

static bool show_lus(Store *store, const DbOptions *db, GPtrArray *names,
                     GError **error)
{
    guint i;

    for (i = 0; i < names->len; i++) {
        StoreFilter filter = {.lu = g_ptr_array_index(names, i)};
        g_autoptr(StoreDump) dump =
            store_dump(store, &filter, dbopts_deadline(db), error);
        guint j;

        if (dump == NULL) {
            return false;
        }
        for (j = 0; j < dump->lus->len; j++) {
            StoreLuDump *lu = g_ptr_array_index(dump->lus, j);

            /* A glob character in a name could match others. */
            if (strcmp(lu->name, filter.lu) == 0) {
                print_lu_summary(lu);
            }
        }
    }
    return true;
}

/*
 * Ask @question on the terminal (or whatever stdin is); true only for
 * an answer of y or yes.
 */
static bool confirm(const char *question)
{
    char answer[64];

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (fgets(answer, sizeof(answer), stdin) == NULL) {
        fprintf(stderr, "\n");
        return false;
    }
    g_strstrip(answer);
    return g_ascii_strcasecmp(answer, "y") == 0 ||
           g_ascii_strcasecmp(answer, "yes") == 0;
}

static void print_outcome(const char *lu_name, const AdminOutcome *o)
{
    g_autofree char *name = table_escape(lu_name);

    if (o->lost_after != o->lost_before) {
        printf("%s: PR information lost: %s -> %s\n", name,
               o->lost_before ? "yes" : "no", o->lost_after ? "yes" : "no");
        return;
    }
    if (o->lost_after && !o->changed) {
        printf("%s: PR information already marked lost; unchanged\n", name);
        return;
    }
    printf("%s: registrations %u -> %u, reservation %s -> %s, PRgeneration "
           "0x%x -> 0x%x\n",
           name, o->registrations_before, o->registrations_after,
           engine_type_name(o->type_before), engine_type_name(o->type_after),
           o->generation_before, o->generation_after);
}

typedef bool (*LuChange)(Store *store, const char *lu_name, gint64 deadline,
                         AdminOutcome *outcome, GError **error);

/* power-cycle and clear: @change applied to every LU the arguments name. */
static int change_lus(int argc, char **argv, const char *summary,
                      const char *question, LuChange change)
{
    ChangeArgs args = {0};
    g_autoptr(GOptionContext) context =
        change_context("LU...", summary, &args, false);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = NULL;
    int status = TOOL_EXIT_FAILURE;
    int i;

    if (!tool_parse_options(context, &argc, &argv) ||
        !dbopts_check(&args.db, argv[0])) {
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (argc < 2) {
        tool_error("%s: name at least one logical unit (softpr dump lists "
                   "them)",
                   argv[0]);
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    store = dbopts_open(&args.db);
    if (store == NULL) {
        goto out;
    }
    for (i = 1; i < argc; i++) {
        if (!resolve_lus(store, &args.db, argv[i], names, &error)) {
            tool_error("%s: %s", argv[0], error->message);
            goto out;
        }
    }
    if (!args.yes) {
        g_autofree char *ask =
            g_strdup_printf("%s %s %u logical unit%s?", question,
                            names->len == 1 ? "this" : "these", names->len,
                            names->len == 1 ? "" : "s");

        printf("%s:\n", argv[0]);
        if (!show_lus(store, &args.db, names, &error)) {
            tool_error("%s", error->message);
            goto out;
        }
        fflush(stdout);
        if (!confirm(ask)) {
            tool_error("%s: not confirmed; nothing changed", argv[0]);
            goto out;
        }
    }
    for (i = 0; i < (int)names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        AdminOutcome outcome;

        if (!change(store, name, dbopts_deadline(&args.db), &outcome, &error)) {
            g_autofree char *shown = table_escape(name);

            tool_error("%s: %s: %s", argv[0], shown, error->message);
            goto out;
        }
        print_outcome(name, &outcome);
    }
    status = TOOL_EXIT_OK;
out:
    change_args_clear(&args);
    return status;
}

int power_cycle_main(int argc, char **argv)
{
    return change_lus(
        argc, argv,
        "Simulate power loss of logical units (SPC-4 5.12.4): registrations "
        "and the\nreservation are dropped unless the last APTPL received "
        "was one, pending unit\nattentions are dropped, and PRgeneration "
        "returns to zero.\nLU: a name, a shell glob, or a path the LU was "
        "seen at.",
        "Simulate power loss of", admin_power_cycle);
}

int clear_main(int argc, char **argv)
{
    return change_lus(
        argc, argv,
        "Remove every registration and the reservation of logical units, as "
        "PR OUT\nCLEAR does (SPC-4 5.12.11.2.7): every registrant gets a "
        "RESERVATIONS PREEMPTED\nunit attention and PRgeneration rises by "
        "one.\nLU: a name, a shell glob, or a path the LU was seen at.",
        "Clear the registrations and reservation of", admin_clear);
}

int mark_lost_main(int argc, char **argv)
{
    return change_lus(
        argc, argv,
        "Mark the PR information of logical units lost (SPC-5 5.14.11.3), "
        "after the\ndatabase was restored from a backup: PR IN keeps "
        "answering from the restored\nstate, every PR OUT but REPLACE LOST "
        "RESERVATION gets DATA PROTECT, PERSISTENT\nRESERVATION INFORMATION "
        "LOST, until an initiator replaces the reservation.\nLU: a name, a "
        "shell glob ('*': every LU), or a path the LU was seen at.",
        "Mark the PR information lost of", admin_mark_lost);
}

/* The registrations of @initiator on @name, counted into *@count and
 * described in @shown. */
static bool show_initiator(Store *store, const DbOptions *db, const char *name,
                           const TransportId *initiator, GString *shown,
                           unsigned *count, GError **error)
{
    g_autofree char *who = tid_to_string(initiator);
    g_autofree char *pattern = g_strconcat(who, "*", NULL);
    StoreFilter filter = {.lu = name, .initiator = pattern};
    g_autoptr(StoreDump) dump =
        store_dump(store, &filter, dbopts_deadline(db), error);
    guint i;
    guint j;

    if (dump == NULL) {
        return false;
    }
    for (i = 0; i < dump->lus->len; i++) {
        StoreLuDump *lu = g_ptr_array_index(dump->lus, i);

        if (strcmp(lu->name, name) != 0) {
            continue;
        }
        for (j = 0; j < lu->regs->len; j++) {
            StoreRegDump *reg = &g_array_index(lu->regs, StoreRegDump, j);
            g_autofree char *key = table_key(reg->key);
            g_autofree char *lu_name = table_escape(lu->name);
            g_autofree char *reg_name = table_escape(reg->initiator);
            TransportId tid;

            if (!tid_parse(reg->initiator, &tid, NULL) ||
                !tid_matches(&tid, initiator)) {
                continue;
            }
            g_string_append_printf(
                shown, "  %s: key %s, %s%s\n", lu_name, key, reg_name,
                reg->holder ? ", holds the reservation" : "");
            (*count)++;
        }
    }
    return true;
}

/* Whether @initiator is a VM's name in the initiator registry. */
static bool in_registry(Store *store, const DbOptions *db,
                        const TransportId *initiator, bool *known,
                        GError **error)
{
    g_autofree char *name = tid_to_string(initiator);
    StoreFilter filter = {.initiator = name};
    g_autoptr(StoreDump) dump =
        store_dump(store, &filter, dbopts_deadline(db), error);
    guint i;

    *known = false;
    if (dump == NULL) {
        return false;
    }
    for (i = 0; i < dump->vms->len; i++) {
        const StoreVmDump *vm = &g_array_index(dump->vms, StoreVmDump, i);

        *known = *known || g_ascii_strcasecmp(vm->name, name) == 0;
    }
    return true;
}

static bool forget_registry(Store *store, const DbOptions *db,
                            const TransportId *initiator, GError **error)
{
    g_autofree char *name = tid_to_string(initiator);
    bool removed = false;

    if (!store_begin(store, true, dbopts_deadline(db), error)) {
        return false;
    }
    if (!store_forget_vm(store, name, &removed, error) ||
        !store_commit(store, error)) {
        store_rollback(store);
        return false;
    }
    if (removed) {
        printf("%s: removed from the VM registry\n", name);
    }
    return true;
}

/* The LUs forget looks at: those --lu names, else every one. */
static bool forget_lus(Store *store, const ChangeArgs *args, GPtrArray *names,
                       GError **error)
{
    guint i;

    if (args->lus == NULL) {
        g_autoptr(GPtrArray) all =
            store_lu_names(store, NULL, dbopts_deadline(&args->db), error);

        if (all == NULL) {
            return false;
        }
        g_ptr_array_extend_and_steal(names, g_steal_pointer(&all));
    }
    for (i = 0; args->lus != NULL && args->lus[i] != NULL; i++) {
        if (!resolve_lus(store, &args->db, args->lus[i], names, error)) {
            return false;
        }
    }
    return true;
}

/*
 * What forget would do: the registrations it would remove (described
 * in @shown) and whether it would remove a registry entry; *@nothing
 * when neither.
 */
static bool forget_plan(Store *store, const ChangeArgs *args, GPtrArray *names,
                        const TransportId *initiator, GString *shown,
                        unsigned *count, bool *nothing, GError **error)
{
    bool known = false;
    guint i;

    *count = 0;
    for (i = 0; i < names->len; i++) {
        if (!show_initiator(store, &args->db, g_ptr_array_index(names, i),
                            initiator, shown, count, error)) {
            return false;
        }
    }
    if (args->lus == NULL &&
        !in_registry(store, &args->db, initiator, &known, error)) {
        return false;
    }
    *nothing = *count == 0 && !known;
    return true;
}

static bool forget_apply(Store *store, const ChangeArgs *args, GPtrArray *names,
                         const TransportId *initiator, GError **error)
{
    guint i;

    for (i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        AdminOutcome outcome;

        if (!admin_forget(store, name, initiator, dbopts_deadline(&args->db),
                          &outcome, error)) {
            g_autofree char *shown = table_escape(name);

            g_prefix_error(error, "%s: ", shown);
            return false;
        }
        if (outcome.changed) {
            print_outcome(name, &outcome);
        }
    }
    return args->lus != NULL ||
           forget_registry(store, &args->db, initiator, error);
}

int forget_main(int argc, char **argv)
{
    ChangeArgs args = {0};
    g_autoptr(GOptionContext) context = change_context(
        "INITIATOR",
        "Remove every registration of an initiator that is gone for good, "
        "as if it had\nunregistered (SPC-4 5.12.11.2.3): a reservation it "
        "holds is released.  Without\n--lu, also forget the VM the name "
        "was given to.\nINITIATOR: an iSCSI name (iqn.…, optionally "
        "\",i,0x<ISID>\"), fcp,<16 hex> or\nsas,<16 hex>, as softpr dump "
        "shows it.",
        &args, true);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) shown = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = NULL;
    TransportId initiator;
    unsigned count = 0;
    bool nothing = false;
    int status = TOOL_EXIT_FAILURE;

    if (!tool_parse_options(context, &argc, &argv) ||
        !dbopts_check(&args.db, argv[0])) {
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (argc != 2) {
        tool_error("forget: name exactly one initiator");
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (!tid_parse(argv[1], &initiator, &error)) {
        tool_error("forget: %s", error->message);
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    store = dbopts_open(&args.db);
    if (store == NULL) {
        goto out;
    }
    if (!forget_lus(store, &args, names, &error) ||
        !forget_plan(store, &args, names, &initiator, shown, &count, &nothing,
                     &error)) {
        tool_error("forget: %s", error->message);
        goto out;
    }
    if (nothing) {
        g_autofree char *name = tid_to_string(&initiator);

        tool_error("forget: %s has no registrations%s; nothing changed", name,
                   args.lus == NULL ? " and no entry in the VM registry"
                                    : " on those logical units");
        goto out;
    }
    if (!args.yes) {
        g_autofree char *who = table_escape(argv[1]);

        printf("forget %s:\n%s", who,
               count > 0 ? shown->str : "  no registrations\n");
        fflush(stdout);
        if (!confirm(count > 0 ? "Remove these registrations?"
                               : "Forget this initiator?")) {
            tool_error("forget: not confirmed; nothing changed");
            goto out;
        }
    }
    if (!forget_apply(store, &args, names, &initiator, &error)) {
        tool_error("forget: %s", error->message);
        goto out;
    }
    status = TOOL_EXIT_OK;
out:
    change_args_clear(&args);
    return status;
}
