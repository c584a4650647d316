/*
 * backup: `softpr backup DEST`, a consistent copy of the database made
 * while daemons on any host keep running (store_backup()).  Restoring
 * one is docs/softpr.1's procedure: mark the copy's PR information lost
 * (softpr mark-lost), then put it in place.
 */
#include <stdio.h>

#include "dbopts.h"
#include "error.h"
#include "softpr.h"
#include "table.h"

int backup_main(int argc, char **argv)
{
    g_autoptr(GOptionContext) context = g_option_context_new("DEST");
    g_autoptr(GError) error = NULL;
    g_autoptr(Store) store = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *shown = NULL;
    DbOptions db = {0};
    gboolean force = FALSE;
    int status = TOOL_EXIT_FAILURE;
    const GOptionEntry entries[] = {
        {"force", 'f', 0, G_OPTION_ARG_NONE, &force,
         "Replace DEST if it exists", NULL},
        {NULL},
    };

    g_option_context_set_summary(
        context,
        "Copy softprd's database to the new file DEST while daemons run: one "
        "consistent\nsnapshot, taken under the database's lock rules (writers "
        "wait for it as for a\nreader), checked and synced before it gets "
        "its name.  softpr(1) says how to\nrestore it.");
    g_option_context_add_main_entries(context, entries, NULL);
    dbopts_add(context, &db);
    if (!tool_parse_options(context, &argc, &argv) ||
        !dbopts_check(&db, argv[0])) {
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    if (argc != 2) {
        tool_error("backup: name the file to write");
        status = TOOL_EXIT_USAGE;
        goto out;
    }
    dest = g_canonicalize_filename(argv[1], NULL);
    shown = table_escape(dest);
    if (!force && g_file_test(dest, G_FILE_TEST_EXISTS)) {
        tool_error("backup: %s exists already; --force replaces it", shown);
        goto out;
    }
    store = dbopts_open(&db);
    if (store == NULL) {
        goto out;
    }
    if (!store_path_is_file(db.settings->db_path)) {
        /* softprd(8): a server's database is copied by its own tool. */
        tool_error("backup: %s is not a file: use pg_dump(1) to back up a "
                   "PostgreSQL database",
                   store_path(store));
        goto out;
    }
    if (g_strcmp0(dest, store_path(store)) == 0) {
        tool_error("backup: %s is the database itself", shown);
        goto out;
    }
    if (!store_backup(store, dest, force, dbopts_deadline(&db), &error)) {
        tool_error("backup: %s", error->message);
        goto out;
    }
    printf("%s: a copy of %s\n", shown, store_path(store));
    status = TOOL_EXIT_OK;
out:
    dbopts_clear(&db);
    return status;
}
