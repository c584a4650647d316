/*
 * tojson: the --json forms of softpr's reports, built with json-glib
 * from the rows the store returns (store_dump(), store_history()), so
 * that any backend's rows give the same document.
 *
 * Every string is valid UTF-8 whatever the database holds: names and
 * paths come from outside (a VM's command line, a file name), and a
 * byte that is not part of valid UTF-8 is written as U+FFFD.  docs/
 * softpr.1 describes the members.
 */
#ifndef SOFTPR_TOJSON_H
#define SOFTPR_TOJSON_H

#include <glib.h>

#include "store.h"

/*
 * softpr dump --json: {"database": @database, "logical_units": [...],
 * "initiators": [...]}.  g_free() it.
 */
char *tojson_dump(const StoreDump *dump, const char *database);

/* softpr history --json: an array of entries, oldest first.  g_free() it. */
char *tojson_history(const GArray *rows);

#endif /* SOFTPR_TOJSON_H */
