/*
 * softpr: the subcommands of the softpr tool.
 *
 * Each subcommand is `int NAME_main(int argc, char **argv)` with argv[0]
 * the subcommand's name; it parses its own options and returns the exit
 * status.  softpr.c dispatches to them.
 */
#ifndef SOFTPR_TOOL_H
#define SOFTPR_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* Exit statuses of the database subcommands. */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAILURE 1 /* the command failed; nothing was changed */
#define TOOL_EXIT_USAGE 2   /* bad options or arguments */

/*
 * Parse @argv (argv[0]: the subcommand) with @context.  On failure print
 * the message and a hint naming the subcommand, and return false.
 */
bool tool_parse_options(GOptionContext *context, int *argc, char ***argv);

/*
 * Parse a reservation key as sg_persist does: hexadecimal, with or
 * without "0x", at most 64 bits.
 */
bool tool_parse_key(const char *text, uint64_t *key);

/* Print "softpr: " and @message on stderr. */
void tool_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* softpr dump: who is registered and who holds what (dump.c). */
int dump_main(int argc, char **argv);

/* softpr history: the audit log (history.c). */
int history_main(int argc, char **argv);

/* softpr power-cycle, clear, forget, mark-lost (change.c). */
int power_cycle_main(int argc, char **argv);
int clear_main(int argc, char **argv);
int forget_main(int argc, char **argv);
int mark_lost_main(int argc, char **argv);

/* softpr backup: an online copy of the database (backup.c). */
int backup_main(int argc, char **argv);

/* softpr check-fs: the shared-filesystem acceptance test (checkfs.c). */
int check_fs_main(int argc, char **argv);

/* softpr persist: sg_persist through a running softprd (persist.c). */
int persist_main(int argc, char **argv);

#endif /* SOFTPR_TOOL_H */
