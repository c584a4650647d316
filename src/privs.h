/*
 * privs: giving up privileges after the socket is bound: -u and -g, and
 * every capability (emulation needs none; passthrough keeps only
 * CAP_SYS_RAWIO, as qemu-pr-helper does).
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

/*
 * Become @uid/@gid ((uid_t)-1 / (gid_t)-1: stay) without supplementary
 * groups, and keep no capability but CAP_SYS_RAWIO when @keep_rawio.
 * Without root only staying who we are is possible.
 */
bool privs_drop(uid_t uid, gid_t gid, bool keep_rawio, GError **error);

#endif /* SOFTPR_PRIVS_H */
