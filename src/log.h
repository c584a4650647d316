/*
 * log: where softprd's GLib log messages go and which are shown.
 *
 * Messages go to the systemd journal when stderr is connected to it, else
 * to stderr as "softprd: text" lines that libvirt can capture.  Verbosity
 * follows qemu-pr-helper: 0 (-q) hides protocol errors, 1 (default) shows
 * warnings, 2 (-v) adds connections and PR OUT outcomes, 3 (-vv) every
 * command.
 */
#ifndef SOFTPR_LOG_H
#define SOFTPR_LOG_H

#include <stdbool.h>

#include <glib.h>

/* Install the writer; call once, early in main(). */
void log_setup(const char *program, int verbosity);

/* Change the verbosity later (after parsing options). */
void log_set_verbosity(int verbosity);

/*
 * Whether a message of @level would be shown, so that a hot path can
 * skip formatting one that would not (GLib formats before it filters).
 * Before log_setup(), GLib's default writer decides.
 */
bool log_enabled(GLogLevelFlags level);

#endif /* SOFTPR_LOG_H */
