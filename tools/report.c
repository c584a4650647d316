/*
 * report: options and flow of softpr's report subcommands.
 */
#include "report.h"

#include <stdio.h>

#include "softpr.h"

void report_options_add(GOptionContext *context, ReportOptions *options,
                        const ReportHelp *help)
{
    const GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &options->json, "Print JSON", NULL},
        {"lu", 0, 0, G_OPTION_ARG_STRING, &options->lu, help->lu, "PATTERN"},
        {"initiator", 0, 0, G_OPTION_ARG_STRING, &options->initiator,
         help->initiator, "PATTERN"},
        {"key", 0, 0, G_OPTION_ARG_STRING, &options->key, help->key, "KEY"},
        {NULL},
    };

    g_option_context_add_main_entries(context, entries, NULL);
    dbopts_add(context, &options->db);
}

bool report_options_finish(ReportOptions *options, int argc, char **argv,
                           StoreFilter *filter)
{
    if (argc > 1) {
        tool_error("%s: unexpected argument '%s'", argv[0], argv[1]);
        return false;
    }
    if (!dbopts_check(&options->db, argv[0])) {
        return false;
    }
    if (options->key != NULL && !tool_parse_key(options->key, &filter->key)) {
        tool_error("%s: --key: '%s' is not a reservation key (up to 16 hex "
                   "digits)",
                   argv[0], options->key);
        return false;
    }
    filter->has_key = options->key != NULL;
    filter->lu = options->lu;
    filter->initiator = options->initiator;
    return true;
}

int report_run(ReportOptions *options, const StoreFilter *filter,
               ReportJson json, ReportTable table)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = dbopts_open(&options->db);

    if (store == NULL) {
        return TOOL_EXIT_FAILURE;
    }
    if (options->json) {
        g_autofree char *text =
            json(store, filter, dbopts_deadline(&options->db), &error);

        if (text == NULL) {
            tool_error("%s", error->message);
            return TOOL_EXIT_FAILURE;
        }
        printf("%s\n", text);
    } else if (!table(store, filter, dbopts_deadline(&options->db), &error)) {
        tool_error("%s", error->message);
        return TOOL_EXIT_FAILURE;
    }
    return fflush(stdout) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILURE;
}

void report_options_clear(ReportOptions *options)
{
    dbopts_clear(&options->db);
    g_clear_pointer(&options->lu, g_free);
    g_clear_pointer(&options->initiator, g_free);
    g_clear_pointer(&options->key, g_free);
}
