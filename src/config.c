/*
 * config: softprd's configuration: its defaults, the mode names, and the
 * checks once every source (file, options) is in (config_finish).  The
 * file itself is read in config_file.c.
 */
#include "config.h"
#include "config_int.h"

#include <string.h>
#include <unistd.h>

#include "defaults.h"
#include "error.h"
#include "log.h"
#include "passthrough.h"

#ifndef SOFTPR_SYSCONFDIR
#define SOFTPR_SYSCONFDIR "/etc"
#endif

#define DEFAULT_WORKERS 4
#define DEFAULT_MAX_CONNECTIONS 1024
/* QEMU opens one per pr-manager-helper object; a VM has one or a few. */
#define DEFAULT_MAX_CONNECTIONS_PER_PEER 64
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
/* Well below a Linux guest's 30 s SCSI command timeout. */
#define DEFAULT_LOCK_TIMEOUT_MS 5000

SocketConfig *config_socket_new(const char *name)
{
    SocketConfig *socket = g_new0(SocketConfig, 1);

    socket->name = g_strdup(name);
    socket->identity = IDENTITY_AUTO;
    socket->rtpi = 1;
    return socket;
}

static void socket_free(gpointer data)
{
    SocketConfig *socket = data;

    g_free(socket->name);
    g_free(socket->path);
    identity_policy_clear(&socket->peers);
    g_free(socket);
}

static void lu_mapping_clear(gpointer data)
{
    LuMapping *map = data;

    g_free(map->name);
    g_free(map->path);
}

Config *config_new(void)
{
    Config *config = g_new0(Config, 1);
    SocketConfig *main_socket = config_socket_new(NULL);

    config->sockets = g_ptr_array_new_with_free_func(socket_free);
    g_ptr_array_add(config->sockets, main_socket);
    main_socket->path = defaults_socket_path();
    if (geteuid() == 0) {
        config->pidfile = g_strdup("/run/softprd.pid");
        config->db_path = g_strdup("/var/lib/softpr/softpr.db");
    } else {
        const char *dir = g_get_user_runtime_dir();

        config->pidfile = g_build_filename(dir, "softprd.pid", NULL);
        config->db_path = g_build_filename(g_get_user_state_dir(), "softpr",
                                           "softpr.db", NULL);
    }
    config->db_path_is_default = true;
    config->host_id = g_strdup(g_get_host_name());
    config->workers = DEFAULT_WORKERS;
    config->max_connections = DEFAULT_MAX_CONNECTIONS;
    config->max_connections_per_peer = DEFAULT_MAX_CONNECTIONS_PER_PEER;
    config->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    config->journal = STORE_JOURNAL_DELETE;
    config->lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
    config->ua_policy = PR_UA_RECORD;
    config->max_registrations = PR_MAX_REGISTRATIONS_DEFAULT;
    config->mode = LU_MODE_EMULATION;
    config->passthrough_timeout_ms = PASSTHROUGH_TIMEOUT_MS_DEFAULT;
    config->history_keep_rows = STORE_HISTORY_KEEP_ROWS_DEFAULT;
    config->history_keep_days = STORE_HISTORY_KEEP_DAYS_DEFAULT;
    config->vm_keep_days = STORE_VM_KEEP_DAYS_DEFAULT;
    config->create_xattr = true;
    config->lu_maps = g_array_new(FALSE, TRUE, sizeof(LuMapping));
    g_array_set_clear_func(config->lu_maps, lu_mapping_clear);
    return config;
}

void config_free(Config *config)
{
    if (config == NULL) {
        return;
    }
    g_ptr_array_unref(config->sockets);
    g_array_unref(config->lu_maps);
    g_free(config->pidfile);
    g_free(config->user);
    g_free(config->group);
    g_free(config->host_id);
    g_free(config->db_path);
    g_free(config);
}

const char *const config_mode_names[] = {"emulation", "passthrough", NULL};
const LuMode config_mode_values[] = {LU_MODE_EMULATION, LU_MODE_PASSTHROUGH};

bool config_parse_mode(const char *text, LuMode *mode, GError **error)
{
    size_t i;

    for (i = 0; config_mode_names[i] != NULL; i++) {
        if (g_ascii_strcasecmp(text, config_mode_names[i]) == 0) {
            *mode = config_mode_values[i];
            return true;
        }
    }
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                "expected emulation or passthrough, got '%s'", text);
    return false;
}

bool config_uses_passthrough(const Config *config)
{
    guint i;

    if (config->mode == LU_MODE_PASSTHROUGH) {
        return true;
    }
    for (i = 0; i < config->lu_maps->len; i++) {
        if (g_array_index(config->lu_maps, LuMapping, i).mode ==
            LU_MODE_PASSTHROUGH) {
            return true;
        }
    }
    return false;
}

bool config_load(Config *config, const char *path, GError **error)
{
    if (path != NULL) {
        return config_load_file(config, path, error);
    }
    if (g_file_test(config_default_file(), G_FILE_TEST_EXISTS)) {
        return config_load_file(config, config_default_file(), error);
    }
    return true;
}

void config_store_options(const Config *config, StoreOptions *options)
{
    memset(options, 0, sizeof(*options));
    options->path = config->db_path;
    options->journal = config->journal;
    options->lock_timeout_ms = config->lock_timeout_ms;
    options->host_id = config->host_id;
    options->history_keep_rows = config->history_keep_rows;
    options->history_keep_days = config->history_keep_days;
    options->vm_keep_days = config->vm_keep_days;
}

SocketConfig *config_main_socket(Config *config)
{
    return g_ptr_array_index(config->sockets, 0);
}

const char *config_default_file(void)
{
    return SOFTPR_SYSCONFDIR "/softpr/softprd.conf";
}

bool config_parse_identity(const char *text, SocketConfig *socket,
                           GError **error)
{
    g_autoptr(GError) local = NULL;

    if (g_ascii_strcasecmp(text, "auto") == 0) {
        socket->identity = IDENTITY_AUTO;
        return true;
    }
    if (g_ascii_strcasecmp(text, "client") == 0) {
        socket->identity = IDENTITY_CLIENT;
        return true;
    }
    if (!tid_parse(text, &socket->initiator, &local)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "identity: expected auto, client or an initiator name: "
                    "%s",
                    local->message);
        return false;
    }
    socket->identity = IDENTITY_FIXED;
    return true;
}

bool config_finish(Config *config, GError **error)
{
    guint i;
    guint j;

    if (config->host_id == NULL || *config->host_id == '\0') {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "the host id must not be empty");
        return false;
    }
    for (i = 0; i < config->sockets->len; i++) {
        SocketConfig *a = g_ptr_array_index(config->sockets, i);

        if (a->path == NULL) {
            continue;
        }
        if (!g_path_is_absolute(a->path)) {
            if (a->name == NULL) {
                g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "socket path must be absolute");
            } else {
                g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "[socket %s] path %s: must be absolute", a->name,
                            a->path);
            }
            return false;
        }
        for (j = i + 1; j < config->sockets->len; j++) {
            SocketConfig *b = g_ptr_array_index(config->sockets, j);

            if (b->path != NULL && strcmp(a->path, b->path) == 0) {
                g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "socket %s is configured twice", a->path);
                return false;
            }
        }
    }
    for (i = 0; i < config->lu_maps->len; i++) {
        const LuMapping *map = &g_array_index(config->lu_maps, LuMapping, i);

        if (*map->name == '\0' || !g_path_is_absolute(map->path)) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                        "[lu %s] needs a name and an absolute path", map->name);
            return false;
        }
    }
    return true;
}
