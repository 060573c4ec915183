/*
 * figures.h: the daemon's figures, read once from its sources into one struct.
 *
 * The admin endpoint's Status (admin.c) and the HTTP endpoint's /metrics (http.c) are two
 * renderings of the same figures. Gathered twice, they would drift apart: a figure computed one
 * way here and another way there, or shown by one and forgotten by the other. Both call
 * figures_collect and render what it filled, so every rule (what the lag is, which territories
 * are shown, which row takes the territories that do not fit) is written once, here.
 *
 * This module decides nothing about who may see what: /metrics is on loopback for operators and
 * Status is for admins, and each renderer shows only its own share of the figures.
 *
 * figures_t is a plain struct, as store_info_t is, rather than an opaque handle: it is a snapshot
 * whose every field is read by a renderer, and getters would only repeat the field list.
 */
#ifndef PARCOURS_FIGURES_H
#define PARCOURS_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#include "backup.h"
#include "deadline.h"
#include "deliver.h"
#include "ingest.h"
#include "partners.h"
#include "phase_counts.h"
#include "sources.h"
#include "store.h"

#define FIGURES_PHASES PHASE_COUNTS_PHASES /* Phase values 0..8; 0 (unspecified) is not shown */
/* Territories counted apart; past them, the last row is named FIGURES_TERRITORY_OTHER and
 * counts every territory that did not fit, so that the renderings stay bounded. */
#define FIGURES_TERRITORIES_MAX 256
#define FIGURES_TERRITORY_OTHER "other"

/* Where one partner's notification stream stands. The id is copied, so that the figures do not
 * depend on the partners directory staying in force while they are rendered. */
typedef struct figures_delivery {
    char partner_id[PARTNERS_ID_MAX + 1];
    deliver_position_t position; /* last partner_seq, cursor, lag, subscribed connections */
} figures_delivery_t;

/* The pathways of one territory, by Phase value. */
typedef struct figures_territory {
    char territory[PARTNERS_TERRITORY_MAX + 1];
    uint64_t pathways[FIGURES_PHASES];
} figures_territory_t;

typedef struct figures {
    const char *version; /* static */
    int64_t uptime_ms;
    store_info_t store;    /* last seq, durable, stream id, map size and use, reader slots */
    ingest_stats_t ingest; /* counters by outcome, type and code; the histograms */
    uint64_t batches;      /* batches committed */
    double batch_size_mean;
    double commit_ms_mean;
    /* One per partner of the directory in force, in its order. */
    figures_delivery_t *deliveries;
    size_t n_deliveries;
    /* The territories of the partners file first, in its order and each with every phase (zeros
     * included), then any other territory a pathway is in, in the order it was first counted. */
    figures_territory_t *territories;
    size_t n_territories;
    uint64_t zap_refused; /* CURVE handshakes refused; 0 when CURVE is off */
    backup_stats_t backup;
    /* DeadlineMissed written since start, by DeadlineKind value (0 unused); and the deadlines
     * the index holds that fell due over a minute ago (the timer is behind, or failing). */
    uint64_t deadlines_missed[DEADLINE_KINDS + 1];
    uint64_t deadlines_overdue;
    /* What /readyz says: set by who serves /metrics, which owns the HTTP endpoint (main.c). */
    bool ready;
} figures_t;

/*
 * Reads every figure of sources (see sources.h) and backup (the admin endpoint's, see
 * admin_backup_stats; NULL counts as no backup) into *out, once, from the loop's thread. The
 * pathways per territory and phase are those kept as batches commit (phase_counts.h): no pathway
 * is read. On success returns 0 and the caller owns *out's arrays until figures_release; on
 * failure (out of memory) returns -1 and *out holds nothing to release (releasing it is harmless).
 */
int figures_collect(const daemon_sources_t *sources, const backup_stats_t *backup, figures_t *out);

/* Frees the arrays of f and zeroes it. Takes NULL, a zeroed figures_t, or one figures_collect
 * filled or failed to fill. */
void figures_release(figures_t *f);

#endif
