/* test_vhdx_driver.c - unit tests of the VHDX driver (format/vhdx/): CRC-32C, create of each
 * type with every block size and both sector sizes, write/read round trips against a model,
 * every map kind (PRESENT, ABSENT, ZERO, partially present runs), write_zeroes, flush
 * publishing through the log, a dirty image (pending log) read by overlay and replayed on a
 * writable open, the header update protocol, set_id and set_parent, and deterministic bytes
 * from create handles (derived LogGuids). */
#include "test_vhdx_support.h"

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(vf_vhdx_crc32c(0, "123456789", 9), 0xE3069283u);
    /* running value over two calls equals one call */
    uint32_t c = vf_vhdx_crc32c(0, "1234", 4);
    assert_int_equal(vf_vhdx_crc32c(c, "56789", 5), 0xE3069283u);
}

static void test_guid_text(void **state)
{
    (void)state;
    uint8_t g[16], back[16];
    char txt[VF_GUID_TEXT_LEN];
    assert_true(vf_vhdx_guid_parse("{2DC27766-F623-4200-9D64-115E9BFD4A08}", g));
    assert_memory_equal(g, vx_guid_bat, 16);
    vf_guid_text(VF_FORMAT_VHDX, g, txt);
    assert_string_equal(txt, "{2dc27766-f623-4200-9d64-115e9bfd4a08}");
    assert_true(vf_vhdx_guid_parse("2dc27766-f623-4200-9d64-115e9bfd4a08", back));
    assert_memory_equal(back, g, 16);
    assert_false(vf_vhdx_guid_parse("{2dc27766-f623-4200-9d64-115e9bfd4a0}", back));
    assert_false(vf_vhdx_guid_parse("{2dc27766+f623-4200-9d64-115e9bfd4a08}", back));
}

/* Read the whole image and compare with the model. */
static void t_expect(vf_image *img, const uint8_t *model, uint64_t size)
{
    uint8_t *buf = malloc((size_t)size);
    assert_non_null(buf);
    vf_error err = {0};
    if (vf_image_read(img, 0, buf, (size_t)size, &err) != VF_OK)
        fail_msg("read: %s", err.msg);
    for (uint64_t i = 0; i < size; i++)
        if (buf[i] != model[i])
            fail_msg("byte %llu: got %02x want %02x", (unsigned long long)i, buf[i], model[i]);
    free(buf);
}

static void t_write(vf_image *img, uint8_t *model, uint64_t voff, size_t len, uint8_t salt)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    t_fill(b, len, voff, salt);
    vf_error err = {0};
    if (vf_image_write(img, voff, b, len, &err) != VF_OK)
        fail_msg("write %llu+%zu: %s", (unsigned long long)voff, len, err.msg);
    memcpy(model + voff, b, len);
    free(b);
}

static vf_image *t_reopen(vf_image *img, tbuf *t, unsigned flags)
{
    vf_error err = {0};
    if (img) {
        if (img->writable && vf_image_flush(img, &err) != VF_OK)
            fail_msg("flush: %s", err.msg);
        vf_image_close(img);
    }
    vf_image *out = NULL;
    if (tb_open(t, flags, &out, &err) != VF_OK)
        fail_msg("reopen: %s", err.msg);
    return out;
}

/* Dynamic and fixed images of each block size and sector size: writes spanning blocks,
 * unaligned to blocks, read back before and after flush + reopen. */
static void test_roundtrip_types(void **state)
{
    (void)state;
    static const uint32_t bss[] = {1u * MIB, 2u * MIB, 32u * MIB, 256u * MIB};
    static const uint32_t lsss[] = {512, 4096};
    static const vf_disk_type types[] = {VF_DISK_DYNAMIC, VF_DISK_FIXED};
    const uint64_t size = 6u * MIB;
    for (size_t ti = 0; ti < ARRAY_LEN(types); ti++)
        for (size_t bi = 0; bi < ARRAY_LEN(bss); bi++)
            for (size_t li = 0; li < ARRAY_LEN(lsss); li++) {
                if (types[ti] == VF_DISK_FIXED && bss[bi] > 2u * MIB)
                    continue; /* keep fixed files small */
                tbuf t;
                vf_image *img = t_create(&t, types[ti], size, bss[bi], lsss[li], NULL);
                const vf_image_info *in = vf_image_info_get(img);
                assert_int_equal(in->type, types[ti]);
                assert_int_equal(in->logical_sector_size, lsss[li]);
                uint8_t *model = calloc(1, size);
                t_write(img, model, 0, 8192, 1);
                t_write(img, model, MIB - 4096, 3 * 4096 + (size_t)lsss[li], 2);
                t_write(img, model, 5u * MIB, MIB, 3);
                t_expect(img, model, size);
                img = t_reopen(img, &t, 0);
                t_expect(img, model, size);
                assert_false(vf_image_info_get(img)->log_replayed);
                vf_image_close(img);
                free(model);
                tb_free(&t);
            }
}

static void t_map_expect(vf_image *img, uint64_t voff, vf_extent_kind kind, uint64_t len)
{
    vf_extent e;
    vf_error err = {0};
    if (vf_image_map(img, voff, UINT64_MAX / 2, &e, &err) != VF_OK)
        fail_msg("map %llu: %s", (unsigned long long)voff, err.msg);
    if (e.kind != kind || e.len != len)
        fail_msg("map %llu: kind %d len %llu, want kind %d len %llu", (unsigned long long)voff,
                 e.kind, (unsigned long long)e.len, kind, (unsigned long long)len);
}

static vf_parent_link t_link(const vf_image *parent)
{
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memcpy(l.id, vf_image_info_get(parent)->id, 16);
    l.relative = "sub/base.vhdx";
    l.absolute = "C:\\vm\\base.vhdx";
    return l;
}

/* A differencing child: partially present block (SB bits per sector, LSB first), fully
 * written block, ZERO block, and NOT_PRESENT (ABSENT) everywhere else. */
static void test_differencing_map(void **state)
{
    (void)state;
    tbuf tp, tc;
    vf_image *parent = t_create(&tp, VF_DISK_DYNAMIC, 4u * MIB, MIB, 512, NULL);
    vf_parent_link l = t_link(parent);
    vf_image *img = t_create(&tc, VF_DISK_DIFF, 4u * MIB, MIB, 512, &l);
    const vf_image_info *in = vf_image_info_get(img);
    assert_int_equal(in->type, VF_DISK_DIFF);
    assert_memory_equal(in->parent_id, vf_image_info_get(parent)->id, 16);
    uint8_t *model = calloc(1, 4u * MIB);
    vf_error err = {0};
    t_write(img, model, 512, 1024, 7); /* sectors 1..2 of block 0 */
    t_write(img, model, MIB, MIB, 8);  /* block 1 whole */
    assert_int_equal(vf_image_write_zeroes(img, 2u * MIB, MIB, &err), VF_OK);
    for (int pass = 0; pass < 2; pass++) {
        t_map_expect(img, 0, VF_EXTENT_ABSENT, 512);
        t_map_expect(img, 512, VF_EXTENT_PRESENT, 1024);
        t_map_expect(img, 1536, VF_EXTENT_ABSENT, MIB - 1536);
        t_map_expect(img, MIB, VF_EXTENT_PRESENT, MIB);
        t_map_expect(img, 2u * MIB, VF_EXTENT_ZERO, MIB);
        t_map_expect(img, 3u * MIB, VF_EXTENT_ABSENT, MIB);
        t_expect(img, model, 4u * MIB);
        img = t_reopen(img, &tc, 0);
    }
    /* locators: relative (backslashes), then absolute */
    vf_locator loc[4];
    size_t n = 0;
    assert_int_equal(vf_image_locators(img, loc, 4, &n, &err), VF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(loc[0].kind, VF_LOC_RELATIVE);
    assert_string_equal(loc[0].path, "sub\\base.vhdx");
    assert_string_equal(loc[1].path, "C:\\vm\\base.vhdx");
    /* more sectors into the partial block: bits set after the data */
    vf_image_close(img);
    img = t_reopen(NULL, &tc, VF_OPEN_RDWR);
    t_write(img, model, 4096, 512, 9);
    t_map_expect(img, 4096, VF_EXTENT_PRESENT, 512);
    img = t_reopen(img, &tc, 0);
    t_map_expect(img, 1536, VF_EXTENT_ABSENT, 4096 - 1536);
    t_map_expect(img, 4096, VF_EXTENT_PRESENT, 512);
    t_expect(img, model, 4u * MIB);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    assert_int_equal(vf_report_count(&rep, VF_SEV_WARNING), 0);
    vf_report_free(&rep);
    vf_image_close(img);
    vf_image_close(parent);
    free(model);
    tb_free(&tp);
    tb_free(&tc);
}

/* write_zeroes: whole blocks become ZERO; partial ranges are written zeros. */
static void test_write_zeroes(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 3u * MIB, MIB, 4096, NULL);
    uint8_t *model = calloc(1, 3u * MIB);
    vf_error err = {0};
    t_write(img, model, 0, 3u * MIB, 4);
    assert_int_equal(vf_image_write_zeroes(img, MIB, MIB, &err), VF_OK);
    assert_int_equal(vf_image_write_zeroes(img, 8192, 4096, &err), VF_OK);
    memset(model + MIB, 0, MIB);
    memset(model + 8192, 0, 4096);
    t_map_expect(img, MIB, VF_EXTENT_ZERO, MIB);
    t_expect(img, model, 3u * MIB);
    img = t_reopen(img, &t, 0);
    t_map_expect(img, MIB, VF_EXTENT_ZERO, MIB);
    t_expect(img, model, 3u * MIB);
    vf_image_close(img);
    free(model);
    tb_free(&t);
}

/* Header protocol: the first write after an open rotates FileWriteGuid and DataWriteGuid
 * through the non-current slot; a read-only open writes nothing. */
static void test_header_protocol(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 2u * MIB, MIB, 512, NULL);
    uint8_t id0[16], fwg0[16];
    memcpy(id0, vf_image_info_get(img)->id, 16);
    uint8_t *model = calloc(1, 2u * MIB);
    t_write(img, model, 0, 4096, 1); /* a created handle keeps its identity */
    assert_memory_equal(vf_image_info_get(img)->id, id0, 16);
    img = t_reopen(img, &t, 0);
    memcpy(fwg0, vf_image_info_get(img)->file_write_guid, 16);
    uint64_t seq0 = vf_image_info_get(img)->header_sequence;
    unsigned w0 = t.writes;
    vf_image_close(img);
    assert_int_equal(t.writes, w0); /* read-only open: nothing written */
    img = t_reopen(NULL, &t, VF_OPEN_RDWR);
    assert_int_equal(t.writes, w0); /* a clean RDWR open writes nothing either */
    t_write(img, model, 4096, 4096, 2);
    const vf_image_info *in = vf_image_info_get(img);
    assert_memory_not_equal(in->id, id0, 16);
    assert_memory_not_equal(in->file_write_guid, fwg0, 16);
    assert_true(in->header_sequence > seq0);
    uint8_t id1[16];
    memcpy(id1, in->id, 16);
    img = t_reopen(img, &t, 0);
    assert_memory_equal(vf_image_info_get(img)->id, id1, 16);
    t_expect(img, model, 2u * MIB);
    vf_image_close(img);
    /* set_id gives the chosen identity */
    img = t_reopen(NULL, &t, VF_OPEN_RDWR);
    uint8_t want[16];
    memset(want, 0x5A, 16);
    vf_error err = {0};
    assert_int_equal(vf_image_set_id(img, want, &err), VF_OK);
    img = t_reopen(img, &t, 0);
    assert_memory_equal(vf_image_info_get(img)->id, want, 16);
    vf_image_close(img);
    free(model);
    tb_free(&t);
}

static void test_set_parent(void **state)
{
    (void)state;
    tbuf tp, tc;
    vf_image *parent = t_create(&tp, VF_DISK_DYNAMIC, 2u * MIB, MIB, 512, NULL);
    vf_parent_link l = t_link(parent);
    vf_image *img = t_create(&tc, VF_DISK_DIFF, 2u * MIB, MIB, 512, &l);
    uint8_t *model = calloc(1, 2u * MIB);
    t_write(img, model, 1024, 2048, 3);
    img = t_reopen(img, &tc, VF_OPEN_RDWR);
    vf_parent_link nl;
    memset(&nl, 0, sizeof nl);
    memset(nl.id, 0x11, 16);
    nl.relative = "other/dir/new-parent.vhdx";
    nl.locators = VF_LOCATE_RELATIVE;
    vf_error err = {0};
    assert_int_equal(vf_image_set_parent(img, &nl, &err), VF_OK);
    img = t_reopen(img, &tc, 0);
    const vf_image_info *in = vf_image_info_get(img);
    assert_memory_equal(in->parent_id, nl.id, 16);
    vf_locator loc[4];
    size_t n = 0;
    assert_int_equal(vf_image_locators(img, loc, 4, &n, &err), VF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(loc[0].path, "other\\dir\\new-parent.vhdx");
    t_expect(img, model, 2u * MIB);
    vf_image_close(img);
    vf_image_close(parent);
    free(model);
    tb_free(&tp);
    tb_free(&tc);
}

/* A dirty image: flushes leave their entries in the log. A read-only open sees the
 * post-replay content through the overlay without writing; so does a writable open until its
 * first write, which replays on disk first; after that the log is empty. */
static void test_dirty_replay(void **state)
{
    (void)state;
    tbuf tp, t;
    vf_image *parent = t_create(&tp, VF_DISK_DYNAMIC, 4u * MIB, MIB, 512, NULL);
    vf_parent_link l = t_link(parent);
    vf_image *img = t_create(&t, VF_DISK_DIFF, 4u * MIB, MIB, 512, &l);
    vf_error err = {0};
    uint8_t *model = calloc(1, 4u * MIB);
    assert_int_equal(vf_vhdx_set_leave_dirty(img, true, &err), VF_OK);
    t_write(img, model, 0, MIB, 1);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    /* entries are pending: dirty mode cannot be switched off any more */
    assert_int_equal(vf_vhdx_set_leave_dirty(img, false, &err), VF_E_STATE);
    t_write(img, model, MIB + 512, 512, 2); /* partially present: SB page via the log */
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    /* on disk, the BAT still says NOT_PRESENT */
    assert_int_equal(vf_get_le(t.d + T_BAT_OFF, 8) & 7u, 0);
    unsigned w0 = t.writes;
    img = t_reopen(NULL, &t, 0);
    assert_true(vf_image_info_get(img)->log_replayed);
    t_expect(img, model, 4u * MIB);
    t_map_expect(img, MIB + 512, VF_EXTENT_PRESENT, 512);
    vf_image_close(img);
    assert_int_equal(t.writes, w0);
    /* a writable open holds the replay too: nothing is written until the first write */
    img = t_reopen(NULL, &t, VF_OPEN_RDWR);
    assert_int_equal(t.writes, w0);
    t_expect(img, model, 4u * MIB);
    t_write(img, model, 2u * MIB, 512, 3);
    assert_true(t.writes > w0);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    assert_int_equal(vf_get_le(t.d + T_BAT_OFF, 8) & 7u, VX_PB_FULLY_PRESENT);
    img = t_reopen(NULL, &t, 0);
    assert_false(vf_image_info_get(img)->log_replayed);
    t_expect(img, model, 4u * MIB);
    vf_image_close(img);
    vf_image_close(parent);
    free(model);
    tb_free(&tp);
    tb_free(&t);
}

/* reserve grows the file once; later allocations use the reserved space. */
static void test_reserve(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    uint8_t *model = calloc(1, 8u * MIB);
    vf_error err = {0};
    size_t before = t.len;
    assert_int_equal(vf_image_reserve(img, 4, &err), VF_OK);
    assert_int_equal(t.len, before + 4u * MIB);
    for (uint64_t b = 0; b < 4; b++)
        t_write(img, model, b * MIB + 512, 512, (uint8_t)b);
    assert_int_equal(t.len, before + 4u * MIB);
    img = t_reopen(img, &t, 0);
    t_expect(img, model, 8u * MIB);
    vf_image_close(img);
    free(model);
    tb_free(&t);
}

/* Create a dynamic (or, with parent, differencing) image with every identity given, write,
 * zero, flush twice (dirty or not): the bytes must depend on nothing but these inputs. */
static void t_build_fixed_ids(tbuf *t, bool dirty, uint32_t lss)
{
    memset(t, 0, sizeof *t);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = VF_DISK_DYNAMIC;
    o.virtual_size = 6u * MIB;
    o.block_size = MIB;
    o.logical_sector_size = lss;
    for (unsigned i = 0; i < 16; i++) {
        o.id[i] = (uint8_t)(0x10 + i);
        o.file_write_guid[i] = (uint8_t)(0x40 + i);
        o.page83[i] = (uint8_t)(0x80 + i);
    }
    vf_image *img = NULL;
    vf_error err = {0};
    if (vf_image_create(tb_io(t, true), "t.vhdx", &o, &img, &err) != VF_OK)
        fail_msg("create: %s", err.msg);
    if (dirty)
        assert_int_equal(vf_vhdx_set_leave_dirty(img, true, &err), VF_OK);
    uint8_t *model = calloc(1, 6u * MIB);
    assert_non_null(model);
    t_write(img, model, 4096, 3 * 4096, 3);
    t_write(img, model, 2u * MIB, MIB, 4);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    assert_int_equal(vf_image_write_zeroes(img, 2u * MIB, MIB, &err), VF_OK);
    t_write(img, model, 5u * MIB - 4096, 8192, 5);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    free(model);
}

/* Handles from create draw nothing: two builds are byte-identical, dirty or not, and the
 * LogGuid of a pending log is the documented derivation. */
static void test_create_deterministic(void **state)
{
    (void)state;
    for (int dirty = 0; dirty < 2; dirty++)
        for (uint32_t lss = 512; lss <= 4096; lss *= 8) {
            tbuf a, b;
            t_build_fixed_ids(&a, dirty, lss);
            t_build_fixed_ids(&b, dirty, lss);
            assert_int_equal(a.len, b.len);
            if (memcmp(a.d, b.d, a.len) != 0)
                fail_msg("dirty %d lss %u: two builds differ", dirty, lss);
            const uint8_t *h = a.d + VX_HEADER_SLOT_OFF(t_cur_slot(&a));
            vx_header cur;
            vf_vhdx_header_parse(h, &cur);
            if (dirty) {
                /* the sequence was opened by the update from (seq - 1) */
                vx_header before = cur;
                before.seq = cur.seq - 1;
                uint8_t want[16];
                vf_vhdx_log_guid_derive(&before, want);
                assert_memory_equal(cur.log_guid, want, 16);
                assert_int_equal(cur.log_guid[7] >> 4, 4);
                assert_int_equal(cur.log_guid[8] >> 6, 2);
            } else {
                assert_true(vx_guid_is_zero(cur.log_guid));
            }
            tb_free(&a);
            tb_free(&b);
        }
    /* pinned: FileWriteGuid 00..0f, SequenceNumber 3 */
    vx_header h;
    memset(&h, 0, sizeof h);
    for (unsigned i = 0; i < 16; i++)
        h.fwg[i] = (uint8_t)i;
    h.seq = 3;
    uint8_t g[16], g2[16];
    vf_vhdx_log_guid_derive(&h, g);
    uint8_t in[25];
    memcpy(in, h.fwg, 16);
    vf_put_le64(in + 16, 3);
    for (unsigned k = 0; k < 4; k++) {
        in[24] = (uint8_t)k;
        uint32_t c = vf_vhdx_crc32c(0, in, sizeof in);
        if (k == 1)
            c = (c & 0x0FFFFFFFu) | 0x40000000u;
        if (k == 2)
            c = (c & 0xFFFFFF3Fu) | 0x80u;
        vf_put_le32(g2 + 4 * k, c);
    }
    assert_memory_equal(g, g2, 16);
    h.seq = 4; /* another sequence number, another LogGuid */
    vf_vhdx_log_guid_derive(&h, g2);
    assert_memory_not_equal(g, g2, 16);
}

/* Growing the virtual size: dynamic, fixed and differencing files keep their data, the new
 * space reads as zeros (or falls through to the parent), the tail of a short last block is
 * cleared, the result reopens; refusals write nothing and leave the handle usable. */
static void test_resize_grow(void **state)
{
    (void)state;
    const uint64_t old_size = 3u * MIB + 512, new_size = 6u * MIB + 4096;
    static const vf_disk_type types[] = {VF_DISK_DYNAMIC, VF_DISK_FIXED};
    for (size_t k = 0; k < ARRAY_LEN(types); k++) {
        tbuf t;
        vf_image *img = t_create(&t, types[k], old_size, MIB, 512, NULL);
        uint8_t *model = calloc(1, new_size);
        assert_non_null(model);
        t_write(img, model, 0, (size_t)old_size, 7); /* every block, the short last one too */
        vf_error err = {0};
        assert_int_equal(vf_image_resize(img, new_size, &err), VF_OK);
        const vf_image_info *in = vf_image_info_get(img);
        assert_int_equal(in->virtual_size, new_size);
        assert_int_equal(in->total_blocks, 7);
        assert_int_equal(in->type, types[k]);
        t_expect(img, model, new_size);
        t_write(img, model, 5u * MIB, 4096, 8); /* the new space is writable */
        img = t_reopen(img, &t, 0);
        assert_int_equal(vf_image_info_get(img)->virtual_size, new_size);
        if (types[k] == VF_DISK_FIXED)
            assert_int_equal(vf_image_info_get(img)->allocated_blocks, 7);
        t_expect(img, model, new_size);
        vf_report rep;
        vf_report_init(&rep);
        assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
        for (size_t i = 0; i < rep.count; i++)
            print_message("check: %s\n", rep.items[i].msg);
        assert_int_equal(vf_report_count(&rep, VF_SEV_WARNING), 0);
        vf_report_free(&rep);
        vf_image_close(img);
        free(model);
        tb_free(&t);
    }
    /* differencing: the new space is ABSENT (the parent shows through) */
    tbuf tp, t;
    vf_image *parent = t_create(&tp, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    vf_parent_link l = t_link(parent);
    vf_image *img = t_create(&t, VF_DISK_DIFF, 2u * MIB, MIB, 512, &l);
    uint8_t *model = calloc(1, 8u * MIB);
    t_write(img, model, MIB + 512, 1024, 9);
    vf_error err = {0};
    assert_int_equal(vf_image_resize(img, 8u * MIB, &err), VF_OK);
    t_map_expect(img, 2u * MIB, VF_EXTENT_ABSENT, 6u * MIB);
    img = t_reopen(img, &t, 0);
    assert_int_equal(vf_image_info_get(img)->virtual_size, 8u * MIB);
    t_map_expect(img, MIB + 512, VF_EXTENT_PRESENT, 1024);
    t_map_expect(img, 2u * MIB, VF_EXTENT_ABSENT, 6u * MIB);
    vf_image_close(img);
    /* refusals: nothing written, the handle still accepts writes */
    img = t_reopen(NULL, &t, VF_OPEN_RDWR);
    unsigned w0 = t.writes;
    assert_int_equal(vf_image_resize(img, 1u * MIB, &err), VF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "cannot shrink")); /* sector at MIB + 512 is present */
    assert_int_equal(vf_image_resize(img, MIB + 1024, &err), VF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "holds sector 2 past the new end")); /* block 1 straddles */
    assert_int_equal(vf_image_resize(img, 9u * MIB + 100, &err), VF_E_INVAL);
    assert_int_equal(vf_image_resize(img, 1ull << 40, &err), VF_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "BAT region"));
    assert_int_equal(t.writes, w0);
    assert_int_equal(vf_image_resize(img, 8u * MIB, &err), VF_OK); /* same size: nothing */
    assert_int_equal(t.writes, w0);
    assert_int_equal(vf_image_resize(img, 4u * MIB, &err), VF_OK); /* nothing past 4 MiB */
    assert_int_equal(vf_image_info_get(img)->virtual_size, 4u * MIB);
    t_write(img, model, 0, 512, 10);
    vf_image_close(img);
    vf_image_close(parent);
    free(model);
    tb_free(&t);
    tb_free(&tp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),          cmocka_unit_test(test_guid_text),
        cmocka_unit_test(test_roundtrip_types), cmocka_unit_test(test_differencing_map),
        cmocka_unit_test(test_write_zeroes),    cmocka_unit_test(test_header_protocol),
        cmocka_unit_test(test_set_parent),      cmocka_unit_test(test_dirty_replay),
        cmocka_unit_test(test_reserve),         cmocka_unit_test(test_create_deterministic),
        cmocka_unit_test(test_resize_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
