/*
 * config: softprd's settings: built-in defaults, the GKeyFile
 * configuration file, and validation.
 *
 * The command line (parsed in softprd.c) overrides the file; the file
 * overrides the defaults.  Keys are kebab-case and match the long
 * options where there is one.  The main socket (-k, [daemon] socket) and
 * each [socket NAME] group have their own initiator identity policy and
 * relative target port.
 */
#ifndef SOFTPR_CONFIG_H
#define SOFTPR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "engine.h"
#include "identity.h"
#include "log.h"
#include "store.h"
#include "tid.h"

typedef struct SocketConfig {
    char *name; /* NULL for the main socket */
    char *path; /* NULL: the socket-activated descriptor */
    IdentityPolicy identity;
    TransportId initiator; /* with IDENTITY_FIXED */
    uint16_t rtpi;         /* relative target port identifier */
    PeerPolicy peers;      /* peer-uids, peer-groups, qemu-binaries */
} SocketConfig;

typedef struct Config {
    /* [daemon] */
    char *pidfile;    /* -f */
    char *user;       /* -u */
    char *group;      /* -g */
    char *host_id;    /* --host-id: this host in the database */
    LuMode mode;      /* --mode: emulation or passthrough */
    unsigned workers; /* threads running commands */
    unsigned max_connections;
    unsigned max_connections_per_peer; /* per peer process */
    unsigned request_timeout_ms;       /* a started frame must arrive within */
    GPtrArray *sockets;                /* SocketConfig *; [0] is the main one */
    LogTarget log_target;              /* --log: where messages go */
    /* [database] */
    char *db_path;
    bool db_path_is_default;
    StoreJournal journal;
    unsigned lock_timeout_ms;
    unsigned vm_keep_days; /* forget idle VMs after (0: never) */
    /* [scsi] */
    PrUaPolicy ua_policy;
    unsigned max_registrations;
    /* [passthrough] */
    unsigned passthrough_timeout_ms;
    /* [history] */
    unsigned history_keep_rows;
    unsigned history_keep_days;
    /* [lu] and [lu NAME] */
    bool create_xattr; /* name unnamed files with user.softpr.lu */
    GArray *lu_maps;   /* LuMapping */
} Config;

/* Defaults: root gets /run and /var/lib paths, others their XDG dirs. */
Config *config_new(void);
void config_free(Config *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Config, config_free)

/* Whether any LU is answered by its device (CAP_SYS_RAWIO is kept). */
bool config_uses_passthrough(const Config *config);

/* Set the daemon's mode from "emulation" or "passthrough". */
bool config_parse_mode(const char *text, LuMode *mode, GError **error);

/* The database settings as store_open() takes them (not `create`). */
void config_store_options(const Config *config, StoreOptions *options);

/* The main socket: -k, [daemon] socket, identity, relative-target-port. */
SocketConfig *config_main_socket(Config *config);

/* The configuration file read when -c is not given (it may not exist). */
const char *config_default_file(void);

/*
 * Apply the settings in the GKeyFile at @path.  Unknown groups or keys
 * and invalid values are errors naming the file and key.
 */
bool config_load_file(Config *config, const char *path, GError **error);

/*
 * Apply the file @path, or when @path is NULL the default file if it
 * exists (config_default_file()).
 */
bool config_load(Config *config, const char *path, GError **error);

/*
 * Set @socket's policy from "auto", "client" or an initiator name (any
 * form tid_parse() accepts).
 */
bool config_parse_identity(const char *text, SocketConfig *socket,
                           GError **error);

/* Check what involves several settings: socket paths absolute and
 * distinct, a host id. */
bool config_finish(Config *config, GError **error);

#endif /* SOFTPR_CONFIG_H */
