/*
 * partners.c: the territory's partners directory.
 *
 * A territory has tens of partners, so the directory is a plain array searched linearly: it is
 * read a few times per event and simpler than any index would be.
 */
#include "partners.h"

#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "wire_names.h"

struct partners {
    partner_t *items;
    size_t count;
    size_t capacity;
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
    free(*p);
    *p = NULL;
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
    if (p == NULL || partner == NULL || !event_id_valid(partner->id) ||
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
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 16;
        partner_t *items = realloc(p->items, capacity * sizeof(*items));
        if (items == NULL)
            return PARTNERS_ENOMEM;
        p->items = items;
        p->capacity = capacity;
    }
    p->items[p->count++] = *partner;
    return PARTNERS_OK;
}

const partner_t *partners_find(const partners_t *p, const char *id)
{
    if (p == NULL || id == NULL)
        return NULL;
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].id, id) == 0)
            return &p->items[i];
    return NULL;
}

size_t partners_count(const partners_t *p)
{
    return p ? p->count : 0;
}

const partner_t *partners_at(const partners_t *p, size_t i)
{
    return (p && i < p->count) ? &p->items[i] : NULL;
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
