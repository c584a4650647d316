/*
 * preload_pr: libsoftpr-preload.so's side of the pr-helper protocol.
 *
 * Each PERSISTENT RESERVE IN/OUT opens its own connection to softprd
 * (SOFTPR_SOCKET, else the daemon's default socket), so that nothing is
 * shared between the host program's threads or across fork(); the
 * socket is close-on-exec and closed before returning.  With
 * SOFTPR_INITIATOR set the connection declares that initiator (the
 * identity extension, wire feature bit 0), so that several nodes on one
 * host are distinct I_T nexuses; without it the daemon's identity policy
 * decides, as for any peer that is not QEMU.  SOFTPR_TRACE names a file
 * that each reply is appended to in hex, to compare helpers byte for
 * byte.
 */
#ifndef SOFTPR_PRELOAD_PR_H
#define SOFTPR_PRELOAD_PR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "preload_scsi.h"

#define PRELOAD_SOCKET_ENV "SOFTPR_SOCKET"
#define PRELOAD_INITIATOR_ENV "SOFTPR_INITIATOR"
#define PRELOAD_TRACE_ENV "SOFTPR_TRACE"

/* What the library's one line on standard error starts with. */
#define PRELOAD_NAME "libsoftpr-preload"

/*
 * Send the framed @cdb (16 bytes) with @disk_fd attached and, for PR OUT,
 * @param_len bytes of @param; wait at most @timeout_ms without progress.
 * On success fills @a with softprd's status, sense (its fixed-format
 * length) and PR IN data.  On failure (no daemon, a refused initiator, a
 * broken reply) writes one line naming the socket to standard error and
 * returns false.
 */
bool preload_pr_command(int disk_fd, const uint8_t *cdb, const uint8_t *param,
                        size_t param_len, unsigned timeout_ms,
                        PreloadAnswer *a);

#endif /* SOFTPR_PRELOAD_PR_H */
