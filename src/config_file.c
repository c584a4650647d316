/*
 * config_file: softprd's configuration file (GKeyFile): its groups and
 * keys, each value checked where it is read, unknown keys refused so that
 * a typo is not silently ignored.
 */
#include "config.h"
#include "config_int.h"

#include <string.h>

#include "error.h"
#include "log.h"
#include "privs.h"

#define MAX_LOCK_TIMEOUT_MS 25000
#define SOCKET_GROUP_PREFIX "socket "
#define LU_GROUP_PREFIX "lu "

/* The keys of each kind of group, for spotting typos. */
static const char *const daemon_keys[] = {
    "socket",
    "identity",
    "relative-target-port",
    "peer-uids",
    "peer-groups",
    "qemu-binaries",
    "pidfile",
    "user",
    "group",
    "host-id",
    "workers",
    "max-connections",
    "max-connections-per-peer",
    "request-timeout",
    "mode",
    "log",
    NULL,
};
static const char *const socket_keys[] = {
    "path",      "identity",    "relative-target-port",
    "peer-uids", "peer-groups", "qemu-binaries",
    NULL,
};
static const char *const database_keys[] = {
    "path", "url", "journal-mode", "lock-timeout", "vm-keep-days", NULL,
};
static const char *const scsi_keys[] = {
    "unit-attentions",
    "max-registrations",
    NULL,
};
static const char *const history_keys[] = {"keep-rows", "keep-days", NULL};
static const char *const passthrough_keys[] = {"timeout", NULL};
static const char *const lu_keys[] = {"create-xattr", NULL};
static const char *const lu_map_keys[] = {"path", "mode", NULL};

/* The known keys of group @group, or NULL for an unknown group. */
static const char *const *group_keys(const char *group)
{
    if (strcmp(group, "daemon") == 0) {
        return daemon_keys;
    }
    if (strcmp(group, "database") == 0) {
        return database_keys;
    }
    if (strcmp(group, "scsi") == 0) {
        return scsi_keys;
    }
    if (strcmp(group, "history") == 0) {
        return history_keys;
    }
    if (strcmp(group, "passthrough") == 0) {
        return passthrough_keys;
    }
    if (strcmp(group, "lu") == 0) {
        return lu_keys;
    }
    if (g_str_has_prefix(group, SOCKET_GROUP_PREFIX)) {
        return socket_keys;
    }
    if (g_str_has_prefix(group, LU_GROUP_PREFIX)) {
        return lu_map_keys;
    }
    return NULL;
}

static bool check_keys(GKeyFile *kf, const char *path, GError **error)
{
    g_auto(GStrv) names = g_key_file_get_groups(kf, NULL);
    guint i;

    for (i = 0; names[i] != NULL; i++) {
        const char *const *known = group_keys(names[i]);
        g_auto(GStrv) keys = NULL;
        guint k;

        if (known == NULL) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                        "%s: unknown group [%s]", path, names[i]);
            return false;
        }
        keys = g_key_file_get_keys(kf, names[i], NULL, NULL);
        for (k = 0; keys != NULL && keys[k] != NULL; k++) {
            if (!g_strv_contains(known, keys[k])) {
                g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                            "%s: unknown key '%s' in group [%s]", path, keys[k],
                            names[i]);
                return false;
            }
        }
    }
    return true;
}

static bool bad_value(GError **error, const char *path, const char *group,
                      const char *key, const char *why)
{
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG, "%s: [%s] %s: %s",
                path, group, key, why);
    return false;
}

/* Read a string key into *@out (replacing it) when present. */
static bool get_string(GKeyFile *kf, const char *path, const char *group,
                       const char *key, char **out, GError **error)
{
    g_autoptr(GError) local = NULL;
    char *value;

    if (!g_key_file_has_key(kf, group, key, NULL)) {
        return true;
    }
    value = g_key_file_get_string(kf, group, key, &local);
    if (value == NULL) {
        return bad_value(error, path, group, key, local->message);
    }
    if (*value == '\0') {
        g_free(value);
        return bad_value(error, path, group, key, "empty value");
    }
    g_free(*out);
    *out = value;
    return true;
}

/* [database] names one database: a file (path) or a server (url, a
 * PostgreSQL connection string). */
static bool check_db_url(const char *path, const char *db_path,
                         const char *db_url, GError **error)
{
    if (db_url == NULL) {
        return true;
    }
    if (db_path != NULL) {
        return bad_value(error, path, "database", "url",
                         "give path or url, not both");
    }
    if (store_path_is_file(db_url)) {
        return bad_value(error, path, "database", "url",
                         "expected a PostgreSQL connection string "
                         "(postgresql://... or host=... dbname=...)");
    }
    return true;
}

/* Read an integer key in [@min, @max] when present. */
static bool get_uint(GKeyFile *kf, const char *path, const char *group,
                     const char *key, guint64 min, guint64 max, unsigned *out,
                     GError **error)
{
    g_autofree char *text = NULL;
    guint64 value;

    if (!get_string(kf, path, group, key, &text, error)) {
        return false;
    }
    if (text == NULL) {
        return true;
    }
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, &value,
                                    NULL)) {
        g_autofree char *why =
            g_strdup_printf("expected a whole number from %" G_GUINT64_FORMAT
                            " to %" G_GUINT64_FORMAT ", got '%s'",
                            min, max, text);
        return bad_value(error, path, group, key, why);
    }
    *out = (unsigned)value;
    return true;
}

/* Read a duration in seconds (a decimal number) as milliseconds. */
static bool get_seconds(GKeyFile *kf, const char *path, const char *group,
                        const char *key, unsigned max_ms, unsigned *out_ms,
                        GError **error)
{
    g_autofree char *text = NULL;
    char *end = NULL;
    double seconds;

    if (!get_string(kf, path, group, key, &text, error)) {
        return false;
    }
    if (text == NULL) {
        return true;
    }
    seconds = g_ascii_strtod(g_strstrip(text), &end);
    if (end == text || *end != '\0' || !(seconds > 0) ||
        seconds * 1000 > max_ms) {
        g_autofree char *why =
            g_strdup_printf("expected seconds above 0 and at most %g, got '%s'",
                            max_ms / 1000.0, text);
        return bad_value(error, path, group, key, why);
    }
    *out_ms = (unsigned)(seconds * 1000 + 0.5);
    if (*out_ms == 0) {
        *out_ms = 1;
    }
    return true;
}

/* Read a key whose value is one of @choices; *@out is its index. */
static bool get_choice(GKeyFile *kf, const char *path, const char *group,
                       const char *key, const char *const *choices, int *out,
                       GError **error)
{
    g_autofree char *text = NULL;
    int i;

    if (!get_string(kf, path, group, key, &text, error)) {
        return false;
    }
    if (text == NULL) {
        return true;
    }
    for (i = 0; choices[i] != NULL; i++) {
        if (g_ascii_strcasecmp(g_strstrip(text), choices[i]) == 0) {
            *out = i;
            return true;
        }
    }
    {
        g_autofree char *list = g_strjoinv(", ", (char **)choices);
        g_autofree char *why =
            g_strdup_printf("expected one of %s, got '%s'", list, text);
        return bad_value(error, path, group, key, why);
    }
}

/* Read a list key (';'-separated) when present; NULL when absent. */
static bool get_list(GKeyFile *kf, const char *path, const char *group,
                     const char *key, char ***out, GError **error)
{
    g_autoptr(GError) local = NULL;
    gsize n = 0;

    *out = NULL;
    if (!g_key_file_has_key(kf, group, key, NULL)) {
        return true;
    }
    *out = g_key_file_get_string_list(kf, group, key, &n, &local);
    if (*out == NULL || n == 0) {
        g_clear_pointer(out, g_strfreev);
        return bad_value(error, path, group, key,
                         local != NULL ? local->message : "empty list");
    }
    return true;
}

/*
 * peer-uids, peer-groups (names or numbers) and qemu-binaries (absolute
 * paths, resolved as they are now when they exist) of a socket's group.
 */
static bool get_peer_keys(GKeyFile *kf, const char *path, const char *group,
                          PeerPolicy *peers, GError **error)
{
    g_auto(GStrv) users = NULL;
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) binaries = NULL;
    guint i;

    if (!get_list(kf, path, group, "peer-uids", &users, error) ||
        !get_list(kf, path, group, "peer-groups", &groups, error) ||
        !get_list(kf, path, group, "qemu-binaries", &binaries, error)) {
        return false;
    }
    for (i = 0; users != NULL && users[i] != NULL; i++) {
        g_autoptr(GError) local = NULL;
        uid_t uid;
        gid_t gid;

        if (!privs_lookup_user(g_strstrip(users[i]), &uid, &gid, &local)) {
            return bad_value(error, path, group, "peer-uids", local->message);
        }
        if (peers->uids == NULL) {
            peers->uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
        }
        g_array_append_val(peers->uids, uid);
    }
    for (i = 0; groups != NULL && groups[i] != NULL; i++) {
        g_autoptr(GError) local = NULL;
        gid_t gid;

        if (!privs_lookup_group(g_strstrip(groups[i]), &gid, &local)) {
            return bad_value(error, path, group, "peer-groups", local->message);
        }
        if (peers->gids == NULL) {
            peers->gids = g_array_new(FALSE, FALSE, sizeof(gid_t));
        }
        g_array_append_val(peers->gids, gid);
    }
    for (i = 0; binaries != NULL && binaries[i] != NULL; i++) {
        char *bin = g_strstrip(binaries[i]);
        char *resolved;

        if (!g_path_is_absolute(bin)) {
            g_autofree char *why =
                g_strdup_printf("'%s' is not an absolute path", bin);

            return bad_value(error, path, group, "qemu-binaries", why);
        }
        /* /proc/PID/exe names the file itself: follow symlinks (kvm). */
        resolved = realpath(bin, NULL);
        if (resolved == NULL) {
            resolved = g_canonicalize_filename(bin, NULL);
        }
        g_free(binaries[i]);
        binaries[i] = resolved;
    }
    if (binaries != NULL) {
        g_strfreev(peers->qemu_binaries);
        peers->qemu_binaries = g_steal_pointer(&binaries);
    }
    return true;
}

/* The identity and relative-target-port keys of a socket's group. */
static bool get_socket_keys(GKeyFile *kf, const char *path, const char *group,
                            SocketConfig *socket, GError **error)
{
    g_autofree char *identity = NULL;
    unsigned rtpi = socket->rtpi;

    if (!get_string(kf, path, group, "identity", &identity, error) ||
        !get_uint(kf, path, group, "relative-target-port", 1, 65535, &rtpi,
                  error) ||
        !get_peer_keys(kf, path, group, &socket->peers, error)) {
        return false;
    }
    if (identity != NULL) {
        g_autoptr(GError) local = NULL;

        if (!config_parse_identity(g_strstrip(identity), socket, &local)) {
            return bad_value(error, path, group, "identity", local->message);
        }
    }
    socket->rtpi = (uint16_t)rtpi;
    return true;
}

/* The longest a forwarded command may take: the guest's own timeout. */
#define MAX_PASSTHROUGH_TIMEOUT_MS (300 * 1000)

/* The [socket NAME] and [lu NAME] groups. */
static bool load_named_groups(Config *config, GKeyFile *kf, const char *path,
                              GError **error)
{
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    guint i;

    for (i = 0; groups[i] != NULL; i++) {
        const char *group = groups[i];

        if (g_str_has_prefix(group, SOCKET_GROUP_PREFIX)) {
            SocketConfig *socket =
                config_socket_new(group + strlen(SOCKET_GROUP_PREFIX));

            g_ptr_array_add(config->sockets, socket);
            if (!get_string(kf, path, group, "path", &socket->path, error) ||
                !get_socket_keys(kf, path, group, socket, error)) {
                return false;
            }
            if (socket->path == NULL) {
                return bad_value(error, path, group, "path", "missing");
            }
        } else if (g_str_has_prefix(group, LU_GROUP_PREFIX)) {
            LuMapping map = {0};
            int mode = -1;

            if (!get_string(kf, path, group, "path", &map.path, error) ||
                !get_choice(kf, path, group, "mode", config_mode_names, &mode, error)) {
                g_free(map.path);
                return false;
            }
            map.mode = mode < 0 ? LU_MODE_DEFAULT : config_mode_values[mode];
            if (map.path == NULL) {
                return bad_value(error, path, group, "path", "missing");
            }
            map.name = g_strdup(group + strlen(LU_GROUP_PREFIX));
            g_array_append_val(config->lu_maps, map);
        }
    }
    return true;
}

/* [daemon] and [passthrough]; *@mode and *@log_target: the index of the
 * value given, or left as they were. */
static bool load_daemon_keys(Config *config, GKeyFile *kf, const char *path,
                             int *mode, int *log_target, GError **error)
{
    SocketConfig *main_socket = config_main_socket(config);

    return get_string(kf, path, "daemon", "socket", &main_socket->path,
                      error) &&
           get_socket_keys(kf, path, "daemon", main_socket, error) &&
           get_string(kf, path, "daemon", "pidfile", &config->pidfile,
                      error) &&
           get_string(kf, path, "daemon", "user", &config->user, error) &&
           get_string(kf, path, "daemon", "group", &config->group, error) &&
           get_string(kf, path, "daemon", "host-id", &config->host_id,
                      error) &&
           get_uint(kf, path, "daemon", "workers", 1, 64, &config->workers,
                    error) &&
           get_uint(kf, path, "daemon", "max-connections", 1, 65536,
                    &config->max_connections, error) &&
           get_uint(kf, path, "daemon", "max-connections-per-peer", 1, 65536,
                    &config->max_connections_per_peer, error) &&
           get_seconds(kf, path, "daemon", "request-timeout", 3600000,
                       &config->request_timeout_ms, error) &&
           get_choice(kf, path, "daemon", "mode", config_mode_names, mode,
                      error) &&
           get_choice(kf, path, "daemon", "log", log_target_names, log_target,
                      error) &&
           get_seconds(kf, path, "passthrough", "timeout",
                       MAX_PASSTHROUGH_TIMEOUT_MS,
                       &config->passthrough_timeout_ms, error);
}

/* [database]: a file (path) or a server (url), never both. */
static bool load_database_keys(Config *config, GKeyFile *kf,
                               const char *path, GError **error)
{
    static const char *const journals[] = {"delete", "wal", NULL};
    g_autofree char *db_path = NULL;
    g_autofree char *db_url = NULL;
    int journal = config->journal;

    if (!get_string(kf, path, "database", "path", &db_path, error) ||
        !get_string(kf, path, "database", "url", &db_url, error) ||
        !check_db_url(path, db_path, db_url, error) ||
        !get_choice(kf, path, "database", "journal-mode", journals, &journal,
                    error) ||
        !get_seconds(kf, path, "database", "lock-timeout", MAX_LOCK_TIMEOUT_MS,
                     &config->lock_timeout_ms, error) ||
        !get_uint(kf, path, "database", "vm-keep-days", 0, 100000,
                  &config->vm_keep_days, error)) {
        return false;
    }
    if (db_url != NULL) {
        g_free(db_path);
        db_path = g_steal_pointer(&db_url);
    }
    if (db_path != NULL) {
        g_free(config->db_path);
        config->db_path = g_steal_pointer(&db_path);
        config->db_path_is_default = false;
    }
    config->journal = (StoreJournal)journal;
    return true;
}

/* [scsi], [history] and [lu]. */
static bool load_scsi_keys(Config *config, GKeyFile *kf, const char *path,
                           GError **error)
{
    static const char *const policies[] = {"record", "report", NULL};
    g_autoptr(GError) local = NULL;
    int policy = config->ua_policy;

    if (g_key_file_has_key(kf, "lu", "create-xattr", NULL)) {
        config->create_xattr =
            g_key_file_get_boolean(kf, "lu", "create-xattr", &local);
        if (local != NULL) {
            return bad_value(error, path, "lu", "create-xattr",
                             "expected true or false");
        }
    }
    if (!get_choice(kf, path, "scsi", "unit-attentions", policies, &policy,
                    error) ||
        !get_uint(kf, path, "scsi", "max-registrations", 1, 65535,
                  &config->max_registrations, error) ||
        !get_uint(kf, path, "history", "keep-rows", 0, G_MAXINT32,
                  &config->history_keep_rows, error) ||
        !get_uint(kf, path, "history", "keep-days", 0, 100000,
                  &config->history_keep_days, error)) {
        return false;
    }
    config->ua_policy = (PrUaPolicy)policy;
    return true;
}

bool config_load_file(Config *config, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    int log_target = config->log_target;
    int mode = -1;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG, "%s: %s", path,
                    local->message);
        return false;
    }
    if (!check_keys(kf, path, error) ||
        !load_daemon_keys(config, kf, path, &mode, &log_target, error) ||
        !load_database_keys(config, kf, path, error) ||
        !load_scsi_keys(config, kf, path, error) ||
        !load_named_groups(config, kf, path, error)) {
        return false;
    }
    if (mode >= 0) {
        config->mode = config_mode_values[mode];
    }
    config->log_target = (LogTarget)log_target;
    return true;
}
