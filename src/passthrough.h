/*
 * passthrough: PR commands for logical units that are real SCSI devices
 * (a SAN LUN, an iSCSI or LIO disk), forwarded to the device with SG_IO
 * as qemu-pr-helper forwards them, so that the device itself keeps the
 * reservations.
 *
 * Differences from qemu-pr-helper, on purpose: a real timeout (seconds,
 * not its 1 ms), every host and driver error answered as an error (it
 * answers GOOD for host statuses it does not know), and the data-in
 * transfer no longer than the allocation length.
 */
#ifndef SOFTPR_PASSTHROUGH_H
#define SOFTPR_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "engine.h"
#include "sgio.h"

/* Default bound on one forwarded command, well below a guest's 30 s. */
#define PASSTHROUGH_TIMEOUT_MS_DEFAULT 20000

/*
 * The answer to the command @cdb for the SG_IO outcome @sg (pure): an
 * ioctl error, then a host error, then a driver error each become a
 * CHECK CONDITION (or BUSY, TASK SET FULL, RESERVATION CONFLICT) the
 * guest may retry, never GOOD; otherwise the device's status, its sense
 * with CHECK CONDITION, and for PR IN with GOOD the data, at most the
 * allocation length.  The payload itself is left in @result->data by
 * the caller.
 */
void passthrough_reply(const uint8_t *cdb, const SgOutcome *sg,
                       PrResult *result);

/*
 * Send @request to the device open at @fd with SG_IO, waiting at most
 * @timeout_ms, and put the answer in @result.  PR OUT through a
 * read-only descriptor is refused as qemu-pr-helper refuses it, without
 * reaching the device.
 */
void passthrough_execute(int fd, const CommandRequest *request,
                         unsigned timeout_ms, PrResult *result);

#endif /* SOFTPR_PASSTHROUGH_H */
