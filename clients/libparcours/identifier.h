/*
 * identifier.h: the identifier rule of the wire contract, shared by the modules of libparcours.
 *
 * Internal to the library: not installed, and hidden from libparcours.so's symbols, so that it
 * is no part of the library's interface.
 */
#ifndef PARCOURS_IDENTIFIER_H
#define PARCOURS_IDENTIFIER_H

#include <stdbool.h>

/* True when s is 1 to PARCOURS_ID_MAX bytes of [A-Za-z0-9._:-]; false for NULL. */
__attribute__((visibility("hidden"))) bool parcours_identifier_valid(const char *s);

#endif
