/* test_conform.c - unit tests of the conformance runner's pure parts (conform/conform.c):
 * the SplitMix64 reference vector, the documented per-case derivation, and template
 * substitution (quoting, lists, unknown placeholders). The runner's behaviour end to end is
 * covered by tests/conform/runner.sh. Registered by tests/conform.cmake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conform.h"
#include "conform_int.h"

/* Sebastiano Vigna's splitmix64.c seeded with 1234567 gives these first outputs. */
static void test_splitmix64_reference(void **state)
{
    (void)state;
    static const uint64_t want[] = {6457827717110365317u, 3203168211198807973u,
                                    9817491932198370423u, 4593380528125082431u,
                                    16408922859458223821u};
    uint64_t st = 1234567;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(vf_splitmix64(&st), want[i]);
}

/* The derivation of docs/conform.md, recomputed here step by step. */
static void test_derive_matches_doc(void **state)
{
    (void)state;
    vf_conform_opts o;
    vf_conform_opts_init(&o);
    o.seed = 42;
    o.depth_min = 2;
    o.depth_max = 5;
    o.dest = VF_CONFORM_DEST_ANY;
    o.size_min = 3u << 20;
    o.size_max = 9u << 20;
    o.profiles[0] = "mixed";
    o.profiles[1] = "sector";
    o.nprofiles = 2;
    for (uint64_t index = 0; index < 200; index++) {
        uint64_t st = 42 ^ (index * 0xD1B54A32D192ED03u), r[6];
        for (int i = 0; i < 6; i++)
            r[i] = vf_splitmix64(&st);
        vf_conform_case c;
        vf_conform_derive(&o, index, &c);
        assert_int_equal(c.gen_seed, r[0] >> 1);
        assert_int_equal(c.depth, 2 + r[1] % 4);
        assert_string_equal(c.profile, o.profiles[r[2] % 2]);
        assert_string_equal(c.base, (r[3] & 1) ? "fixed" : "dynamic");
        assert_int_equal(c.size, (3 + r[4] % 7) << 20);
        assert_int_equal(c.dest_level, r[5] % c.depth);
        assert_true(c.dest_level < c.depth);
    }
}

static void test_derive_dest_modes(void **state)
{
    (void)state;
    vf_conform_opts o;
    vf_conform_opts_init(&o);
    vf_conform_case a, b;
    for (uint64_t index = 0; index < 50; index++) {
        o.dest = VF_CONFORM_DEST_PARENT;
        vf_conform_derive(&o, index, &a);
        assert_int_equal(a.dest_level, a.depth - 1);
        o.dest = VF_CONFORM_DEST_BASE;
        vf_conform_derive(&o, index, &b);
        assert_int_equal(b.dest_level, 0);
        /* changing --dest moves nothing else */
        assert_int_equal(a.gen_seed, b.gen_seed);
        assert_int_equal(a.depth, b.depth);
        assert_int_equal(a.size, b.size);
        assert_ptr_equal(a.profile, NULL);
    }
}

static const char *const names[] = {"source", "dest", "chain", "dir"};
static const char *const values[] = {"/x/top b.vhd", "/x/base.vhd", "/x/top b.vhd\n/x/it's.vhd",
                                     "/x"};

static void test_subst(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl;
        bool quote;
        const char *want;
    } cases[] = {
        {"merge {source} {dest}", true, "merge '/x/top b.vhd' /x/base.vhd"},
        {"m {chain}", true, "m '/x/top b.vhd' '/x/it'\\''s.vhd'"},
        {"cd {dir} && ls", true, "cd /x && ls"},
        {"{dest}", false, "/x/base.vhd"},
        {"no placeholders", true, "no placeholders"},
        {"awk '{print}' {dest", true, NULL}, /* {print} is not a placeholder name */
        {"half {dest", true, "half {dest"},
        {"awk '{{print}' {dest}", true, "awk '{print}' /x/base.vhd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        vf_error err = {0};
        vf_status st =
            vf_conform_subst(cases[i].tmpl, names, values, 4, cases[i].quote, &out, &err);
        if (!cases[i].want) {
            assert_int_equal(st, VF_E_INVAL);
            assert_null(out);
            assert_non_null(strstr(err.msg, "unknown placeholder '{print}'"));
            continue;
        }
        assert_int_equal(st, VF_OK);
        assert_string_equal(out, cases[i].want);
        free(out);
    }
}

/* The severity order of docs/conform.md "The judge": damage first, every kind exactly once. */
static void test_severity_order(void **state)
{
    (void)state;
    assert_int_equal(vf_conform_kind_rank(VF_CK_DAMAGE), 1);
    assert_true(vf_conform_kind_rank(VF_CK_DAMAGE) < vf_conform_kind_rank(VF_CK_EXIT));
    assert_true(vf_conform_kind_rank(VF_CK_TOUCHED) < vf_conform_kind_rank(VF_CK_DIGEST));
    assert_true(vf_conform_kind_rank(VF_CK_DIGEST) < vf_conform_kind_rank(VF_CK_TIMEOUT));
    assert_int_equal(vf_conform_worst_kind(VF_CK_EXIT | VF_CK_DAMAGE), VF_CK_DAMAGE);
    assert_int_equal(vf_conform_worst_kind(VF_CK_CHECK | VF_CK_DIGEST), VF_CK_DIGEST);
    assert_int_equal(vf_conform_worst_kind(0), 0);
    unsigned seen = 0;
    for (unsigned r = 1; r <= VF_CK_COUNT; r++) {
        unsigned k = vf_conform_kind_at_rank(r);
        assert_int_not_equal(k, 0);
        assert_int_equal(seen & k, 0);
        assert_int_equal(vf_conform_kind_rank(k), r);
        seen |= k;
    }
    assert_int_equal(seen, (1u << VF_CK_COUNT) - 1);
    assert_int_equal(vf_conform_kind_at_rank(VF_CK_COUNT + 1), 0);
    unsigned bits = 0;
    assert_true(vf_conform_kinds_parse("damage,model", &bits));
    assert_int_equal(bits, VF_CK_DAMAGE | VF_CK_MODEL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix64_reference), cmocka_unit_test(test_derive_matches_doc),
        cmocka_unit_test(test_derive_dest_modes),    cmocka_unit_test(test_subst),
        cmocka_unit_test(test_severity_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
