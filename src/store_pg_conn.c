/*
 * store_pg_conn.c: the PostgreSQL backend's connection: connecting by
 * any libpq connection string, running SQL asynchronously up to the
 * transaction's deadline, mapping server errors to the store's codes,
 * and naming the database for people without its password.
 */
#include <poll.h>
#include <string.h>

#include "store_pg_int.h"

/* How long past the deadline the client waits for the server's own
 * lock_timeout/statement_timeout answer before it drops the connection:
 * the server's answer leaves the connection usable. */
#define EXEC_GRACE_US (2 * G_USEC_PER_SEC)

bool store_pg_claims(const char *path)
{
    return path != NULL && (g_str_has_prefix(path, "postgresql://") ||
                            g_str_has_prefix(path, "postgres://") ||
                            strchr(path, '=') != NULL);
}

char *store_pg_describe_conninfo(const char *conninfo)
{
    PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
    const char *host = NULL;
    const char *dbname = NULL;
    const char *user = NULL;

    if (options == NULL) {
        return g_strdup("PostgreSQL (unparsable connection string)");
    }
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val == NULL || *o->val == '\0') {
            continue;
        }
        if (strcmp(o->keyword, "host") == 0 ||
            (host == NULL && strcmp(o->keyword, "hostaddr") == 0)) {
            host = o->val;
        } else if (strcmp(o->keyword, "dbname") == 0) {
            dbname = o->val;
        } else if (strcmp(o->keyword, "user") == 0) {
            user = o->val;
        }
    }
    /* libpq's defaults: the local socket, the database named as the
     * user (PGHOST, PGDATABASE and the service file may say more). */
    char *text = g_strdup_printf("PostgreSQL %s/%s", host ? host : "(default)",
                                 dbname ? dbname : (user ? user : "(default)"));
    PQconninfoFree(options);
    return text;
}

/* Overwrite from @p to the end of the value starting there. */
static void scrub_value(char *p, const char *stops)
{
    char quote = (*p == '\'') ? '\'' : '\0';

    if (quote) {
        p++;
    }
    for (; *p != '\0'; p++) {
        if (quote ? *p == quote : strchr(stops, *p) != NULL) {
            break;
        }
        *p = 'x';
    }
}

void store_pg_scrub_password(char *arg)
{
    if (arg == NULL) {
        return;
    }
    /* postgresql://user:PASSWORD@host, also inside "--db=..." */
    char *scheme = strstr(arg, "://");
    if (scheme != NULL && (g_strstr_len(arg, scheme - arg, "postgres"))) {
        char *auth = scheme + 3;
        char *at = strchr(auth, '@');
        char *colon = strchr(auth, ':');
        char *slash = strchr(auth, '/');

        if (at != NULL && colon != NULL && colon < at &&
            (slash == NULL || at < slash)) {
            memset(colon + 1, 'x', (size_t)(at - colon - 1));
        }
    }
    for (char *p = strstr(arg, "password="); p != NULL;
         p = strstr(p + 1, "password=")) {
        scrub_value(p + strlen("password="), " \t&");
    }
}

/* What a server error means to the store: retry later, or not. */
static SoftprError code_for_sqlstate(const char *sqlstate)
{
    static const char *const busy[] = {
        "55P03", /* lock_not_available: lock_timeout */
        "40P01", /* deadlock_detected */
        "40001", /* serialization_failure */
        "57014", /* query_canceled: statement_timeout */
        "57P01", "57P02", "57P03", /* shutting down, starting up */
        "53300", /* too_many_connections */
    };

    if (sqlstate == NULL || g_str_has_prefix(sqlstate, "08")) {
        return SOFTPR_ERROR_BUSY; /* connection exceptions */
    }
    for (size_t i = 0; i < G_N_ELEMENTS(busy); i++) {
        if (strcmp(sqlstate, busy[i]) == 0) {
            return SOFTPR_ERROR_BUSY;
        }
    }
    return SOFTPR_ERROR_IO;
}

/* @message (libpq's, which may span lines: "...failed\n\tIs the server
 * running...") as one log line: each line break and the indentation
 * after it become one space. */
static char *one_line(const char *message)
{
    GString *out = g_string_new(NULL);

    for (const char *c = message ? message : ""; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r') {
            while (c[1] == ' ' || c[1] == '\t' || c[1] == '\n' ||
                   c[1] == '\r') {
                c++;
            }
            g_string_append_c(out, ' ');
        } else {
            g_string_append_c(out, *c);
        }
    }
    return g_strstrip(g_string_free(out, FALSE));
}

/* Report @what failing with @message, naming the database without the
 * connection string (which may hold a password). */
static void set_error(Store *store, GError **error, SoftprError code,
                      const char *what, const char *message)
{
    g_autofree char *name = store_pg_describe_conninfo(store->path);
    g_autofree char *line = one_line(message);

    g_set_error(error, SOFTPR_ERROR, code, "%s: %s: %s", name, what, line);
}

void store_pg_disconnect(StoreConn *conn)
{
    g_clear_pointer(&conn->pg, PQfinish);
    conn->schema_checked = false;
    conn->savepoint = false;
}

/* Wait until @pg's socket is readable (or writable) or @until passes. */
static bool wait_socket(PGconn *pg, bool for_write, gint64 until)
{
    struct pollfd pfd = {.fd = PQsocket(pg),
                         .events = for_write ? POLLOUT : POLLIN};

    for (;;) {
        gint64 left = until - g_get_monotonic_time();
        if (pfd.fd < 0 || left <= 0) {
            return false;
        }
        int rc = poll(&pfd, 1, (int)MIN((left + 999) / 1000, G_MAXINT));
        if (rc > 0) {
            return true;
        }
        if (rc < 0 && errno != EINTR) {
            return false;
        }
    }
}

/* Send what libpq holds and collect every result of the query; the first
 * error wins.  NULL when the connection failed or @until passed. */
static PGresult *collect(PGconn *pg, gint64 until)
{
    PGresult *keep = NULL;
    int flushing;

    while ((flushing = PQflush(pg)) == 1) {
        if (!wait_socket(pg, true, until)) {
            return NULL;
        }
    }
    if (flushing < 0) {
        return NULL;
    }
    for (;;) {
        while (PQisBusy(pg)) {
            if (!wait_socket(pg, false, until) || !PQconsumeInput(pg)) {
                PQclear(keep);
                return NULL;
            }
        }
        PGresult *res = PQgetResult(pg);
        if (res == NULL) {
            return keep;
        }
        ExecStatusType st = PQresultStatus(keep);
        if (keep != NULL && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            PQclear(res);
        } else {
            PQclear(keep);
            keep = res;
        }
    }
}

PGresult *store_pg_exec(Store *store, const char *what, const char *sql,
                        int n, const char *const *values, const int *lengths,
                        const bool *binary, const Oid *types, GError **error)
{
    StoreConn *conn = store->conn;
    int formats[32] = {0};
    int sent;

    g_assert(n <= (int)G_N_ELEMENTS(formats));
    if (conn == NULL || conn->pg == NULL) {
        set_error(store, error, SOFTPR_ERROR_BUSY, what,
                  "not connected to the database server");
        return NULL;
    }
    for (int i = 0; binary != NULL && i < n; i++) {
        formats[i] = binary[i] ? 1 : 0;
    }
    if (n == 0 && values == NULL) {
        sent = PQsendQuery(conn->pg, sql); /* may hold several statements */
    } else {
        sent = PQsendQueryParams(conn->pg, sql, n, types, values, lengths,
                                 formats, 0);
    }
    /* Without overflow for a far deadline (G_MAXINT64). */
    gint64 until = MIN(store->deadline, G_MAXINT64 - EXEC_GRACE_US) +
                   EXEC_GRACE_US;
    PGresult *res = sent ? collect(conn->pg, until) : NULL;
    ExecStatusType st = PQresultStatus(res);
    if (res != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
        return res;
    }
    if (res == NULL || PQstatus(conn->pg) != CONNECTION_OK) {
        set_error(store, error, SOFTPR_ERROR_BUSY, what,
                  res == NULL && PQstatus(conn->pg) == CONNECTION_OK
                      ? "no answer from the database server in time"
                      : PQerrorMessage(conn->pg));
        PQclear(res);
        store_pg_disconnect(conn);
        return NULL;
    }
    const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    set_error(store, error, code_for_sqlstate(sqlstate), what,
              PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
}

bool store_pg_run(Store *store, const char *what, const char *sql, int n,
                  const char *const *values, GError **error)
{
    PGresult *res =
        store_pg_exec(store, what, sql, n, values, NULL, NULL, NULL, error);
    PQclear(res);
    return res != NULL;
}

/* Server notices (a backend ended at shutdown, ...) go to the log at
 * debug level instead of libpq's stderr. */
static void log_notice(void *arg, const char *message)
{
    g_autofree char *line = one_line(message);

    g_debug("PostgreSQL: %s", line);
}

/* libpq's asynchronous connect, polled until @deadline. */
static PGconn *connect_until(Store *store, gint64 deadline, GError **error)
{
    PGconn *pg = PQconnectStart(store->path);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    if (pg == NULL) {
        set_error(store, error, SOFTPR_ERROR_IO, "connecting", "out of memory");
        return NULL;
    }
    while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (!wait_socket(pg, st == PGRES_POLLING_WRITING, deadline)) {
            set_error(store, error, SOFTPR_ERROR_BUSY, "connecting",
                      "the database server did not answer in time");
            PQfinish(pg);
            return NULL;
        }
        st = PQconnectPoll(pg);
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        set_error(store, error, SOFTPR_ERROR_BUSY, "connecting",
                  PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetnonblocking(pg, 1);
    PQsetNoticeProcessor(pg, log_notice, NULL);
    return pg;
}

bool store_pg_connect(Store *store, gint64 deadline, GError **error)
{
    StoreConn *conn = store->conn;

    store_pg_disconnect(conn);
    conn->pg = connect_until(store, deadline, error);
    if (conn->pg == NULL) {
        return false;
    }
    /* GOOD only once the commit is durable on the server (and on a
     * synchronous standby when the server has one). */
    PGresult *res = store_pg_exec(
        store, "setting up the connection",
        "SET synchronous_commit = on; SET application_name = 'softpr'; "
        "SELECT pg_backend_pid(), pg_postmaster_start_time()::text",
        0, NULL, NULL, NULL, NULL, error);
    if (res == NULL) {
        store_pg_disconnect(conn);
        return false;
    }
    conn->backend_pid = (int)store_pg_int(res, 0, 0);
    g_free(conn->server_started);
    conn->server_started = store_pg_text(res, 0, 1);
    PQclear(res);
    if (!store_pg_schema_prepare(store, error)) {
        store_pg_disconnect(conn);
        return false;
    }
    conn->schema_checked = true;
    return true;
}

gint64 store_pg_lu_lock_key(const char *name)
{
    /* FNV-1a: stable across builds and hosts, unlike g_str_hash(). */
    guint64 hash = G_GUINT64_CONSTANT(0xcbf29ce484222325);

    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        hash = (hash ^ *p) * G_GUINT64_CONSTANT(0x100000001b3);
    }
    return (gint64)hash;
}

gint64 store_pg_int(const PGresult *res, int row, int col)
{
    return g_ascii_strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool store_pg_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}

/*
 * PostgreSQL's text is UTF-8 (the databases are UTF8), but softpr's
 * strings are bytes: a disk's path, a VM's name, an LU's name from an
 * attribute.  A byte that is not part of UTF-8 is stored as U+FDD0
 * followed by U+E000 plus the byte, and U+FDD0 itself as U+FDD0 twice.
 * U+FDD0 is a noncharacter, absent from real text, so the usual string
 * is stored as it is, and every string reads back byte for byte.
 */
#define ESCAPE "\xef\xb7\x90" /* U+FDD0 */
#define ESCAPE_LEN 3

char *store_pg_encode_text(const char *text)
{
    if (g_utf8_validate(text, -1, NULL) && strstr(text, ESCAPE) == NULL) {
        return g_strdup(text);
    }
    GString *out = g_string_new(NULL);
    const char *end = text + strlen(text);

    for (const char *p = text; p < end;) {
        gunichar c = g_utf8_get_char_validated(p, end - p);

        if (c == (gunichar)-1 || c == (gunichar)-2) {
            g_string_append(out, ESCAPE);
            g_string_append_unichar(out, 0xe000 + (guchar)*p);
            p++;
            continue;
        }
        if (c == 0xfdd0) {
            g_string_append(out, ESCAPE);
        }
        g_string_append_len(out, p, g_utf8_next_char(p) - p);
        p = g_utf8_next_char(p);
    }
    return g_string_free(out, FALSE);
}

/* store_pg_encode_text() undone.  What it cannot have written (U+FDD0
 * before anything else) is kept as it is. */
static char *decode_text(const char *text)
{
    const char *at = strstr(text, ESCAPE);

    if (at == NULL) {
        return g_strdup(text);
    }
    GString *out = g_string_new_len(text, at - text);

    while (at != NULL) {
        const char *next = at + ESCAPE_LEN;
        gunichar c = g_utf8_get_char_validated(next, -1);

        if (c == 0xfdd0) {
            g_string_append(out, ESCAPE);
            next += ESCAPE_LEN;
        } else if (c >= 0xe080 && c <= 0xe0ff) {
            g_string_append_c(out, (char)(c - 0xe000));
            next = g_utf8_next_char(next);
        } else {
            g_string_append(out, ESCAPE);
        }
        at = strstr(next, ESCAPE);
        g_string_append_len(out, next, at != NULL ? at - next
                                                  : (gssize)strlen(next));
    }
    return g_string_free(out, FALSE);
}

char *store_pg_text(const PGresult *res, int row, int col)
{
    return store_pg_is_null(res, row, col)
               ? NULL
               : decode_text(PQgetvalue(res, row, col));
}

GBytes *store_pg_bytes(const PGresult *res, int row, int col)
{
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea(
        (const unsigned char *)PQgetvalue(res, row, col), &len);

    if (raw == NULL) {
        return NULL;
    }
    GBytes *bytes = g_bytes_new(raw, len);
    PQfreemem(raw);
    return bytes;
}

void store_pg_params_init(StorePgParams *p)
{
    memset(p, 0, sizeof(*p));
    p->owned = g_ptr_array_new_with_free_func(g_free);
}

void store_pg_params_clear(StorePgParams *p)
{
    g_clear_pointer(&p->owned, g_ptr_array_unref);
}

/* Type OIDs (pg_type.h is for the server): text, bigint, bytea. */
#define OID_TEXT 25
#define OID_INT8 20
#define OID_BYTEA 17

static void param_add(StorePgParams *p, const char *value, int length,
                      bool binary, Oid type)
{
    g_assert(p->n < STORE_PG_PARAMS_MAX);
    p->values[p->n] = value;
    p->lengths[p->n] = length;
    p->binary[p->n] = binary;
    p->types[p->n] = type;
    p->n++;
}

void store_pg_param_text(StorePgParams *p, const char *text)
{
    char *stored = text != NULL ? store_pg_encode_text(text) : NULL;

    g_ptr_array_add(p->owned, stored);
    param_add(p, stored, 0, false, OID_TEXT);
}

void store_pg_param_int(StorePgParams *p, gint64 value)
{
    char *text = g_strdup_printf("%" G_GINT64_FORMAT, value);

    g_ptr_array_add(p->owned, text);
    param_add(p, text, 0, false, OID_INT8);
}

void store_pg_param_null(StorePgParams *p)
{
    param_add(p, NULL, 0, false, 0);
}

void store_pg_param_null_int(StorePgParams *p)
{
    param_add(p, NULL, 0, false, OID_INT8);
}

void store_pg_param_tid(StorePgParams *p, const TransportId *tid,
                        bool with_name)
{
    uint8_t *buf = g_malloc(TID_ENCODED_MAX);
    size_t len = tid_encode(tid, buf);

    g_ptr_array_add(p->owned, buf);
    param_add(p, (const char *)buf, (int)len, true, OID_BYTEA);
    if (with_name) {
        char *name = tid_to_string(tid);

        store_pg_param_text(p, name);
        g_free(name);
    }
}

PGresult *store_pg_exec_params(Store *store, const char *what,
                               const char *sql, const StorePgParams *p,
                               GError **error)
{
    return store_pg_exec(store, what, sql, p->n, p->values, p->lengths,
                         p->binary, p->types, error);
}
