/*
 * privs: giving up privileges after the socket is bound: -u and -g, and
 * every capability (emulation needs none; passthrough keeps only
 * CAP_SYS_RAWIO, as qemu-pr-helper does; the process that removes the
 * socket files at exit keeps only CAP_DAC_OVERRIDE).
 */
#ifndef SOFTPR_PRIVS_H
#define SOFTPR_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

/* Look up a user (name or number) and its primary group. */
bool privs_lookup_user(const char *user, uid_t *uid, gid_t *gid,
                       GError **error);

/* Look up a group (name or number). */
bool privs_lookup_group(const char *group, gid_t *gid, GError **error);

/* The bit of capability @cap (CAP_SYS_RAWIO, ...) in a capability mask. */
#define PRIVS_CAP(cap) (G_GUINT64_CONSTANT(1) << (cap))

/*
 * Become @uid/@gid ((uid_t)-1 / (gid_t)-1: stay) without supplementary
 * groups, and keep no capability but those in the mask @keep (effective,
 * permitted and bounding set); no new privileges after.  Without root
 * only staying who we are is possible.
 */
bool privs_drop(uid_t uid, gid_t gid, guint64 keep, GError **error);

/* "NAME (uid N)", or "uid N" for a number without a name, for messages. */
char *privs_describe_user(uid_t uid);

#endif /* SOFTPR_PRIVS_H */
