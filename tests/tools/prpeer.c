/*
 * prpeer: a pr-helper client for tests that must look like some other
 * process.  Run under a name such as qemu-system-x86_64 (a symlink) with
 * QEMU's -name and -uuid options, it is what softprd's "auto" identity
 * policy takes for a VM.  Everything before "--" is ignored.
 *
 *   prpeer [ANYTHING...] -- SOCKET DISK COMMAND...
 *
 * Commands (keys and types in hexadecimal):
 *   register KEY          REGISTER AND IGNORE EXISTING KEY
 *   reserve TYPE KEY      RESERVE
 *   readkeys              prints "generation=G keys=K1,K2,..."
 *   fullstatus            prints "key=K holder=H rtpi=R initiator=NAME"
 *                         for each registration
 *   wait FILE             prints "waiting", then waits (at most 60 s)
 *                         until FILE exists, on the same connection
 * Each PR OUT prints "ACTION: STATUS".  Exit 0 when every command got an
 * answer, 1 otherwise.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "cdb.h"
#include "client.h"
#include "engine.h"
#include "scsi.h"

static uint64_t hex(const char *text)
{
    return g_ascii_strtoull(text, NULL, 16);
}

static bool run(PrClient *client, int disk, const uint8_t *cdb,
                const uint8_t *param, size_t len, ClientReply *reply)
{
    g_autoptr(GError) error = NULL;

    if (!client_command(client, cdb, disk, param, len, reply, &error)) {
        fprintf(stderr, "prpeer: %s\n", error->message);
        return false;
    }
    return true;
}

static bool prout(PrClient *client, int disk, uint8_t sa, uint8_t type,
                  uint64_t rk, uint64_t sark)
{
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, rk, sark, 0, NULL, 0);
    ClientReply reply;

    cdb_pr_out(cdb, sa, 0, type, (uint32_t)len);
    if (!run(client, disk, cdb, param, len, &reply)) {
        return false;
    }
    printf("%s: %s\n", engine_out_action_name(sa),
           scsi_status_name(reply.status));
    return true;
}

static bool prin(PrClient *client, int disk, uint8_t sa, ClientReply *reply)
{
    uint8_t cdb[CDB_LEN];

    cdb_pr_in(cdb, sa, 8192);
    if (!run(client, disk, cdb, NULL, 0, reply)) {
        return false;
    }
    if (reply->status != SCSI_STATUS_GOOD) {
        printf("%s: %s\n", engine_in_action_name(sa),
               scsi_status_name(reply->status));
    }
    return true;
}

static void print_keys(const ClientReply *reply)
{
    uint32_t n = get_be32(reply->data + 4) / 8;
    uint32_t i;

    printf("generation=%u keys=", get_be32(reply->data));
    for (i = 0; i < n; i++) {
        printf("%s0x%" G_GINT64_MODIFIER "x", i > 0 ? "," : "",
               get_be64(reply->data + 8 + 8 * i));
    }
    printf("\n");
}

static void print_full_status(const ClientReply *reply)
{
    size_t off = 8;

    while (off + 24 <= reply->data_len) {
        const uint8_t *d = reply->data + off;
        size_t tid_len = get_be32(d + 20);
        TransportId tid;
        size_t used = 0;
        g_autofree char *name = NULL;

        if (off + 24 + tid_len > reply->data_len ||
            tid_decode(d + 24, tid_len, &tid, &used) != TID_OK) {
            printf("malformed descriptor\n");
            return;
        }
        name = tid_to_string(&tid);
        printf("key=0x%" G_GINT64_MODIFIER "x holder=%d rtpi=%u initiator=%s\n",
               get_be64(d), d[12] & 1, get_be16(d + 18), name);
        off += 24 + tid_len;
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(PrClient) client = NULL;
    ClientReply reply;
    int i = 1;
    int disk;

    while (i < argc && strcmp(argv[i], "--") != 0) {
        i++;
    }
    if (argc - i < 3) {
        fprintf(stderr, "usage: prpeer [...] -- SOCKET DISK COMMAND...\n");
        return 2;
    }
    client = client_connect(argv[i + 1], 0, 30000, &error);
    if (client == NULL) {
        fprintf(stderr, "prpeer: %s\n", error->message);
        return 1;
    }
    disk = open(argv[i + 2], O_RDWR | O_CLOEXEC);
    if (disk < 0) {
        perror("prpeer: disk");
        return 1;
    }
    for (i += 3; i < argc; i++) {
        const char *cmd = argv[i];
        bool ok;

        if (strcmp(cmd, "register") == 0 && i + 1 < argc) {
            ok = prout(client, disk, PR_OUT_REGISTER_IGNORE, 0, 0,
                       hex(argv[++i]));
        } else if (strcmp(cmd, "reserve") == 0 && i + 2 < argc) {
            uint8_t type = (uint8_t)hex(argv[++i]);

            ok = prout(client, disk, PR_OUT_RESERVE, type, hex(argv[++i]), 0);
        } else if (strcmp(cmd, "readkeys") == 0) {
            ok = prin(client, disk, PR_IN_READ_KEYS, &reply);
            if (ok && reply.status == SCSI_STATUS_GOOD) {
                print_keys(&reply);
            }
        } else if (strcmp(cmd, "fullstatus") == 0) {
            ok = prin(client, disk, PR_IN_READ_FULL_STATUS, &reply);
            if (ok && reply.status == SCSI_STATUS_GOOD) {
                print_full_status(&reply);
            }
        } else if (strcmp(cmd, "wait") == 0 && i + 1 < argc) {
            const char *file = argv[++i];
            gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

            printf("waiting\n");
            fflush(stdout);
            while (!g_file_test(file, G_FILE_TEST_EXISTS) &&
                   g_get_monotonic_time() < end) {
                g_usleep(10000);
            }
            ok = g_file_test(file, G_FILE_TEST_EXISTS);
        } else {
            fprintf(stderr, "prpeer: unknown command '%s'\n", cmd);
            return 2;
        }
        if (!ok) {
            return 1;
        }
    }
    close(disk);
    return 0;
}
