/* Unit tests of the partners directory: validation on add, lookup, kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "partners.h"
#include "wire_names.h"

static partner_t make_partner(const char *id, Parcours__V1__PartnerKind kind, const char *territory)
{
    partner_t p;
    memset(&p, 0, sizeof(p));
    strncpy(p.id, id, sizeof(p.id) - 1);
    strncpy(p.name, "Synthetic partner", sizeof(p.name) - 1);
    p.kind = kind;
    strncpy(p.territories[0], territory, sizeof(p.territories[0]) - 1);
    p.n_territories = 1;
    return p;
}

static void test_add_and_find(void **state)
{
    (void)state;
    partners_t *dir = partners_new();
    assert_non_null(dir);
    partner_t cd = make_partner("cd93", PARTNER_KIND(DEPARTEMENT), "93");
    partner_t ml = make_partner("ml93", PARTNER_KIND(MISSION_LOCALE), "93");
    assert_int_equal(partners_add(dir, &cd), PARTNERS_OK);
    assert_int_equal(partners_add(dir, &ml), PARTNERS_OK);
    assert_int_equal(partners_add(dir, &ml), PARTNERS_EEXIST);
    assert_int_equal(partners_count(dir), 2);
    assert_string_equal(partners_at(dir, 1)->id, "ml93");
    assert_null(partners_at(dir, 2));
    const partner_t *found = partners_find(dir, "cd93");
    assert_non_null(found);
    assert_int_equal(found->kind, PARTNER_KIND(DEPARTEMENT));
    assert_true(partner_in_territory(found, "93"));
    assert_false(partner_in_territory(found, "75"));
    assert_null(partners_find(dir, "cd75"));
    partners_destroy(&dir);
    assert_null(dir);
    partners_destroy(&dir); /* takes NULL */
}

static void test_add_rejects_invalid(void **state)
{
    (void)state;
    partners_t *dir = partners_new();
    partner_t bad_id = make_partner("cd 93", PARTNER_KIND(DEPARTEMENT), "93");
    partner_t empty_id = make_partner("", PARTNER_KIND(DEPARTEMENT), "93");
    partner_t no_kind = make_partner("x1", PARTNER_KIND(UNSPECIFIED), "93");
    partner_t unknown_kind = make_partner("x2", (Parcours__V1__PartnerKind)42, "93");
    partner_t no_territory = make_partner("x3", PARTNER_KIND(CAF), "93");
    no_territory.n_territories = 0;
    partner_t bad_territory = make_partner("x4", PARTNER_KIND(CAF), "9/3");
    assert_int_equal(partners_add(dir, &bad_id), PARTNERS_EINVAL);
    assert_int_equal(partners_add(dir, &empty_id), PARTNERS_EINVAL);
    assert_int_equal(partners_add(dir, &no_kind), PARTNERS_EINVAL);
    assert_int_equal(partners_add(dir, &unknown_kind), PARTNERS_EINVAL);
    assert_int_equal(partners_add(dir, &no_territory), PARTNERS_EINVAL);
    assert_int_equal(partners_add(dir, &bad_territory), PARTNERS_EINVAL);
    assert_int_equal(partners_count(dir), 0);
    partners_destroy(&dir);
}

static void test_many_partners_grow(void **state)
{
    (void)state;
    partners_t *dir = partners_new();
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "assoc%d", i);
        partner_t p = make_partner(id, PARTNER_KIND(ASSOCIATION), "93");
        assert_int_equal(partners_add(dir, &p), PARTNERS_OK);
    }
    assert_int_equal(partners_count(dir), 100);
    assert_non_null(partners_find(dir, "assoc99"));
    assert_string_equal(partners_find(dir, "assoc42")->id, "assoc42");
    partners_destroy(&dir);
}

static void test_kinds(void **state)
{
    (void)state;
    assert_true(partner_kind_territory_wide(PARTNER_KIND(DEPARTEMENT)));
    assert_true(partner_kind_territory_wide(PARTNER_KIND(FRANCE_TRAVAIL)));
    assert_false(partner_kind_territory_wide(PARTNER_KIND(MISSION_LOCALE)));
    assert_true(partner_kind_minimised(PARTNER_KIND(EMPLOYER)));
    assert_true(partner_kind_minimised(PARTNER_KIND(TRAINING_ORG)));
    assert_false(partner_kind_minimised(PARTNER_KIND(CCAS)));
    for (int k = 1; k <= 9; k++) {
        const char *name = partner_kind_name((Parcours__V1__PartnerKind)k);
        assert_non_null(name);
        assert_int_equal(partner_kind_from_name(name), k);
    }
    assert_null(partner_kind_name(PARTNER_KIND(UNSPECIFIED)));
    assert_int_equal(partner_kind_from_name("BANK"), PARTNER_KIND(UNSPECIFIED));
}

/* A directory the size of a large territory: every partner found by id, none found that is
 * not there, and the territory-wide ones listed in the order they came. */
static void test_lookup_and_territory_wide_at_scale(void **state)
{
    (void)state;
    partners_t *dir = partners_new();
    static const Parcours__V1__PartnerKind kinds[] = {
        PARTNER_KIND(EMPLOYER),     PARTNER_KIND(ASSOCIATION),    PARTNER_KIND(DEPARTEMENT),
        PARTNER_KIND(TRAINING_ORG), PARTNER_KIND(FRANCE_TRAVAIL), PARTNER_KIND(CCAS)};
    char id[32];
    size_t wide = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "p%04d.%c", i, 'a' + i % 26);
        Parcours__V1__PartnerKind kind = kinds[i % 6];
        partner_t p = make_partner(id, kind, i % 2 ? "93" : "75");
        assert_int_equal(partners_add(dir, &p), PARTNERS_OK);
        wide += partner_kind_territory_wide(kind);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "p%04d.%c", i, 'a' + i % 26);
        const partner_t *found = partners_find(dir, id);
        assert_non_null(found);
        assert_ptr_equal(found, partners_at(dir, (size_t)i));
        snprintf(id, sizeof(id), "p%04d.%c", i, 'a' + (i + 1) % 26);
        assert_null(partners_find(dir, id));
        partner_t again = make_partner(partners_at(dir, (size_t)i)->id, kinds[0], "93");
        assert_int_equal(partners_add(dir, &again), PARTNERS_EEXIST);
    }
    assert_null(partners_find(dir, ""));
    assert_int_equal(partners_territory_wide_count(dir), wide);
    size_t next = 0;
    for (size_t i = 0; i < partners_count(dir); i++) {
        const partner_t *p = partners_at(dir, i);
        if (!partner_kind_territory_wide(p->kind))
            continue;
        assert_ptr_equal(partners_territory_wide_at(dir, next), p);
        next++;
    }
    assert_int_equal(next, wide);
    assert_null(partners_territory_wide_at(dir, wide));
    partners_destroy(&dir);
}

/* A reload revokes a key when its partner leaves the file, loses its key or gets another. */
static void test_keys_revoked(void **state)
{
    (void)state;
    partners_t *old = partners_new(), *same = partners_new(), *gone = partners_new(),
               *other = partners_new(), *keyless = partners_new(), *added = partners_new();
    partner_t a = make_partner("asso93", PARTNER_KIND(ASSOCIATION), "93");
    partner_t b = make_partner("ml93", PARTNER_KIND(MISSION_LOCALE), "93");
    a.has_public_key = true;
    memset(a.public_key, 7, sizeof(a.public_key));
    partner_t a2 = a;
    a2.public_key[31] = 8;
    partner_t a_none = a;
    a_none.has_public_key = false;
    partner_t c = make_partner("cd93", PARTNER_KIND(DEPARTEMENT), "93");
    c.has_public_key = true;
    memset(c.public_key, 9, sizeof(c.public_key));
    assert_int_equal(partners_add(old, &a), PARTNERS_OK);
    assert_int_equal(partners_add(old, &b), PARTNERS_OK);
    assert_int_equal(partners_add(same, &b), PARTNERS_OK);
    assert_int_equal(partners_add(same, &a), PARTNERS_OK);
    assert_int_equal(partners_add(gone, &b), PARTNERS_OK);
    assert_int_equal(partners_add(other, &a2), PARTNERS_OK);
    assert_int_equal(partners_add(keyless, &a_none), PARTNERS_OK);
    assert_int_equal(partners_add(added, &a), PARTNERS_OK);
    assert_int_equal(partners_add(added, &c), PARTNERS_OK);
    assert_false(partners_keys_revoked(old, same));    /* same keys, another order */
    assert_false(partners_keys_revoked(old, added));   /* a new partner revokes nothing */
    assert_true(partners_keys_revoked(old, gone));     /* asso93 left */
    assert_true(partners_keys_revoked(old, other));    /* asso93 has another key */
    assert_true(partners_keys_revoked(old, keyless));  /* asso93 has no key */
    assert_false(partners_keys_revoked(keyless, old)); /* ml93 never had one */
    partners_t *all[] = {old, same, gone, other, keyless, added};
    for (size_t i = 0; i < 6; i++)
        partners_destroy(&all[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_find),
        cmocka_unit_test(test_add_rejects_invalid),
        cmocka_unit_test(test_many_partners_grow),
        cmocka_unit_test(test_lookup_and_territory_wide_at_scale),
        cmocka_unit_test(test_keys_revoked),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
