/*
 * fuzz_ingest.c: a libFuzzer target over what parcoursd does with one Event frame (G6, G11).
 *
 * For each frame it runs the daemon's own ingest path, ingest_apply() (daemon/ingest_apply.c,
 * which daemon/ingest.c calls for every frame it receives): event_decode with the daemon's
 * largest frame, the sender's lookup in a partners directory, the dedupe check and the current
 * pathway read inside a store batch, pathway_apply, and for an accepted event its canonical
 * encoding appended with its recipients. The store is a real LMDB store in a temporary
 * directory, opened once (not durable, a small map); one batch takes the kept inputs and is
 * committed every FUZZ_COMMIT_EVERY of them (or before a scratch input), so pathways accumulate
 * across inputs and the fuzzer reaches deep states. When the map is full (STORE_EFULL) the store
 * is thrown away and a fresh one is opened.
 *
 * An input is a flags byte, then frames, each preceded by its length (fuzz_partners.h), so that
 * one input can walk a pathway through several events; every frame reaches event_decode
 * unchanged, in a heap buffer of its exact size so that AddressSanitizer sees any read past its
 * end. A "scratch" input runs in a batch of its own that is rolled back: it meets the state the
 * kept inputs built, but leaves no trace, so that its mutants are not merely duplicates of it.
 * The seed sequences are scratch inputs, and their mutants walk whole pathways again and again;
 * the kept inputs (and the scratch mutants that flip the flag) build the state.
 *
 * Besides the sanitizers, the target checks what the rules and the store promise: a rejection
 * has a code and a sentence and no pathway; an accepted pathway has the next version of its
 * episode, its derived phase, distinct members, and recipients that need to know, once each;
 * neither the current pathway nor the event is modified; a sender blind to a pathway gets the
 * same answer as if it did not exist (no oracle, registrations included); each view hides what
 * it must; the store gives back the pathway it was given, and its log holds the canonical
 * encoding of the checked event. And what every recipient would be sent (the event as
 * delivery encodes it for that partner, and the pathway as it may see it) decodes to exactly
 * the checked event, passes the identifier and UTF-8 rules, and carries nothing a minimised
 * recipient may not see, not even as bytes. A broken promise aborts, which libFuzzer reports.
 *
 * PARCOURS_FUZZ_VERBOSE=1 prints what happened to each frame (to check the seed corpus).
 */
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_frame.h"
#include "fuzz_partners.h"
#include "identifier.h"
#include "ingest_apply.h"
#include "partners.h"
#include "pathway.h"
#include "store.h"
#include "wire.h"
#include "wire_names.h"

/* Overridable with -D, e.g. a tiny map to exercise the reset on a full map. */
#ifndef FUZZ_COMMIT_EVERY
#define FUZZ_COMMIT_EVERY 64 /* inputs per committed batch */
#endif
#ifndef FUZZ_MAP_INITIAL
#define FUZZ_MAP_INITIAL ((size_t)8 << 20) /* 8 MiB */
#endif
#ifndef FUZZ_MAP_MAX
#define FUZZ_MAP_MAX ((size_t)64 << 20) /* 64 MiB */
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static partners_t *fuzz_directory;
static store_t *fuzz_store;
static ingest_context_t fuzz_ctx; /* ingest_apply's: the store, the open batch, the directory */
static char fuzz_dir[PATH_MAX];
static unsigned fuzz_inputs_in_batch;
static int64_t fuzz_committed_at = INT64_C(1700000000000); /* a fixed clock: runs repeat */
static bool fuzz_verbose;

/* What the run did, printed at exit: shows how deep the fuzzer went. */
static struct {
    uint64_t frames, decoded, accepted, rejected, duplicates, commits, resets, max_version;
    uint64_t accepted_by_type[32];
    uint64_t notifications, minimised, log_checked;
} fuzz_stats;

/* The events appended in the open batch, with the bytes the log must hold for each: checked
 * against the log once the batch commits. */
#define FUZZ_PENDING_MAX 4096
static struct {
    uint64_t seq;
    uint8_t *canonical;
    size_t len;
} fuzz_pending[FUZZ_PENDING_MAX];
static size_t fuzz_n_pending;

/* Reports a broken promise and aborts: libFuzzer saves the input and prints the stack. */
static void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz_ingest: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

/* --- The store ------------------------------------------------------------------------------ */

/* Removes the files of the store's directory, then the directory (it holds no subdirectory). */
static void fuzz_dir_remove(void)
{
    if (fuzz_dir[0] == '\0')
        return;
    DIR *d = opendir(fuzz_dir);
    if (d != NULL) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char path[PATH_MAX + 256];
            snprintf(path, sizeof(path), "%s/%s", fuzz_dir, ent->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
    fuzz_dir[0] = '\0';
}

static void fuzz_store_open(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/parcours-fuzz-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir) == NULL)
        fuzz_fail("cannot create a temporary directory %s", fuzz_dir);
    store_options_t options;
    store_options_default(&options);
    options.initial_map_size = FUZZ_MAP_INITIAL;
    options.max_map_size = FUZZ_MAP_MAX;
    options.durable = false;
    int rc = store_open(fuzz_dir, &options, &fuzz_store);
    if (rc != STORE_OK)
        fuzz_fail("cannot open a store in %s: %s", fuzz_dir, store_strerror(rc));
}

static void fuzz_pending_clear(void)
{
    for (size_t i = 0; i < fuzz_n_pending; i++)
        free(fuzz_pending[i].canonical);
    fuzz_n_pending = 0;
}

static void fuzz_store_close(void)
{
    fuzz_pending_clear();
    store_batch_abort(&fuzz_ctx.batch);
    fuzz_ctx.batch_error = 0;
    store_close(&fuzz_store);
    fuzz_dir_remove();
    fuzz_inputs_in_batch = 0;
}

/* The store answered rc where it should not fail: a full map starts a fresh store, anything
 * else is a finding (the events are valid, the disk is not the fuzzer's to fill). */
static void fuzz_store_error(int rc, const char *what)
{
    if (rc != STORE_EFULL)
        fuzz_fail("%s: %s", what, store_strerror(rc));
    if (fuzz_verbose)
        fprintf(stderr, "fuzz_ingest: the map is full; starting a fresh store\n");
    fuzz_stats.resets++;
    fuzz_store_close();
    fuzz_store_open();
}

/* What the log holds for each event of the committed batch is the canonical encoding of the
 * event that was checked: byte for byte. */
static void fuzz_pending_check(void)
{
    for (size_t i = 0; i < fuzz_n_pending; i++) {
        store_log_entry_t entry;
        int rc = store_log_get(fuzz_store, fuzz_pending[i].seq, &entry);
        if (rc != STORE_OK)
            fuzz_fail("store_log_get(%llu): %s", (unsigned long long)fuzz_pending[i].seq,
                      store_strerror(rc));
        /* Retracted by its sender later in the batch: a tombstone, its bytes no longer read. */
        if (entry.kind == STORE_LOG_WITHDRAWN) {
            store_log_entry_clear(&entry);
            continue;
        }
        if (entry.raw_len != fuzz_pending[i].len ||
            memcmp(entry.raw, fuzz_pending[i].canonical, entry.raw_len) != 0)
            fuzz_fail("the log holds other bytes than the checked event's encoding at seq %llu",
                      (unsigned long long)fuzz_pending[i].seq);
        store_log_entry_clear(&entry);
        fuzz_stats.log_checked++;
    }
    fuzz_pending_clear();
}

static void fuzz_batch_commit(void)
{
    fuzz_inputs_in_batch = 0;
    if (fuzz_ctx.batch == NULL)
        return;
    int rc = store_batch_commit(&fuzz_ctx.batch);
    if (rc != STORE_OK) {
        fuzz_store_error(rc, "store_batch_commit");
        return;
    }
    fuzz_stats.commits++;
    fuzz_pending_check();
}

/* --- Checks --------------------------------------------------------------------------------- */

/* Packs m into a new buffer (caller frees), or NULL and 0 for no message. */
static uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = 0;
    if (m == NULL)
        return NULL;
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    if (buf == NULL)
        fuzz_fail("out of memory");
    protobuf_c_message_pack(m, buf);
    return buf;
}

static bool fuzz_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Whether two messages pack to the same bytes. */
static bool fuzz_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t alen, blen;
    uint8_t *pa = fuzz_pack(a, &alen), *pb = fuzz_pack(b, &blen);
    bool same = fuzz_same(pa, alen, pb, blen);
    free(pa);
    free(pb);
    return same;
}

static void fuzz_check_string(const char *s, size_t max, const char *what)
{
    if (memchr(s, '\0', max + 1) == NULL)
        fuzz_fail("%s is not a string of at most %zu bytes", what, max);
}

/* A rejection: a code, a sentence, nothing else. */
static void fuzz_check_rejected(const pathway_outcome_t *o)
{
    fuzz_check_string(o->message, PATHWAY_MESSAGE_MAX - 1, "the rejection message");
    if (o->code == ERROR_CODE(UNSPECIFIED) || o->message[0] == '\0')
        fuzz_fail("a rejection without a code or a sentence (code %d)", (int)o->code);
    if (o->pathway != NULL || o->recipients != NULL || o->n_recipients != 0)
        fuzz_fail("a rejection that holds a pathway or recipients: %s", o->message);
}

/* The invariants of an accepted event. */
static void fuzz_check_accepted(const Parcours__V1__Pathway *before, const Parcours__V1__Event *e,
                                const partner_t *sender, const pathway_outcome_t *o)
{
    const Parcours__V1__Pathway *p = o->pathway;
    if (p == NULL || o->code != ERROR_CODE(UNSPECIFIED))
        fuzz_fail("an acceptance without a pathway, or with a code");
    /* The version counts the episode's events: a registration opens a new episode at 1; a
     * suspension, told to few, changes neither the version nor updated_at. */
    bool suspension = e->payload_case == PAYLOAD(SUSPENSION_DECIDED) ||
                      e->payload_case == PAYLOAD(SUSPENSION_LIFTED);
    /* A retraction goes one version up, but that of a suspension (told to few) leaves it. */
    bool retraction = e->payload_case == PAYLOAD(EVENT_RETRACTED);
    if (retraction && before != NULL && p->version == before->version)
        suspension = true;
    uint64_t expected = event_type(e) == EVENT_TYPE(BENEFICIARY_REGISTERED) ? 1
                        : suspension                                        ? before->version
                                                                            : before->version + 1;
    if (before == NULL && retraction)
        fuzz_fail("a retraction accepted where there was no pathway");
    if (p->version != expected)
        fuzz_fail("version %llu after version %llu", (unsigned long long)p->version,
                  (unsigned long long)(before != NULL ? before->version : 0));
    if (o->version != (partner_kind_minimised(sender->kind) ? 0 : p->version))
        fuzz_fail("the sender is told version %llu of %llu", (unsigned long long)o->version,
                  (unsigned long long)p->version);
    if (strcmp(p->beneficiary_id, e->beneficiary_id) != 0)
        fuzz_fail("the pathway of %s is for %s", e->beneficiary_id, p->beneficiary_id);
    if (p->updated_at != (suspension ? before->updated_at : e->occurred_at))
        fuzz_fail("updated_at is not the event's occurred_at");
    if (p->phase != pathway_phase(p))
        fuzz_fail("phase %d, derived %d", (int)p->phase, (int)pathway_phase(p));
    bool exited = event_type(e) == EVENT_TYPE(PATHWAY_EXITED);
    if (!retraction && pathway_is_open(p) == exited)
        fuzz_fail("the pathway is %s after event type %d", exited ? "open" : "closed",
                  (int)event_type(e));
    for (size_t i = 0; i < p->n_members; i++) {
        if (!identifier_valid(p->members[i]))
            fuzz_fail("member %zu has an invalid id", i);
        for (size_t j = i + 1; j < p->n_members; j++)
            if (strcmp(p->members[i], p->members[j]) == 0)
                fuzz_fail("member %s twice", p->members[i]);
    }
    if (o->n_recipients > 0 && o->recipients == NULL)
        fuzz_fail("%zu recipients and no array", o->n_recipients);
    for (size_t i = 0; i < o->n_recipients; i++) {
        const char *id = o->recipients[i];
        const partner_t *r = id != NULL ? partners_find(fuzz_directory, id) : NULL;
        if (r == NULL)
            fuzz_fail("recipient %zu is not in the directory", i);
        if (!partner_in_territory(r, p->territory))
            fuzz_fail("recipient %s is not registered for territory %s", id, p->territory);
        if (!pathway_kind_receives(r->kind, e, id))
            fuzz_fail("recipient %s may not know of event type %d", id, (int)event_type(e));
        if (strcmp(id, sender->id) == 0 && !sender->echo)
            fuzz_fail("the sender %s is told of its own event", id);
        bool leaving =
            e->payload_case == PAYLOAD(MEMBER_LEFT) && strcmp(e->member_left->member_id, id) == 0;
        /* The group that ends with an exit is the one told of it. */
        const Parcours__V1__Pathway *group =
            e->payload_case == PAYLOAD(PATHWAY_EXITED) && before != NULL ? before : p;
        /* A retraction's recipients are who was told of the retracted event, then. */
        if (!retraction && !pathway_has_member(group, id) &&
            !partner_kind_territory_wide(r->kind) && !leaving)
            fuzz_fail("recipient %s is neither a member nor territory-wide", id);
        const char *referent = pathway_referent_partner(p);
        if (suspension && !retraction && !partner_kind_territory_wide(r->kind) &&
            (referent == NULL || strcmp(referent, id) != 0))
            fuzz_fail("recipient %s of a suspension is neither the referent's nor territory-wide",
                      id);
        for (size_t j = i + 1; j < o->n_recipients; j++)
            if (strcmp(id, o->recipients[j]) == 0)
                fuzz_fail("recipient %s twice", id);
    }
}

/* What a sender learns from one application of the rules: the reply, and when accepted, the
 * pathway as it may then see it. Compared whole between two applications. */
typedef struct fuzz_reply {
    int rc;
    int code;
    char message[PATHWAY_MESSAGE_MAX];
    uint64_t version;
    uint8_t *view;
    size_t view_len;
} fuzz_reply_t;

static void fuzz_reply_of(int rc, const pathway_outcome_t *o, const partner_t *sender,
                          fuzz_reply_t *r)
{
    memset(r, 0, sizeof(*r));
    r->rc = rc;
    r->code = (int)o->code;
    memcpy(r->message, o->message, sizeof(r->message));
    if (rc == 0) {
        r->version = o->version;
        Parcours__V1__Pathway *view =
            pathway_copy(o->pathway, pathway_view_for(o->pathway, sender), sender->id);
        r->view = fuzz_pack(view != NULL ? &view->base : NULL, &r->view_len);
        if (view != NULL)
            parcours__v1__pathway__free_unpacked(view, NULL);
    }
}

static bool fuzz_reply_same(const fuzz_reply_t *a, const fuzz_reply_t *b)
{
    return a->rc == b->rc && a->code == b->code && strcmp(a->message, b->message) == 0 &&
           a->version == b->version && fuzz_same(a->view, a->view_len, b->view, b->view_len);
}

/*
 * No oracle (docs/domain.md): a sender blind to the pathway gets the reply it would get if
 * there were none, registrations included; a registration that an open pathway stops gets the
 * reply the sender gets for any other type it may not act on.
 */
static void fuzz_check_no_oracle(const Parcours__V1__Pathway *current, const Parcours__V1__Event *e,
                                 const partner_t *sender, int rc, const pathway_outcome_t *o)
{
    if (current == NULL || pathway_visible_to(current, sender))
        return;
    fuzz_reply_t got, none;
    fuzz_reply_of(rc, o, sender, &got);
    pathway_outcome_t n;
    int rc_none = pathway_apply(NULL, e, sender, fuzz_directory, NULL, &n);
    fuzz_reply_of(rc_none, &n, sender, &none);
    pathway_outcome_clear(&n);
    if (rc_none == 0 && pathway_is_open(current)) {
        /* The same event, as an appointment: the reply to a type the sender may not act on. */
        Parcours__V1__AppointmentRecorded appointment = PARCOURS__V1__APPOINTMENT_RECORDED__INIT;
        appointment.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_PHONE;
        appointment.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SEEN;
        appointment.at = 1;
        Parcours__V1__Event other = *e;
        other.payload_case = PAYLOAD(APPOINTMENT_RECORDED);
        other.appointment_recorded = &appointment;
        free(none.view);
        rc_none = pathway_apply(NULL, &other, sender, fuzz_directory, NULL, &n);
        fuzz_reply_of(rc_none, &n, sender, &none);
        pathway_outcome_clear(&n);
    }
    if (!fuzz_reply_same(&got, &none))
        fuzz_fail("oracle: %s, blind to %s's pathway, gets \"%s\" (rc %d, version %llu) but "
                  "\"%s\" (rc %d, version %llu) when there is no pathway",
                  sender->id, e->beneficiary_id, got.message, got.rc,
                  (unsigned long long)got.version, none.message, none.rc,
                  (unsigned long long)none.version);
    free(got.view);
    free(none.view);
}

/* A minimised view holds only what EMPLOYER and TRAINING_ORG may see (docs/domain.md). */
static void fuzz_check_minimised_view(const Parcours__V1__Pathway *min,
                                      const Parcours__V1__Pathway *p, const char *viewer)
{
    if ((min->training != NULL && min->training->provider_id[0] != '\0' &&
         strcmp(min->training->provider_id, viewer) != 0) ||
        (min->employment != NULL && min->employment->employer_partner_id[0] != '\0' &&
         strcmp(min->employment->employer_partner_id, viewer) != 0))
        fuzz_fail("a minimised view for %s names another partner", viewer);
    if (min->orientation != NULL || min->pending_request != NULL || min->referent != NULL ||
        min->contract != NULL || min->last_appointment != NULL || min->last_denial_reason != 0 ||
        min->last_contract_end_reason != 0 || min->n_members != 0 || min->suspension != NULL ||
        min->last_suspension_lift_reason != 0 || min->rsa_recipient || min->episode != 0 ||
        min->created_at != 0 || min->updated_at != 0 || min->version != 0)
        fuzz_fail("a minimised view shows what EMPLOYER and TRAINING_ORG may not see");
    if (min->phase != PHASE(UNSPECIFIED) && min->phase != PHASE(EXITED) &&
        min->phase != PHASE(EMPLOYED) && min->phase != PHASE(IN_TRAINING))
        fuzz_fail("a minimised view shows phase %d", (int)min->phase);
    if (strcmp(min->beneficiary_id, p->beneficiary_id) != 0)
        fuzz_fail("a minimised view lost the beneficiary");
}

/* What the delivery side does with an accepted pathway: every view. */
static void fuzz_check_copies(const Parcours__V1__Pathway *p)
{
    Parcours__V1__Pathway *full = pathway_copy(p, PATHWAY_VIEW_TERRITORY, NULL);
    Parcours__V1__Pathway *member = pathway_copy(p, PATHWAY_VIEW_MEMBER, NULL);
    Parcours__V1__Pathway *referent = pathway_copy(p, PATHWAY_VIEW_REFERENT, NULL);
    Parcours__V1__Pathway *min = pathway_copy(p, PATHWAY_VIEW_MINIMISED, "employer93");
    if (full == NULL || member == NULL || referent == NULL || min == NULL)
        fuzz_fail("pathway_copy returned NULL");
    if (!fuzz_same_message(&p->base, &full->base))
        fuzz_fail("the territory's view differs from the pathway");
    if (member->suspension != NULL || member->last_suspension_lift_reason != 0 ||
        member->episode != 0 || referent->episode != 0)
        fuzz_fail("a member's view shows a suspension or an episode");
    if ((referent->suspension == NULL) != (p->suspension == NULL))
        fuzz_fail("the referent's view lost the suspension");
    fuzz_check_minimised_view(min, p, "employer93");
    parcours__v1__pathway__free_unpacked(full, NULL);
    parcours__v1__pathway__free_unpacked(member, NULL);
    parcours__v1__pathway__free_unpacked(referent, NULL);
    parcours__v1__pathway__free_unpacked(min, NULL);
}

/* Whether needle occurs in the len bytes at hay. */
static bool fuzz_bytes_hold(const uint8_t *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n > 0 && i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

/* Whether s is a substring of one of the n strings allowed (so that finding s in the bytes may
 * be finding one of them). */
static bool fuzz_within(const char *s, const char *const *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (allowed[i] != NULL && strstr(allowed[i], s) != NULL)
            return true;
    return false;
}

/*
 * The ids a minimised recipient may not find in what it is sent: every partner of the pathway
 * named outside its training and job facts, and the references of the others' records, unless
 * the same string is also something it may see.
 */
static void fuzz_check_minimised_bytes(const Parcours__V1__Pathway *p, const partner_t *r,
                                       const Parcours__V1__Event *e, const uint8_t *bytes,
                                       size_t len)
{
    /* No partner but itself: a training's programme is all it reads beside its own ids. */
    const char *allowed[8] = {r->id, p->beneficiary_id, p->territory};
    size_t n = 3;
    if (p->training != NULL)
        allowed[n++] = p->training->programme_code;
    if (e->payload_case == PAYLOAD(TRAINING_ENTERED))
        allowed[n++] = e->training_entered->programme_code;
    const char *hidden[64];
    size_t h = 0;
    if (p->training != NULL)
        hidden[h++] = p->training->provider_id;
    if (p->employment != NULL)
        hidden[h++] = p->employment->employer_partner_id;
    if (e->payload_case == PAYLOAD(JOB_PLACED))
        hidden[h++] = e->job_placed->employer_partner_id;
    else if (e->payload_case == PAYLOAD(TRAINING_ENTERED))
        hidden[h++] = e->training_entered->provider_id;
    for (size_t i = 0; i < p->n_members && h < 48; i++)
        hidden[h++] = p->members[i];
    if (p->orientation != NULL) {
        hidden[h++] = p->orientation->structure_id;
        hidden[h++] = p->orientation->decided_by;
    }
    if (p->referent != NULL) {
        hidden[h++] = p->referent->partner_id;
        hidden[h++] = p->referent->professional_ref;
    }
    if (p->contract != NULL) {
        hidden[h++] = p->contract->signed_with;
        hidden[h++] = p->contract->plan_action_ref;
    }
    if (p->pending_request != NULL)
        hidden[h++] = p->pending_request->requested_by;
    if (p->last_appointment != NULL)
        hidden[h++] = p->last_appointment->recorded_by;
    if (p->suspension != NULL)
        hidden[h++] = p->suspension->decided_by;
    if (strcmp(e->partner_id, r->id) != 0) {
        hidden[h++] = e->partner_id;
        hidden[h++] = e->event_id;
    }
    for (size_t i = 0; i < h; i++)
        if (hidden[i] != NULL && hidden[i][0] != '\0' && !fuzz_within(hidden[i], allowed, n) &&
            fuzz_bytes_hold(bytes, len, hidden[i]))
            fuzz_fail("%s, minimised, would be sent \"%s\", which it may not know", r->id,
                      hidden[i]);
}

/*
 * What delivery sends each recipient of the accepted event e, encoded as deliver.c encodes it
 * (from the log's canonical bytes, pathway_event_minimise for the minimised, pathway_copy of
 * pathway_view_for): it decodes to exactly the checked event (less who sent it, for the
 * minimised), its strings pass the rules, and a minimised recipient finds nothing in its bytes
 * that it may not see.
 */
static void fuzz_check_deliveries(const Parcours__V1__Event *e, const uint8_t *canonical,
                                  size_t canonical_len, const pathway_outcome_t *o)
{
    for (size_t i = 0; i < o->n_recipients; i++) {
        const partner_t *r = partners_find(fuzz_directory, o->recipients[i]);
        fuzz_stats.notifications++;
        /* The event, as the log gives it back. */
        Parcours__V1__Event *logged = parcours__v1__event__unpack(NULL, canonical_len, canonical);
        if (logged == NULL)
            fuzz_fail("the canonical bytes of an accepted event do not decode");
        pathway_event_view_t shown = {.event = *logged};
        bool minimised = pathway_event_minimised_for(r, logged);
        if (minimised)
            pathway_event_minimise(logged, r->id, &shown);
        size_t event_len;
        uint8_t *event = fuzz_pack(&shown.event.base, &event_len);
        parcours__v1__event__free_unpacked(logged, NULL);
        /* It decodes, through the daemon's own boundary, to the event that was checked. */
        Parcours__V1__Event *back =
            (Parcours__V1__Event *)wire_unpack(&parcours__v1__event__descriptor, event, event_len);
        if (back == NULL || !wire_strings_check(&back->base, NULL, 0))
            fuzz_fail("what %s would be sent does not decode, or breaks the string rules", r->id);
        pathway_event_view_t expected = {.event = *e};
        if (minimised)
            pathway_event_minimise(e, r->id, &expected);
        if (!fuzz_same_message(&back->base, &expected.event.base))
            fuzz_fail("what %s would be sent is not the event that was checked", r->id);
        if (!minimised) {
            event_error_t err;
            Parcours__V1__Event *again = NULL;
            if (event_decode(event, event_len, EVENT_FRAME_MAX, &again, &err, NULL) != 0)
                fuzz_fail("what %s would be sent fails the boundary: %s", r->id, err.message);
            event_destroy(&again);
        }
        wire_free(&back->base);
        /* The pathway as it may see it now. */
        pathway_view_t v = pathway_view_for(o->pathway, r);
        Parcours__V1__Pathway *view = pathway_copy(o->pathway, v, r->id);
        size_t view_len = 0;
        uint8_t *view_bytes = fuzz_pack(view != NULL ? &view->base : NULL, &view_len);
        if (view != NULL) {
            Parcours__V1__Pathway *decoded = (Parcours__V1__Pathway *)wire_unpack(
                &parcours__v1__pathway__descriptor, view_bytes, view_len);
            if (decoded == NULL || !wire_strings_check(&decoded->base, NULL, 0))
                fuzz_fail("the view %s would be sent breaks the string rules", r->id);
            for (size_t m = 0; m < decoded->n_members; m++)
                if (!identifier_valid(decoded->members[m]))
                    fuzz_fail("the view %s would be sent names an invalid member", r->id);
            wire_free(&decoded->base);
        }
        if (partner_kind_minimised(r->kind)) {
            fuzz_stats.minimised++;
            if (v != PATHWAY_VIEW_MINIMISED && v != PATHWAY_VIEW_NONE)
                fuzz_fail("%s, an EMPLOYER or TRAINING_ORG, gets view %d", r->id, (int)v);
            if (view != NULL)
                fuzz_check_minimised_view(view, o->pathway, r->id);
            fuzz_check_minimised_bytes(o->pathway, r, e, event, event_len);
            fuzz_check_minimised_bytes(o->pathway, r, e, view_bytes, view_len);
        }
        if (view != NULL)
            parcours__v1__pathway__free_unpacked(view, NULL);
        free(view_bytes);
        free(event);
    }
}

/* --- One frame: the daemon's ingest_apply ------------------------------------------------------
 */

/* After an accepted event: what each recipient would be sent, what the log must hold (checked
 * at the commit), and the pathway the batch gives back. */
static void fuzz_accepted(const ingest_decision_t *d)
{
    const Parcours__V1__Event *e = d->event;
    uint8_t stack[EVENT_FRAME_MAX];
    uint8_t *canonical = NULL;
    size_t len = event_pack(e, &canonical, stack, sizeof(stack));
    if (canonical == NULL)
        fuzz_fail("out of memory");
    fuzz_check_deliveries(e, canonical, len, &d->outcome);
    if (d->seq == 0)
        fuzz_fail("an accepted event got seq 0");
    if (fuzz_n_pending < FUZZ_PENDING_MAX) {
        uint8_t *copy = malloc(len);
        if (copy == NULL)
            fuzz_fail("out of memory");
        memcpy(copy, canonical, len);
        fuzz_pending[fuzz_n_pending].seq = d->seq;
        fuzz_pending[fuzz_n_pending].canonical = copy;
        fuzz_pending[fuzz_n_pending].len = len;
        fuzz_n_pending++;
    }
    if (canonical != stack)
        free(canonical);
    Parcours__V1__Pathway *stored = NULL;
    int rc = store_batch_pathway_get(fuzz_ctx.batch, e->beneficiary_id, &stored);
    if (rc != STORE_OK) {
        fuzz_store_error(rc, "store_batch_pathway_get after append");
        return;
    }
    if (!fuzz_same_message(&stored->base, &d->outcome.pathway->base))
        fuzz_fail("the store gave back another pathway than it was given for %s",
                  e->beneficiary_id);
    parcours__v1__pathway__free_unpacked(stored, NULL);
}

/* A move announced here by a bridge: no pathway, told to the departements of its destination
 * alone, kept under its own seq, claimable once. */
static void fuzz_check_move(const ingest_decision_t *d)
{
    const Parcours__V1__Event *e = d->event;
    const Parcours__V1__Transfer *t = e->transfer_announced->transfer;
    const pathway_outcome_t *o = &d->outcome;
    if (d->sender->kind != FUZZ_KIND(BRIDGE) ||
        !partner_in_territory(d->sender, t->destination_territory))
        fuzz_fail("a move accepted from %s, not a bridge of its destination", d->sender->id);
    if (o->pathway != NULL || d->current != NULL || d->seq == 0)
        fuzz_fail("a move accepted with a pathway, or without a seq");
    for (size_t i = 0; i < o->n_recipients; i++) {
        const partner_t *r = partners_find(fuzz_directory, o->recipients[i]);
        if (r == NULL || r->kind != FUZZ_KIND(DEPARTEMENT) ||
            !partner_in_territory(r, t->destination_territory))
            fuzz_fail("a move told to %s", o->recipients[i]);
    }
    store_transfer_t kept;
    if (store_batch_transfer_get(fuzz_ctx.batch, t->reference, &kept) != STORE_OK ||
        kept.seq != d->seq || kept.moved_at != t->moved_at ||
        strcmp(kept.territory, t->destination_territory) != 0)
        fuzz_fail("a move accepted and not kept as it was announced");
}

/* The decision on a decoded event, against the promises of the rules. */
static void fuzz_decided(const ingest_decision_t *d)
{
    const Parcours__V1__Event *e = d->event;
    if (!identifier_valid(e->event_id) || !identifier_valid(e->partner_id) ||
        !identifier_valid(e->beneficiary_id) || e->occurred_at <= 0 ||
        event_type_name(event_type(e)) == NULL || !wire_strings_check(&e->base, NULL, 0) ||
        event_id_looks_like_nir(e->beneficiary_id))
        fuzz_fail("event_decode let through an event it should have refused");
    if (strcmp(d->event_id, e->event_id) != 0)
        fuzz_fail("the ack would not name the event it answers");
    if (d->sender == NULL) {
        if (d->status != ACK_STATUS(REJECTED) || d->code != ERROR_CODE(NOT_AUTHORISED))
            fuzz_fail("an unknown partner's event is not refused");
        return;
    }
    if (d->status == ACK_STATUS(DUPLICATE)) {
        fuzz_stats.duplicates++;
        if (d->applied || d->seq == 0)
            fuzz_fail("a duplicate went to the rules, or has no seq");
        return;
    }
    if (!d->applied)
        fuzz_fail("ingest_apply decided %d without the rules", (int)d->status);
    const Parcours__V1__Pathway *current = d->current;
    if (d->status == ACK_STATUS(ACCEPTED) && event_type(e) == EVENT_TYPE(TRANSFER_ANNOUNCED)) {
        fuzz_stats.accepted++;
        fuzz_stats.accepted_by_type[event_type(e) & 31]++;
        fuzz_check_move(d);
        return;
    }
    if (d->status == ACK_STATUS(ACCEPTED)) {
        const pathway_outcome_t *o = &d->outcome;
        fuzz_stats.accepted++;
        fuzz_stats.accepted_by_type[event_type(e) & 31]++;
        if (o->pathway != NULL && o->pathway->version > fuzz_stats.max_version)
            fuzz_stats.max_version = o->pathway->version;
        fuzz_check_accepted(current, e, d->sender, o);
        fuzz_check_copies(o->pathway);
        if (d->version != o->version)
            fuzz_fail("the ack's version is not the one the rules give the sender");
        if (fuzz_verbose)
            fprintf(stderr, "  %s: %s from %s accepted: %s version %llu phase %d, %zu recipients\n",
                    e->event_id, event_type_name(event_type(e)), d->sender->id, e->beneficiary_id,
                    (unsigned long long)o->pathway->version, (int)o->pathway->phase,
                    o->n_recipients);
        fuzz_check_no_oracle(current, e, d->sender, 0, o);
        fuzz_accepted(d);
    } else if (d->status == ACK_STATUS(REJECTED)) {
        fuzz_stats.rejected++;
        fuzz_check_rejected(&d->outcome);
        if (d->code != d->outcome.code || strcmp(d->message, d->outcome.message) != 0)
            fuzz_fail("the ack does not carry the rules' rejection");
        fuzz_check_no_oracle(current, e, d->sender, 1, &d->outcome);
        if (fuzz_verbose)
            fprintf(stderr, "  %s: %s from %s rejected (%d): %s\n", e->event_id,
                    event_type_name(event_type(e)), d->sender->id, (int)d->code, d->message);
    } else {
        fuzz_fail("ingest_apply decided status %d", (int)d->status);
    }
}

static void fuzz_frame(const uint8_t *data, size_t len)
{
    /* A copy of exactly len bytes: a read past the frame is a heap overflow ASan reports. */
    fuzz_stats.frames++;
    uint8_t *frame = malloc(len > 0 ? len : 1);
    if (frame == NULL)
        fuzz_fail("out of memory");
    if (len > 0)
        memcpy(frame, data, len);
    if (fuzz_ctx.batch == NULL)
        fuzz_committed_at += 1000;
    fuzz_ctx.store = fuzz_store;
    fuzz_ctx.committed_at = fuzz_committed_at;
    ingest_decision_t d;
    ingest_apply(&fuzz_ctx, frame, len, NULL, &d);
    fuzz_check_string(d.message, EVENT_MESSAGE_MAX - 1, "the ack's message");
    fuzz_check_string(d.event_id, EVENT_ID_MAX, "the ack's event id");
    if (d.event_id[0] != '\0' && !identifier_valid(d.event_id))
        fuzz_fail("the ack names an invalid event id");
    if (fuzz_ctx.batch_error != 0) {
        fuzz_store_error(fuzz_ctx.batch_error, "ingest_apply");
    } else if (d.event == NULL) {
        if (d.status != ACK_STATUS(REJECTED) || d.code == ERROR_CODE(UNSPECIFIED) ||
            d.message[0] == '\0' || d.applied)
            fuzz_fail("a frame that does not decode is refused without saying why");
        if (fuzz_verbose)
            fprintf(stderr, "  frame of %zu bytes refused (%d): %s\n", len, (int)d.code, d.message);
    } else {
        fuzz_stats.decoded++;
        fuzz_decided(&d);
    }
    ingest_decision_clear(&d);
    if (d.event != NULL || d.current != NULL || d.applied)
        fuzz_fail("ingest_decision_clear left something");
    free(frame);
}

/* --- libFuzzer's entry points ----------------------------------------------------------------- */

static void fuzz_cleanup(void)
{
    fuzz_batch_commit();
    fuzz_store_close();
    partners_destroy(&fuzz_directory);
    fprintf(stderr,
            "fuzz_ingest: %llu frames, %llu decoded, %llu accepted (pathway versions up to %llu), "
            "%llu rejected by the rules, %llu duplicates; %llu commits, %llu fresh stores; "
            "%llu notifications checked (%llu minimised), %llu log entries read back\n",
            (unsigned long long)fuzz_stats.frames, (unsigned long long)fuzz_stats.decoded,
            (unsigned long long)fuzz_stats.accepted, (unsigned long long)fuzz_stats.max_version,
            (unsigned long long)fuzz_stats.rejected, (unsigned long long)fuzz_stats.duplicates,
            (unsigned long long)fuzz_stats.commits, (unsigned long long)fuzz_stats.resets,
            (unsigned long long)fuzz_stats.notifications, (unsigned long long)fuzz_stats.minimised,
            (unsigned long long)fuzz_stats.log_checked);
    fprintf(stderr, "fuzz_ingest: accepted by type:");
    for (int t = 1; t <= EVENT_TYPE(TRANSFER_ANNOUNCED); t++)
        if (t != EVENT_TYPE(DEADLINE_MISSED)) /* parcoursd's own: refused from partners */
            fprintf(stderr, " %s %llu", event_type_name((Parcours__V1__EventType)t),
                    (unsigned long long)fuzz_stats.accepted_by_type[t]);
    fprintf(stderr, "\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *verbose = getenv("PARCOURS_FUZZ_VERBOSE");
    fuzz_verbose = verbose != NULL && verbose[0] != '\0' && strcmp(verbose, "0") != 0;
    fuzz_directory = partners_new();
    if (fuzz_directory == NULL)
        fuzz_fail("out of memory");
    for (size_t i = 0; i < FUZZ_N_PARTNERS; i++) {
        const fuzz_partner_def_t *d = &fuzz_partner_defs[i];
        partner_t p;
        memset(&p, 0, sizeof(p));
        snprintf(p.id, sizeof(p.id), "%s", d->id);
        snprintf(p.name, sizeof(p.name), "Fuzz partner %s", d->id);
        p.kind = d->kind;
        snprintf(p.territories[p.n_territories++], sizeof(p.territories[0]), "%s", d->territory1);
        if (d->territory2 != NULL)
            snprintf(p.territories[p.n_territories++], sizeof(p.territories[0]), "%s",
                     d->territory2);
        p.may_emit = d->may_emit;
        p.echo = d->echo;
        int rc = partners_add(fuzz_directory, &p);
        if (rc != PARTNERS_OK)
            fuzz_fail("partners_add(%s) returned %d", d->id, rc);
    }
    fuzz_store_open();
    fuzz_ctx = (ingest_context_t){
        .store = fuzz_store, .partners = fuzz_directory, .max_frame = EVENT_FRAME_MAX};
    atexit(fuzz_cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool scratch = (data[0] & FUZZ_FLAG_SCRATCH) != 0;
    if (fuzz_verbose)
        fprintf(stderr, "input of %zu bytes%s\n", size, scratch ? ", scratch" : "");
    if (scratch)
        fuzz_batch_commit(); /* the kept inputs so far; this one gets a batch of its own */
    size_t at = 1;
    for (unsigned n = 0; n < FUZZ_FRAMES_MAX && size - at >= 2; n++) {
        size_t len = (size_t)data[at] | (size_t)data[at + 1] << 8;
        at += 2;
        if (len > size - at)
            len = size - at;
        fuzz_frame(data + at, len);
        at += len;
    }
    if (scratch) {
        store_batch_abort(&fuzz_ctx.batch);
        fuzz_pending_clear();
    } else if (++fuzz_inputs_in_batch >= FUZZ_COMMIT_EVERY)
        fuzz_batch_commit();
    return 0;
}
