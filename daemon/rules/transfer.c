/* transfer.c: the hand-over of a pathway between territories' daemons (see transfer.h). */
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire_names.h"

/* Crockford's base32 alphabet: no I, L, O, U, so that a reference read aloud or copied by hand
 * survives. */
static const char base32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void transfer_reference_make(const char *territory, const uint8_t hash[TRANSFER_HASH_BYTES],
                             char out[TRANSFER_REFERENCE_MAX + 1])
{
    size_t n = strlen(territory);
    memcpy(out, territory, n);
    out[n++] = ':';
    /* 128 bits, five at a time from the most significant; the last character holds three. */
    for (size_t c = 0; c < TRANSFER_HASH_CHARS; c++) {
        size_t bit = c * 5;
        unsigned v = 0;
        for (size_t k = 0; k < 5; k++, bit++) {
            v <<= 1;
            if (bit < 8 * TRANSFER_HASH_BYTES)
                v |= (hash[bit / 8] >> (7 - bit % 8)) & 1u;
        }
        out[n++] = base32[v];
    }
    out[n] = '\0';
}

bool transfer_reference_parse(const char *ref, char *territory)
{
    const char *colon = strchr(ref, ':');
    if (colon == NULL || (size_t)(colon - ref) > PARTNERS_TERRITORY_MAX)
        return false;
    char t[PARTNERS_TERRITORY_MAX + 1];
    memcpy(t, ref, (size_t)(colon - ref));
    t[colon - ref] = '\0';
    if (!partners_territory_valid(t) || strlen(colon + 1) != TRANSFER_HASH_CHARS)
        return false;
    for (const char *p = colon + 1; *p != '\0'; p++)
        if (strchr(base32, *p) == NULL)
            return false;
    /* The last character carries three bits of the hash and two of padding, which are zero. */
    if ((strchr(base32, colon[TRANSFER_HASH_CHARS]) - base32) & 3)
        return false;
    if (territory != NULL)
        strcpy(territory, t);
    return true;
}

static int reject(pathway_outcome_t *o, Parcours__V1__ErrorCode code, const char *message)
{
    o->code = code;
    snprintf(o->message, sizeof(o->message), "%s", message);
    return 1;
}

/* The directory's partners of kind registered for territory, as o's recipients. */
static int recipients_of_kind(const partners_t *directory, Parcours__V1__PartnerKind kind,
                              const char *territory, pathway_outcome_t *o)
{
    size_t n = partners_count(directory);
    o->recipients = calloc(n + 1, sizeof(*o->recipients));
    if (o->recipients == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(directory, i);
        if (p->kind == kind && partner_in_territory(p, territory))
            o->recipients[o->n_recipients++] = p->id;
    }
    return 0;
}

int transfer_announce(const Parcours__V1__Event *event, const partner_t *sender,
                      const partners_t *directory, bool already_announced,
                      pathway_outcome_t *outcome)
{
    const Parcours__V1__Transfer *t = event->transfer_announced->transfer;
    if (sender->kind != PARTNER_KIND(BRIDGE) ||
        (sender->may_emit != 0 &&
         !(sender->may_emit & PARTNERS_EMIT_BIT(EVENT_TYPE(TRANSFER_ANNOUNCED)))))
        return reject(outcome, ERROR_CODE(NOT_AUTHORISED),
                      "Only a transfer bridge (a BRIDGE partner) announces a move between "
                      "territories; a pathway that ends with a move is closed with "
                      "PathwayExited, reason EXIT_REASON_MOVED.");
    if (!partner_in_territory(sender, t->destination_territory)) {
        char message[PATHWAY_MESSAGE_MAX];
        snprintf(message, sizeof(message),
                 "Bridge %s is not registered for territory %s here: this daemon takes moves "
                 "only to the territories its partners file gives the bridge.",
                 sender->id, t->destination_territory);
        return reject(outcome, ERROR_CODE(NOT_AUTHORISED), message);
    }
    if (already_announced)
        return reject(outcome, ERROR_CODE(INVALID_TRANSITION),
                      "This move was already announced here under another event_id: send a "
                      "move again under its first event_id (the reference), which is safe.");
    return recipients_of_kind(directory, PARTNER_KIND(DEPARTEMENT), t->destination_territory,
                              outcome);
}

int transfer_bridges(const char *territory, const char *destination, const partners_t *directory,
                     pathway_outcome_t *outcome)
{
    size_t n = partners_count(directory);
    outcome->recipients = calloc(n + 1, sizeof(*outcome->recipients));
    if (outcome->recipients == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const partner_t *p = partners_at(directory, i);
        if (partner_in_territory(p, territory) && partner_serves(p, destination))
            outcome->recipients[outcome->n_recipients++] = p->id;
    }
    return 0;
}

bool transfer_served(const char *territory, const char *destination, const partners_t *directory)
{
    for (size_t i = 0; i < partners_count(directory); i++) {
        const partner_t *p = partners_at(directory, i);
        if (partner_in_territory(p, territory) && partner_serves(p, destination))
            return true;
    }
    return false;
}
