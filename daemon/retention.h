/*
 * retention.h: the retention of CASF R263-8, run by the daemon itself.
 *
 * A pathway's clock is its last contact (store.h). Past [retention] active_days it is archived:
 * the deliveries tell it to the departement alone (delivery_cache.h). Past archive_days more it
 * is destroyed as an erasure destroys (store_batch_purge): tombstones, key zeroed, an Erasure
 * notice (reason RETENTION) to every partner told of it. A litigation hold stops both.
 *
 * The purge walks the pathways in slices of [retention] purge_slice, one a second on the loop,
 * each its own batch, committed only when it destroyed something: reading a slice's clocks
 * unseals nothing, and a slice costs ingest at most two fsyncs a second (the batch's, and the
 * vault's for the keys it zeroed), so ingest's batches go on between slices. With the default
 * of 1,024, a pass over a million pathways takes about 17 minutes. A pass that destroyed something
 * is logged. retention_survey is the dry run.
 */
#ifndef PARCOURS_RETENTION_H
#define PARCOURS_RETENTION_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "parcours.pb-c.h"
#include "sources.h"

typedef struct retention retention_t;

/* Starts the purge on base (slice pathways per slice) unless purge is false. sources must
 * outlive it. NULL when out of memory or the timer cannot start. */
retention_t *retention_new(struct event_base *base, const daemon_sources_t *sources, bool purge,
                           size_t slice);

/* Stops the purge and frees r; sets *r to NULL. Takes NULL. */
void retention_destroy(retention_t **r);

/* The dry run: counts per stage and the due pathways (at most `list` of them) into *out, whose
 * candidates the caller frees with retention_survey_clear. 0, or -1 with err. */
int retention_survey(const daemon_sources_t *sources, size_t list, Parcours__V1__PurgeSurvey *out,
                     char *err, size_t errlen);
void retention_survey_clear(Parcours__V1__PurgeSurvey *out);

#endif
