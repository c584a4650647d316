/*
 * dbopts: the options every database subcommand of softpr takes (--db,
 * -c/--config, --host-id, --lock-timeout) and opening the database the
 * way softprd does: its configuration file, its default path, its
 * journal mode and lock bound.
 */
#ifndef SOFTPR_DBOPTS_H
#define SOFTPR_DBOPTS_H

#include <stdbool.h>

#include <glib.h>

#include "config.h"
#include "store.h"

typedef struct DbOptions {
    char *db;         /* --db */
    char *config;     /* -c/--config */
    char *host_id;    /* --host-id */
    double lock_wait; /* --lock-timeout, seconds; 0: the configured one */
    Config *settings; /* after dbopts_open() */
} DbOptions;

/* Add the options to @context (their values land in @options). */
void dbopts_add(GOptionContext *context, DbOptions *options);

/*
 * After parsing: whether the values make sense (--lock-timeout within
 * bounds); says why on stderr, as a usage error, when not.
 */
bool dbopts_check(const DbOptions *options, const char *command);

/*
 * Read the configuration and open the database (which must exist).  On
 * failure say why on stderr, in one line naming the path, and return
 * NULL.
 */
Store *dbopts_open(DbOptions *options);

/* The deadline (monotonic microseconds) for a transaction begun now. */
gint64 dbopts_deadline(const DbOptions *options);

/* Free what the options hold. */
void dbopts_clear(DbOptions *options);

#endif /* SOFTPR_DBOPTS_H */
