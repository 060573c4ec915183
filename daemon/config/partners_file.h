/*
 * partners_file.h: loading the territory's partners file (INI) into a directory.
 *
 *   [ml93]                       ; the partner id: 1-64 of A-Z a-z 0-9 . _ : -
 *   name = Mission locale 93     ; required
 *   kind = MISSION_LOCALE        ; required: a PartnerKind without its prefix
 *   territory = 93               ; required: departement codes, comma-separated
 *   may_emit = JobPlaced, JobEnded ; optional: narrows the kind's default rights
 *   echo = no                    ; optional: also notify it of its own events
 *   public_key = Z85...          ; its CURVE public key (40 Z85 characters), from
 *                                ; `parcoursctl keygen`; without one it cannot connect
 */
#ifndef PARCOURS_PARTNERS_FILE_H
#define PARCOURS_PARTNERS_FILE_H

#include <stddef.h>

#include "partners.h"

/*
 * Reads path into a new directory. On success returns 0 and *out is owned by the caller
 * (partners_destroy). Otherwise returns the number of errors (-1 when the file cannot be read),
 * errors holds "path:line: message" lines, and *out is NULL: a file with any error is refused
 * whole.
 */
int partners_file_load(const char *path, partners_t **out, char *errors, size_t errlen);

#endif
