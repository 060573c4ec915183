/*
 * admin_apply.h: what parcoursd answers to one AdminRequest frame, with no socket in sight.
 *
 * admin.c receives the frames and sends the replies; everything between is here: the frame
 * checked at the boundary (decoded, every string checked as bytes, the beneficiary id by the
 * identifier rule), then STATUS from the figures (figures.h, which /metrics renders too), SHOW
 * and HISTORY from the store, PARTNERS from the directory in force, ERASE by the erasure
 * (erasure.h). A BACKUP request is handed back for the backup (backup.h), which answers it part
 * by part.
 */
#ifndef PARCOURS_ADMIN_APPLY_H
#define PARCOURS_ADMIN_APPLY_H

#include <stdint.h>

#include "backup.h"
#include "figures.h"
#include "sources.h"

#define ADMIN_REQUEST_MAX 4096 /* an AdminRequest is a command and an id */
#define ADMIN_SURVEY_LIST 1000 /* the due pathways a dry run lists */
#define ADMIN_DUE_LIST    1000 /* the deadlines DUE lists */

/* A Status reply and what it points to: the figures it renders and the arrays of its repeated
 * fields. */
typedef struct admin_status {
    figures_t figures;
    Parcours__V1__Status status;
    Parcours__V1__PhaseCount *counts;
    Parcours__V1__PhaseCount **count_pointers;
    Parcours__V1__PartnerDelivery *deliveries;
    Parcours__V1__PartnerDelivery **delivery_pointers;
} admin_status_t;

/* The answer to one request. Everything in it is valid until admin_decision_clear(). */
typedef struct admin_decision {
    Parcours__V1__AdminReply reply;           /* to send, unless backup is set */
    Parcours__V1__AdminRequest *backup;       /* a BACKUP request, for backup_request() */
    Parcours__V1__AdminRequest *request;      /* the request decoded, or NULL */
    admin_status_t status;                    /* what reply.status points into */
    Parcours__V1__Pathway *pathway;           /* what reply.pathway points to */
    Parcours__V1__Erased erased;              /* what reply.erased points to */
    Parcours__V1__PurgeSurvey survey;         /* what reply.survey points to */
    Parcours__V1__PersonExport person_export; /* what reply.person_export points to */
    Parcours__V1__DueList due;                /* what reply.due points to */
    Parcours__V1__StatsReply stats;           /* what reply.stats points to */
    char error[256];                          /* what reply.error may point to */
} admin_decision_t;

/*
 * Decides the answer to the frame of len bytes (-1: no usable frame) into *d, which is zeroed
 * first, reading sources and the backups' figures (NULL for none). Never fails: a request that
 * cannot be answered gets a reply with ok = false and a sentence.
 */
void admin_apply(const daemon_sources_t *sources, const backup_stats_t *backups,
                 const uint8_t *frame, int len, admin_decision_t *d);

/* Frees what a decision holds. Takes a zeroed one. */
void admin_decision_clear(admin_decision_t *d);

#endif
