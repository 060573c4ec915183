/*
 * wire_names.h: short, readable spellings of the generated protobuf-c enum constants.
 *
 * protobuf-c prefixes every enum value with its package and enum name twice
 * (PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_EMPLOYER). These macros keep the rules readable:
 * PARTNER_KIND(EMPLOYER), EVENT_TYPE(JOB_PLACED), ERROR_CODE(NOT_AUTHORISED).
 */
#ifndef PARCOURS_WIRE_NAMES_H
#define PARCOURS_WIRE_NAMES_H

#include "parcours.pb-c.h"

#define PARTNER_KIND(name) PARCOURS__V1__PARTNER_KIND__PARTNER_KIND_##name
#define EVENT_TYPE(name)   PARCOURS__V1__EVENT_TYPE__EVENT_TYPE_##name
#define ERROR_CODE(name)   PARCOURS__V1__ERROR_CODE__ERROR_CODE_##name
#define PHASE(name)        PARCOURS__V1__PHASE__PHASE_##name
#define PAYLOAD(name)      PARCOURS__V1__EVENT__PAYLOAD_##name
#define ACK_STATUS(name)   PARCOURS__V1__ACK_STATUS__ACK_STATUS_##name

/* The payload case of an event of this type: the wire contract numbers them 100 + type. */
#define EVENT_PAYLOAD_OFFSET 100

#endif
