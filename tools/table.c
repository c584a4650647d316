/*
 * table: text formatting for people, safe for their terminals.
 */
#include "table.h"

#include <inttypes.h>
#include <string.h>

struct Table {
    guint columns;
    GPtrArray *rows; /* GStrv; [0] is the headings */
};

char *table_escape(const char *text)
{
    GString *out;
    const char *p;
    const char *end;

    if (text == NULL) {
        return NULL;
    }
    out = g_string_sized_new(strlen(text));
    end = text + strlen(text);
    for (p = text; p < end;) {
        gunichar c = g_utf8_get_char_validated(p, end - p);

        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append_printf(out, "\\x%02x", (guchar)*p);
            p++;
            continue;
        }
        if (c == '\\') {
            g_string_append(out, "\\\\");
        } else if (c == '\n') {
            g_string_append(out, "\\n");
        } else if (c == '\r') {
            g_string_append(out, "\\r");
        } else if (c == '\t') {
            g_string_append(out, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            g_string_append_printf(out, "\\x%02x", c);
        } else if (!g_unichar_isprint(c)) {
            g_string_append_printf(out, "\\u%04x", c);
        } else {
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
        }
        p = g_utf8_next_char(p);
    }
    return g_string_free(out, FALSE);
}

char *table_time(gint64 seconds)
{
    return table_time_ms(seconds * 1000);
}

char *table_time_ms(gint64 ms)
{
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(ms / 1000);
    g_autoptr(GDateTime) local = NULL;
    g_autofree char *text = NULL;

    if (utc == NULL) {
        return g_strdup("?");
    }
    local = g_date_time_to_local(utc);
    text = g_date_time_format(local, "%Y-%m-%d %H:%M:%S");
    if (ms % 1000 == 0 && ms >= 0) {
        return g_steal_pointer(&text);
    }
    return g_strdup_printf("%s.%03d", text, (int)(ms % 1000));
}

char *table_key(uint64_t key)
{
    return g_strdup_printf("0x%" PRIx64, key);
}

Table *table_new(const char *const *headings)
{
    Table *table = g_new0(Table, 1);

    table->columns = g_strv_length((char **)headings);
    table->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_ptr_array_add(table->rows, g_strdupv((char **)headings));
    return table;
}

void table_add(Table *table, const char *const *cells)
{
    char **row = g_new0(char *, table->columns + 1);
    guint i;

    for (i = 0; i < table->columns; i++) {
        row[i] = cells[i] != NULL ? table_escape(cells[i]) : g_strdup("-");
    }
    g_ptr_array_add(table->rows, row);
}

void table_print(const Table *table, FILE *out, const char *indent)
{
    g_autofree size_t *width = g_new0(size_t, table->columns);
    guint r;
    guint c;

    for (r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);

        for (c = 0; c < table->columns; c++) {
            width[c] = MAX(width[c], (size_t)g_utf8_strlen(row[c], -1));
        }
    }
    for (r = 0; r < table->rows->len; r++) {
        char **row = g_ptr_array_index(table->rows, r);
        GString *line = g_string_new(indent);

        for (c = 0; c < table->columns; c++) {
            g_string_append(line, row[c]);
            if (c + 1 < table->columns) {
                size_t pad = width[c] - (size_t)g_utf8_strlen(row[c], -1) + 2;

                while (pad-- > 0) {
                    g_string_append_c(line, ' ');
                }
            }
        }
        fprintf(out, "%s\n", line->str);
        g_string_free(line, TRUE);
    }
}

void table_free(Table *table)
{
    if (table == NULL) {
        return;
    }
    g_ptr_array_unref(table->rows);
    g_free(table);
}
