/*
 * config: softprd's settings: built-in defaults, the GKeyFile
 * configuration file, and validation.
 *
 * The command line (parsed in softprd.c) overrides the file; the file
 * overrides the defaults.  Keys are kebab-case and match the long
 * options where there is one.
 */
#ifndef SOFTPR_CONFIG_H
#define SOFTPR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "engine.h"
#include "store.h"

/* The iSCSI naming authority of the initiator names softprd makes up. */
#define CONFIG_IQN_PREFIX "iqn.2026-11.org.softpr"

typedef struct Config {
    /* [daemon] */
    char *socket_path; /* -k; NULL with socket activation */
    char *pidfile;     /* -f */
    char *user;        /* -u */
    char *group;       /* -g */
    char *host_id;     /* this host's name in the database */
    unsigned workers;  /* threads running commands */
    unsigned max_connections;
    unsigned request_timeout_ms; /* a started frame must arrive within */
    /* [database] */
    char *db_path;
    bool db_path_is_default;
    StoreJournal journal;
    unsigned lock_timeout_ms;
    /* [scsi] */
    char *initiator; /* iSCSI name of the socket's nexus */
    uint16_t rtpi;   /* its relative target port identifier */
    PrUaPolicy ua_policy;
    unsigned max_registrations;
} Config;

/* Defaults: root gets /run and /var/lib paths, others their XDG dirs. */
Config *config_new(void);
void config_free(Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

/* The configuration file read when -c is not given (it may not exist). */
const char *config_default_file(void);

/*
 * Apply the settings in the GKeyFile at @path.  Unknown groups or keys
 * and invalid values are errors naming the file and key.
 */
bool config_load_file(Config *config, const char *path, GError **error);

/* Fill what depends on other settings (the default initiator name). */
bool config_finish(Config *config, GError **error);

/* An iSCSI name for @host_id under CONFIG_IQN_PREFIX (g_free() it). */
char *config_initiator_for_host(const char *host_id);

#endif /* SOFTPR_CONFIG_H */
