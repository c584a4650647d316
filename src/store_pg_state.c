/*
 * store_pg_state.c: one logical unit's PR state in PostgreSQL: loading
 * it under the LU's advisory lock, writing back only what changed,
 * where the LU was seen, and the audit history written with a change.
 */
#include <string.h>

#include "engine.h"
#include "store_pg_int.h"
#include "tid.h"

static bool corrupt(Store *store, GError **error, const char *name,
                    const char *what)
{
    g_autofree char *db = store_pg_describe_conninfo(store->path);

    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CORRUPT,
                "%s: logical unit %s: %s", db, name, what);
    return false;
}

static bool column_tid(const PGresult *res, int row, int col,
                       TransportId *tid)
{
    g_autoptr(GBytes) bytes = store_pg_bytes(res, row, col);
    size_t len = 0;
    const uint8_t *data = bytes ? g_bytes_get_data(bytes, &len) : NULL;
    size_t used = 0;

    return data != NULL && tid_decode(data, len, tid, &used) == TID_OK &&
           used == len;
}

/* In a write transaction: wait for the LU's lock until store->deadline
 * (which may have moved since BEGIN: store_set_deadline()), held until
 * the transaction ends.  Different LUs never wait. */
static bool lock_lu(Store *store, const char *name, GError **error)
{
    StoreConn *conn = store->conn;
    StorePgParams p;

    /* One round trip more only for a group's later command whose own
     * deadline differs from the one BEGIN set the waits from. */
    if (store->deadline != conn->wait_deadline) {
        gint64 left_ms = CLAMP(
            (store->deadline - g_get_monotonic_time()) / 1000, 1, G_MAXINT32);
        g_autofree char *wait = g_strdup_printf(
            "SET LOCAL lock_timeout = %" G_GINT64_FORMAT "; "
            "SET LOCAL statement_timeout = %" G_GINT64_FORMAT,
            left_ms, left_ms);

        if (!store_pg_run(store, "setting the lock wait", wait, 0, NULL,
                          error)) {
            return false;
        }
        conn->wait_deadline = store->deadline;
    }
    store_pg_params_init(&p);
    store_pg_param_int(&p, store_pg_lu_lock_key(name));
    PGresult *res = store_pg_exec_params(
        store, "locking a logical unit",
        "SELECT pg_advisory_xact_lock($1::bigint)", &p, error);
    store_pg_params_clear(&p);
    PQclear(res);
    return res != NULL;
}

static bool load_lu(Store *store, const StoreLuInfo *lu, PrState *state,
                    gint64 *lu_id, bool *stale, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_text(&p, lu->name);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_text(&p, lu->path);
    PGresult *res = store_pg_exec_params(
        store, "reading a logical unit",
        "SELECT id, generation, aptpl, info_lost, res_type, res_scope, "
        "id_source, EXISTS (SELECT 1 FROM lu_seen s WHERE s.lu_id = lu.id "
        "AND s.host = $2 AND s.path = $3::text) FROM lu WHERE name = $1",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    if (PQntuples(res) > 0) {
        *lu_id = store_pg_int(res, 0, 0);
        state->generation = (uint32_t)store_pg_int(res, 0, 1);
        state->aptpl = store_pg_int(res, 0, 2) != 0;
        state->info_lost = store_pg_int(res, 0, 3) != 0;
        state->res_type = (uint8_t)store_pg_int(res, 0, 4);
        state->res_scope = (uint8_t)store_pg_int(res, 0, 5);
        /* Seen for the first time from here, or identified differently. */
        *stale = lu->path != NULL &&
                 (strcmp(PQgetvalue(res, 0, 7), "t") != 0 ||
                  g_strcmp0(PQgetvalue(res, 0, 6), lu->id_source) != 0);
    }
    PQclear(res);
    return true;
}

static bool load_regs(Store *store, const char *name, gint64 lu_id,
                      PrState *state, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, lu_id);
    PGresult *res = store_pg_exec_params(
        store, "reading registrations",
        "SELECT initiator, rtpi, all_tg_pt, key, holder FROM registration "
        "WHERE lu_id = $1 ORDER BY id",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        PrRegistration reg;

        memset(&reg, 0, sizeof(reg));
        if (!column_tid(res, i, 0, &reg.initiator)) {
            PQclear(res);
            return corrupt(store, error, name, "undecodable initiator");
        }
        reg.rtpi = (uint16_t)store_pg_int(res, i, 1);
        reg.all_tg_pt = store_pg_int(res, i, 2) != 0;
        reg.key = (uint64_t)store_pg_int(res, i, 3);
        reg.holder = store_pg_int(res, i, 4) != 0;
        g_array_append_val(state->regs, reg);
    }
    PQclear(res);
    return true;
}

static bool load_uas(Store *store, const char *name, gint64 lu_id,
                     PrState *state, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, lu_id);
    PGresult *res = store_pg_exec_params(
        store, "reading unit attentions",
        "SELECT initiator, rtpi, \"asc\", ascq FROM unit_attention "
        "WHERE lu_id = $1 ORDER BY id",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        PrUnitAttention ua;

        memset(&ua, 0, sizeof(ua));
        if (!column_tid(res, i, 0, &ua.initiator)) {
            PQclear(res);
            return corrupt(store, error, name, "undecodable initiator");
        }
        ua.rtpi = (uint16_t)store_pg_int(res, i, 1);
        ua.asc = (uint8_t)store_pg_int(res, i, 2);
        ua.ascq = (uint8_t)store_pg_int(res, i, 3);
        g_array_append_val(state->uas, ua);
    }
    PQclear(res);
    return true;
}

bool store_pg_load_state(Store *store, const StoreLuInfo *lu, PrState *state,
                         gint64 *lu_id, bool *stale, GError **error)
{
    *lu_id = 0;
    *stale = false;
    if (store->conn->write && !lock_lu(store, lu->name, error)) {
        return false;
    }
    if (!load_lu(store, lu, state, lu_id, stale, error)) {
        return false;
    }
    if (*lu_id == 0) {
        return true;
    }
    if (!load_regs(store, lu->name, *lu_id, state, error) ||
        !load_uas(store, lu->name, *lu_id, state, error)) {
        return false;
    }
    return true;
}

/* Run @sql with @p (cleared here). */
static bool run_params(Store *store, const char *what, const char *sql,
                       StorePgParams *p, GError **error)
{
    PGresult *res = store_pg_exec_params(store, what, sql, p, error);

    store_pg_params_clear(p);
    PQclear(res);
    return res != NULL;
}

static bool save_seen(Store *store, gint64 lu_id, const StoreLuInfo *lu,
                      GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, lu_id);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_text(&p, lu->path);
    store_pg_param_text(&p, lu->id_source);
    store_pg_param_int(&p, store_now_seconds());
    /* Unchanged within the same second, the row is not written. */
    return run_params(
        store, "recording where a logical unit is seen",
        "INSERT INTO lu_seen (lu_id, host, path, id_source, first_seen, "
        "last_seen) VALUES ($1, $2, $3, $4, $5, $5) "
        "ON CONFLICT (lu_id, host, path) DO UPDATE SET "
        "id_source = excluded.id_source, last_seen = excluded.last_seen "
        "WHERE lu_seen.id_source IS DISTINCT FROM excluded.id_source "
        "OR lu_seen.last_seen IS DISTINCT FROM excluded.last_seen",
        &p, error);
}

bool store_pg_lu_write(Store *store, gint64 *lu_id, const StoreLuInfo *lu,
                       const PrState *after, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    if (*lu_id == 0) {
        store_pg_param_text(&p, lu->name);
    } else {
        store_pg_param_int(&p, *lu_id);
    }
    store_pg_param_text(&p, lu->id_source);
    store_pg_param_int(&p, after->generation);
    store_pg_param_int(&p, after->aptpl);
    store_pg_param_int(&p, after->info_lost);
    store_pg_param_int(&p, after->res_type);
    store_pg_param_int(&p, after->res_scope);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_text(&p, lu->path);
    store_pg_param_int(&p, store_now_seconds());
    /* An administrator's change (no path) keeps where the LU was seen. */
    PGresult *res = store_pg_exec_params(
        store, "writing a logical unit",
        *lu_id == 0
            ? "INSERT INTO lu (name, id_source, generation, aptpl, "
              "info_lost, res_type, res_scope, last_host, last_path, "
              "last_seen, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
              "$8, $9, $10, $10) RETURNING id"
            : "UPDATE lu SET id_source = coalesce($2, id_source), "
              "generation = $3, aptpl = $4, info_lost = $5, res_type = $6, "
              "res_scope = $7, last_host = CASE WHEN $9::text IS NULL "
              "THEN last_host ELSE $8 END, "
              "last_path = coalesce($9, last_path), last_seen = CASE WHEN "
              "$9::text IS NULL THEN last_seen ELSE $10 END "
              "WHERE id = $1 RETURNING id",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    *lu_id = store_pg_int(res, 0, 0);
    PQclear(res);
    return lu->path == NULL || save_seen(store, *lu_id, lu, error);
}

bool store_pg_reg_write(Store *store, gint64 lu_id, const PrRegistration *reg,
                        StoreRowChange change, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, lu_id);
    store_pg_param_tid(&p, &reg->initiator, change == STORE_ROW_ADD);
    store_pg_param_int(&p, reg->rtpi);
    if (change == STORE_ROW_REMOVE) {
        return run_params(store, "removing a registration",
                          "DELETE FROM registration WHERE lu_id = $1 AND "
                          "initiator = $2 AND rtpi = $3",
                          &p, error);
    }
    store_pg_param_int(&p, reg->all_tg_pt);
    store_pg_param_int(&p, (gint64)reg->key);
    store_pg_param_int(&p, reg->holder);
    if (change == STORE_ROW_UPDATE) {
        return run_params(store, "updating a registration",
                          "UPDATE registration SET all_tg_pt = $4, key = $5, "
                          "holder = $6 WHERE lu_id = $1 AND initiator = $2 "
                          "AND rtpi = $3",
                          &p, error);
    }
    store_pg_param_text(&p, store->host_id);
    store_pg_param_int(&p, store_now_seconds());
    return run_params(store, "adding a registration",
                      "INSERT INTO registration (lu_id, initiator, "
                      "initiator_name, rtpi, all_tg_pt, key, holder, host, "
                      "registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                      "$8, $9)",
                      &p, error);
}

bool store_pg_ua_write(Store *store, gint64 lu_id, const PrUnitAttention *ua,
                       StoreRowChange change, GError **error)
{
    bool add = change == STORE_ROW_ADD;
    StorePgParams p;

    g_assert(change != STORE_ROW_UPDATE);

    store_pg_params_init(&p);
    store_pg_param_int(&p, lu_id);
    store_pg_param_tid(&p, &ua->initiator, add);
    store_pg_param_int(&p, ua->rtpi);
    store_pg_param_int(&p, ua->asc);
    store_pg_param_int(&p, ua->ascq);
    if (!add) {
        return run_params(store, "removing a unit attention",
                          "DELETE FROM unit_attention WHERE lu_id = $1 AND "
                          "initiator = $2 AND rtpi = $3 AND \"asc\" = $4 AND "
                          "ascq = $5",
                          &p, error);
    }
    store_pg_param_int(&p, store_now_seconds());
    return run_params(store, "queueing a unit attention",
                      "INSERT INTO unit_attention (lu_id, initiator, "
                      "initiator_name, rtpi, \"asc\", ascq, raised_at) VALUES "
                      "($1, $2, $3, $4, $5, $6, $7)",
                      &p, error);
}

bool store_pg_lu_paths_here(Store *store, const char *lu_name,
                            GPtrArray *paths, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_text(&p, lu_name);
    store_pg_param_text(&p, store->host_id);
    PGresult *res = store_pg_exec_params(
        store, "reading where an LU was seen",
        "SELECT s.path FROM lu_seen s JOIN lu ON lu.id = s.lu_id "
        "WHERE lu.name = $1 AND s.host = $2 ORDER BY s.first_seen",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        g_ptr_array_add(paths, store_pg_text(res, i, 0));
    }
    PQclear(res);
    return true;
}

/* The PR OUT fields of a history row: $9 .. $18. */
static void history_fields(StorePgParams *p, const PrOutFields *f)
{
    bool move = f != NULL && f->service_action == PR_OUT_REGISTER_AND_MOVE;

    if (f == NULL) {
        for (int i = 0; i < 10; i++) {
            store_pg_param_null(p);
        }
        return;
    }
    store_pg_param_int(p, f->service_action);
    store_pg_param_int(p, f->type);
    store_pg_param_int(p, f->scope);
    store_pg_param_int(p, (gint64)f->rk);
    store_pg_param_int(p, (gint64)f->sark);
    if (move) {
        store_pg_param_null(p);
        store_pg_param_null(p);
    } else {
        store_pg_param_int(p, f->spec_i_pt);
        store_pg_param_int(p, f->all_tg_pt);
    }
    store_pg_param_int(p, f->aptpl);
    if (move) {
        store_pg_param_int(p, f->unreg);
        store_pg_param_int(p, f->move_rtpi);
    } else {
        store_pg_param_null(p);
        store_pg_param_null(p);
    }
}

/* Drop rows past the retention bounds.  SKIP LOCKED: rows another
 * daemon is pruning are left to it, so no command waits for another
 * LU's transaction here. */
static bool prune_history(Store *store, gint64 newest, GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, newest - store->history_keep_rows);
    store_pg_param_int(&p, store->history_keep_days == 0
                               ? G_MININT64
                               : g_get_real_time() / 1000 -
                                     (gint64)store->history_keep_days *
                                         86400 * 1000);
    return run_params(store, "pruning the history",
                      "DELETE FROM history WHERE id IN (SELECT id FROM "
                      "history WHERE id <= $1 OR at_ms < $2 "
                      "FOR UPDATE SKIP LOCKED)",
                      &p, error);
}

bool store_pg_history_add(Store *store, const char *lu_name,
                          const StoreHistoryEntry *entry,
                          const StoreSenseCodes *sense, gint64 at_ms,
                          GError **error)
{
    StorePgParams p;

    store_pg_params_init(&p);
    store_pg_param_int(&p, at_ms);
    store_pg_param_text(&p, store->host_id);
    store_pg_param_text(&p, entry->origin);
    store_pg_param_text(&p, lu_name);
    if (entry->initiator != NULL) {
        store_pg_param_tid(&p, entry->initiator, true);
        store_pg_param_int(&p, entry->rtpi);
    } else {
        store_pg_param_null(&p);
        store_pg_param_null(&p);
        store_pg_param_null(&p);
    }
    store_pg_param_text(&p, entry->action);
    history_fields(&p, entry->fields);
    store_pg_param_int(&p, entry->status);
    for (int i = 0; i < 3; i++) {
        const uint8_t code[] = {sense->key, sense->asc, sense->ascq};
        if (sense->present) {
            store_pg_param_int(&p, code[i]);
        } else {
            store_pg_param_null(&p);
        }
    }
    store_pg_param_int(&p, entry->generation);
    store_pg_param_text(&p, entry->detail);
    PGresult *res = store_pg_exec_params(
        store, "recording the history",
        "INSERT INTO history (at_ms, host, origin, lu_name, initiator, "
        "initiator_name, rtpi, action, service_action, type, scope, key, "
        "sa_key, spec_i_pt, all_tg_pt, aptpl, unreg, move_rtpi, status, "
        "sense_key, \"asc\", ascq, generation, detail) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
        "$19, $20, $21, $22, $23, $24) RETURNING id",
        &p, error);
    store_pg_params_clear(&p);
    if (res == NULL) {
        return false;
    }
    gint64 newest = store_pg_int(res, 0, 0);
    PQclear(res);
    return prune_history(store, newest, error);
}
