/* test_vhdx_bad.c - the bad-input table of the VHDX driver: good images from our own writer,
 * mutated one field at a time (CRCs repaired when the case targets a later check), must be
 * refused at open with the expected status, a message naming the file, and no byte written,
 * whether opened read-only or read-write. */
#include "test_vhdx_support.h"

enum base { B_DYN, B_DIFF, B_DIRTY };

static const uint8_t other_guid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Pointers into our writer's layout. */
static uint8_t *rt_entry(tbuf *t, unsigned copy, unsigned k)
{
    return t->d + VX_RT_OFF(copy) + 16 + 32 * k;
}
static uint8_t *md_entry(tbuf *t, unsigned k)
{
    return t->d + T_META_OFF + 32 + 32 * k;
}
static uint8_t *item(tbuf *t, unsigned k)
{
    return t->d + T_META_OFF + vf_get_le(md_entry(t, k) + 16, 4);
}
static uint8_t *bat(tbuf *t, uint64_t i)
{
    return t->d + T_BAT_OFF + 8 * i;
}
static uint8_t *entry(tbuf *t, unsigned n) /* log entry n (0 = tail) */
{
    uint32_t pos = 0;
    for (unsigned i = 0; i < n; i++)
        pos += (uint32_t)vf_get_le(t->d + T_LOG_OFF + pos + 8, 4);
    return t->d + T_LOG_OFF + pos;
}
static void fix_entry(tbuf *t, unsigned n)
{
    t_fix_entry(t, (uint32_t)(entry(t, n) - (t->d + T_LOG_OFF)));
}

/* Rewrite log entry n's sequence number everywhere it appears, with a valid CRC. */
static void set_entry_seq(tbuf *t, unsigned n, uint64_t seq)
{
    uint8_t *e = entry(t, n);
    uint32_t count = (uint32_t)vf_get_le(e + 24, 4);
    uint64_t dsec = ((uint64_t)count + 2 + 127) / 128;
    vf_put_le64(e + 16, seq);
    for (uint32_t k = 0; k < count; k++) {
        vf_put_le64(e + 64 + 32 * k + 24, seq);
        uint8_t *ds = e + (dsec + k) * 4096;
        vf_put_le32(ds + 4, (uint32_t)(seq >> 32));
        vf_put_le32(ds + 4092, (uint32_t)seq);
    }
    fix_entry(t, n);
}

static void both_rt(tbuf *t, void (*fn)(tbuf *, unsigned))
{
    fn(t, 0);
    fn(t, 1);
    t_fix_rt(t);
}
static void rt_count_2048(tbuf *t, unsigned c)
{
    vf_put_le32(t->d + VX_RT_OFF(c) + 8, 2048);
}
static void rt_dup(tbuf *t, unsigned c)
{
    vf_put_le32(t->d + VX_RT_OFF(c) + 8, 3);
    memcpy(rt_entry(t, c, 2), rt_entry(t, c, 0), 32);
}
static void rt_overlap(tbuf *t, unsigned c)
{
    vf_put_le64(rt_entry(t, c, 1) + 16, T_BAT_OFF);
}
static void rt_wrap(tbuf *t, unsigned c)
{
    vf_put_le64(rt_entry(t, c, 0) + 16, 0xFFFFFFFFFFF00000ull);
}
static void rt_unknown_required(tbuf *t, unsigned c)
{
    vf_put_le32(t->d + VX_RT_OFF(c) + 8, 3);
    uint8_t *e = rt_entry(t, c, 2);
    memcpy(e, other_guid, 16);
    vf_put_le64(e + 16, 100u * MIB);
    vf_put_le32(e + 24, MIB);
    vf_put_le32(e + 28, 1);
}
static void bad_both_rt(tbuf *t, unsigned c)
{
    t->d[VX_RT_OFF(c) + 100] ^= 1;
}

static void mutate(tbuf *t, int id)
{
    unsigned cur = t_cur_slot(t), oth = cur ^ 1u;
    uint8_t *hc = t->d + VX_HEADER_SLOT_OFF(cur), *ho = t->d + VX_HEADER_SLOT_OFF(oth);
    switch (id) {
    case 1: /* both headers invalid */
        hc[200] ^= 1;
        ho[200] ^= 1;
        break;
    case 2: /* equal sequence numbers, different contents */
        vf_put_le64(ho + 8, vf_get_le(hc + 8, 8));
        ho[16] ^= 0xFF;
        t_fix_header(t, oth);
        break;
    case 3: /* sequence number that would overflow on update (read-write only) */
        vf_put_le64(hc + 8, UINT64_MAX - 1);
        t_fix_header(t, cur);
        break;
    case 4: /* one bad header: the other is used (accepted) */
        hc[300] ^= 1;
        break;
    case 5: /* no CRC repair: that is the point */
        bad_both_rt(t, 0);
        bad_both_rt(t, 1);
        break;
    case 6:
        both_rt(t, rt_count_2048);
        break;
    case 7:
        both_rt(t, rt_dup);
        break;
    case 8:
        both_rt(t, rt_overlap);
        break;
    case 9:
        both_rt(t, rt_wrap);
        break;
    case 10:
        both_rt(t, rt_unknown_required);
        break;
    case 11: /* metadata entry outside the region */
        vf_put_le32(md_entry(t, 0) + 16, MIB);
        break;
    case 12: /* metadata entries overlap */
        vf_put_le32(md_entry(t, 1) + 16, (uint32_t)vf_get_le(md_entry(t, 0) + 16, 4) + 4);
        break;
    case 13: /* duplicated metadata item */
        memcpy(md_entry(t, 1), md_entry(t, 0), 16);
        break;
    case 14: /* unknown required item */
        memcpy(md_entry(t, 2), other_guid, 16);
        break;
    case 15: /* block size not a power of two */
        vf_put_le32(item(t, 0), 3u * MIB);
        break;
    case 16: /* block size out of range */
        vf_put_le32(item(t, 0), MIB / 2);
        break;
    case 17: /* logical sector size */
        vf_put_le32(item(t, 3), 1024);
        break;
    case 18: /* virtual size 0 */
        vf_put_le64(item(t, 1), 0);
        break;
    case 19: /* unaligned */
        vf_put_le64(item(t, 1), 8u * MIB + 1);
        break;
    case 20: /* over 64 TiB */
        vf_put_le64(item(t, 1), (64ull << 40) + MIB);
        break;
    case 21: /* BAT region too small for the entries the size needs */
        vf_put_le64(item(t, 1), 2ull << 40);
        break;
    case 22: /* invalid payload state */
        bat(t, 0)[0] = (uint8_t)((bat(t, 0)[0] & ~7u) | 4u);
        break;
    case 23: /* PARTIALLY_PRESENT in a dynamic file */
        bat(t, 0)[0] |= 7u;
        break;
    case 24: /* reserved bits */
        bat(t, 0)[1] |= 4u;
        break;
    case 25: /* offset in the header area */
        vf_put_le64(bat(t, 0), 6u);
        break;
    case 26: /* past the end */
        vf_put_le64(bat(t, 0), 1000ull * MIB | 6u);
        break;
    case 27: /* two blocks at one offset */
        memcpy(bat(t, 1), bat(t, 0), 8);
        break;
    case 28: /* block over the metadata region */
        vf_put_le64(bat(t, 0), (uint64_t)T_META_OFF | 6u);
        break;
    case 29: /* partially present block, no sector bitmap block */
        vf_put_le64(bat(t, 4096), 0);
        break;
    case 30: /* has_parent, no locator */
        vf_put_le32(item(t, 0) + 4, 2);
        break;
    case 31: /* bad CRC in the active log sequence */
        entry(t, 0)[4096 + 100] ^= 1;
        break;
    case 32: /* log entry with a bad length */
        vf_put_le32(entry(t, 0) + 8, 4097);
        break;
    case 33: /* descriptor count overflow */
        vf_put_le32(entry(t, 0) + 24, 0xFFFFFFFFu);
        fix_entry(t, 0);
        break;
    case 34: /* sequence numbers that do not follow */
        set_entry_seq(t, 0, vf_get_le(entry(t, 0) + 16, 8) - 1);
        break;
    case 35: /* hostile replay: FlushedFileOffset past the file */
        vf_put_le64(entry(t, 1) + 48, (uint64_t)t->len + MIB);
        fix_entry(t, 1);
        break;
    case 36: /* hostile replay: a huge zero descriptor */
        memcpy(entry(t, 0) + 64, "zero", 4);
        vf_put_le64(entry(t, 0) + 64 + 8, 1ull << 50);
        fix_entry(t, 0);
        break;
    case 37: /* hostile replay: a descriptor aimed at the headers */
        vf_put_le64(entry(t, 0) + 64 + 16, 64u * 1024);
        fix_entry(t, 0);
        break;
    case 38: /* hostile replay: a descriptor aimed at the log */
        vf_put_le64(entry(t, 0) + 64 + 16, T_LOG_OFF + 8192);
        fix_entry(t, 0);
        break;
    case 39: /* truncated */
        t->len = 2u * MIB + 4096;
        break;
    case 40: /* not a VHDX any more */
        t->d[0] = 'X';
        break;
    }
}

static const struct {
    int id;
    enum base base;
    const char *name;
    vf_status want;    /* read-write open */
    vf_status want_ro; /* read-only open */
} cases[] = {
    {1, B_DYN, "both headers invalid", VF_E_FORMAT, VF_E_FORMAT},
    {2, B_DYN, "equal sequence numbers, different contents", VF_E_CORRUPT, VF_E_CORRUPT},
    {3, B_DYN, "sequence number would overflow", VF_E_FORMAT, VF_OK},
    {4, B_DYN, "one header invalid", VF_OK, VF_OK},
    {5, B_DYN, "both region tables bad CRC", VF_E_FORMAT, VF_E_FORMAT},
    {6, B_DYN, "region table with 2048 entries", VF_E_FORMAT, VF_E_FORMAT},
    {7, B_DYN, "duplicate region entry", VF_E_CORRUPT, VF_E_CORRUPT},
    {8, B_DYN, "overlapping regions", VF_E_CORRUPT, VF_E_CORRUPT},
    {9, B_DYN, "region offset+length wraps", VF_E_FORMAT, VF_E_FORMAT},
    {10, B_DYN, "unknown required region", VF_E_UNSUPPORTED, VF_E_UNSUPPORTED},
    {11, B_DYN, "metadata entry out of the region", VF_E_FORMAT, VF_E_FORMAT},
    {12, B_DYN, "metadata entries overlap", VF_E_CORRUPT, VF_E_CORRUPT},
    {13, B_DYN, "metadata item duplicated", VF_E_CORRUPT, VF_E_CORRUPT},
    {14, B_DYN, "unknown required metadata item", VF_E_UNSUPPORTED, VF_E_UNSUPPORTED},
    {15, B_DYN, "block size not a power of two", VF_E_FORMAT, VF_E_FORMAT},
    {16, B_DYN, "block size below 1 MiB", VF_E_FORMAT, VF_E_FORMAT},
    {17, B_DYN, "logical sector size 1024", VF_E_FORMAT, VF_E_FORMAT},
    {18, B_DYN, "virtual size 0", VF_E_FORMAT, VF_E_FORMAT},
    {19, B_DYN, "virtual size unaligned", VF_E_FORMAT, VF_E_FORMAT},
    {20, B_DYN, "virtual size over 64 TiB", VF_E_FORMAT, VF_E_FORMAT},
    {21, B_DYN, "BAT too small for the chunk ratio and size", VF_E_CORRUPT, VF_E_CORRUPT},
    {22, B_DYN, "BAT entry with state 4", VF_E_FORMAT, VF_E_FORMAT},
    {23, B_DYN, "PARTIALLY_PRESENT in a dynamic file", VF_E_FORMAT, VF_E_FORMAT},
    {24, B_DYN, "BAT entry reserved bits", VF_E_FORMAT, VF_E_FORMAT},
    {25, B_DYN, "BAT offset in the header area", VF_E_CORRUPT, VF_E_CORRUPT},
    {26, B_DYN, "BAT offset past the end", VF_E_CORRUPT, VF_E_CORRUPT},
    {27, B_DYN, "BAT entries overlap", VF_E_CORRUPT, VF_E_CORRUPT},
    {28, B_DYN, "BAT block over the metadata region", VF_E_CORRUPT, VF_E_CORRUPT},
    {29, B_DIFF, "partially present block without sector bitmap", VF_E_CORRUPT, VF_E_CORRUPT},
    {30, B_DYN, "has_parent without a locator", VF_E_CORRUPT, VF_E_CORRUPT},
    {31, B_DIRTY, "log entry bad CRC", VF_E_CORRUPT, VF_E_CORRUPT},
    {32, B_DIRTY, "log entry bad length", VF_E_CORRUPT, VF_E_CORRUPT},
    {33, B_DIRTY, "log descriptor count overflow", VF_E_CORRUPT, VF_E_CORRUPT},
    {34, B_DIRTY, "log sequence gap", VF_E_CORRUPT, VF_E_CORRUPT},
    {35, B_DIRTY, "replay: flushed offset past the file", VF_E_TRUNCATED, VF_E_TRUNCATED},
    {36, B_DIRTY, "replay: huge zero descriptor", VF_E_CORRUPT, VF_E_CORRUPT},
    {37, B_DIRTY, "replay: descriptor at the headers", VF_E_CORRUPT, VF_E_CORRUPT},
    {38, B_DIRTY, "replay: descriptor at the log", VF_E_CORRUPT, VF_E_CORRUPT},
    {39, B_DYN, "truncated file", VF_E_TRUNCATED, VF_E_TRUNCATED},
    {40, B_DYN, "file identifier", VF_E_FORMAT, VF_E_FORMAT},
};

static tbuf bases[3];

static int setup(void **state)
{
    (void)state;
    vf_error err = {0};
    uint8_t *buf = calloc(1, 2u * MIB);
    t_fill(buf, 2u * MIB, 0, 1);
    vf_image *img = t_create(&bases[B_DYN], VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    assert_int_equal(vf_image_write(img, 0, buf, 2u * MIB, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_parent_link l;
    memset(&l, 0, sizeof l);
    memcpy(l.id, vf_image_info_get(img)->id, 16);
    l.relative = "base.vhdx";
    vf_image_close(img);
    img = t_create(&bases[B_DIFF], VF_DISK_DIFF, 8u * MIB, MIB, 512, &l);
    assert_int_equal(vf_image_write(img, 4096, buf, 8192, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    img = t_create(&bases[B_DIRTY], VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    assert_int_equal(vf_vhdx_set_leave_dirty(img, true, &err), VF_OK);
    assert_int_equal(vf_image_write(img, 0, buf, MIB, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    assert_int_equal(vf_image_write(img, 4u * MIB, buf, MIB, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    free(buf);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        tb_free(&bases[i]);
    return 0;
}

/* Every unmutated base opens both ways (so each case fails for its mutation). */
static void test_bases_open(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        for (int rw = 0; rw < 2; rw++) {
            tbuf t = tb_copy(&bases[i]);
            vf_image *img = NULL;
            vf_error err = {0};
            if (tb_open(&t, rw ? VF_OPEN_RDWR : 0, &img, &err) != VF_OK)
                fail_msg("base %d: %s", i, err.msg);
            assert_int_equal(vf_image_info_get(img)->log_replayed, i == B_DIRTY);
            vf_image_close(img);
            tb_free(&t);
        }
}

static void test_bad_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        for (int rw = 0; rw < 2; rw++) {
            tbuf t = tb_copy(&bases[cases[i].base]);
            mutate(&t, cases[i].id);
            tbuf before = tb_copy(&t);
            vf_image *img = NULL;
            vf_error err = {0};
            vf_status want = rw ? cases[i].want : cases[i].want_ro;
            vf_status got = tb_open(&t, rw ? VF_OPEN_RDWR : 0, &img, &err);
            if (got != want)
                fail_msg("%s (%s): got %s, want %s: %s", cases[i].name, rw ? "rw" : "ro",
                         vf_status_name(got), vf_status_name(want), err.msg);
            if (got != VF_OK) {
                if (!strstr(err.msg, "t.vhdx"))
                    fail_msg("%s: message does not name the file: %s", cases[i].name, err.msg);
                if (t.writes != 0 || t.len != before.len || memcmp(t.d, before.d, t.len) != 0)
                    fail_msg("%s: the file was written", cases[i].name);
            }
            vf_image_close(img);
            tb_free(&t);
            tb_free(&before);
        }
}

/* SplitMix64: a fixed, documented generator so a failing iteration is reproducible. */
static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Structures worth hitting, as (offset, length) in our writer's layout. */
static const struct {
    uint32_t off, len;
} hot[] = {
    {64u * 1024, 80},
    {128u * 1024, 80},
    {192u * 1024, 16 + 32 * 3},
    {T_META_OFF, 32 + 32 * 6},
    {T_META_OFF + 64u * 1024, 40},
    {T_META_OFF + 128u * 1024, 200},
    {T_BAT_OFF, 64},
    {T_BAT_OFF + 4096 * 8, 16},
    {T_LOG_OFF, 64 + 32 * 3},
    {T_LOG_OFF + 8192, 64 + 32 * 3},
};

/* Random field mutations with every CRC repaired afterwards, so the later checks are reached:
 * whatever the bytes, open either fails cleanly or yields an image that maps, reads and
 * checks without crashing (run under ASan/UBSan in CI). */
static void test_mutation_smoke(void **state)
{
    (void)state;
    uint64_t seed = 20261126;
    uint8_t buf[64 * 1024];
    unsigned opened = 0;
    for (unsigned it = 0; it < 600; it++) {
        tbuf t = tb_copy(&bases[it % 3]);
        unsigned flips = 1 + (unsigned)(mix(&seed) % 4);
        for (unsigned k = 0; k < flips; k++) {
            size_t h = (size_t)(mix(&seed) % ARRAY_LEN(hot));
            size_t at = hot[h].off + (size_t)(mix(&seed) % hot[h].len);
            uint64_t r = mix(&seed);
            if (r & 1)
                t.d[at] ^= (uint8_t)(1u << ((r >> 1) % 8));
            else
                t.d[at] = (uint8_t)(r >> 8);
        }
        t_fix_header(&t, 0);
        t_fix_header(&t, 1);
        t_fix_rt(&t);
        for (uint32_t pos = 0; pos + 64 <= MIB; pos += 4096) {
            uint8_t *e = t.d + T_LOG_OFF + pos;
            uint64_t len = vf_get_le(e + 8, 4);
            if (!memcmp(e, "loge", 4) && len && len % 4096 == 0 && pos + len <= MIB)
                t_fix_entry(&t, pos);
        }
        vf_image *img = NULL;
        vf_error err = {0};
        unsigned flags = (it & 4) ? VF_OPEN_RDWR : 0;
        if (tb_open(&t, flags, &img, &err) == VF_OK) {
            opened++;
            const vf_image_info *in = vf_image_info_get(img);
            uint64_t v = 0;
            for (unsigned n = 0; n < 64 && v < in->virtual_size; n++) {
                vf_extent ext;
                if (vf_image_map(img, v, in->virtual_size - v, &ext, &err) != VF_OK)
                    break;
                size_t m = ext.len < sizeof buf ? (size_t)ext.len : sizeof buf;
                (void)vf_image_read(img, v, buf, m, &err);
                v += ext.len;
            }
            vf_report rep;
            vf_report_init(&rep);
            (void)vf_image_check(img, &rep, &err);
            vf_report_free(&rep);
            vf_image_close(img);
        } else {
            assert_true(err.msg[0] != '\0');
        }
        tb_free(&t);
    }
    print_message("600 mutated images: %u opened, the rest refused cleanly\n", opened);
    assert_true(opened > 0 && opened < 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bases_open),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_mutation_smoke),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
