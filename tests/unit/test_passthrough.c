/*
 * test_passthrough: how SG_IO outcomes become answers in passthrough
 * mode, how sgio judges them, and SG_IO on descriptors that are not
 * SCSI devices.
 *
 * The errno answers are qemu-pr-helper's (scsi_sense_from_errno), which
 * a guest already handles; host and driver errors always answer an
 * error, where qemu-pr-helper answers GOOD for host statuses it does
 * not know (scsi/qemu-pr-helper.c do_sgio(), with scsi_sense_from_errno()
 * and scsi_sense_from_host_status() in QEMU's scsi/utils.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "bytes.h"
#include "cdb.h"
#include "passthrough.h"
#include "scsi.h"
#include "sgio.h"

/* READ KEYS with allocation length @alloc. */
static void read_keys_cdb(uint8_t *cdb, uint16_t alloc)
{
    cdb_pr_in(cdb, PR_IN_READ_KEYS, alloc);
}

static void reply(const SgOutcome *sg, PrResult *result)
{
    uint8_t cdb[CDB_LEN];

    read_keys_cdb(cdb, 64);
    memset(result, 0xee, sizeof(*result));
    passthrough_reply(cdb, sg, result);
}

static void assert_sense(const PrResult *r, uint8_t key, uint8_t asc,
                         uint8_t ascq)
{
    assert_int_equal(r->status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(r->sense[0], 0x70);
    assert_int_equal(r->sense[2], key);
    assert_int_equal(r->sense[7], 0x0a);
    assert_int_equal(r->sense[12], asc);
    assert_int_equal(r->sense[13], ascq);
    assert_int_equal(r->data_len, 0);
}

/* ioctl errors: qemu-pr-helper's answers, errno by errno. */
static void test_errno_answers(void **state)
{
    static const struct {
        int error;
        uint8_t status, key, asc, ascq;
    } cases[] = {
        {ENOTTY, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06},
        {EIO, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06},
        {EPERM, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x00, 0x06},
        {EINVAL, SCSI_STATUS_CHECK_CONDITION, 0x5, 0x24, 0x00},
        {ENOMEDIUM, SCSI_STATUS_CHECK_CONDITION, 0x2, 0x3a, 0x00},
        {ENOMEM, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00},
        {ENODEV, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00},
        {ENOSPC, SCSI_STATUS_CHECK_CONDITION, 0x7, 0x27, 0x07},
        {ENODATA, SCSI_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00},
        {EBADE, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0},
        {EDOM, SCSI_STATUS_TASK_SET_FULL, 0, 0, 0},
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        SgOutcome sg = {.error = cases[i].error};
        PrResult r;

        reply(&sg, &r);
        if (cases[i].status == SCSI_STATUS_CHECK_CONDITION) {
            assert_sense(&r, cases[i].key, cases[i].asc, cases[i].ascq);
        } else {
            assert_int_equal(r.status, cases[i].status);
            assert_int_equal(r.sense[0], 0);
            assert_int_equal(r.data_len, 0);
        }
    }
}

/*
 * Host errors are never GOOD, whatever the device status says: retryable
 * ones are BUSY, a nexus failure is RESERVATION CONFLICT, the others a
 * CHECK CONDITION naming what happened.
 */
static void test_host_errors_are_errors(void **state)
{
    static const struct {
        uint16_t host;
        uint8_t status, key, asc, ascq;
    } cases[] = {
        {0x01, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x05, 0x00}, /* NO_CONNECT */
        {0x02, SCSI_STATUS_BUSY, 0, 0, 0},                    /* BUS_BUSY */
        {0x03, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x2e, 0x02}, /* TIME_OUT */
        {0x04, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x05, 0x00}, /* BAD_TARGET */
        {0x05, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x2f, 0x02}, /* ABORT */
        {0x06, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00}, /* PARITY */
        {0x07, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00}, /* ERROR */
        {0x08, SCSI_STATUS_CHECK_CONDITION, 0x6, 0x29, 0x00}, /* RESET */
        {0x0b, SCSI_STATUS_BUSY, 0, 0, 0},                    /* SOFT_ERROR */
        {0x0d, SCSI_STATUS_BUSY, 0, 0, 0},                    /* REQUEUE */
        {0x0e, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x29, 0x07}, /* DISRUPTED */
        {0x0f, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00}, /* FAILFAST */
        {0x10, SCSI_STATUS_CHECK_CONDITION, 0x4, 0x44, 0x00}, /* TARGET_FAIL */
        {0x11, SCSI_STATUS_RESERVATION_CONFLICT, 0, 0, 0},    /* NEXUS_FAIL */
        {0x12, SCSI_STATUS_CHECK_CONDITION, 0x7, 0x27, 0x07}, /* ALLOC_FAIL */
        {0x13, SCSI_STATUS_CHECK_CONDITION, 0x3, 0x11, 0x00}, /* MEDIUM */
        {0x7f, SCSI_STATUS_CHECK_CONDITION, 0xb, 0x08, 0x00}, /* unknown */
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        SgOutcome sg = {.host_status = cases[i].host,
                        .status = SCSI_STATUS_GOOD,
                        .data_len = 16};
        PrResult r;

        reply(&sg, &r);
        assert_int_not_equal(r.status, SCSI_STATUS_GOOD);
        if (cases[i].status == SCSI_STATUS_CHECK_CONDITION) {
            assert_sense(&r, cases[i].key, cases[i].asc, cases[i].ascq);
        } else {
            assert_int_equal(r.status, cases[i].status);
            assert_int_equal(r.data_len, 0);
        }
    }
}

/* Driver timeouts and retries invite a retry (BUSY); other driver
 * errors are errors; DRIVER_SENSE is normal with CHECK CONDITION. */
static void test_driver_errors(void **state)
{
    SgOutcome timeout = {.driver_status = 0x06, .data_len = 16};
    SgOutcome hard = {.driver_status = 0x07, .data_len = 16};
    PrResult r;

    reply(&timeout, &r);
    assert_int_equal(r.status, SCSI_STATUS_BUSY);
    assert_int_equal(r.data_len, 0);
    reply(&hard, &r);
    assert_sense(&r, 0xb, 0x08, 0x00);
}

/* The device's answer is kept: its status, and its own sense bytes
 * (any format, up to the 96 the protocol carries). */
static void test_device_answers_kept(void **state)
{
    uint8_t sense[120];
    SgOutcome cc = {.status = SCSI_STATUS_CHECK_CONDITION,
                    .driver_status = 0x08,
                    .sense = sense,
                    .sense_len = sizeof(sense)};
    SgOutcome conflict = {.status = SCSI_STATUS_RESERVATION_CONFLICT};
    PrResult r;
    size_t i;

    for (i = 0; i < sizeof(sense); i++) {
        sense[i] = (uint8_t)(i + 1);
    }
    sense[0] = 0x72; /* descriptor format: passed on as it is */
    reply(&cc, &r);
    assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
    assert_memory_equal(r.sense, sense, sizeof(r.sense));
    assert_int_equal(r.data_len, 0);
    reply(&conflict, &r);
    assert_int_equal(r.status, SCSI_STATUS_RESERVATION_CONFLICT);
    assert_int_equal(r.sense[0], 0);
}

/* PR IN data: what the device transferred, never more than the
 * allocation length (QEMU aborts the VM on a longer payload); PR OUT
 * answers carry none. */
static void test_payload_capped(void **state)
{
    uint8_t cdb[CDB_LEN];
    SgOutcome sg = {.status = SCSI_STATUS_GOOD, .data_len = 100};
    PrResult r;

    read_keys_cdb(cdb, 24);
    passthrough_reply(cdb, &sg, &r);
    assert_int_equal(r.status, SCSI_STATUS_GOOD);
    assert_int_equal(r.data_len, 24);
    sg.data_len = 8;
    passthrough_reply(cdb, &sg, &r);
    assert_int_equal(r.data_len, 8);
    cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, 24);
    sg.data_len = 24;
    passthrough_reply(cdb, &sg, &r);
    assert_int_equal(r.status, SCSI_STATUS_GOOD);
    assert_int_equal(r.data_len, 0);
}

/*
 * Real SG_IO on descriptors that are not SCSI devices: a regular file
 * and /dev/null answer ABORTED COMMAND, I/O PROCESS TERMINATED, as
 * qemu-pr-helper does (ENOTTY); PR OUT through a read-only descriptor
 * never reaches the device: ILLEGAL REQUEST, INVALID COMMAND OPERATION
 * CODE.
 */
static void test_not_a_scsi_device(void **state)
{
    g_autofree char *dir = testutil_tmpdir();
    g_autofree char *path = g_build_filename(dir, "disk.img", NULL);
    uint8_t cdb[CDB_LEN];
    uint8_t param[WIRE_DATA_MAX];
    size_t len = cdb_prout_basic(param, 0, 0x5eed, 0, NULL, 0);
    CommandRequest request = {.cdb = cdb, .data = param, .data_len = len};
    PrResult *r = g_new0(PrResult, 1);
    int fds[2];
    size_t i;
    int ro;

    assert_true(g_file_set_contents(path, "", 0, NULL));
    fds[0] = open(path, O_RDWR);
    fds[1] = open("/dev/null", O_RDWR);
    for (i = 0; i < 2; i++) {
        read_keys_cdb(cdb, 8192);
        passthrough_execute(fds[i], &request, 1000, r);
        assert_sense(r, 0xb, 0x00, 0x06);
        cdb_pr_out(cdb, PR_OUT_REGISTER, 0, 0, (uint32_t)len);
        passthrough_execute(fds[i], &request, 1000, r);
        assert_sense(r, 0xb, 0x00, 0x06);
        close(fds[i]);
    }
    ro = open(path, O_RDONLY);
    request.fd_read_only = true;
    passthrough_execute(ro, &request, 1000, r);
    assert_sense(r, 0x5, 0x20, 0x00);
    close(ro);
    g_free(r);
    testutil_rmtree(dir);
}

/*
 * sgio judges an SG_IO outcome in the order the kernel reports it: the
 * ioctl's errno, then the host byte, then the driver byte (its low
 * nibble); DRIVER_SENSE comes with CHECK CONDITION and is no failure.
 * Only an answered command with GOOD status is good.
 */
static void test_sgio_judge_order(void **state)
{
    SgOutcome sg = {.error = EIO, .host_status = 0x01, .driver_status = 0x06};

    assert_int_equal(sgio_judge(&sg), SGIO_IOCTL_FAILED);
    assert_false(sgio_good(&sg));
    sg.error = 0;
    assert_int_equal(sgio_judge(&sg), SGIO_HOST_FAILED);
    assert_false(sgio_good(&sg));
    sg.host_status = 0;
    assert_int_equal(sgio_judge(&sg), SGIO_DRIVER_RETRY);
    assert_false(sgio_good(&sg));
    sg.driver_status = 0x07;
    assert_int_equal(sgio_judge(&sg), SGIO_DRIVER_FAILED);
    assert_false(sgio_good(&sg));
    sg.driver_status = 0x08;
    sg.status = SCSI_STATUS_CHECK_CONDITION;
    assert_int_equal(sgio_judge(&sg), SGIO_ANSWERED);
    assert_false(sgio_good(&sg));
    sg.driver_status = 0x00;
    sg.status = SCSI_STATUS_GOOD;
    assert_int_equal(sgio_judge(&sg), SGIO_ANSWERED);
    assert_true(sgio_good(&sg));
}

/* sgio_issue on descriptors that are no SCSI device: the ioctl's errno,
 * no status, nothing transferred. */
static void test_sgio_issue_not_a_device(void **state)
{
    uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0}; /* INQUIRY */
    uint8_t data[36];
    uint8_t sense[32];
    SgioRequest req = {.cdb = cdb,
                       .cdb_len = sizeof(cdb),
                       .direction = SGIO_DATA_FROM_DEV,
                       .data = data,
                       .data_len = sizeof(data),
                       .sense = sense,
                       .sense_cap = sizeof(sense),
                       .timeout_ms = 1000};
    SgOutcome sg;
    int fd = open("/dev/null", O_RDWR);

    assert_true(fd >= 0);
    memset(&sg, 0xee, sizeof(sg));
    sgio_issue(fd, &req, &sg);
    assert_int_not_equal(sg.error, 0);
    assert_int_equal(sgio_judge(&sg), SGIO_IOCTL_FAILED);
    assert_int_equal(sg.data_len, 0);
    assert_int_equal(sg.sense_len, 0);
    close(fd);
    sgio_issue(-1, &req, &sg);
    assert_int_equal(sg.error, EBADF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_answers),
        cmocka_unit_test(test_host_errors_are_errors),
        cmocka_unit_test(test_driver_errors),
        cmocka_unit_test(test_device_answers_kept),
        cmocka_unit_test(test_payload_capped),
        cmocka_unit_test(test_not_a_scsi_device),
        cmocka_unit_test(test_sgio_judge_order),
        cmocka_unit_test(test_sgio_issue_not_a_device),
    };

    return TESTUTIL_RUN("passthrough", tests, NULL, NULL);
}
