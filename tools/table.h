/*
 * table: the text forms softpr prints for people: text from outside made
 * safe for a terminal, times, keys, and tables whose columns line up.
 */
#ifndef SOFTPR_TABLE_H
#define SOFTPR_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include <glib.h>

/* @seconds since the epoch as local "YYYY-MM-DD HH:MM:SS" (g_free()). */
char *table_time(gint64 seconds);

/* @ms since the epoch as local "YYYY-MM-DD HH:MM:SS.mmm" (g_free()). */
char *table_time_ms(gint64 ms);

/*
 * @text as it may reach a terminal (g_free(); NULL for NULL): valid
 * UTF-8 whose characters all print.  Every field that comes from
 * outside (VM names, paths, initiator names, host ids, detail text)
 * goes through here before it is printed, so that an escape sequence
 * in a VM name cannot retitle or clear the terminal, nor a newline in
 * a path split a line.  A byte that is not part of valid UTF-8 becomes
 * \xNN, a control character \n, \r, \t or \xNN, another character
 * that does not print (a C1 control, a bidirectional override) \uNNNN,
 * and a backslash \\, so that the escaped form is unambiguous.
 */
char *table_escape(const char *text);

/* A reservation key as sg_persist prints it: "0x5eed" (g_free()). */
char *table_key(uint64_t key);

typedef struct Table Table;

/* A table with the NULL-terminated column @headings. */
Table *table_new(const char *const *headings);

/* Add a row of as many cells as there are columns (copied, escaped as
 * table_escape() does; NULL shows as "-"). */
void table_add(Table *table, const char *const *cells);

/* Print the headings and rows, each line starting with @indent. */
void table_print(const Table *table, FILE *out, const char *indent);

void table_free(Table *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)

#endif /* SOFTPR_TABLE_H */
