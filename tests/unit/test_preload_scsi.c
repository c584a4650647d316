/*
 * test_preload_scsi: the disk libsoftpr-preload.so emulates, as pure
 * functions: INQUIRY (SPC-4 6.6) with VPD pages 00h, 80h, 83h (7.8),
 * READ CAPACITY (10) and (16) (SBC-3 5.15, 5.16), TEST UNIT READY,
 * INVALID COMMAND OPERATION CODE for the rest (SPC-4 4.5.6); the sg v3
 * header as the kernel's SG_IO fills it; the framing of PR commands for
 * softprd; SOFTPR_DEVICES globs.
 */
#include <errno.h>
#include <string.h>

#include "testutil.h"

#include "bytes.h"
#include "preload_match.h"
#include "preload_scsi.h"
#include "scsi.h"
#include "vpd.h"

#define LU_NAME "lu-3f1c2a9e-5b7d-4c1e-9a0f-2d8e6b4c7a15"

static const PreloadLu lu = {
    .name = LU_NAME, .size = 64 << 20, .block_size = 512};

static void answer(const uint8_t *cdb6, size_t len, PreloadAnswer *a)
{
    uint8_t cdb[WIRE_CDB_LEN] = {0};

    memcpy(cdb, cdb6, len);
    preload_scsi_answer(&lu, cdb, a);
}

static void assert_check(const PreloadAnswer *a, uint8_t key, uint8_t asc,
                         uint8_t ascq)
{
    ScsiSenseCode code;

    assert_int_equal(a->status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(a->sense_len, SCSI_SENSE_FIXED_LEN);
    assert_true(scsi_sense_parse(a->sense, a->sense_len, &code));
    assert_int_equal(code.key, key);
    assert_int_equal(code.asc, asc);
    assert_int_equal(code.ascq, ascq);
    assert_int_equal(a->data_len, 0);
}

/* SPC-4 6.4.1 / SAM-5: TEST UNIT READY on a ready LU is GOOD, no data. */
static void test_tur_good(void **state)
{
    static const uint8_t tur[6] = {0x00};
    PreloadAnswer a;

    answer(tur, sizeof(tur), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data_len, 0);
    assert_int_equal(a.sense_len, 0);
}

/* SPC-4 6.6.2: standard data, a disk (PDT 0), SPC-4, format 2, cut to
 * the ALLOCATION LENGTH. */
static void test_6_6_2_standard_inquiry(void **state)
{
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};
    static const uint8_t inq5[6] = {0x12, 0, 0, 0, 5, 0};
    PreloadAnswer a;

    answer(inq, sizeof(inq), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data_len, 36);
    assert_int_equal(a.data[0], 0x00);
    assert_int_equal(a.data[2], 0x06);
    assert_int_equal(a.data[3] & 0x0f, 2);
    assert_int_equal(a.data[4], 36 - 5);
    assert_memory_equal(a.data + 8, "SOFTPR  ", 8);
    answer(inq5, sizeof(inq5), &a);
    assert_int_equal(a.data_len, 5);
}

/* SPC-4 6.6.1: a PAGE CODE without EVPD, the obsolete CMDDT bit, and an
 * unsupported VPD page are INVALID FIELD IN CDB, with a field pointer. */
static void test_6_6_1_inquiry_invalid_fields(void **state)
{
    static const uint8_t page_no_evpd[6] = {0x12, 0, 0x83, 0, 255, 0};
    static const uint8_t cmddt[6] = {0x12, 0x02, 0, 0, 255, 0};
    static const uint8_t unknown_page[6] = {0x12, 0x01, 0xb0, 0, 255, 0};
    PreloadAnswer a;

    answer(page_no_evpd, sizeof(page_no_evpd), &a);
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    /* SKSV, C/D: the CDB, byte 2. */
    assert_int_equal(a.sense[15] & 0xc0, 0xc0);
    assert_int_equal(get_be16(a.sense + 16), 2);
    answer(cmddt, sizeof(cmddt), &a);
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    answer(unknown_page, sizeof(unknown_page), &a);
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
}

/* SPC-4 7.8.13: SUPPORTED VPD PAGES lists 00h, 80h, 83h in order. */
static void test_7_8_13_supported_pages(void **state)
{
    static const uint8_t cdb[6] = {0x12, 0x01, 0x00, 0, 255, 0};
    static const uint8_t expect[] = {0x00, 0x00, 0x00, 0x03, 0x00, 0x80, 0x83};
    PreloadAnswer a;

    answer(cdb, sizeof(cdb), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data_len, sizeof(expect));
    assert_memory_equal(a.data, expect, sizeof(expect));
}

/* SPC-4 7.8.6: DEVICE IDENTIFICATION: an NAA 3h (locally assigned,
 * 7.8.6.6.5) designator and a T10 vendor ID one carrying the LU name,
 * both of the logical unit (ASSOCIATION 00b); PAGE LENGTH covers them. */
static void test_7_8_6_device_identification(void **state)
{
    static const uint8_t cdb[6] = {0x12, 0x01, 0x83, 0x01, 0x00, 0};
    PreloadAnswer a;
    const uint8_t *d;
    size_t name_len = strlen(LU_NAME);

    answer(cdb, sizeof(cdb), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data[1], 0x83);
    assert_int_equal(get_be16(a.data + 2), a.data_len - 4);
    d = a.data + 4;
    assert_int_equal(d[0] & 0x0f, 0x1); /* binary */
    assert_int_equal(d[1], 0x03);       /* LU, NAA */
    assert_int_equal(d[3], 8);
    assert_int_equal(d[4] >> 4, 0x3); /* NAA 3h */
    d += 4 + d[3];
    assert_int_equal(d[0] & 0x0f, 0x2); /* ASCII */
    assert_int_equal(d[1], 0x01);       /* LU, T10 vendor ID */
    assert_int_equal(d[3], 8 + name_len);
    assert_memory_equal(d + 4, "SOFTPR  ", 8);
    assert_memory_equal(d + 12, LU_NAME, name_len);
    assert_int_equal(a.data_len, 4 + 12 + 4 + 8 + name_len);
}

/* The designators depend on the LU name alone: the same name gives the
 * same NAA and serial on every host; another name gives others. */
static void test_designators_follow_the_lu_name(void **state)
{
    uint8_t a[VPD_PAGE_MAX];
    uint8_t b[VPD_PAGE_MAX];
    uint8_t naa1[8];
    uint8_t naa2[8];
    size_t la = vpd_page(VPD_PAGE_SERIAL, "/shared/disk.img", a);
    size_t lb = vpd_page(VPD_PAGE_SERIAL, "/shared/disk.img", b);
    char serial[17] = {0};

    assert_int_equal(la, 4 + 16);
    assert_int_equal(lb, la);
    assert_memory_equal(a, b, la);
    vpd_naa("/shared/disk.img", naa1);
    vpd_naa("/shared/other.img", naa2);
    assert_memory_not_equal(naa1, naa2, 8);
    /* 7.8.15: the serial is the NAA value in hex. */
    for (int i = 0; i < 8; i++) {
        g_snprintf(serial + 2 * i, 3, "%02X", naa1[i]);
    }
    assert_memory_equal(a + 4, serial, 16);
    /* A name longer than a designator holds is cut, not overrun. */
    {
        g_autofree char *long_name = g_strnfill(600, 'x');
        size_t len = vpd_page(VPD_PAGE_DEVICE_ID, long_name, a);

        assert_true(len <= VPD_PAGE_MAX);
        assert_int_equal(a[4 + 12 + 3], 255);
    }
}

/* SBC-3 5.15: READ CAPACITY (10): last LBA and block length; FFFFFFFFh
 * past 32 bits; an LBA without PMI is INVALID FIELD IN CDB. */
static void test_sbc3_5_15_read_capacity_10(void **state)
{
    static const uint8_t cdb[10] = {0x25};
    static const uint8_t lba[10] = {0x25, 0, 0, 0, 0, 1};
    PreloadLu big = {.name = "x", .size = 4ull << 40, .block_size = 512};
    uint8_t full[WIRE_CDB_LEN] = {0x25};
    PreloadAnswer a;

    answer(cdb, sizeof(cdb), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data_len, 8);
    assert_int_equal(get_be32(a.data), (64 << 20) / 512 - 1);
    assert_int_equal(get_be32(a.data + 4), 512);
    preload_scsi_answer(&big, full, &a);
    assert_int_equal(get_be32(a.data), 0xffffffffu);
    answer(lba, sizeof(lba), &a);
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
}

/* SBC-3 5.16: READ CAPACITY (16) is SERVICE ACTION IN (16) 10h, cut to
 * its ALLOCATION LENGTH; another service action is INVALID FIELD IN CDB
 * (SPC-4 4.5.6 keeps INVALID COMMAND OPERATION CODE for the opcode). */
static void test_sbc3_5_16_read_capacity_16(void **state)
{
    static const uint8_t cdb[16] = {0x9e, 0x10, [13] = 32};
    static const uint8_t short_alloc[16] = {0x9e, 0x10, [13] = 12};
    static const uint8_t other_sa[16] = {0x9e, 0x11, [13] = 32};
    PreloadLu big = {.name = "x", .size = 4ull << 40, .block_size = 4096};
    PreloadAnswer a;
    uint8_t full[WIRE_CDB_LEN];

    answer(cdb, sizeof(cdb), &a);
    assert_int_equal(a.status, SCSI_STATUS_GOOD);
    assert_int_equal(a.data_len, 32);
    assert_int_equal(get_be64(a.data), (64 << 20) / 512 - 1);
    assert_int_equal(get_be32(a.data + 8), 512);
    memcpy(full, cdb, sizeof(full));
    preload_scsi_answer(&big, full, &a);
    assert_int_equal(get_be64(a.data), (4ull << 40) / 4096 - 1);
    assert_int_equal(get_be32(a.data + 8), 4096);
    answer(short_alloc, sizeof(short_alloc), &a);
    assert_int_equal(a.data_len, 12);
    answer(other_sa, sizeof(other_sa), &a);
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
}

/* SPC-4 4.5.6 / annex D: any other command (READ (10), WRITE (10),
 * REQUEST SENSE, MODE SENSE) is INVALID COMMAND OPERATION CODE. */
static void test_4_5_6_other_commands_invalid_opcode(void **state)
{
    static const uint8_t ops[] = {0x28, 0x2a, 0x03, 0x1a, 0xa0, 0x88};
    PreloadAnswer a;

    for (size_t i = 0; i < sizeof(ops); i++) {
        uint8_t cdb[WIRE_CDB_LEN] = {ops[i]};

        preload_scsi_answer(&lu, cdb, &a);
        assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x20, 0x00);
    }
}

/* The kernel refuses a header it cannot run before any command. */
static void test_sgio_header_checks(void **state)
{
    uint8_t cdb[6] = {0};
    uint8_t buf[8];
    sg_io_hdr_t h;

    memset(&h, 0, sizeof(h));
    h.interface_id = 'S';
    h.cmd_len = 6;
    h.cmdp = cdb;
    h.dxfer_direction = SG_DXFER_NONE;
    assert_int_equal(preload_sgio_check(&h), 0);
    h.interface_id = 'Q'; /* sg v4 goes to bsg, not SG_IO on a disk */
    assert_int_equal(preload_sgio_check(&h), EINVAL);
    h.interface_id = 'S';
    h.cmd_len = 17;
    assert_int_equal(preload_sgio_check(&h), EINVAL);
    h.cmd_len = 0;
    assert_int_equal(preload_sgio_check(&h), EINVAL);
    h.cmd_len = 6;
    h.cmdp = NULL;
    assert_int_equal(preload_sgio_check(&h), EFAULT);
    h.cmdp = cdb;
    h.dxfer_len = sizeof(buf);
    h.dxfer_direction = SG_DXFER_FROM_DEV;
    assert_int_equal(preload_sgio_check(&h), EFAULT);
    h.dxferp = buf;
    assert_int_equal(preload_sgio_check(&h), 0);
    h.dxfer_direction = -7;
    assert_int_equal(preload_sgio_check(&h), EINVAL);
}

/*
 * What SG_IO hands back on a SCSI disk: status, masked status (status
 * >> 1), DRIVER_SENSE and as much sense as the device gave and
 * mx_sb_len allows, the data cut to dxfer_len, resid, SG_INFO_CHECK.
 */
static void test_sgio_completion(void **state)
{
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    static const uint8_t bad[10] = {0x28};
    uint8_t data[64];
    uint8_t sense[64];
    PreloadAnswer a;
    sg_io_hdr_t h;

    memset(&h, 0, sizeof(h));
    memset(sense, 0xee, sizeof(sense));
    h.interface_id = 'S';
    h.dxfer_direction = SG_DXFER_FROM_DEV;
    h.dxferp = data;
    h.dxfer_len = 20; /* shorter than the 36 bytes asked */
    h.sbp = sense;
    h.mx_sb_len = sizeof(sense);
    answer(inq, sizeof(inq), &a);
    preload_sgio_complete(&h, &a, 0);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.info & SG_INFO_OK_MASK, SG_INFO_OK);
    assert_int_equal(h.resid, 0);
    assert_int_equal(h.sb_len_wr, 0);
    assert_memory_equal(data + 8, "SOFTPR  ", 8);
    h.dxfer_len = sizeof(data);
    preload_sgio_complete(&h, &a, 0);
    assert_int_equal(h.resid, sizeof(data) - 36);

    answer(bad, sizeof(bad), &a);
    preload_sgio_complete(&h, &a, 0);
    assert_int_equal(h.status, SCSI_STATUS_CHECK_CONDITION);
    assert_int_equal(h.masked_status, 0x01); /* CHECK_CONDITION >> 1 */
    assert_int_equal(h.driver_status, 0x08); /* DRIVER_SENSE */
    assert_int_equal(h.host_status, 0);
    assert_int_equal(h.sb_len_wr, 18);
    assert_int_equal(sense[18], 0xee); /* nothing past the sense */
    assert_int_equal(h.resid, sizeof(data));
    assert_int_equal(h.info & SG_INFO_OK_MASK, SG_INFO_CHECK);
    h.mx_sb_len = 8;
    preload_sgio_complete(&h, &a, 0);
    assert_int_equal(h.sb_len_wr, 8);

    /* RESERVATION CONFLICT: status 18h, no sense (SPC-4 5.12.1). */
    memset(&a, 0, sizeof(a));
    a.status = SCSI_STATUS_RESERVATION_CONFLICT;
    h.dxfer_direction = SG_DXFER_TO_DEV;
    h.mx_sb_len = sizeof(sense);
    preload_sgio_complete(&h, &a, 24);
    assert_int_equal(h.masked_status, 0x0c);
    assert_int_equal(h.driver_status, 0);
    assert_int_equal(h.sb_len_wr, 0);
    assert_int_equal(h.resid, sizeof(data) - 24);
    assert_int_equal(h.info & SG_INFO_OK_MASK, SG_INFO_CHECK);
}

/* Data to and from an sg_iovec list (libiscsi sends data-out so). */
static void test_sgio_iovec_transfer(void **state)
{
    uint8_t a[3];
    uint8_t b[5];
    uint8_t src[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t back[8] = {0};
    sg_iovec_t v[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
    sg_io_hdr_t h;

    memset(&h, 0, sizeof(h));
    h.iovec_count = 2;
    h.dxferp = v;
    h.dxfer_len = 7;
    assert_int_equal(preload_sgio_transfer(&h, src, sizeof(src), true), 7);
    assert_int_equal(a[2], 3);
    assert_int_equal(b[3], 7);
    assert_int_equal(preload_sgio_transfer(&h, back, sizeof(back), false), 7);
    assert_memory_equal(back, src, 7);
    assert_int_equal(back[7], 0);
}

/*
 * PR commands go to softprd as QEMU's pr-manager-helper frames them: 16
 * bytes, parameter length from CDB bytes 7-8; a PR IN allocation length
 * above 8192 is sent as 8192; a transfer the header cannot carry is
 * INVALID FIELD IN CDB without reaching softprd.
 */
static void test_pr_framing(void **state)
{
    uint8_t in[WIRE_CDB_LEN] = {0x5e, 0x00, [7] = 0x40, [8] = 0x00};
    uint8_t out[WIRE_CDB_LEN] = {0x5f, 0x00, [8] = 24};
    uint8_t wire[WIRE_CDB_LEN];
    size_t param_len = 99;
    PreloadAnswer a;

    assert_true(
        preload_pr_frame(in, SG_DXFER_FROM_DEV, 16384, wire, &param_len, &a));
    assert_int_equal(get_be16(wire + 7), WIRE_DATA_MAX);
    assert_int_equal(param_len, 0);
    assert_true(
        preload_pr_frame(out, SG_DXFER_TO_DEV, 24, wire, &param_len, &a));
    assert_memory_equal(wire, out, WIRE_CDB_LEN);
    assert_int_equal(param_len, 24);
    assert_false(
        preload_pr_frame(out, SG_DXFER_TO_DEV, 20, wire, &param_len, &a));
    assert_check(&a, SCSI_KEY_ILLEGAL_REQUEST, 0x24, 0x00);
    assert_false(
        preload_pr_frame(out, SG_DXFER_FROM_DEV, 24, wire, &param_len, &a));
    assert_false(
        preload_pr_frame(in, SG_DXFER_TO_DEV, 8192, wire, &param_len, &a));
    out[7] = 0x30; /* 12312 bytes: more than the protocol carries */
    assert_false(
        preload_pr_frame(out, SG_DXFER_TO_DEV, 16384, wire, &param_len, &a));
}

/* SOFTPR_DEVICES: ':'-separated shell globs; '*' stays within a
 * directory (FNM_PATHNAME); empty entries match nothing. */
static void test_devices_globs(void **state)
{
    assert_true(preload_match_path("/shared/disk.img", "/shared/disk.img"));
    assert_true(preload_match_path("/a:/shared/*.img", "/shared/disk.img"));
    assert_true(preload_match_path("/dev/loop[0-9]*", "/dev/loop12"));
    assert_false(preload_match_path("/shared/*", "/shared/sub/disk.img"));
    assert_false(preload_match_path("/shared/disk.im", "/shared/disk.img"));
    assert_false(preload_match_path("", "/shared/disk.img"));
    assert_false(preload_match_path("::", "/shared/disk.img"));
    assert_false(preload_match_path(NULL, "/shared/disk.img"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tur_good),
        cmocka_unit_test(test_6_6_2_standard_inquiry),
        cmocka_unit_test(test_6_6_1_inquiry_invalid_fields),
        cmocka_unit_test(test_7_8_13_supported_pages),
        cmocka_unit_test(test_7_8_6_device_identification),
        cmocka_unit_test(test_designators_follow_the_lu_name),
        cmocka_unit_test(test_sbc3_5_15_read_capacity_10),
        cmocka_unit_test(test_sbc3_5_16_read_capacity_16),
        cmocka_unit_test(test_4_5_6_other_commands_invalid_opcode),
        cmocka_unit_test(test_sgio_header_checks),
        cmocka_unit_test(test_sgio_completion),
        cmocka_unit_test(test_sgio_iovec_transfer),
        cmocka_unit_test(test_pr_framing),
        cmocka_unit_test(test_devices_globs),
    };

    return TESTUTIL_RUN("preload_scsi", tests, NULL, NULL);
}
