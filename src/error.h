/*
 * error: the one set of error codes every softpr module reports.
 *
 * Errors a person reads travel as GError in the SOFTPR_ERROR domain; the
 * code tells the caller what to do about them (retry, refuse to start,
 * close a connection).  Keep this list the only one.
 */
#ifndef SOFTPR_ERROR_H
#define SOFTPR_ERROR_H

#include <glib.h>

#define SOFTPR_ERROR (softpr_error_quark())

typedef enum SoftprError {
    SOFTPR_ERROR_FAILED,    /* anything not listed below */
    SOFTPR_ERROR_CONFIG,    /* bad command line or configuration file */
    SOFTPR_ERROR_BUSY,      /* database lock not obtained within the bound */
    SOFTPR_ERROR_IO,        /* database or file I/O failed */
    SOFTPR_ERROR_FOREIGN,   /* the database file is not a softpr database */
    SOFTPR_ERROR_NEWER,     /* the database schema is newer than this build */
    SOFTPR_ERROR_JOURNAL,   /* the database is in the wrong journal mode */
    SOFTPR_ERROR_CORRUPT,   /* the database content breaks an invariant */
    SOFTPR_ERROR_NOT_FOUND, /* a named object does not exist */
    SOFTPR_ERROR_PROTOCOL,  /* a peer broke the wire protocol */
    SOFTPR_ERROR_SYSTEM,    /* a system call failed */
} SoftprError;

GQuark softpr_error_quark(void);

#endif /* SOFTPR_ERROR_H */
