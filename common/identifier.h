/*
 * identifier.h: the identifier rule of the wire contract, one copy for the daemon and the
 * clients.
 *
 * Every identifier of proto/parcours.proto (event, partner, beneficiary, member, structure,
 * programme ids...) is 1 to IDENTIFIER_MAX bytes of [A-Za-z0-9._:-]. The daemon applies the
 * rule at its trust boundary (daemon/rules/event_frame.c) and wherever an id enters from elsewhere
 * (the partners file, Subscribe, admin requests); libparcours and parcoursctl apply it before they
 * send, so that a partner hears of a bad id at once rather than in a rejection. They must agree
 * to the byte, hence one function.
 */
#ifndef PARCOURS_COMMON_IDENTIFIER_H
#define PARCOURS_COMMON_IDENTIFIER_H

#include <stdbool.h>

#define IDENTIFIER_MAX 64 /* bytes of any identifier, its NUL not counted */

/* The rule in words, for the sentences that refuse an identifier. */
#define IDENTIFIER_RULE "1 to 64 characters among A-Z a-z 0-9 . _ : -"

/*
 * True when s is 1 to IDENTIFIER_MAX bytes, each of A-Z, a-z, 0-9, '.', '_', ':' or '-'; false
 * for NULL, for "", for a longer string and for any other byte (a space, a '/', any byte above
 * 0x7F). s is read up to its NUL and at most IDENTIFIER_MAX + 1 bytes, so an unterminated
 * buffer of that size is safe. A C string cannot hold a NUL inside: a field with one must be
 * refused before, as bytes (daemon/rules/wire.c).
 */
bool identifier_valid(const char *s);

#endif
