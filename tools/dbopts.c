/*
 * dbopts: database options shared by softpr's subcommands.
 */
#include "dbopts.h"

#include <math.h>

#include "error.h"
#include "softpr.h"

/* The longest wait for a lock a person may ask for. */
#define MAX_LOCK_WAIT_S 600.0

void dbopts_add(GOptionContext *context, DbOptions *options)
{
    const GOptionEntry entries[] = {
        {"db", 0, 0, G_OPTION_ARG_FILENAME, &options->db,
         "The database (default: softprd's)", "PATH"},
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &options->config,
         "softprd's configuration file (default " SOFTPR_SYSCONFDIR
         "/softpr/softprd.conf if it exists)",
         "FILE"},
        {"host-id", 0, 0, G_OPTION_ARG_STRING, &options->host_id,
         "This host's name in the database (default: the host name)", "NAME"},
        {"lock-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &options->lock_wait,
         "Wait at most SECONDS for other hosts' database locks", "SECONDS"},
        {NULL},
    };
    GOptionGroup *group = g_option_group_new(
        "database", "Database options:", "Show the database options", NULL,
        NULL);

    g_option_group_add_entries(group, entries);
    g_option_context_add_group(context, group);
}

bool dbopts_check(const DbOptions *options, const char *command)
{
    if (options->lock_wait < 0 || options->lock_wait > MAX_LOCK_WAIT_S ||
        isnan(options->lock_wait)) {
        tool_error("%s: --lock-timeout: expected 0 to %.0f seconds", command,
                   MAX_LOCK_WAIT_S);
        return false;
    }
    return true;
}

static Store *open_store(DbOptions *options, GError **error)
{
    StoreOptions store;

    options->settings = config_new();
    if (!config_load(options->settings, options->config, error)) {
        return NULL;
    }
    if (options->db != NULL) {
        g_free(options->settings->db_path);
        options->settings->db_path =
            store_path_is_file(options->db)
                ? g_canonicalize_filename(options->db, NULL)
                : g_strdup(options->db);
    }
    if (options->host_id != NULL) {
        g_free(options->settings->host_id);
        options->settings->host_id = g_strdup(options->host_id);
    }
    if (options->lock_wait > 0) {
        options->settings->lock_timeout_ms =
            (unsigned)(options->lock_wait * 1000);
    }
    config_store_options(options->settings, &store);
    return store_open(&store, error);
}

Store *dbopts_open(DbOptions *options)
{
    g_autoptr(GError) error = NULL;
    Store *store = open_store(options, &error);

    if (store == NULL) {
        tool_error("%s", error->message);
    }
    return store;
}

gint64 dbopts_deadline(const DbOptions *options)
{
    return g_get_monotonic_time() +
           (gint64)options->settings->lock_timeout_ms * 1000;
}

void dbopts_clear(DbOptions *options)
{
    g_clear_pointer(&options->db, g_free);
    g_clear_pointer(&options->config, g_free);
    g_clear_pointer(&options->host_id, g_free);
    g_clear_pointer(&options->settings, config_free);
}
