/*
 * dump: `softpr dump`, every logical unit's PR state as a table for
 * people or as JSON for programs.
 */
#include <stdio.h>

#include "report.h"
#include "engine.h"
#include "scsi.h"
#include "softpr.h"
#include "table.h"
#include "tojson.h"

static const char *yes_no(bool value)
{
    return value ? "yes" : "no";
}

static void print_reservation(const StoreLuDump *lu, FILE *out)
{
    guint i;

    if (lu->res_type == PR_TYPE_NONE) {
        fprintf(out, "  reservation:    none\n");
        return;
    }
    if (engine_type_all_registrants(lu->res_type)) {
        fprintf(out, "  reservation:    %s, held by every registrant\n",
                engine_type_name(lu->res_type));
        return;
    }
    for (i = 0; i < lu->regs->len; i++) {
        const StoreRegDump *reg = &g_array_index(lu->regs, StoreRegDump, i);

        if (reg->holder) {
            g_autofree char *key = table_key(reg->key);
            g_autofree char *who = table_escape(reg->initiator);

            fprintf(out, "  reservation:    %s, held by %s (%s)\n",
                    engine_type_name(lu->res_type), key, who);
            return;
        }
    }
    /* The holder is not among the registrations the filter shows. */
    fprintf(out, "  reservation:    %s\n", engine_type_name(lu->res_type));
}

static void print_seen(const StoreLuDump *lu, FILE *out)
{
    guint i;

    for (i = 0; i < lu->seen->len; i++) {
        const StoreSeen *seen = &g_array_index(lu->seen, StoreSeen, i);
        g_autofree char *first = table_time(seen->first_seen);
        g_autofree char *last = table_time(seen->last_seen);
        g_autofree char *host = table_escape(seen->host);
        g_autofree char *path = table_escape(seen->path);
        g_autofree char *source = table_escape(seen->id_source);

        fprintf(out, "  %-16s%s:%s (%s), first %s, last %s\n",
                i == 0 ? "seen:" : "", host, path, source, first, last);
    }
}

static void print_registrations(const StoreLuDump *lu, FILE *out)
{
    static const char *const headings[] = {
        "KEY", "INITIATOR", "PORT", "HOLDER", "HOST", "REGISTERED", NULL,
    };
    g_autoptr(Table) table = table_new(headings);
    guint i;

    fprintf(out, "  registrations:  %u\n", lu->regs->len);
    if (lu->regs->len == 0) {
        return;
    }
    for (i = 0; i < lu->regs->len; i++) {
        const StoreRegDump *reg = &g_array_index(lu->regs, StoreRegDump, i);
        g_autofree char *key = table_key(reg->key);
        g_autofree char *port = reg->all_tg_pt
                                    ? g_strdup("all (ALL_TG_PT)")
                                    : g_strdup_printf("%u", reg->rtpi);
        g_autofree char *when = table_time(reg->registered_at);
        const char *cells[] = {
            key, reg->initiator, port, yes_no(reg->holder), reg->host, when,
        };

        table_add(table, cells);
    }
    table_print(table, out, "    ");
}

static void print_unit_attentions(const StoreLuDump *lu, FILE *out)
{
    guint i;

    if (lu->uas->len == 0) {
        return;
    }
    fprintf(out, "  unit attentions pending: %u\n", lu->uas->len);
    for (i = 0; i < lu->uas->len; i++) {
        const StoreUaDump *ua = &g_array_index(lu->uas, StoreUaDump, i);
        g_autofree char *when = table_time(ua->raised_at);
        g_autofree char *port = ua->rtpi == 0
                                    ? g_strdup("every port")
                                    : g_strdup_printf("port %u", ua->rtpi);
        g_autofree char *who = table_escape(ua->initiator);

        fprintf(out, "    %s (%s): %s (%02xh/%02xh), raised %s\n", who, port,
                scsi_asc_name(ua->asc, ua->ascq), ua->asc, ua->ascq, when);
    }
}

static void print_lu(const StoreLuDump *lu, FILE *out)
{
    g_autofree char *name = table_escape(lu->name);
    g_autofree char *source = table_escape(lu->id_source);

    fprintf(out, "logical unit %s\n", name);
    fprintf(out, "  identified by:  %s\n", source);
    print_seen(lu, out);
    fprintf(out, "  PRgeneration:   0x%x\n", lu->generation);
    fprintf(out, "  APTPL:          %s\n", lu->aptpl ? "on" : "off");
    if (lu->info_lost) {
        fprintf(out, "  PR information lost: yes (REPLACE LOST RESERVATION "
                     "recovers it)\n");
    }
    print_reservation(lu, out);
    print_registrations(lu, out);
    print_unit_attentions(lu, out);
}

static void print_vms(const GArray *vms, FILE *out)
{
    static const char *const headings[] = {
        "INITIATOR", "VM", "UUID", "LAST HOST", "LAST SEEN", NULL,
    };
    g_autoptr(Table) table = table_new(headings);
    guint i;

    if (vms->len == 0) {
        return;
    }
    fprintf(out, "virtual machines (initiators that follow a VM): %u\n",
            vms->len);
    for (i = 0; i < vms->len; i++) {
        const StoreVmDump *vm = &g_array_index(vms, StoreVmDump, i);
        g_autofree char *when = table_time(vm->last_seen);
        const char *cells[] = {
            vm->name, vm->vm_name, vm->vm_uuid, vm->last_host, when,
        };

        table_add(table, cells);
    }
    table_print(table, out, "  ");
}

/* The table: LUs, then the VM registry. */
static bool print_table(Store *store, const StoreFilter *filter,
                        gint64 deadline, GError **error)
{
    g_autoptr(StoreDump) dump = store_dump(store, filter, deadline, error);
    g_autofree char *path = table_escape(store_path(store));
    bool filtered =
        filter->lu != NULL || filter->initiator != NULL || filter->has_key;
    guint i;

    if (dump == NULL) {
        return false;
    }
    printf("database %s\n", path);
    if (dump->lus->len == 0) {
        printf("no logical units%s\n", filtered ? " match" : "");
    }
    for (i = 0; i < dump->lus->len; i++) {
        printf("\n");
        print_lu(g_ptr_array_index(dump->lus, i), stdout);
    }
    if (dump->vms->len > 0) {
        printf("\n");
        print_vms(dump->vms, stdout);
    }
    return true;
}

static char *dump_json(Store *store, const StoreFilter *filter, gint64 deadline,
                       GError **error)
{
    g_autoptr(StoreDump) dump = store_dump(store, filter, deadline, error);

    return dump != NULL ? tojson_dump(dump, store_path(store)) : NULL;
}

int dump_main(int argc, char **argv)
{
    static const ReportHelp help = {
        .lu = "Only logical units whose name, or a path they were seen at, "
              "matches PATTERN (a shell glob)",
        .initiator = "Only registrations of initiators matching PATTERN",
        .key = "Only registrations with reservation key KEY (hex)",
    };
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    ReportOptions options = {0};
    StoreFilter filter = {0};
    int status = TOOL_EXIT_USAGE;

    g_option_context_set_summary(
        context, "Show each logical unit's registrations, reservation and "
                 "pending unit attentions, and the VMs softprd knows.");
    report_options_add(context, &options, &help);
    if (tool_parse_options(context, &argc, &argv) &&
        report_options_finish(&options, argc, argv, &filter)) {
        status = report_run(&options, &filter, dump_json, print_table);
    }
    report_options_clear(&options);
    return status;
}
