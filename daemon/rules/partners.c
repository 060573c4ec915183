/*
 * partners.c: the territory's partners directory.
 *
 * A territory has tens of partners, so the directory is a plain array searched linearly: it is
 * read a few times per event and simpler than any index would be.
 */
#include "partners.h"

#include <stdlib.h>
#include <string.h>

#include "identifier.h"
#include "wire_names.h"

struct partners {
    partner_t *items;
    size_t count;
    size_t capacity;
    /* Found by hash: index + 1 into items in each slot, 0 = free; slots_cap a power of two
     * at least twice count, so that probes stay short. */
    uint32_t *slots;
    size_t slots_cap;
    /* The territory-wide partners (DEPARTEMENT, FRANCE_TRAVAIL), by index: the recipients of
     * every event of their territories, found without a walk of the directory. */
    uint32_t *wide;
    size_t n_wide;
};

static const struct {
    Parcours__V1__PartnerKind kind;
    const char *name;
} partner_kind_names[] = {
    {PARTNER_KIND(DEPARTEMENT), "DEPARTEMENT"},
    {PARTNER_KIND(FRANCE_TRAVAIL), "FRANCE_TRAVAIL"},
    {PARTNER_KIND(MISSION_LOCALE), "MISSION_LOCALE"},
    {PARTNER_KIND(CAP_EMPLOI), "CAP_EMPLOI"},
    {PARTNER_KIND(CAF), "CAF"},
    {PARTNER_KIND(CCAS), "CCAS"},
    {PARTNER_KIND(ASSOCIATION), "ASSOCIATION"},
    {PARTNER_KIND(TRAINING_ORG), "TRAINING_ORG"},
    {PARTNER_KIND(EMPLOYER), "EMPLOYER"},
    {PARTNER_KIND(BRIDGE), "BRIDGE"},
};

partners_t *partners_new(void)
{
    return calloc(1, sizeof(partners_t));
}

void partners_destroy(partners_t **p)
{
    if (p == NULL || *p == NULL)
        return;
    free((*p)->items);
    free((*p)->slots);
    free((*p)->wide);
    free(*p);
    *p = NULL;
}

/* FNV-1a of an id. */
static size_t id_hash(const char *id)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *c = (const unsigned char *)id; *c != '\0'; c++)
        h = (h ^ *c) * UINT64_C(0x100000001b3);
    return (size_t)h;
}

/* The slot of id: the one holding it, or the free one where it would go. */
static size_t partners_slot(const partners_t *p, const char *id)
{
    size_t i = id_hash(id) & (p->slots_cap - 1);
    while (p->slots[i] != 0 && strcmp(p->items[p->slots[i] - 1].id, id) != 0)
        i = (i + 1) & (p->slots_cap - 1);
    return i;
}

/* Doubles the slots and places every partner again. */
static int partners_rehash(partners_t *p)
{
    size_t cap = p->slots_cap ? 2 * p->slots_cap : 32;
    uint32_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    free(p->slots);
    p->slots = slots;
    p->slots_cap = cap;
    for (size_t i = 0; i < p->count; i++)
        p->slots[partners_slot(p, p->items[i].id)] = (uint32_t)(i + 1);
    return 0;
}

/* A departement code: 1-8 letters or digits ("93", "2A", "971"). */
static bool territory_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > PARTNERS_TERRITORY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

int partners_add(partners_t *p, const partner_t *partner)
{
    if (p == NULL || partner == NULL || !identifier_valid(partner->id) ||
        partner_kind_name(partner->kind) == NULL || partner->n_territories == 0 ||
        partner->n_territories > PARTNERS_TERRITORIES_MAX ||
        memchr(partner->name, '\0', sizeof(partner->name)) == NULL)
        return PARTNERS_EINVAL;
    for (size_t i = 0; i < partner->n_territories; i++) {
        const char *t = partner->territories[i];
        if (memchr(t, '\0', sizeof(partner->territories[i])) == NULL || !territory_valid(t))
            return PARTNERS_EINVAL;
    }
    if (partners_find(p, partner->id) != NULL)
        return PARTNERS_EEXIST;
    if (p->count == UINT32_MAX - 1)
        return PARTNERS_ENOMEM;
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 16;
        partner_t *items = realloc(p->items, capacity * sizeof(*items));
        if (items == NULL)
            return PARTNERS_ENOMEM;
        p->items = items;
        p->capacity = capacity;
    }
    if (2 * (p->count + 1) > p->slots_cap && partners_rehash(p) != 0)
        return PARTNERS_ENOMEM;
    bool wide = partner_kind_territory_wide(partner->kind);
    if (wide) {
        uint32_t *list = realloc(p->wide, (p->n_wide + 1) * sizeof(*list));
        if (list == NULL)
            return PARTNERS_ENOMEM;
        p->wide = list;
        p->wide[p->n_wide++] = (uint32_t)p->count;
    }
    p->items[p->count] = *partner;
    p->slots[partners_slot(p, partner->id)] = (uint32_t)(p->count + 1);
    p->count++;
    return PARTNERS_OK;
}

const partner_t *partners_find(const partners_t *p, const char *id)
{
    if (p == NULL || id == NULL || p->slots_cap == 0)
        return NULL;
    uint32_t index = p->slots[partners_slot(p, id)];
    return index != 0 ? &p->items[index - 1] : NULL;
}

size_t partners_territory_wide_count(const partners_t *p)
{
    return p ? p->n_wide : 0;
}

const partner_t *partners_territory_wide_at(const partners_t *p, size_t i)
{
    return p != NULL && i < p->n_wide ? &p->items[p->wide[i]] : NULL;
}

size_t partners_count(const partners_t *p)
{
    return p ? p->count : 0;
}

const partner_t *partners_at(const partners_t *p, size_t i)
{
    return (p && i < p->count) ? &p->items[i] : NULL;
}

void partners_key_fingerprint(const uint8_t key[32], char out[PARTNERS_FINGERPRINT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < PARTNERS_FINGERPRINT_LEN / 2; i++) {
        out[2 * i] = hex[key[i] >> 4];
        out[2 * i + 1] = hex[key[i] & 15];
    }
    out[PARTNERS_FINGERPRINT_LEN] = '\0';
}

bool partner_in_territory(const partner_t *partner, const char *territory)
{
    for (size_t i = 0; i < partner->n_territories; i++)
        if (strcmp(partner->territories[i], territory) == 0)
            return true;
    return false;
}

bool partners_covers_every_territory(const partners_t *p, const partner_t *partner)
{
    for (size_t i = 0; i < partners_count(p); i++) {
        const partner_t *other = partners_at(p, i);
        for (size_t t = 0; t < other->n_territories; t++)
            if (!partner_in_territory(partner, other->territories[t]))
                return false;
    }
    return true;
}

bool partners_territory_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > PARTNERS_TERRITORY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= 'a' && t[i] <= 'z')))
            return false;
    return true;
}

bool partner_serves(const partner_t *partner, const char *destination)
{
    if (partner->kind != PARTNER_KIND(BRIDGE))
        return false;
    for (size_t i = 0; i < partner->n_destinations; i++)
        if (strcmp(partner->destinations[i], destination) == 0)
            return true;
    return false;
}

bool partner_kind_territory_wide(Parcours__V1__PartnerKind kind)
{
    return kind == PARTNER_KIND(DEPARTEMENT) || kind == PARTNER_KIND(FRANCE_TRAVAIL);
}

bool partner_kind_minimised(Parcours__V1__PartnerKind kind)
{
    return kind == PARTNER_KIND(EMPLOYER) || kind == PARTNER_KIND(TRAINING_ORG);
}

const char *partner_kind_name(Parcours__V1__PartnerKind kind)
{
    for (size_t i = 0; i < sizeof(partner_kind_names) / sizeof(partner_kind_names[0]); i++)
        if (partner_kind_names[i].kind == kind)
            return partner_kind_names[i].name;
    return NULL;
}

Parcours__V1__PartnerKind partner_kind_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(partner_kind_names) / sizeof(partner_kind_names[0]); i++)
        if (strcmp(partner_kind_names[i].name, name) == 0)
            return partner_kind_names[i].kind;
    return PARTNER_KIND(UNSPECIFIED);
}

bool partners_keys_revoked(const partners_t *old, const partners_t *new)
{
    for (size_t i = 0; i < partners_count(old); i++) {
        const partner_t *before = partners_at(old, i);
        if (!before->has_public_key)
            continue;
        const partner_t *after = partners_find(new, before->id);
        if (after == NULL || !after->has_public_key ||
            memcmp(before->public_key, after->public_key, sizeof(before->public_key)) != 0)
            return true;
    }
    return false;
}
