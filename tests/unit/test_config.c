/*
 * test_config: defaults, the GKeyFile settings and their errors.
 */
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "config.h"
#include "error.h"
#include "tid.h"

static char *write_config(const char *dir, const char *text)
{
    char *path = g_build_filename(dir, "softprd.conf", NULL);

    assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

/* Defaults: rollback journal, 5 s lock bound, unit attentions recorded,
 * target port 1, and paths by who runs the daemon. */
static void test_defaults(void **state)
{
    g_autoptr(Config) c = config_new();

    assert_int_equal(c->journal, STORE_JOURNAL_DELETE);
    assert_int_equal(c->lock_timeout_ms, 5000);
    assert_int_equal(c->ua_policy, PR_UA_RECORD);
    assert_int_equal(c->rtpi, 1);
    assert_int_equal(c->workers, 4);
    assert_true(c->db_path_is_default);
    if (geteuid() == 0) {
        assert_string_equal(c->socket_path, "/run/softprd.sock");
        assert_string_equal(c->db_path, "/var/lib/softpr/softpr.db");
    } else {
        assert_true(g_str_has_suffix(c->socket_path, "/softprd.sock"));
        assert_true(g_str_has_suffix(c->db_path, "/softpr/softpr.db"));
    }
    assert_true(config_finish(c, NULL));
    assert_true(tid_iscsi_name_valid(c->initiator));
}

/* Every key is read, seconds as decimals. */
static void test_every_key(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = write_config(
        dir, "[daemon]\n"
             "socket = /tmp/x.sock\npidfile = /tmp/x.pid\nuser = u\n"
             "group = g\nhost-id = node-7\nworkers = 8\n"
             "max-connections = 12\nrequest-timeout = 1.5\n"
             "[database]\npath = /tmp/x.db\njournal-mode = WAL\n"
             "lock-timeout = 0.25\n"
             "[scsi]\ninitiator = IQN.2026-11.test:Node7\n"
             "relative-target-port = 3\nunit-attentions = report\n"
             "max-registrations = 9\n");
    g_autoptr(Config) c = config_new();
    GError *error = NULL;

    if (!config_load_file(c, path, &error)) {
        fail_msg("%s", error->message);
    }
    assert_true(config_finish(c, NULL));
    assert_string_equal(c->socket_path, "/tmp/x.sock");
    assert_string_equal(c->pidfile, "/tmp/x.pid");
    assert_string_equal(c->user, "u");
    assert_string_equal(c->group, "g");
    assert_string_equal(c->host_id, "node-7");
    assert_int_equal(c->workers, 8);
    assert_int_equal(c->max_connections, 12);
    assert_int_equal(c->request_timeout_ms, 1500);
    assert_string_equal(c->db_path, "/tmp/x.db");
    assert_false(c->db_path_is_default);
    assert_int_equal(c->journal, STORE_JOURNAL_WAL);
    assert_int_equal(c->lock_timeout_ms, 250);
    assert_string_equal(c->initiator, "IQN.2026-11.test:Node7");
    assert_int_equal(c->rtpi, 3);
    assert_int_equal(c->ua_policy, PR_UA_REPORT);
    assert_int_equal(c->max_registrations, 9);
    testutil_rmtree(dir);
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
        {"[daemon]\nworkers = 0\n", "workers"},
        {"[daemon]\nworkers = 65\n", "from 1 to 64"},
        {"[daemon]\nmax-connections = -1\n", "max-connections"},
        {"[daemon]\nrequest-timeout = soon\n", "request-timeout"},
        {"[daemon]\nrequest-timeout = 0\n", "above 0"},
        {"[database]\nlock-timeout = 30\n", "at most 25"},
        {"[database]\njournal-mode = truncate\n", "delete, wal"},
        {"[database]\npath =\n", "empty value"},
        {"[scsi]\nunit-attentions = always\n", "record, report"},
        {"[scsi]\nrelative-target-port = 65536\n", "relative-target-port"},
        {"[scsi]\ninitiator = host a\n", "not a valid iSCSI name"},
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

/* The default initiator name is a valid iSCSI name made from the host
 * id, with characters iSCSI names do not allow replaced. */
static void test_initiator_for_host(void **state)
{
    g_autofree char *a = config_initiator_for_host("Node_1.Example");
    g_autofree char *b = config_initiator_for_host("vm 2/x");
    g_autoptr(Config) c = config_new();

    assert_string_equal(a, CONFIG_IQN_PREFIX ":node-1.example");
    assert_string_equal(b, CONFIG_IQN_PREFIX ":vm-2-x");
    assert_true(tid_iscsi_name_valid(a));
    assert_true(tid_iscsi_name_valid(b));
    g_free(c->host_id);
    c->host_id = g_strdup("");
    assert_false(config_finish(c, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_initiator_for_host),
    };

    return TESTUTIL_RUN("config", tests, NULL, NULL);
}
