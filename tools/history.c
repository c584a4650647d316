/*
 * history: `softpr history`, the audit log of PR OUT commands and of
 * administrators' changes, one line per entry, or JSON.
 */
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "engine.h"
#include "scsi.h"
#include "softpr.h"
#include "table.h"
#include "tojson.h"

/* Which fields of a PR OUT command mean something (SPC-4 6.14.2). */
static bool uses_type(const char *action)
{
    return strcmp(action, "RESERVE") == 0 || strcmp(action, "RELEASE") == 0 ||
           strcmp(action, "PREEMPT") == 0 ||
           strcmp(action, "PREEMPT AND ABORT") == 0 ||
           strcmp(action, "REPLACE LOST RESERVATION") == 0;
}

static bool uses_sa_key(const char *action)
{
    return strcmp(action, "RESERVE") != 0 && strcmp(action, "RELEASE") != 0 &&
           strcmp(action, "CLEAR") != 0;
}

static void describe_command(const StoreHistoryRow *row, GString *line)
{
    g_autofree char *key = table_key(row->key);
    g_autofree char *sa_key = table_key(row->sa_key);

    g_string_append_printf(line, " key %s", key);
    if (uses_sa_key(row->action)) {
        g_string_append_printf(line, " sa-key %s", sa_key);
    }
    if (uses_type(row->action)) {
        g_string_append_printf(line, " type %s", engine_type_name(row->type));
    }
    if (row->spec_i_pt) {
        g_string_append(line, " SPEC_I_PT");
    }
    if (row->all_tg_pt) {
        g_string_append(line, " ALL_TG_PT");
    }
    if (row->aptpl) {
        g_string_append(line, " APTPL");
    }
    if (row->unreg) {
        g_string_append(line, " UNREG");
    }
}

/* " (PATH, ...)": where the entry's host sees the LU. */
static void append_paths(const StoreHistoryRow *row, GString *line)
{
    guint i;

    for (i = 0; row->paths[i] != NULL; i++) {
        g_autofree char *path = table_escape(row->paths[i]);

        g_string_append(line, i == 0 ? " (" : ", ");
        g_string_append(line, path);
    }
    if (i > 0) {
        g_string_append_c(line, ')');
    }
}

static void print_row(const StoreHistoryRow *row, FILE *out)
{
    g_autofree char *when = table_time_ms(row->at_ms);
    g_autofree char *host = table_escape(row->host);
    g_autofree char *lu = table_escape(row->lu_name);
    g_autofree char *who = table_escape(row->initiator);
    g_autofree char *action = table_escape(row->action);
    g_autofree char *detail = table_escape(row->detail);
    g_autoptr(GString) line = g_string_new(NULL);

    g_string_append_printf(line, "%s %s %s", when, host, lu);
    append_paths(row, line);
    g_string_append(line, ": ");
    if (strcmp(row->origin, "softpr") == 0) {
        /* An administrator's command, perhaps about an initiator. */
        g_string_append_printf(line, "administrator: %s", action);
        if (who != NULL) {
            g_string_append_printf(line, " %s", who);
        }
    } else {
        g_string_append_printf(line, "%s: %s", who, action);
    }
    if (row->has_fields) {
        describe_command(row, line);
    }
    if (row->status == SCSI_STATUS_CHECK_CONDITION) {
        g_string_append_printf(line, " -> CHECK CONDITION %s, %s",
                               scsi_sense_key_name(row->sense_key),
                               scsi_asc_name(row->asc, row->ascq));
    } else {
        g_string_append_printf(line, " -> %s", scsi_status_name(row->status));
    }
    g_string_append_printf(line, ", PRgeneration 0x%x", row->generation);
    if (detail != NULL) {
        g_string_append_printf(line, " (%s)", detail);
    }
    fprintf(out, "%s\n", line->str);
}

/* @text as an ISO 8601 time or an age ("90s", "15m", "2h", "7d", "1w"). */
static bool parse_since(const char *text, gint64 *ms)
{
    static const struct {
        char unit;
        gint64 seconds;
    } units[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400},
    };
    g_autoptr(GTimeZone) local = g_time_zone_new_local();
    g_autoptr(GDateTime) when = g_date_time_new_from_iso8601(text, local);
    size_t len = strlen(text);
    size_t i;

    if (when != NULL) {
        *ms = g_date_time_to_unix(when) * 1000;
        return true;
    }
    for (i = 0; len > 1 && i < G_N_ELEMENTS(units); i++) {
        g_autofree char *number = g_strndup(text, len - 1);
        guint64 value;

        if (text[len - 1] == units[i].unit &&
            g_ascii_string_to_unsigned(number, 10, 0, G_MAXINT32, &value,
                                       NULL)) {
            *ms = g_get_real_time() / 1000 -
                  (gint64)value * units[i].seconds * 1000;
            return true;
        }
    }
    return false;
}

static bool print_table(Store *store, const StoreFilter *filter,
                        gint64 deadline, GError **error)
{
    g_autoptr(GArray) rows = store_history(store, filter, deadline, error);
    guint i;

    if (rows == NULL) {
        return false;
    }
    for (i = 0; i < rows->len; i++) {
        print_row(&g_array_index(rows, StoreHistoryRow, i), stdout);
    }
    return true;
}

static char *history_json(Store *store, const StoreFilter *filter,
                          gint64 deadline, GError **error)
{
    g_autoptr(GArray) rows = store_history(store, filter, deadline, error);

    return rows != NULL ? tojson_history(rows) : NULL;
}

int history_main(int argc, char **argv)
{
    static const ReportHelp help = {
        .lu = "Only logical units whose name, or a path they were seen at, "
              "matches PATTERN (a shell glob)",
        .initiator = "Only commands from initiators matching PATTERN",
        .key = "Only commands naming reservation key KEY (hex)",
    };
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    ReportOptions options = {0};
    StoreFilter filter = {0};
    char *since = NULL;
    int limit = 0;
    int status = TOOL_EXIT_USAGE;
    const GOptionEntry entries[] = {
        {"since", 0, 0, G_OPTION_ARG_STRING, &since,
         "Only entries since TIME (ISO 8601, or an age such as 15m, 2h, 7d, "
         "1w)",
         "TIME"},
        {"limit", 'n', 0, G_OPTION_ARG_INT, &limit, "Only the newest N entries",
         "N"},
        {NULL},
    };

    g_option_context_set_summary(
        context, "Show the audit log: every PR OUT command that reached the "
                 "database, with its\nresult, and every change made with "
                 "softpr, oldest first.");
    g_option_context_add_main_entries(context, entries, NULL);
    report_options_add(context, &options, &help);
    if (!tool_parse_options(context, &argc, &argv) ||
        !report_options_finish(&options, argc, argv, &filter)) {
        goto out;
    }
    if (since != NULL && !parse_since(since, &filter.since_ms)) {
        tool_error("history: --since: '%s' is neither an ISO 8601 time nor "
                   "an age such as 15m, 2h, 7d or 1w",
                   since);
        goto out;
    }
    if (limit < 0) {
        tool_error("history: --limit: expected a positive number");
        goto out;
    }
    filter.limit = (unsigned)limit;
    status = report_run(&options, &filter, history_json, print_table);
out:
    g_free(since);
    report_options_clear(&options);
    return status;
}
