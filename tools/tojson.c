/*
 * tojson: the JSON documents of softpr dump and softpr history.
 */
#include "tojson.h"

#include <inttypes.h>

#include <json-glib/json-glib.h>

#include "engine.h"
#include "scsi.h"

/* A string member, or null; invalid UTF-8 becomes U+FFFD. */
static void add_string(JsonBuilder *b, const char *name, const char *text)
{
    json_builder_set_member_name(b, name);
    if (text == NULL) {
        json_builder_add_null_value(b);
    } else {
        g_autofree char *valid = g_utf8_make_valid(text, -1);

        json_builder_add_string_value(b, valid);
    }
}

static void add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void add_bool(JsonBuilder *b, const char *name, bool value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

static void add_null(JsonBuilder *b, const char *name)
{
    json_builder_set_member_name(b, name);
    json_builder_add_null_value(b);
}

/* A key as sg_persist prints it: "0x5eed". */
static void add_key(JsonBuilder *b, const char *name, uint64_t key)
{
    g_autofree char *text = g_strdup_printf("0x%" PRIx64, key);

    add_string(b, name, text);
}

/* An additional sense code byte: "0x2a". */
static void add_byte(JsonBuilder *b, const char *name, uint8_t value)
{
    g_autofree char *text = g_strdup_printf("0x%02x", value);

    add_string(b, name, text);
}

/* @ms since the epoch as UTC ISO 8601, with milliseconds when @with_ms;
 * null past what ISO 8601's four-digit years hold. */
static void add_time(JsonBuilder *b, const char *name, gint64 ms, bool with_ms)
{
    gint64 seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(seconds);
    g_autofree char *text = NULL;

    if (utc == NULL) {
        add_null(b, name);
        return;
    }
    text = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S");
    if (with_ms) {
        g_autofree char *whole = text;

        text = g_strdup_printf("%s.%03dZ", whole, (int)(ms - seconds * 1000));
    } else {
        g_autofree char *whole = text;

        text = g_strconcat(whole, "Z", NULL);
    }
    add_string(b, name, text);
}

static void add_seconds(JsonBuilder *b, const char *name, gint64 seconds)
{
    add_time(b, name, seconds * 1000, false);
}

static char *finish(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(generator, root);
    return json_generator_to_data(generator, NULL);
}

/* ------------------------------------------------------------------ */
/* softpr dump --json                                                  */
/* ------------------------------------------------------------------ */

static void add_seen(JsonBuilder *b, const GArray *seen)
{
    guint i;

    json_builder_set_member_name(b, "seen");
    json_builder_begin_array(b);
    for (i = 0; i < seen->len; i++) {
        const StoreSeen *s = &g_array_index(seen, StoreSeen, i);

        json_builder_begin_object(b);
        add_string(b, "host", s->host);
        add_string(b, "path", s->path);
        add_string(b, "id_source", s->id_source);
        add_seconds(b, "first_seen", s->first_seen);
        add_seconds(b, "last_seen", s->last_seen);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void add_reservation(JsonBuilder *b, const StoreLuDump *lu)
{
    json_builder_set_member_name(b, "reservation");
    if (lu->res_type == PR_TYPE_NONE) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    add_int(b, "type", lu->res_type);
    add_string(b, "type_name", engine_type_name(lu->res_type));
    add_string(b, "scope", "LU");
    add_bool(b, "all_registrants", engine_type_all_registrants(lu->res_type));
    if (lu->holder->len == 0) {
        add_null(b, "holder");
    } else {
        const StoreRegDump *h = &g_array_index(lu->holder, StoreRegDump, 0);

        json_builder_set_member_name(b, "holder");
        json_builder_begin_object(b);
        add_key(b, "key", h->key);
        add_string(b, "initiator", h->initiator);
        add_int(b, "rtpi", h->rtpi);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
}

static void add_registration(JsonBuilder *b, const StoreRegDump *reg)
{
    gsize len = 0;
    const guint8 *tid = g_bytes_get_data(reg->transport_id, &len);
    GString *hex = g_string_sized_new(2 * len + 1);
    gsize i;

    for (i = 0; i < len; i++) {
        g_string_append_printf(hex, "%02x", tid[i]);
    }
    json_builder_begin_object(b);
    add_key(b, "key", reg->key);
    add_string(b, "initiator", reg->initiator);
    add_string(b, "transport_id", hex->str);
    if (reg->all_tg_pt) {
        add_null(b, "rtpi");
    } else {
        add_int(b, "rtpi", reg->rtpi);
    }
    add_bool(b, "all_tg_pt", reg->all_tg_pt);
    add_bool(b, "holder", reg->holder);
    add_string(b, "host", reg->host);
    add_seconds(b, "registered_at", reg->registered_at);
    json_builder_end_object(b);
    g_string_free(hex, TRUE);
}

static void add_unit_attention(JsonBuilder *b, const StoreUaDump *ua)
{
    json_builder_begin_object(b);
    add_string(b, "initiator", ua->initiator);
    if (ua->rtpi == 0) {
        add_null(b, "rtpi");
    } else {
        add_int(b, "rtpi", ua->rtpi);
    }
    add_byte(b, "asc", ua->asc);
    add_byte(b, "ascq", ua->ascq);
    add_string(b, "condition", scsi_asc_name(ua->asc, ua->ascq));
    add_seconds(b, "raised_at", ua->raised_at);
    json_builder_end_object(b);
}

static void add_lu(JsonBuilder *b, const StoreLuDump *lu)
{
    guint i;

    json_builder_begin_object(b);
    add_string(b, "name", lu->name);
    add_string(b, "id_source", lu->id_source);
    add_int(b, "generation", lu->generation);
    add_bool(b, "aptpl", lu->aptpl);
    add_bool(b, "pr_information_lost", lu->info_lost);
    add_seconds(b, "created_at", lu->created_at);
    add_seen(b, lu->seen);
    add_reservation(b, lu);
    json_builder_set_member_name(b, "registrations");
    json_builder_begin_array(b);
    for (i = 0; i < lu->regs->len; i++) {
        add_registration(b, &g_array_index(lu->regs, StoreRegDump, i));
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "unit_attentions");
    json_builder_begin_array(b);
    for (i = 0; i < lu->uas->len; i++) {
        add_unit_attention(b, &g_array_index(lu->uas, StoreUaDump, i));
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static void add_vm(JsonBuilder *b, const StoreVmDump *vm)
{
    json_builder_begin_object(b);
    add_string(b, "name", vm->name);
    add_string(b, "vm_name", vm->vm_name);
    add_string(b, "vm_uuid", vm->vm_uuid);
    add_string(b, "last_host", vm->last_host);
    add_seconds(b, "first_seen", vm->first_seen);
    add_seconds(b, "last_seen", vm->last_seen);
    json_builder_end_object(b);
}

char *tojson_dump(const StoreDump *dump, const char *database)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint i;

    json_builder_begin_object(b);
    add_string(b, "database", database);
    json_builder_set_member_name(b, "logical_units");
    json_builder_begin_array(b);
    for (i = 0; i < dump->lus->len; i++) {
        add_lu(b, g_ptr_array_index(dump->lus, i));
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "initiators");
    json_builder_begin_array(b);
    for (i = 0; i < dump->vms->len; i++) {
        add_vm(b, &g_array_index(dump->vms, StoreVmDump, i));
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return finish(b);
}

/* ------------------------------------------------------------------ */
/* softpr history --json                                               */
/* ------------------------------------------------------------------ */

/* The PR OUT fields; null where the command has none (an
 * administrator's entry, or what its service action does not carry). */
static void add_command(JsonBuilder *b, const StoreHistoryRow *row)
{
    bool flags = row->has_fields && !row->has_move;

    if (!row->has_fields) {
        static const char *const absent[] = {
            "service_action", "type", "type_name", "scope", "key", "sa_key",
        };
        guint i;

        for (i = 0; i < G_N_ELEMENTS(absent); i++) {
            add_null(b, absent[i]);
        }
    } else {
        add_int(b, "service_action", row->service_action);
        add_int(b, "type", row->type);
        add_string(b, "type_name", engine_type_name(row->type));
        add_int(b, "scope", row->scope);
        add_key(b, "key", row->key);
        add_key(b, "sa_key", row->sa_key);
    }
    if (flags) {
        add_bool(b, "spec_i_pt", row->spec_i_pt);
        add_bool(b, "all_tg_pt", row->all_tg_pt);
    } else {
        add_null(b, "spec_i_pt");
        add_null(b, "all_tg_pt");
    }
    if (row->has_fields) {
        add_bool(b, "aptpl", row->aptpl);
    } else {
        add_null(b, "aptpl");
    }
    if (row->has_move) {
        add_bool(b, "unreg", row->unreg);
        add_int(b, "move_rtpi", row->move_rtpi);
    } else {
        add_null(b, "unreg");
        add_null(b, "move_rtpi");
    }
}

static void add_sense(JsonBuilder *b, const StoreHistoryRow *row)
{
    json_builder_set_member_name(b, "sense");
    if (!row->has_sense) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_object(b);
    add_int(b, "key", row->sense_key);
    add_string(b, "key_name", scsi_sense_key_name(row->sense_key));
    add_byte(b, "asc", row->asc);
    add_byte(b, "ascq", row->ascq);
    add_string(b, "name", scsi_asc_name(row->asc, row->ascq));
    json_builder_end_object(b);
}

static void add_history_row(JsonBuilder *b, const StoreHistoryRow *row)
{
    guint i;

    json_builder_begin_object(b);
    add_int(b, "id", row->id);
    add_time(b, "time", row->at_ms, true);
    add_string(b, "host", row->host);
    add_string(b, "origin", row->origin);
    add_string(b, "lu", row->lu_name);
    json_builder_set_member_name(b, "paths");
    json_builder_begin_array(b);
    for (i = 0; row->paths[i] != NULL; i++) {
        g_autofree char *valid = g_utf8_make_valid(row->paths[i], -1);

        json_builder_add_string_value(b, valid);
    }
    json_builder_end_array(b);
    add_string(b, "initiator", row->initiator);
    if (row->has_rtpi) {
        add_int(b, "rtpi", row->rtpi);
    } else {
        add_null(b, "rtpi");
    }
    add_string(b, "action", row->action);
    add_command(b, row);
    add_int(b, "status", row->status);
    add_string(b, "status_name", scsi_status_name(row->status));
    add_sense(b, row);
    add_int(b, "generation", row->generation);
    add_string(b, "detail", row->detail);
    json_builder_end_object(b);
}

char *tojson_history(const GArray *rows)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint i;

    json_builder_begin_array(b);
    for (i = 0; i < rows->len; i++) {
        add_history_row(b, &g_array_index(rows, StoreHistoryRow, i));
    }
    json_builder_end_array(b);
    return finish(b);
}
