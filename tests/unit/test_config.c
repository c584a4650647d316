/*
 * test_config: defaults, the GKeyFile settings (sockets with identity
 * policies, LU mappings) and their errors, and how they reach the
 * server's options (config_server.c).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "config.h"
#include "config_server.h"
#include "error.h"
#include "tid.h"

static char *write_config(const char *dir, const char *text)
{
    char *path = g_build_filename(dir, "softprd.conf", NULL);

    assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static SocketConfig *socket_at(Config *c, guint i)
{
    return g_ptr_array_index(c->sockets, i);
}

/* Defaults: one socket with the auto policy on target port 1, rollback
 * journal, 5 s lock bound, unit attentions recorded, files named by a
 * created attribute, and paths by who runs the daemon. */
static void test_defaults(void **state)
{
    g_autoptr(Config) c = config_new();
    SocketConfig *main_socket = config_main_socket(c);

    assert_int_equal(c->sockets->len, 1);
    assert_null(main_socket->name);
    assert_int_equal(main_socket->identity, IDENTITY_AUTO);
    assert_int_equal(main_socket->rtpi, 1);
    assert_int_equal(c->journal, STORE_JOURNAL_DELETE);
    assert_int_equal(c->lock_timeout_ms, 5000);
    assert_int_equal(c->ua_policy, PR_UA_RECORD);
    assert_int_equal(c->workers, 4);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->max_connections_per_peer, 64);
    assert_int_equal(c->vm_keep_days, 90);
    assert_true(c->create_xattr);
    assert_int_equal(c->history_keep_rows, STORE_HISTORY_KEEP_ROWS_DEFAULT);
    assert_int_equal(c->mode, LU_MODE_EMULATION);
    assert_int_equal(c->passthrough_timeout_ms, 20000);
    assert_false(config_uses_passthrough(c));
    assert_int_equal(c->history_keep_days, STORE_HISTORY_KEEP_DAYS_DEFAULT);
    assert_int_equal(c->lu_maps->len, 0);
    assert_true(c->db_path_is_default);
    assert_string_equal(c->host_id, g_get_host_name());
    if (geteuid() == 0) {
        assert_string_equal(main_socket->path, "/run/softprd.sock");
        assert_string_equal(c->db_path, "/var/lib/softpr/softpr.db");
    } else {
        assert_true(g_str_has_suffix(main_socket->path, "/softprd.sock"));
        assert_true(g_str_has_suffix(c->db_path, "/softpr/softpr.db"));
    }
    assert_true(config_finish(c, NULL));
}

/* Every key is read, seconds as decimals; [socket NAME] and [lu NAME]
 * groups add sockets and mappings. */
static void test_every_key(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = write_config(
        dir, "[daemon]\n"
             "socket = /tmp/x.sock\nidentity = client\n"
             "relative-target-port = 3\npidfile = /tmp/x.pid\nuser = u\n"
             "group = g\nhost-id = node-7\nworkers = 8\n"
             "max-connections = 12\nmax-connections-per-peer = 3\n"
             "request-timeout = 1.5\n"
             "mode = passthrough\n"
             "[socket vms]\npath = /tmp/vms.sock\n"
             "peer-uids = 0;root\npeer-groups = 0\n"
             "qemu-binaries = /usr/bin/../bin/env;/opt/none/qemu\n"
             "[socket tools]\npath = /tmp/tools.sock\n"
             "identity = iqn.2026-11.test:Tool\nrelative-target-port = 4\n"
             "[database]\npath = /tmp/x.db\njournal-mode = WAL\n"
             "lock-timeout = 0.25\nvm-keep-days = 0\n"
             "[scsi]\nunit-attentions = report\nmax-registrations = 9\n"
             "[history]\nkeep-rows = 0\nkeep-days = 30\n"
             "[passthrough]\ntimeout = 2.5\n"
             "[lu]\ncreate-xattr = false\n"
             "[lu shared-disk-1]\npath = /srv/images/disk1.img\n"
             "mode = emulation\n");
    g_autoptr(Config) c = config_new();
    GError *error = NULL;
    const LuMapping *map;

    if (!config_load_file(c, path, &error)) {
        fail_msg("%s", error->message);
    }
    assert_true(config_finish(c, NULL));
    assert_int_equal(c->sockets->len, 3);
    assert_string_equal(socket_at(c, 0)->path, "/tmp/x.sock");
    assert_int_equal(socket_at(c, 0)->identity, IDENTITY_CLIENT);
    assert_int_equal(socket_at(c, 0)->rtpi, 3);
    assert_string_equal(socket_at(c, 1)->name, "vms");
    assert_string_equal(socket_at(c, 1)->path, "/tmp/vms.sock");
    assert_int_equal(socket_at(c, 1)->identity, IDENTITY_AUTO);
    assert_int_equal(socket_at(c, 1)->rtpi, 1);
    assert_string_equal(socket_at(c, 2)->name, "tools");
    assert_int_equal(socket_at(c, 2)->identity, IDENTITY_FIXED);
    assert_string_equal(socket_at(c, 2)->initiator.name,
                        "iqn.2026-11.test:tool");
    assert_int_equal(socket_at(c, 2)->rtpi, 4);
    assert_null(socket_at(c, 0)->peers.uids);
    assert_int_equal(socket_at(c, 1)->peers.uids->len, 2);
    assert_int_equal(g_array_index(socket_at(c, 1)->peers.uids, uid_t, 1), 0);
    assert_int_equal(socket_at(c, 1)->peers.gids->len, 1);
    /* Resolved as /proc/PID/exe will name it; a missing one as written. */
    {
        g_autofree char *env = realpath("/usr/bin/env", NULL);

        assert_string_equal(socket_at(c, 1)->peers.qemu_binaries[0], env);
    }
    assert_string_equal(socket_at(c, 1)->peers.qemu_binaries[1],
                        "/opt/none/qemu");
    assert_null(socket_at(c, 2)->peers.qemu_binaries);
    assert_string_equal(c->pidfile, "/tmp/x.pid");
    assert_string_equal(c->user, "u");
    assert_string_equal(c->group, "g");
    assert_string_equal(c->host_id, "node-7");
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->max_connections, 12);
    assert_int_equal(c->max_connections_per_peer, 3);
    assert_int_equal(c->request_timeout_ms, 1500);
    assert_string_equal(c->db_path, "/tmp/x.db");
    assert_false(c->db_path_is_default);
    assert_int_equal(c->journal, STORE_JOURNAL_WAL);
    assert_int_equal(c->lock_timeout_ms, 250);
    assert_int_equal(c->vm_keep_days, 0);
    assert_int_equal(c->ua_policy, PR_UA_REPORT);
    assert_int_equal(c->max_registrations, 9);
    assert_int_equal(c->history_keep_rows, 0);
    assert_int_equal(c->history_keep_days, 30);
    assert_int_equal(c->mode, LU_MODE_PASSTHROUGH);
    assert_int_equal(c->passthrough_timeout_ms, 2500);
    assert_true(config_uses_passthrough(c));
    assert_false(c->create_xattr);
    assert_int_equal(c->lu_maps->len, 1);
    map = &g_array_index(c->lu_maps, LuMapping, 0);
    assert_string_equal(map->name, "shared-disk-1");
    assert_string_equal(map->path, "/srv/images/disk1.img");
    assert_int_equal(map->mode, LU_MODE_EMULATION);
    testutil_rmtree(dir);
}

/* The identity value: auto, client, or any initiator name form. */
static void test_identity_values(void **state)
{
    SocketConfig s;
    GError *error = NULL;

    memset(&s, 0, sizeof(s));
    assert_true(config_parse_identity("AUTO", &s, NULL));
    assert_int_equal(s.identity, IDENTITY_AUTO);
    assert_true(config_parse_identity("client", &s, NULL));
    assert_int_equal(s.identity, IDENTITY_CLIENT);
    assert_true(config_parse_identity("sas,5000c50012345678", &s, NULL));
    assert_int_equal(s.identity, IDENTITY_FIXED);
    assert_int_equal(s.initiator.protocol, TID_PROTOCOL_SAS);
    assert_false(config_parse_identity("a host", &s, &error));
    assert_non_null(strstr(error->message, "expected auto, client or an "
                                           "initiator name"));
    g_error_free(error);
}

/* Each broken file gives one error naming the file and what is wrong. */
static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *fragment;
    } cases[] = {
        {"[daemon]\nsocket = /a\nsokcet = /b\n", "unknown key 'sokcet'"},
        {"[scsi]\n[extra]\n", "unknown group [extra]"},
        {"[scsi]\ninitiator = iqn.2026-11.x:y\n", "unknown key 'initiator'"},
        {"[daemon]\nworkers = 0\n", "workers"},
        {"[daemon]\nworkers = 65\n", "from 1 to 64"},
        {"[daemon]\nmax-connections = -1\n", "max-connections"},
        {"[daemon]\nmax-connections-per-peer = 0\n",
         "max-connections-per-peer: expected a whole number from 1"},
        {"[daemon]\nrequest-timeout = soon\n", "request-timeout"},
        {"[daemon]\nrequest-timeout = 0\n", "above 0"},
        {"[daemon]\nidentity = some host\n", "[daemon] identity"},
        {"[daemon]\nrelative-target-port = 0\n", "relative-target-port"},
        {"[database]\nlock-timeout = 30\n", "at most 25"},
        {"[database]\njournal-mode = truncate\n", "delete, wal"},
        {"[database]\npath =\n", "empty value"},
        {"[database]\nvm-keep-days = never\n", "vm-keep-days"},
        {"[daemon]\npeer-uids = no-such-user-x\n",
         "[daemon] peer-uids: unknown user 'no-such-user-x'"},
        {"[socket x]\npath = /a\npeer-groups = no-such-group-x\n",
         "[socket x] peer-groups"},
        {"[daemon]\nqemu-binaries = qemu-kvm\n", "not an absolute path"},
        {"[daemon]\npeer-uids =\n", "peer-uids"},
        {"[scsi]\nunit-attentions = always\n", "record, report"},
        {"[socket x]\nidentity = client\n", "[socket x] path: missing"},
        {"[socket x]\npath = /a\nport = 2\n", "unknown key 'port'"},
        {"[lu d]\n", "[lu d] path: missing"},
        {"[lu]\ncreate-xattr = maybe\n", "create-xattr"},
        {"[history]\nkeep-rows = -1\n", "keep-rows"},
        {"[history]\nkeep-days = 1e9\n", "keep-days"},
        {"[history]\nkeep = 3\n", "unknown key 'keep'"},
        {"[daemon]\nmode = proxy\n", "emulation, passthrough"},
        {"[passthrough]\ntimeout = 0\n", "above 0"},
        {"[passthrough]\ntimeout = 301\n", "at most 300"},
        {"[lu d]\npath = /a\nmode = sg\n", "[lu d] mode"},
        {"key without group\n", "softprd.conf"},
    };
    g_autofree char *dir = testutil_tmpdir();
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = write_config(dir, cases[i].text);
        g_autoptr(Config) c = config_new();
        GError *error = NULL;

        assert_false(config_load_file(c, path, &error));
        assert_non_null(error);
        assert_int_equal(error->code, SOFTPR_ERROR_CONFIG);
        if (strstr(error->message, cases[i].fragment) == NULL ||
            strstr(error->message, "softprd.conf") == NULL ||
            strchr(error->message, '\n') != NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, error->message,
                     cases[i].fragment);
        }
        g_error_free(error);
    }
    testutil_rmtree(dir);
}

/* The example shipped in docs/ is a valid configuration. */
static void test_example_file(void **state)
{
    g_autoptr(Config) c = config_new();
    GError *error = NULL;

    if (!config_load_file(c, "docs/softprd.conf.example", &error)) {
        fail_msg("%s", error->message);
    }
    assert_true(config_finish(c, NULL));
}

/* Every setting the example shows commented out, "#key = value" and
 * "#[group]", is valid as shown once uncommented. */
static void test_example_file_uncommented(void **state)
{
    g_autoptr(Config) c = config_new();
    g_autofree char *text = NULL;
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = NULL;
    g_autoptr(GString) active = g_string_new(NULL);
    g_auto(GStrv) lines = NULL;
    GError *error = NULL;
    guint i;

    assert_true(
        g_file_get_contents("docs/softprd.conf.example", &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i] != NULL; i++) {
        const char *line = lines[i];

        if (line[0] == '#' && (g_ascii_isalpha(line[1]) || line[1] == '[')) {
            line++;
        }
        g_string_append_printf(active, "%s\n", line);
    }
    path = write_config(dir, active->str);
    if (!config_load_file(c, path, &error)) {
        fail_msg("%s", error->message);
    }
    if (!config_finish(c, &error)) {
        fail_msg("%s", error->message);
    }
    assert_int_equal(c->mode, LU_MODE_EMULATION);
    assert_int_equal(c->passthrough_timeout_ms, 20000);
    assert_int_equal(c->lu_maps->len, 1);
    testutil_rmtree(dir);
}

/* Settings that only fail together: relative or repeated socket paths,
 * mappings without an absolute path, an empty host id. */
static void test_finish_errors(void **state)
{
    static const struct {
        const char *text;
        const char *fragment;
    } cases[] = {
        {"[daemon]\nsocket = rel.sock\n", "socket path must be absolute"},
        {"[socket a]\npath = rel.sock\n", "[socket a] path rel.sock"},
        {"[daemon]\nsocket = /a.sock\n[socket b]\npath = /a.sock\n",
         "configured twice"},
        {"[lu d]\npath = images/d.img\n", "[lu d]"},
        {"[daemon]\nhost-id = \" \"\n", "host id"},
    };
    g_autofree char *dir = testutil_tmpdir();
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = write_config(dir, cases[i].text);
        g_autoptr(Config) c = config_new();
        GError *error = NULL;

        if (!config_load_file(c, path, &error)) {
            /* A blank host id is a valid string; others load fine. */
            fail_msg("case %zu: %s", i, error->message);
        }
        if (i == 4) {
            g_free(c->host_id);
            c->host_id = g_strdup("");
        }
        assert_false(config_finish(c, &error));
        if (strstr(error->message, cases[i].fragment) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, error->message,
                     cases[i].fragment);
        }
        g_error_free(error);
    }
    testutil_rmtree(dir);
}

/*
 * Every setting the server uses reaches its options through
 * config_to_server_options(), each from a value no default has; the
 * target ports are the sockets' relative target port ids, each once.
 */
static void test_server_options_every_setting(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = write_config(
        dir, "[daemon]\nsocket = /tmp/x.sock\nrelative-target-port = 3\n"
             "host-id = node-7\nworkers = 8\nmax-connections = 12\n"
             "max-connections-per-peer = 3\nrequest-timeout = 1.5\n"
             "mode = passthrough\n"
             "[socket vms]\npath = /tmp/vms.sock\n"
             "[socket tools]\npath = /tmp/tools.sock\n"
             "relative-target-port = 4\n"
             "[socket again]\npath = /tmp/again.sock\n"
             "relative-target-port = 3\n"
             "[database]\npath = /tmp/x.db\njournal-mode = WAL\n"
             "lock-timeout = 0.25\nvm-keep-days = 7\n"
             "[scsi]\nunit-attentions = report\nmax-registrations = 9\n"
             "[history]\nkeep-rows = 11\nkeep-days = 30\n"
             "[passthrough]\ntimeout = 2.5\n"
             "[lu]\ncreate-xattr = false\n"
             "[lu shared-disk-1]\npath = /srv/images/disk1.img\n"
             "mode = emulation\n");
    g_autoptr(Config) c = config_new();
    g_autofree uint16_t *ports = NULL;
    GError *error = NULL;
    ServerOptions o;

    if (!config_load_file(c, path, &error)) {
        fail_msg("%s", error->message);
    }
    assert_true(config_finish(c, NULL));
    config_to_server_options(c, &o, &ports);
    assert_int_equal(o.workers, 8);
    assert_int_equal(o.max_connections, 12);
    assert_int_equal(o.max_connections_per_peer, 3);
    assert_int_equal(o.request_timeout_ms, 1500);
    assert_int_equal(o.lock_timeout_ms, 250);
    assert_string_equal(o.store.path, "/tmp/x.db");
    assert_int_equal(o.store.journal, STORE_JOURNAL_WAL);
    assert_int_equal(o.store.lock_timeout_ms, 250);
    assert_string_equal(o.store.host_id, "node-7");
    assert_true(o.store.create);
    assert_int_equal(o.store.history_keep_rows, 11);
    assert_int_equal(o.store.history_keep_days, 30);
    assert_int_equal(o.store.vm_keep_days, 7);
    assert_int_equal(o.pr.n_ports, 3);
    assert_ptr_equal(o.pr.ports, ports);
    assert_int_equal(o.pr.ports[0], 3);
    assert_int_equal(o.pr.ports[1], 1);
    assert_int_equal(o.pr.ports[2], 4);
    assert_int_equal(o.pr.max_registrations, 9);
    assert_int_equal(o.pr.ua_policy, PR_UA_REPORT);
    assert_string_equal(o.lu.sysfs, "/sys");
    assert_false(o.lu.create_xattr);
    assert_int_equal(o.lu.n_maps, 1);
    assert_string_equal(o.lu.maps[0].name, "shared-disk-1");
    assert_string_equal(o.lu.maps[0].path, "/srv/images/disk1.img");
    assert_int_equal(o.lu.maps[0].mode, LU_MODE_EMULATION);
    assert_int_equal(o.mode, LU_MODE_PASSTHROUGH);
    assert_int_equal(o.passthrough_timeout_ms, 2500);
    testutil_rmtree(dir);
}

/* Each socket's identity policy, initiator, port and peers reach its
 * listener (config_to_listener()), and the log line names them. */
static void test_listener_from_socket(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = write_config(
        dir, "[daemon]\nsocket = /tmp/x.sock\nidentity = client\n"
             "[socket tools]\npath = /tmp/tools.sock\n"
             "identity = iqn.2026-11.test:Tool\nrelative-target-port = 4\n"
             "peer-uids = 0\n");
    g_autoptr(Config) c = config_new();
    g_autofree char *line = NULL;
    GError *error = NULL;
    ListenerConfig l;

    if (!config_load_file(c, path, &error)) {
        fail_msg("%s", error->message);
    }
    assert_true(config_finish(c, NULL));
    config_to_listener(socket_at(c, 0), &l);
    assert_int_equal(l.identity, IDENTITY_CLIENT);
    assert_int_equal(l.rtpi, 1);
    config_to_listener(socket_at(c, 1), &l);
    assert_int_equal(l.identity, IDENTITY_FIXED);
    assert_string_equal(l.initiator.name, "iqn.2026-11.test:tool");
    assert_int_equal(l.rtpi, 4);
    assert_ptr_equal(l.peers.uids, socket_at(c, 1)->peers.uids);
    line = config_describe_socket(socket_at(c, 1));
    assert_string_equal(line, "/tmp/tools.sock (initiator "
                              "iqn.2026-11.test:tool, relative target port "
                              "4)");
    testutil_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_identity_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_example_file_uncommented),
        cmocka_unit_test(test_finish_errors),
        cmocka_unit_test(test_server_options_every_setting),
        cmocka_unit_test(test_listener_from_socket),
    };

    return TESTUTIL_RUN("config", tests, NULL, NULL);
}
