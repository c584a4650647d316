/*
 * privs: user, group and capability dropping with raw system calls
 * (capset(2), prctl(2)), so that no capability library is needed.
 */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "error.h"

bool privs_lookup_user(const char *user, uid_t *uid, gid_t *gid, GError **error)
{
    struct passwd *pw = getpwnam(user);
    guint64 number;

    if (pw == NULL && g_ascii_string_to_unsigned(user, 10, 0, G_MAXUINT32 - 1,
                                                 &number, NULL)) {
        pw = getpwuid((uid_t)number);
        if (pw == NULL) {
            *uid = (uid_t)number;
            *gid = (gid_t)-1;
            return true;
        }
    }
    if (pw == NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                    "unknown user '%s'", user);
        return false;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

bool privs_lookup_group(const char *group, gid_t *gid, GError **error)
{
    struct group *gr = getgrnam(group);
    guint64 number;

    if (gr != NULL) {
        *gid = gr->gr_gid;
        return true;
    }
    if (g_ascii_string_to_unsigned(group, 10, 0, G_MAXUINT32 - 1, &number,
                                   NULL)) {
        *gid = (gid_t)number;
        return true;
    }
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG, "unknown group '%s'",
                group);
    return false;
}

char *privs_describe_user(uid_t uid)
{
    struct passwd *pw = getpwuid(uid);

    if (pw == NULL) {
        return g_strdup_printf("uid %u", (unsigned)uid);
    }
    return g_strdup_printf("%s (uid %u)", pw->pw_name, (unsigned)uid);
}

static int last_capability(void)
{
    g_autofree char *text = NULL;

    if (g_file_get_contents("/proc/sys/kernel/cap_last_cap", &text, NULL,
                            NULL)) {
        return atoi(text);
    }
    return CAP_LAST_CAP;
}

/* Set permitted and effective to @caps (a mask of the first 64). */
static bool set_capabilities(guint64 caps, GError **error)
{
    struct __user_cap_header_struct header;
    struct __user_cap_data_struct data[2];

    memset(&header, 0, sizeof(header));
    memset(data, 0, sizeof(data));
    header.version = _LINUX_CAPABILITY_VERSION_3;
    data[0].permitted = data[0].effective = (guint32)caps;
    data[1].permitted = data[1].effective = (guint32)(caps >> 32);
    if (syscall(SYS_capset, &header, data) != 0) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "Failed to drop privileges: capset: %s", g_strerror(errno));
        return false;
    }
    return true;
}

bool privs_drop(uid_t uid, gid_t gid, guint64 keep, GError **error)
{
    int last = last_capability();
    int cap;

    if (geteuid() != 0) {
        if ((uid != (uid_t)-1 && uid != geteuid()) ||
            (gid != (gid_t)-1 && gid != getegid())) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                        "Failed to drop privileges: changing user or group "
                        "needs root");
            return false;
        }
        return true;
    }
    /* The bounding set first, while CAP_SETPCAP is still ours.  In a
     * container without it this fails, and the capsets below still hold. */
    for (cap = 0; cap <= last; cap++) {
        if (cap >= 64 || !(keep & PRIVS_CAP(cap))) {
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (uid != (uid_t)-1 || gid != (gid_t)-1) {
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 ||
            setgroups(0, NULL) != 0 ||
            (gid != (gid_t)-1 && setresgid(gid, gid, gid) != 0) ||
            (uid != (uid_t)-1 && setresuid(uid, uid, uid) != 0)) {
            g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                        "Failed to drop privileges: %s", g_strerror(errno));
            return false;
        }
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    if (!set_capabilities(keep, error)) {
        return false;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return true;
}
