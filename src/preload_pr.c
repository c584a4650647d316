/*
 * preload_pr: one connection to softprd per PR command.
 */
#include "preload_pr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "client.h"
#include "defaults.h"
#include "error.h"
#include "scsi.h"
#include "tid.h"

static bool initiator_declared(void)
{
    const char *initiator = getenv(PRELOAD_INITIATOR_ENV);

    return initiator != NULL && *initiator != '\0';
}

static PrClient *connect_daemon(const char *socket_path, unsigned timeout_ms,
                                GError **error)
{
    const char *initiator = getenv(PRELOAD_INITIATOR_ENV);
    TransportId tid;

    if (!initiator_declared()) {
        return client_connect(socket_path, 0, timeout_ms, error);
    }
    if (!tid_parse(initiator, &tid, error)) {
        g_prefix_error(error, "%s: ", PRELOAD_INITIATOR_ENV);
        return NULL;
    }
    return client_connect_as(socket_path, &tid, timeout_ms, error);
}

static void trace_hex(FILE *out, const char *name, const uint8_t *bytes,
                      size_t len)
{
    fprintf(out, " %s=", name);
    for (size_t i = 0; i < len; i++) {
        fprintf(out, "%02x", bytes[i]);
    }
}

/* Append the reply to @cdb to the file SOFTPR_TRACE names. */
static void trace_reply(const uint8_t *cdb, const ClientReply *reply)
{
    const char *path = getenv(PRELOAD_TRACE_ENV);
    FILE *out;

    if (path == NULL || *path == '\0' || (out = fopen(path, "ae")) == NULL) {
        return;
    }
    trace_hex(out, "cdb", cdb, WIRE_CDB_LEN);
    fprintf(out, " status=%02x", reply->status);
    trace_hex(out, "sense", reply->sense, WIRE_SENSE_LEN);
    trace_hex(out, "data", reply->data, reply->data_len);
    fprintf(out, "\n");
    fclose(out);
}

bool preload_pr_command(int disk_fd, const uint8_t *cdb, const uint8_t *param,
                        size_t param_len, unsigned timeout_ms, PreloadAnswer *a)
{
    const char *env = getenv(PRELOAD_SOCKET_ENV);
    g_autofree char *socket_path =
        env != NULL && *env != '\0' ? g_strdup(env) : defaults_socket_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(PrClient) client = NULL;
    ClientReply *reply = malloc(sizeof(*reply));
    bool ok = false;

    if (reply == NULL) {
        g_set_error_literal(&error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                            "out of memory");
    } else {
        client = connect_daemon(socket_path, timeout_ms, &error);
    }
    if (client != NULL &&
        client_command(client, cdb, disk_fd, param, param_len, reply, &error)) {
        trace_reply(cdb, reply);
        a->status = reply->status;
        a->sense_len = 0;
        if (reply->status == SCSI_STATUS_CHECK_CONDITION) {
            memcpy(a->sense, reply->sense, WIRE_SENSE_LEN);
            a->sense_len = scsi_sense_length(reply->sense, WIRE_SENSE_LEN);
        }
        a->data_len = reply->data_len;
        memcpy(a->data, reply->data, reply->data_len);
        ok = true;
    } else {
        /* A socket whose policy is "client" closes on a peer that does
         * not declare its initiator: say what is missing. */
        bool undeclared =
            client != NULL &&
            (client_server_features(client) & WIRE_FEATURE_INITIATOR_ID) &&
            !initiator_declared();

        fprintf(stderr, PRELOAD_NAME ": softprd at %s: %s%s\n", socket_path,
                error->message,
                undeclared ? " (this socket wants the initiator declared: "
                             "set " PRELOAD_INITIATOR_ENV ")"
                           : "");
    }
    free(reply);
    return ok;
}
