/*
 * identity_peer: which initiator a peer acts for: its QEMU command line,
 * the listening socket's policy, and the initiator names made up for VMs
 * and hosts (identity.c identifies the logical units).
 */
#include "identity.h"

#include <string.h>

/* Longest /proc/<pid>/cmdline read. */
#define CMDLINE_MAX (256 * 1024)

void identity_peer_clear(PeerInfo *peer)
{
    g_clear_pointer(&peer->vm_uuid, g_free);
    g_clear_pointer(&peer->vm_name, g_free);
    peer->is_qemu = false;
}

/*
 * The value of key @key ("" for the implied first key) in a QEMU option
 * string such as "guest=web1,debug-threads=on" or "web1,process=x", where
 * ",," stands for a comma.  NULL when absent.
 */
static char *qemu_option_value(const char *text, const char *key,
                               const char *implied)
{
    GString *part = g_string_new(NULL);
    const char *p = text;
    bool first = true;

    for (;;) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(part, ',');
            p += 2;
            continue;
        }
        if (*p != ',' && *p != '\0') {
            g_string_append_c(part, *p++);
            continue;
        }
        {
            const char *eq = strchr(part->str, '=');

            if (eq == NULL && first && g_strcmp0(key, implied) == 0) {
                return g_string_free(part, FALSE);
            }
            if (eq != NULL && (size_t)(eq - part->str) == strlen(key) &&
                strncmp(part->str, key, strlen(key)) == 0) {
                char *value = g_strdup(eq + 1);

                g_string_free(part, TRUE);
                return value;
            }
        }
        if (*p == '\0') {
            break;
        }
        g_string_truncate(part, 0);
        first = false;
        p++;
    }
    g_string_free(part, TRUE);
    return NULL;
}

static bool is_qemu_program(const char *argv0)
{
    g_autofree char *base = g_path_get_basename(argv0);

    return g_str_has_prefix(base, "qemu") || strcmp(base, "kvm") == 0;
}

void identity_parse_cmdline(const char *cmdline, size_t len, PeerInfo *peer)
{
    GPtrArray *argv = g_ptr_array_new();
    size_t off = 0;
    guint i;

    memset(peer, 0, sizeof(*peer));
    while (off < len) {
        const char *arg = cmdline + off;
        size_t n = strnlen(arg, len - off);

        if (off + n == len) {
            break; /* unterminated: a truncated command line */
        }
        g_ptr_array_add(argv, (gpointer)arg);
        off += n + 1;
    }
    if (argv->len == 0 || !is_qemu_program(g_ptr_array_index(argv, 0))) {
        g_ptr_array_free(argv, TRUE);
        return;
    }
    peer->is_qemu = true;
    for (i = 1; i + 1 < argv->len; i++) {
        const char *opt = g_ptr_array_index(argv, i);
        const char *value = g_ptr_array_index(argv, i + 1);

        if (strcmp(opt, "-uuid") == 0 || strcmp(opt, "--uuid") == 0) {
            g_free(peer->vm_uuid);
            peer->vm_uuid = g_ascii_strdown(value, -1);
            i++;
        } else if (strcmp(opt, "-name") == 0 || strcmp(opt, "--name") == 0) {
            char *name = qemu_option_value(value, "guest", "guest");

            g_free(peer->vm_name);
            peer->vm_name = name != NULL && *name != '\0' ? name : NULL;
            if (peer->vm_name == NULL) {
                g_free(name);
            }
            i++;
        }
    }
    g_ptr_array_free(argv, TRUE);
}

bool identity_peer_from_pid(pid_t pid, PeerInfo *peer)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *text = NULL;
    gsize len = 0;

    memset(peer, 0, sizeof(*peer));
    if (pid <= 0 || !g_file_get_contents(path, &text, &len, NULL) ||
        len > CMDLINE_MAX) {
        return false;
    }
    identity_parse_cmdline(text, len, peer);
    return true;
}

void identity_policy_clear(PeerPolicy *policy)
{
    g_clear_pointer(&policy->uids, g_array_unref);
    g_clear_pointer(&policy->gids, g_array_unref);
    g_clear_pointer(&policy->qemu_binaries, g_strfreev);
}

static GArray *ids_copy(const GArray *from)
{
    GArray *to;

    if (from == NULL) {
        return NULL;
    }
    to = g_array_sized_new(FALSE, FALSE,
                           g_array_get_element_size((GArray *)from), from->len);
    g_array_append_vals(to, from->data, from->len);
    return to;
}

void identity_policy_copy(PeerPolicy *to, const PeerPolicy *from)
{
    to->uids = ids_copy(from->uids);
    to->gids = ids_copy(from->gids);
    to->qemu_binaries = g_strdupv(from->qemu_binaries);
}

static bool has_gid(const GArray *gids, gid_t gid)
{
    guint i;

    for (i = 0; i < gids->len; i++) {
        if (g_array_index(gids, gid_t, i) == gid) {
            return true;
        }
    }
    return false;
}

bool identity_peer_allowed(const PeerPolicy *policy, uid_t uid, gid_t gid,
                           const gid_t *groups, size_t n_groups)
{
    guint i;

    if (policy->uids == NULL && policy->gids == NULL) {
        return true;
    }
    for (i = 0; policy->uids != NULL && i < policy->uids->len; i++) {
        if (g_array_index(policy->uids, uid_t, i) == uid) {
            return true;
        }
    }
    if (policy->gids == NULL) {
        return false;
    }
    if (has_gid(policy->gids, gid)) {
        return true;
    }
    for (i = 0; i < n_groups; i++) {
        if (has_gid(policy->gids, groups[i])) {
            return true;
        }
    }
    return false;
}

bool identity_peer_binary_allowed(const PeerPolicy *policy, pid_t pid,
                                  char **exe)
{
    g_autofree char *link = g_strdup_printf("/proc/%d/exe", (int)pid);
    g_autoptr(GError) error = NULL;
    char *path;

    *exe = NULL;
    if (policy->qemu_binaries == NULL) {
        return true;
    }
    path = g_file_read_link(link, &error);
    if (path == NULL) {
        *exe = g_strdup_printf("unknown (%s)", error->message);
        return false;
    }
    if (g_str_has_suffix(path, " (deleted)")) {
        path[strlen(path) - strlen(" (deleted)")] = '\0';
    }
    *exe = path;
    return g_strv_contains((const char *const *)policy->qemu_binaries, path);
}

char *identity_vm_key(const PeerInfo *peer)
{
    if (!peer->is_qemu) {
        return NULL;
    }
    if (peer->vm_uuid != NULL) {
        return g_strconcat("uuid:", peer->vm_uuid, NULL);
    }
    if (peer->vm_name != NULL) {
        return g_strconcat("name:", peer->vm_name, NULL);
    }
    return NULL;
}

/* IDENTITY_IQN_PREFIX ":<kind>:" + @text made a valid iSCSI name. */
static char *initiator_name(const char *kind, const char *text)
{
    GString *name = g_string_new(IDENTITY_IQN_PREFIX ":");
    const char *p;

    g_string_append(name, kind);
    g_string_append_c(name, ':');
    /* iSCSI names allow lower-case letters, digits, '-', '.' and ':'. */
    for (p = text; *p != '\0' && name->len < TID_ISCSI_NAME_MAX; p++) {
        char c = g_ascii_tolower(*p);

        g_string_append_c(name,
                          g_ascii_isalnum(c) || c == '-' || c == '.' ? c : '-');
    }
    return g_string_free(name, FALSE);
}

char *identity_vm_initiator_name(const PeerInfo *peer)
{
    return initiator_name("vm", peer->vm_name != NULL ? peer->vm_name
                                                      : peer->vm_uuid);
}

char *identity_host_initiator_name(const char *host_id)
{
    return initiator_name("host", host_id);
}
