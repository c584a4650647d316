/*
 * fscheck: the database's filesystem, from /proc/self/mountinfo.
 */
#include "fscheck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "error.h"

/* Filesystems that several hosts mount at once. */
static const char *const shared_types[] = {
    "nfs",    "nfs4", "ceph",   "fuse.ceph-fuse", "gfs2",           "ocfs2",
    "cifs",   "smb3", "lustre", "glusterfs",      "fuse.glusterfs", "gpfs",
    "beegfs", "afs",  NULL,
};

void fscheck_info_clear(FsInfo *info)
{
    g_clear_pointer(&info->fstype, g_free);
    g_clear_pointer(&info->mount_point, g_free);
    g_clear_pointer(&info->source, g_free);
    g_clear_pointer(&info->options, g_free);
    info->shared = false;
}

/* Undo mountinfo's octal escapes (\040 for a space, ...). */
static char *unescape(const char *text)
{
    GString *out = g_string_new(NULL);
    const char *p = text;

    while (*p != '\0') {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' &&
            p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            g_string_append_c(out, (char)(((p[1] - '0') << 6) |
                                          ((p[2] - '0') << 3) | (p[3] - '0')));
            p += 4;
        } else {
            g_string_append_c(out, *p++);
        }
    }
    return g_string_free(out, FALSE);
}

/* Whether mount point @mp contains @path. */
static bool covers(const char *mp, const char *path)
{
    size_t n = strlen(mp);

    if (strcmp(mp, "/") == 0) {
        return true;
    }
    return strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

bool fscheck_parse_mountinfo(const char *mountinfo, const char *path,
                             FsInfo *info)
{
    g_auto(GStrv) lines = g_strsplit(mountinfo, "\n", -1);
    size_t best = 0;
    guint i;

    memset(info, 0, sizeof(*info));
    for (i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
        guint n = g_strv_length(f);
        guint sep;
        g_autofree char *mp = NULL;

        /* id parent major:minor root mount-point options [optional...]
         * - fstype source super-options */
        if (n < 10) {
            continue;
        }
        for (sep = 6; sep < n && strcmp(f[sep], "-") != 0; sep++) {
        }
        if (sep + 2 >= n) {
            continue; /* no fstype and source after the separator */
        }
        mp = unescape(f[4]);
        /* Later lines mount over earlier ones: ">=" keeps the last. */
        if (!covers(mp, path) || strlen(mp) < best) {
            continue;
        }
        best = strlen(mp);
        fscheck_info_clear(info);
        info->mount_point = g_steal_pointer(&mp);
        info->fstype = g_strdup(f[sep + 1]);
        info->source = unescape(f[sep + 2]);
        info->options =
            g_strdup_printf("%s,%s", f[5], sep + 3 < n ? f[sep + 3] : "");
        info->shared = g_strv_contains(shared_types, info->fstype);
    }
    return info->fstype != NULL;
}

bool fscheck_inspect(const char *path, FsInfo *info, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    char *real = realpath(path, NULL);

    memset(info, 0, sizeof(*info));
    if (real == NULL) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "%s: %s", path,
                    g_strerror(errno));
        return false;
    }
    if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, &local)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM, "%s",
                    local->message);
        free(real);
        return false;
    }
    if (!fscheck_parse_mountinfo(text, real, info)) {
        g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_SYSTEM,
                    "no mount holds %s", real);
        free(real);
        return false;
    }
    free(real);
    return true;
}

/* Whether the comma-separated @options hold @name, alone or as
 * name=value; *@value (when not NULL) gets a copy of the value, or NULL. */
static bool has_option(const char *options, const char *name, char **value)
{
    g_auto(GStrv) opts = g_strsplit(options, ",", -1);
    size_t n = strlen(name);
    guint i;

    for (i = 0; opts[i] != NULL; i++) {
        if (strncmp(opts[i], name, n) == 0 &&
            (opts[i][n] == '\0' || opts[i][n] == '=')) {
            if (value != NULL) {
                *value = opts[i][n] == '=' ? g_strdup(opts[i] + n + 1) : NULL;
            }
            return true;
        }
    }
    return false;
}

bool fscheck_verdict(const FsInfo *info, StoreJournal journal, GError **error)
{
    const char *fs = info->fstype;
    g_autofree char *value = NULL;
    const char *why = NULL;

    if (!info->shared) {
        return true;
    }
    if (journal == STORE_JOURNAL_WAL) {
        why = "journal-mode = wal needs shared memory, which hosts do not "
              "share; use journal-mode = delete";
    } else if (g_str_has_prefix(fs, "nfs") &&
               has_option(info->options, "nolock", NULL)) {
        why = "it is mounted with nolock, so locks stay on this host; "
              "remount without nolock";
    } else if (g_str_has_prefix(fs, "nfs") &&
               has_option(info->options, "local_lock", &value) &&
               g_strcmp0(value, "none") != 0) {
        why = "it is mounted with local_lock, so locks stay on this host; "
              "remount with local_lock=none";
    } else if ((strcmp(fs, "gfs2") == 0 || strcmp(fs, "ocfs2") == 0) &&
               has_option(info->options, "localflocks", NULL)) {
        why = "it is mounted with localflocks, so locks stay on this host; "
              "remount without localflocks";
    } else if ((strcmp(fs, "cifs") == 0 || strcmp(fs, "smb3") == 0) &&
               has_option(info->options, "nobrl", NULL)) {
        why = "it is mounted with nobrl, so byte-range locks stay on this "
              "host; remount without nobrl";
    }
    if (why == NULL) {
        return true;
    }
    g_set_error(error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                "the database is on %s (%s at %s), shared by hosts, but %s", fs,
                info->source != NULL ? info->source : "?", info->mount_point,
                why);
    return false;
}

/* "4.2" -> 2; "4" or "4.0" -> 0; -1 when @vers is not NFSv4. */
static int nfs4_minor(const char *vers)
{
    if (vers == NULL || vers[0] != '4') {
        return -1;
    }
    if (vers[1] == '\0') {
        return 0;
    }
    if (vers[1] != '.' || !g_ascii_isdigit(vers[2])) {
        return -1;
    }
    return atoi(vers + 2);
}

char *fscheck_nfs_identity_build(const FsInfo *info, const char *nodename,
                                 const char *identifier, const char *unique_id)
{
    g_autofree char *vers = NULL;
    g_autofree char *addr = NULL;
    const char *uniquifier = NULL;
    int minor;

    if (info->fstype == NULL || !g_str_has_prefix(info->fstype, "nfs") ||
        info->options == NULL || !has_option(info->options, "vers", &vers)) {
        return NULL;
    }
    minor = nfs4_minor(vers);
    if (minor < 0) {
        return NULL;
    }
    /* The kernel prefers the namespace's identifier to the module's. */
    if (identifier != NULL && identifier[0] != '\0') {
        uniquifier = identifier;
    } else if (unique_id != NULL && unique_id[0] != '\0') {
        uniquifier = unique_id;
    }
    if (minor == 0) {
        /* NFSv4.0 names the server too, which changes nothing for two
         * clients of one server. */
        has_option(info->options, "addr", &addr);
        if (uniquifier != NULL) {
            return g_strdup_printf("Linux NFSv4.0 %s/%s/%s", nodename,
                                   uniquifier, addr != NULL ? addr : "?");
        }
        return g_strdup_printf("Linux NFSv4.0 %s/%s", nodename,
                               addr != NULL ? addr : "?");
    }
    if (uniquifier != NULL) {
        return g_strdup_printf("Linux NFSv4.%d %s/%s", minor, uniquifier,
                               nodename);
    }
    return g_strdup_printf("Linux NFSv4.%d %s", minor, nodename);
}

/* The first line of sysfs file @path, or NULL when it is absent. */
static char *read_sysfs_line(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return NULL;
    }
    text[strcspn(text, "\n")] = '\0';
    /* An identifier never set reads "(null)". */
    if (strcmp(text, "(null)") == 0) {
        text[0] = '\0';
    }
    return text;
}

char *fscheck_nfs_identity(const FsInfo *info)
{
    g_autofree char *identifier = NULL;
    g_autofree char *unique_id = NULL;
    struct utsname uts;

    if (uname(&uts) != 0) {
        return NULL;
    }
    /* sysfs shows the network namespace of whoever mounted it: the one
     * the NFS client of this mount lives in when sysfs was mounted
     * there. */
    identifier = read_sysfs_line("/sys/fs/nfs/net/nfs_client/identifier");
    unique_id = read_sysfs_line("/sys/module/nfs/parameters/nfs4_unique_id");
    return fscheck_nfs_identity_build(info, uts.nodename, identifier,
                                      unique_id);
}

void fscheck_log_nfs_identity(const FsInfo *info)
{
    g_autofree char *identity = fscheck_nfs_identity(info);

    if (identity != NULL) {
        g_message("NFSv4 client identity of this host: \"%s\" (every host "
                  "sharing the database needs its own: a distinct hostname "
                  "or /sys/fs/nfs/net/nfs_client/identifier)",
                  identity);
    }
}

bool fscheck_nfs_identities_distinct(const char *const *hosts,
                                     const char *const *identities, guint n,
                                     GError **error)
{
    guint i;
    guint j;

    for (i = 0; i < n; i++) {
        for (j = i + 1; identities[i] != NULL && j < n; j++) {
            if (g_strcmp0(identities[i], identities[j]) != 0) {
                continue;
            }
            g_set_error(
                error, SOFTPR_ERROR, SOFTPR_ERROR_CONFIG,
                "%s and %s share one NFSv4 client identity (\"%s\"): the "
                "server takes them for one client and drops one's locks "
                "when the other mounts, so both can hold the database's "
                "write lock at once; give the hosts distinct hostnames or "
                "set the NFS client identifier "
                "(/sys/fs/nfs/net/nfs_client/identifier, or the "
                "nfs.nfs4_unique_id module parameter) before mounting",
                hosts[i], hosts[j], identities[i]);
            return false;
        }
    }
    return true;
}
