/*
 * partners.h: the territory's partners, as the partners file declares them.
 *
 * A partner has an id, a name, a kind (PartnerKind of the wire contract), the territories it is
 * registered for, and optionally a may_emit set that narrows the default rights of its kind.
 * The directory is read-only once built; the pathway rules take it as their source of truth for
 * who is who.
 */
#ifndef PARCOURS_PARTNERS_H
#define PARCOURS_PARTNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parcours.pb-c.h"

#define PARTNERS_ID_MAX           64 /* bytes of a partner id */
#define PARTNERS_NAME_MAX         128
#define PARTNERS_TERRITORY_MAX    8   /* bytes of a departement code ("93", "2A", "971") */
#define PARTNERS_TERRITORIES_MAX  8   /* territories one partner may be registered for */
#define PARTNERS_DESTINATIONS_MAX 128 /* territories a bridge hands moves over to: all of them */

/* The error codes of this module. */
#define PARTNERS_OK     0
#define PARTNERS_EINVAL (-1) /* a field is missing or out of bounds */
#define PARTNERS_EEXIST (-2) /* the partner id is already in the directory */
#define PARTNERS_ENOMEM (-3)

/* The sender of the events parcoursd writes itself (DeadlineMissed, and a move's
 * TransferAnnounced at its origin). No partner may take this id. */
#define PARTNERS_DAEMON_ID "parcoursd"

/* Bit of an event type in may_emit. */
#define PARTNERS_EMIT_BIT(type) (UINT32_C(1) << (unsigned)(type))

typedef struct partner {
    char id[PARTNERS_ID_MAX + 1];
    char name[PARTNERS_NAME_MAX + 1];
    Parcours__V1__PartnerKind kind;
    char territories[PARTNERS_TERRITORIES_MAX][PARTNERS_TERRITORY_MAX + 1];
    size_t n_territories;
    uint32_t may_emit; /* PARTNERS_EMIT_BIT of each type it may emit; 0 = its kind's defaults */
    bool echo;         /* also notify it of its own events (default false) */
    bool has_public_key;
    uint8_t public_key[32]; /* its CURVE public key: the only way it connects over TCP */
    /* A BRIDGE's: the territories it hands this territory's moves over to (docs/transfers.md). */
    char destinations[PARTNERS_DESTINATIONS_MAX][PARTNERS_TERRITORY_MAX + 1];
    size_t n_destinations;
} partner_t;

typedef struct partners partners_t;

/* Returns an empty directory the caller owns (partners_destroy), or NULL when out of memory. */
partners_t *partners_new(void);

/* Frees the directory and sets *p to NULL. Takes NULL. */
void partners_destroy(partners_t **p);

/* Copies partner into the directory. PARTNERS_EINVAL when its id is not 1-64 bytes of the safe
 * charset, its kind is unknown or it has no territory; PARTNERS_EEXIST for a duplicate id. */
int partners_add(partners_t *p, const partner_t *partner);

/* Returns the partner with this id, or NULL, found by hash. Valid while the directory lives. */
const partner_t *partners_find(const partners_t *p, const char *id);

/* The number of partners and the i-th one (in the order they were added). */
size_t partners_count(const partners_t *p);
const partner_t *partners_at(const partners_t *p, size_t i);

/* The territory-wide partners (partner_kind_territory_wide), in the order they were added:
 * their number and the i-th one. */
size_t partners_territory_wide_count(const partners_t *p);
const partner_t *partners_territory_wide_at(const partners_t *p, size_t i);

/* True when a partner of old that had a public key has none, or another one, in new (it left
 * the file, or its key was replaced): its connections must authenticate again. */
bool partners_keys_revoked(const partners_t *old, const partners_t *new);

/* True when t is a departement code: 1 to PARTNERS_TERRITORY_MAX letters or digits ("93",
 * "2A", "971"). */
bool partners_territory_valid(const char *t);

/* True when the partner is registered for this territory. */
bool partner_in_territory(const partner_t *partner, const char *territory);

/* True when the partner is a BRIDGE that hands moves over to this territory. */
bool partner_serves(const partner_t *partner, const char *destination);

/* A CURVE public key's fingerprint: its first 8 bytes in lowercase hex, NUL-terminated. The
 * ZAP handler names a refused key by it in the log, parcoursctl partners each partner's key:
 * an admin matches the two. (A public key is no secret.) */
#define PARTNERS_FINGERPRINT_LEN 16
void partners_key_fingerprint(const uint8_t key[32], char out[PARTNERS_FINGERPRINT_LEN + 1]);

/* True when the partner is registered for every territory any partner of the directory is
 * registered for: the only partners that may see every pathway the daemon could hold. */
bool partners_covers_every_territory(const partners_t *p, const partner_t *partner);

/* True for the kinds with a territory-wide duty (DEPARTEMENT, FRANCE_TRAVAIL). */
bool partner_kind_territory_wide(Parcours__V1__PartnerKind kind);

/* True for the kinds that only ever see training, job and exit (EMPLOYER, TRAINING_ORG). */
bool partner_kind_minimised(Parcours__V1__PartnerKind kind);

/* The upper-case name of a kind as in the partners file ("MISSION_LOCALE"), or NULL. */
const char *partner_kind_name(Parcours__V1__PartnerKind kind);

/* The kind for a name of partner_kind_name(), or
 * PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_UNSPECIFIED. */
Parcours__V1__PartnerKind partner_kind_from_name(const char *name);

#endif
