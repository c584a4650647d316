/*
 * report: what the subcommands that show the database (dump, history)
 * share: the --json, --lu, --initiator and --key options, the database
 * options, and the run: open the database, then print JSON or a table.
 */
#ifndef SOFTPR_REPORT_H
#define SOFTPR_REPORT_H

#include <stdbool.h>

#include <glib.h>

#include "dbopts.h"
#include "store.h"

typedef struct ReportOptions {
    DbOptions db;
    gboolean json;
    char *lu;
    char *initiator;
    char *key;
} ReportOptions;

/* What --lu, --initiator and --key select, for their help texts. */
typedef struct ReportHelp {
    const char *lu;
    const char *initiator;
    const char *key;
} ReportHelp;

/* Add the report and database options to @context. */
void report_options_add(GOptionContext *context, ReportOptions *options,
                        const ReportHelp *help);

/*
 * After parsing: refuse arguments, and put the filters in @filter.
 * Returns false after printing a usage error.
 */
bool report_options_finish(ReportOptions *options, int argc, char **argv,
                           StoreFilter *filter);

/* Builds the JSON form of a report (tojson.h). */
typedef char *(*ReportJson)(Store *store, const StoreFilter *filter,
                            gint64 deadline, GError **error);

/* Prints the table form of a report. */
typedef bool (*ReportTable)(Store *store, const StoreFilter *filter,
                            gint64 deadline, GError **error);

/*
 * Open the database and print the report selected by @filter, as JSON
 * with --json, else as a table.  Returns the exit status.
 */
int report_run(ReportOptions *options, const StoreFilter *filter,
               ReportJson json, ReportTable table);

void report_options_clear(ReportOptions *options);

#endif /* SOFTPR_REPORT_H */
