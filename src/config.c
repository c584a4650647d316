/*
 * config: defaults and the GKeyFile configuration file of softprd.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "error.h"
#include "tid.h"

#ifndef SOFTPR_SYSCONFDIR
#define SOFTPR_SYSCONFDIR "/etc"
#endif

#define DEFAULT_WORKERS 4
#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
/* Well below a Linux guest's 30 s SCSI command timeout. */
#define DEFAULT_LOCK_TIMEOUT_MS 5000
#define MAX_LOCK_TIMEOUT_MS 25000

Config *config_new(void)
{
    Config *config = g_new0(Config, 1);
    const char *dir;

    if (geteuid() == 0) {
        config->socket_path = g_strdup("/run/softprd.sock");
        config->pidfile = g_strdup("/run/softprd.pid");
        config->db_path = g_strdup("/var/lib/softpr/softpr.db");
    } else {
        dir = g_get_user_runtime_dir();
        config->socket_path = g_build_filename(dir, "softprd.sock", NULL);
        config->pidfile = g_build_filename(dir, "softprd.pid", NULL);
        config->db_path = g_build_filename(g_get_user_state_dir(), "softpr",
                                           "softpr.db", NULL);
    }
    config->db_path_is_default = true;
    config->host_id = g_strdup(g_get_host_name());
    config->workers = DEFAULT_WORKERS;
    config->max_connections = DEFAULT_MAX_CONNECTIONS;
    config->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    config->journal = STORE_JOURNAL_DELETE;
    config->lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS;
    config->rtpi = 1;
    config->ua_policy = PR_UA_RECORD;
    config->max_registrations = PR_MAX_REGISTRATIONS_DEFAULT;
    return config;
}

void config_free(Config *config)
{
    if (config == NULL) {
        return;
    }
    g_free(config->socket_path);
    g_free(config->pidfile);
    g_free(config->user);
    g_free(config->group);
    g_free(config->host_id);
    g_free(config->db_path);
    g_free(config->initiator);
    g_free(config);
}

const char *config_default_file(void)
{
    return SOFTPR_SYSCONFDIR "/softpr/softprd.conf";
}

char *config_initiator_for_host(const char *host_id)
{
    GString *name = g_string_new(CONFIG_IQN_PREFIX ":");
    const char *p;

    /* iSCSI names allow lower-case letters, digits, '-', '.' and ':'. */
    for (p = host_id; *p != '\0' && name->len < TID_ISCSI_NAME_MAX; p++) {
        char c = g_ascii_tolower(*p);

        g_string_append_c(name,
                          g_ascii_isalnum(c) || c == '-' || c == '.' ? c : '-');
    }
    return g_string_free(name, FALSE);
}

/* The keys of each group, for spotting typos. */
static const char *const daemon_keys[] = {
    "socket",          "pidfile",         "user", "group", "host-id", "workers",
    "max-connections", "request-timeout", NULL,
};
static const char *const database_keys[] = {
    "path",
    "journal-mode",
    "lock-timeout",
    NULL,
};
static const char *const scsi_keys[] = {
    "initiator", "relative-target-port", "unit-attentions", "max-registrations",
    NULL,
};

static bool check_keys(GKeyFile *kf, const char *path, GError **error)
{
    static const struct {
        const char *group;
        const char *const *keys;
    } groups[] = {
        {"daemon", daemon_keys},
        {"database", database_keys},
        {"scsi", scsi_keys},
    };
    g_auto(GStrv) names = g_key_file_get_groups(kf, NULL);
    guint i;

    for (i = 0; names[i] != NULL; i++) {
        g_auto(GStrv) keys = NULL;
        const char *const *known = NULL;
        size_t g;
        guint k;

        for (g = 0; g < G_N_ELEMENTS(groups); g++) {
            if (strcmp(names[i], groups[g].group) == 0) {
                known = groups[g].keys;
            }
        }
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

/* Read an integer key in [@min, @max] when present. */
static bool get_uint(GKeyFile *kf, const char *path, const char *group,
                     const char *key, guint64 min, guint64 max, unsigned *out,
                     GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    guint64 value;

    if (!get_string(kf, path, group, key, &text, error)) {
        return false;
    }
    if (text == NULL) {
        return true;
    }
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, &value,
                                    &local)) {
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

bool config_load_file(Config *config, const char *path, GError **error)
{
    static const char *const journals[] = {"delete", "wal", NULL};
    static const char *const policies[] = {"record", "report", NULL};
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *db_path = NULL;
    unsigned rtpi = config->rtpi;
    int journal = config->journal;
    int policy = config->ua_policy;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG, "%s: %s", path,
                    local->message);
        return false;
    }
    if (!check_keys(kf, path, error) ||
        !get_string(kf, path, "daemon", "socket", &config->socket_path,
                    error) ||
        !get_string(kf, path, "daemon", "pidfile", &config->pidfile, error) ||
        !get_string(kf, path, "daemon", "user", &config->user, error) ||
        !get_string(kf, path, "daemon", "group", &config->group, error) ||
        !get_string(kf, path, "daemon", "host-id", &config->host_id, error) ||
        !get_uint(kf, path, "daemon", "workers", 1, 64, &config->workers,
                  error) ||
        !get_uint(kf, path, "daemon", "max-connections", 1, 65536,
                  &config->max_connections, error) ||
        !get_seconds(kf, path, "daemon", "request-timeout", 3600000,
                     &config->request_timeout_ms, error) ||
        !get_string(kf, path, "database", "path", &db_path, error) ||
        !get_choice(kf, path, "database", "journal-mode", journals, &journal,
                    error) ||
        !get_seconds(kf, path, "database", "lock-timeout", MAX_LOCK_TIMEOUT_MS,
                     &config->lock_timeout_ms, error) ||
        !get_string(kf, path, "scsi", "initiator", &config->initiator, error) ||
        !get_uint(kf, path, "scsi", "relative-target-port", 1, 65535, &rtpi,
                  error) ||
        !get_choice(kf, path, "scsi", "unit-attentions", policies, &policy,
                    error) ||
        !get_uint(kf, path, "scsi", "max-registrations", 1, 65535,
                  &config->max_registrations, error)) {
        return false;
    }
    if (db_path != NULL) {
        g_free(config->db_path);
        config->db_path = g_steal_pointer(&db_path);
        config->db_path_is_default = false;
    }
    config->rtpi = (uint16_t)rtpi;
    config->journal = (StoreJournal)journal;
    config->ua_policy = (PrUaPolicy)policy;
    if (config->initiator != NULL && !tid_iscsi_name_valid(config->initiator)) {
        return bad_value(error, path, "scsi", "initiator",
                         "not a valid iSCSI name (iqn./eui./naa. followed by "
                         "letters, digits, '-', '.', ':')");
    }
    return true;
}

bool config_finish(Config *config, GError **error)
{
    if (config->host_id == NULL || *config->host_id == '\0') {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "the host id must not be empty");
        return false;
    }
    if (config->initiator == NULL) {
        config->initiator = config_initiator_for_host(config->host_id);
    }
    if (!tid_iscsi_name_valid(config->initiator)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "initiator name '%s' is not a valid iSCSI name",
                    config->initiator);
        return false;
    }
    return true;
}
