/* partners_file.c: the partners file, checked whole before any of it is used. */
#include "partners_file.h"

#include "deadline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "event_frame.h"
#include "identifier.h"
#include "ini_file.h"

#define PARTNERS_FILE_MAX  4096 /* partners in one territory, far above any real one */
#define GIVEN_NAME         1u
#define GIVEN_KIND         2u
#define GIVEN_TERRITORY    4u
#define GIVEN_DESTINATIONS 8u

typedef struct partners_parse {
    partner_t *items;
    int *lines;      /* the line of each partner's section, for errors found at the end */
    unsigned *given; /* GIVEN_* bits of each partner's section: required keys that appeared,
                      * valid or not (an invalid one is reported once, on its own line) */
    size_t count;
    partner_t *current;
} partners_parse_t;

/* Splits a comma-separated list in place; calls add for each trimmed, non-empty item. */
static int split_list(char *list, int (*add)(partner_t *, const char *, char *, size_t),
                      partner_t *p, char *err, size_t errlen)
{
    for (char *save = NULL, *item = strtok_r(list, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*item != '\0' && add(p, item, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int add_territory(partner_t *p, const char *t, char *err, size_t errlen)
{
    if (p->n_territories == PARTNERS_TERRITORIES_MAX)
        return snprintf(err, errlen, "a partner may have %d territories at most",
                        PARTNERS_TERRITORIES_MAX),
               -1;
    if (!partners_territory_valid(t))
        return snprintf(err, errlen, "territory \"%s\" is not a departement code (e.g. 93, 2A)", t),
               -1;
    memcpy(p->territories[p->n_territories++], t, strlen(t) + 1);
    return 0;
}

static int add_destination(partner_t *p, const char *t, char *err, size_t errlen)
{
    if (!partners_territory_valid(t))
        return snprintf(err, errlen, "destinations: \"%s\" is not a departement code (e.g. 94, 2A)",
                        t),
               -1;
    for (size_t i = 0; i < p->n_destinations; i++)
        if (strcmp(p->destinations[i], t) == 0)
            return 0;
    if (p->n_destinations == PARTNERS_DESTINATIONS_MAX)
        return snprintf(err, errlen, "a bridge may serve %d destinations at most",
                        PARTNERS_DESTINATIONS_MAX),
               -1;
    memcpy(p->destinations[p->n_destinations++], t, strlen(t) + 1);
    return 0;
}

static int add_may_emit(partner_t *p, const char *name, char *err, size_t errlen)
{
    Parcours__V1__EventType type = event_type_from_name(name);
    if (type == PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_UNSPECIFIED)
        return snprintf(err, errlen,
                        "may_emit: \"%s\" is not an event type (e.g. JobPlaced, TrainingEntered)",
                        name),
               -1;
    p->may_emit |= PARTNERS_EMIT_BIT(type);
    return 0;
}

static int partners_entry(void *ctx, int line, const char *section, const char *name,
                          const char *value, char *err, size_t errlen)
{
    partners_parse_t *pp = ctx;
    if (name == NULL) {
        if (!identifier_valid(section))
            return snprintf(err, errlen, "[%s] is not a partner id: " IDENTIFIER_RULE, section), -1;
        if (strcmp(section, PARTNERS_DAEMON_ID) == 0)
            return snprintf(err, errlen,
                            "[%s] is taken: parcoursd writes its own events (DeadlineMissed) "
                            "under that id; name the partner otherwise",
                            section),
                   -1;
        for (size_t i = 0; i < pp->count; i++)
            if (strcmp(pp->items[i].id, section) == 0)
                return snprintf(err, errlen, "partner [%s] is declared twice (first on line %d)",
                                section, pp->lines[i]),
                       -1;
        if (pp->count == PARTNERS_FILE_MAX)
            return snprintf(err, errlen, "more than %d partners", PARTNERS_FILE_MAX), -1;
        pp->current = &pp->items[pp->count];
        memset(pp->current, 0, sizeof(*pp->current));
        snprintf(pp->current->id, sizeof(pp->current->id), "%s", section);
        pp->lines[pp->count++] = line;
        return 0;
    }
    if (pp->current == NULL || strcmp(pp->current->id, section) != 0)
        return 0; /* the section header was refused and reported already */
    partner_t *p = pp->current;
    char list[512];
    unsigned *given = &pp->given[pp->count - 1];
    *given |= strcmp(name, "name") == 0        ? GIVEN_NAME
              : strcmp(name, "kind") == 0      ? GIVEN_KIND
              : strcmp(name, "territory") == 0 ? GIVEN_TERRITORY
                                               : 0u;
    if (strcmp(name, "name") == 0) {
        if (value[0] == '\0' || strlen(value) > PARTNERS_NAME_MAX)
            return snprintf(err, errlen, "name must be 1 to %d bytes", PARTNERS_NAME_MAX), -1;
        snprintf(p->name, sizeof(p->name), "%s", value);
        return 0;
    }
    if (strcmp(name, "kind") == 0) {
        p->kind = partner_kind_from_name(value);
        if (p->kind == PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_UNSPECIFIED)
            return snprintf(err, errlen,
                            "kind \"%s\" is unknown: DEPARTEMENT, FRANCE_TRAVAIL, MISSION_LOCALE, "
                            "CAP_EMPLOI, CAF, CCAS, ASSOCIATION, TRAINING_ORG, EMPLOYER or BRIDGE",
                            value),
                   -1;
        return 0;
    }
    if (strcmp(name, "territory") == 0 || strcmp(name, "may_emit") == 0) {
        if (strlen(value) >= sizeof(list))
            return snprintf(err, errlen, "%s is too long", name), -1;
        snprintf(list, sizeof(list), "%s", value);
        if (name[0] != 't')
            return split_list(list, add_may_emit, p, err, errlen);
        if (split_list(list, add_territory, p, err, errlen) != 0)
            return -1;
        if (p->n_territories == 0)
            return snprintf(err, errlen, "territory must name at least one territory"), -1;
        return 0;
    }
    if (strcmp(name, "destinations") == 0) {
        char many[PARTNERS_DESTINATIONS_MAX * (PARTNERS_TERRITORY_MAX + 2)];
        if (strlen(value) >= sizeof(many))
            return snprintf(err, errlen, "destinations is too long"), -1;
        snprintf(many, sizeof(many), "%s", value);
        *given |= GIVEN_DESTINATIONS;
        return split_list(many, add_destination, p, err, errlen);
    }
    if (strcmp(name, "echo") == 0) {
        int b;
        if (ini_file_bool(value, &b) != 0)
            return snprintf(err, errlen, "echo must be yes or no"), -1;
        p->echo = b;
        return 0;
    }
    if (strcmp(name, "public_key") == 0) {
        /* Z85 text of 40 characters decodes to the 32 bytes of a CURVE key. */
        if (strlen(value) != 40 || zmq_z85_decode(p->public_key, value) == NULL)
            return snprintf(err, errlen,
                            "public_key must be 40 Z85 characters, as printed by parcoursctl "
                            "keygen"),
                   -1;
        p->has_public_key = true;
        return 0;
    }
    return snprintf(err, errlen,
                    "unknown key \"%s\" (a partner has name, kind, territory, may_emit, echo, "
                    "public_key; a bridge destinations)",
                    name),
           -1;
}

int partners_file_load(const char *path, partners_t **out, char *errors, size_t errlen)
{
    *out = NULL;
    partners_parse_t pp = {0};
    pp.items = calloc(PARTNERS_FILE_MAX, sizeof(partner_t));
    pp.lines = calloc(PARTNERS_FILE_MAX, sizeof(int));
    pp.given = calloc(PARTNERS_FILE_MAX, sizeof(unsigned));
    partners_t *dir = partners_new();
    int n = -1;
    if (pp.items == NULL || pp.lines == NULL || pp.given == NULL || dir == NULL) {
        snprintf(errors, errlen, "%s: out of memory\n", path);
        goto done;
    }
    n = ini_file_parse(path, partners_entry, &pp, errors, errlen);
    if (n < 0)
        goto done;
    /* What only the whole section can tell: required keys. */
    for (size_t i = 0; i < pp.count; i++) {
        const partner_t *p = &pp.items[i];
        unsigned given = pp.given[i];
        const char *missing = !(given & GIVEN_NAME)        ? "name"
                              : !(given & GIVEN_KIND)      ? "kind"
                              : !(given & GIVEN_TERRITORY) ? "territory"
                                                           : NULL;
        size_t used = strlen(errors);
        /* One key, one partner: the key is who a connection is, and a key given to two would
         * make one of them the other (ZAP takes the first), reading its stream. */
        size_t twin = i;
        for (size_t j = 0; p->has_public_key && j < i; j++)
            if (pp.items[j].has_public_key &&
                memcmp(pp.items[j].public_key, p->public_key, sizeof(p->public_key)) == 0)
                twin = j;
        if (missing != NULL) {
            snprintf(errors + used, errlen - used, "%s:%d: partner [%s] has no %s\n", path,
                     pp.lines[i], p->id, missing);
            n++;
        } else if ((given & GIVEN_DESTINATIONS) &&
                   p->kind != PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_BRIDGE) {
            snprintf(errors + used, errlen - used,
                     "%s:%d: partner [%s] has destinations, which only a BRIDGE has (the "
                     "territories it hands moves over to)\n",
                     path, pp.lines[i], p->id);
            n++;
        } else if (twin != i) {
            snprintf(errors + used, errlen - used,
                     "%s:%d: partner [%s] has the public_key of partner [%s] (line %d); each "
                     "partner needs a key of its own (parcoursctl keygen)\n",
                     path, pp.lines[i], p->id, pp.items[twin].id, pp.lines[twin]);
            n++;
        } else if (n == 0 && partners_add(dir, p) != PARTNERS_OK) {
            snprintf(errors + used, errlen - used, "%s:%d: partner [%s] is not valid\n", path,
                     pp.lines[i], p->id);
            n++;
        }
    }
    if (n == 0 && pp.count == 0) {
        snprintf(errors, errlen, "%s: no partner is declared\n", path);
        n = 1;
    }
done:
    free(pp.items);
    free(pp.lines);
    free(pp.given);
    if (n == 0)
        *out = dir;
    else
        partners_destroy(&dir);
    return n;
}
