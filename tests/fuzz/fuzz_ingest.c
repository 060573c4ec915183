/*
 * fuzz_ingest.c: a libFuzzer target over what parcoursd does with one Event frame (G6, G11).
 *
 * For each frame it runs the daemon's ingest path (daemon/ingest.c, ingest_frame): event_decode
 * with the daemon's largest frame, the sender's lookup in a partners directory, the dedupe
 * check and the current pathway read inside a store batch, pathway_apply, and for an accepted
 * event store_batch_append with its recipients. The store is a real LMDB store in a temporary
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
 * has a code and a sentence and no pathway; an accepted pathway has the next version, its
 * derived phase, distinct members, and recipients that need to know, once each; neither the
 * current pathway nor the event is modified; a partner that may not see a pathway gets the same
 * answer as if it did not exist (no oracle); a minimised copy hides what it must; and the store
 * gives back the pathway it was given. A broken promise aborts, which libFuzzer reports.
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

#include "event.h"
#include "fuzz_partners.h"
#include "partners.h"
#include "pathway.h"
#include "store.h"
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
static store_batch_t *fuzz_batch;
static char fuzz_dir[PATH_MAX];
static unsigned fuzz_inputs_in_batch;
static int64_t fuzz_committed_at = INT64_C(1700000000000); /* a fixed clock: runs repeat */
static bool fuzz_verbose;

/* What the run did, printed at exit: shows how deep the fuzzer went. */
static struct {
    uint64_t frames, decoded, accepted, rejected, duplicates, commits, resets, max_version;
    uint64_t accepted_by_type[16];
} fuzz_stats;

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

static void fuzz_store_close(void)
{
    store_batch_abort(&fuzz_batch);
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

/* Opens the batch on first need, as ingest_batch does. false when the store refused. */
static bool fuzz_batch_open(void)
{
    if (fuzz_batch != NULL)
        return true;
    fuzz_committed_at += 1000;
    int rc = store_batch_begin(fuzz_store, fuzz_committed_at, &fuzz_batch);
    if (rc != STORE_OK) {
        fuzz_store_error(rc, "store_batch_begin");
        return false;
    }
    return true;
}

static void fuzz_batch_commit(void)
{
    fuzz_inputs_in_batch = 0;
    if (fuzz_batch == NULL)
        return;
    int rc = store_batch_commit(&fuzz_batch);
    if (rc != STORE_OK)
        fuzz_store_error(rc, "store_batch_commit");
    else
        fuzz_stats.commits++;
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
    if (p->version != (before != NULL ? before->version : 0) + 1)
        fuzz_fail("version %llu after version %llu", (unsigned long long)p->version,
                  (unsigned long long)(before != NULL ? before->version : 0));
    if (strcmp(p->beneficiary_id, e->beneficiary_id) != 0)
        fuzz_fail("the pathway of %s is for %s", e->beneficiary_id, p->beneficiary_id);
    if (p->updated_at != e->occurred_at)
        fuzz_fail("updated_at is not the event's occurred_at");
    if (p->phase != pathway_phase(p))
        fuzz_fail("phase %d, derived %d", (int)p->phase, (int)pathway_phase(p));
    bool exited = event_type(e) == EVENT_TYPE(PATHWAY_EXITED);
    if (pathway_is_open(p) == exited)
        fuzz_fail("the pathway is %s after event type %d", exited ? "open" : "closed",
                  (int)event_type(e));
    for (size_t i = 0; i < p->n_members; i++) {
        if (!event_id_valid(p->members[i]))
            fuzz_fail("member %zu has an invalid id", i);
        for (size_t j = i + 1; j < p->n_members; j++)
            if (strcmp(p->members[i], p->members[j]) == 0)
                fuzz_fail("member %s twice", p->members[i]);
    }
    if (o->n_recipients > 0 && o->recipients == NULL)
        fuzz_fail("%zu recipients and no array", o->n_recipients);
    for (size_t i = 0; i < o->n_recipients; i++) {
        const char *id = o->recipients[i].partner_id;
        const partner_t *r = id != NULL ? partners_find(fuzz_directory, id) : NULL;
        if (r == NULL)
            fuzz_fail("recipient %zu is not in the directory", i);
        if (!partner_in_territory(r, p->territory))
            fuzz_fail("recipient %s is not registered for territory %s", id, p->territory);
        if (o->recipients[i].minimised != partner_kind_minimised(r->kind))
            fuzz_fail("recipient %s has the wrong minimised flag", id);
        if (!pathway_kind_receives(r->kind, e, id))
            fuzz_fail("recipient %s may not know of event type %d", id, (int)event_type(e));
        if (strcmp(id, sender->id) == 0 && !sender->echo)
            fuzz_fail("the sender %s is told of its own event", id);
        bool leaving =
            e->payload_case == PAYLOAD(MEMBER_LEFT) && strcmp(e->member_left->member_id, id) == 0;
        if (!pathway_has_member(p, id) && !partner_kind_territory_wide(r->kind) && !leaving)
            fuzz_fail("recipient %s is neither a member nor territory-wide", id);
        for (size_t j = i + 1; j < o->n_recipients; j++)
            if (strcmp(id, o->recipients[j].partner_id) == 0)
                fuzz_fail("recipient %s twice", id);
    }
}

/* No oracle (domain.md): a partner neither member nor territory-wide gets the same answer
 * whether the pathway exists or not. */
static void fuzz_check_no_oracle(const Parcours__V1__Pathway *current, const Parcours__V1__Event *e,
                                 const partner_t *sender, int rc, const pathway_outcome_t *o)
{
    if (current == NULL || event_type(e) == EVENT_TYPE(BENEFICIARY_REGISTERED) ||
        partner_kind_territory_wide(sender->kind) || pathway_has_member(current, sender->id))
        return;
    pathway_outcome_t none;
    int rc_none = pathway_apply(NULL, e, sender, fuzz_directory, &none);
    if (rc_none != rc || none.code != o->code || strcmp(none.message, o->message) != 0)
        fuzz_fail("oracle: %s, no member of %s's pathway, gets \"%s\" (rc %d) but \"%s\" (rc %d) "
                  "when there is no pathway",
                  sender->id, e->beneficiary_id, o->message, rc, none.message, rc_none);
    pathway_outcome_clear(&none);
}

/* What the delivery side does with an accepted pathway: the full and the minimised views. */
static void fuzz_check_copies(const Parcours__V1__Pathway *p)
{
    Parcours__V1__Pathway *full = pathway_copy(p, false);
    Parcours__V1__Pathway *min = pathway_copy(p, true);
    if (full == NULL || min == NULL)
        fuzz_fail("pathway_copy returned NULL");
    if (!fuzz_same_message(&p->base, &full->base))
        fuzz_fail("pathway_copy(p, false) differs from p");
    if (min->orientation != NULL || min->pending_request != NULL || min->referent != NULL ||
        min->contract != NULL || min->last_appointment != NULL || min->last_denial_reason != 0 ||
        min->last_contract_end_reason != 0)
        fuzz_fail("a minimised copy shows what EMPLOYER and TRAINING_ORG may not see");
    if (min->phase != PHASE(UNSPECIFIED) && min->phase != PHASE(EXITED) &&
        min->phase != PHASE(EMPLOYED) && min->phase != PHASE(IN_TRAINING))
        fuzz_fail("a minimised copy shows phase %d", (int)min->phase);
    if (strcmp(min->beneficiary_id, p->beneficiary_id) != 0 || min->version != p->version)
        fuzz_fail("a minimised copy lost the beneficiary or the version");
    /* Packing the minimised view must work too: the notification encoder does it. */
    size_t len;
    free(fuzz_pack(&min->base, &len));
    parcours__v1__pathway__free_unpacked(full, NULL);
    parcours__v1__pathway__free_unpacked(min, NULL);
}

/* --- One frame: what ingest_frame does -------------------------------------------------------- */

/* Appends an accepted event, then reads its pathway back from the batch. */
static void fuzz_append(const Parcours__V1__Event *e, const uint8_t *frame, size_t len,
                        const pathway_outcome_t *o)
{
    const char **recipients = malloc((o->n_recipients + 1) * sizeof(*recipients));
    if (recipients == NULL)
        fuzz_fail("out of memory");
    for (size_t i = 0; i < o->n_recipients; i++)
        recipients[i] = o->recipients[i].partner_id;
    store_event_t se = {
        .raw = frame,
        .raw_len = len,
        .type = event_type(e),
        .occurred_at = e->occurred_at,
        .partner_id = e->partner_id,
        .event_id = e->event_id,
        .beneficiary_id = e->beneficiary_id,
        .pathway = o->pathway,
        .recipients = recipients,
        .n_recipients = o->n_recipients,
    };
    uint64_t seq = 0;
    int rc = store_batch_append(fuzz_batch, &se, &seq);
    free(recipients);
    if (rc != STORE_OK) {
        fuzz_store_error(rc, "store_batch_append");
        return;
    }
    if (seq == 0)
        fuzz_fail("store_batch_append gave seq 0");
    Parcours__V1__Pathway *stored = NULL;
    rc = store_batch_pathway_get(fuzz_batch, e->beneficiary_id, &stored);
    if (rc != STORE_OK) {
        fuzz_store_error(rc, "store_batch_pathway_get after append");
        return;
    }
    if (!fuzz_same_message(&stored->base, &o->pathway->base))
        fuzz_fail("the store gave back another pathway than it was given for %s",
                  e->beneficiary_id);
    parcours__v1__pathway__free_unpacked(stored, NULL);
}

/* Applies the decoded event e (its frame is frame, len bytes) as the daemon would. */
static void fuzz_event(const Parcours__V1__Event *e, const uint8_t *frame, size_t len)
{
    if (!event_id_valid(e->event_id) || !event_id_valid(e->partner_id) ||
        !event_id_valid(e->beneficiary_id) || e->occurred_at <= 0 ||
        event_type_name(event_type(e)) == NULL)
        fuzz_fail("event_decode let through an event it should have refused");
    const partner_t *sender = partners_find(fuzz_directory, e->partner_id);
    if (sender == NULL) {
        if (fuzz_verbose)
            fprintf(stderr, "  %s: unknown partner %s\n", e->event_id, e->partner_id);
        return;
    }
    if (!fuzz_batch_open())
        return;
    uint64_t seq;
    int rc = store_batch_dedupe_find(fuzz_batch, e->partner_id, e->event_id, &seq);
    if (rc == STORE_OK) {
        fuzz_stats.duplicates++;
        if (fuzz_verbose)
            fprintf(stderr, "  %s: duplicate of seq %llu\n", e->event_id, (unsigned long long)seq);
        return;
    }
    if (rc != STORE_ENOTFOUND) {
        fuzz_store_error(rc, "store_batch_dedupe_find");
        return;
    }
    Parcours__V1__Pathway *current = NULL;
    rc = store_batch_pathway_get(fuzz_batch, e->beneficiary_id, &current);
    if (rc != STORE_OK && rc != STORE_ENOTFOUND) {
        fuzz_store_error(rc, "store_batch_pathway_get");
        return;
    }

    size_t clen, elen, clen2, elen2;
    uint8_t *cbefore = fuzz_pack(current != NULL ? &current->base : NULL, &clen);
    uint8_t *ebefore = fuzz_pack(&e->base, &elen);
    pathway_outcome_t outcome;
    rc = pathway_apply(current, e, sender, fuzz_directory, &outcome);
    uint8_t *cafter = fuzz_pack(current != NULL ? &current->base : NULL, &clen2);
    uint8_t *eafter = fuzz_pack(&e->base, &elen2);
    if (!fuzz_same(cbefore, clen, cafter, clen2))
        fuzz_fail("pathway_apply modified the current pathway");
    if (!fuzz_same(ebefore, elen, eafter, elen2))
        fuzz_fail("pathway_apply modified the event");
    free(cbefore);
    free(ebefore);
    free(cafter);
    free(eafter);

    if (rc == 0) {
        fuzz_stats.accepted++;
        fuzz_stats.accepted_by_type[event_type(e) & 15]++;
        if (outcome.pathway != NULL && outcome.pathway->version > fuzz_stats.max_version)
            fuzz_stats.max_version = outcome.pathway->version;
        fuzz_check_accepted(current, e, sender, &outcome);
        fuzz_check_copies(outcome.pathway);
        if (fuzz_verbose)
            fprintf(stderr, "  %s: %s from %s accepted: %s version %llu phase %d, %zu recipients\n",
                    e->event_id, event_type_name(event_type(e)), sender->id, e->beneficiary_id,
                    (unsigned long long)outcome.pathway->version, (int)outcome.pathway->phase,
                    outcome.n_recipients);
        fuzz_append(e, frame, len, &outcome);
    } else if (rc == 1) {
        fuzz_stats.rejected++;
        fuzz_check_rejected(&outcome);
        fuzz_check_no_oracle(current, e, sender, rc, &outcome);
        if (fuzz_verbose)
            fprintf(stderr, "  %s: %s from %s rejected (%d): %s\n", e->event_id,
                    event_type_name(event_type(e)), sender->id, (int)outcome.code, outcome.message);
    } else {
        fuzz_fail("pathway_apply returned %d", rc);
    }
    pathway_outcome_clear(&outcome);
    if (current != NULL)
        parcours__v1__pathway__free_unpacked(current, NULL);
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
    event_error_t err;
    char err_event_id[EVENT_ID_MAX + 1];
    Parcours__V1__Event *e = NULL;
    if (event_decode(frame, len, EVENT_FRAME_MAX, &e, &err, err_event_id) != 0) {
        fuzz_check_string(err.message, EVENT_MESSAGE_MAX - 1, "the decode error");
        fuzz_check_string(err_event_id, EVENT_ID_MAX, "the refused event's id");
        if (e != NULL || err.code == ERROR_CODE(UNSPECIFIED) || err.message[0] == '\0')
            fuzz_fail("event_decode refused a frame without saying why, or with an event");
        if (err_event_id[0] != '\0' && !event_id_valid(err_event_id))
            fuzz_fail("event_decode names an invalid event id");
        if (fuzz_verbose)
            fprintf(stderr, "  frame of %zu bytes refused (%d): %s\n", len, (int)err.code,
                    err.message);
    } else {
        fuzz_stats.decoded++;
        fuzz_event(e, frame, len);
    }
    event_destroy(&e);
    if (e != NULL)
        fuzz_fail("event_destroy did not clear the pointer");
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
            "%llu rejected by the rules, %llu duplicates; %llu commits, %llu fresh stores\n",
            (unsigned long long)fuzz_stats.frames, (unsigned long long)fuzz_stats.decoded,
            (unsigned long long)fuzz_stats.accepted, (unsigned long long)fuzz_stats.max_version,
            (unsigned long long)fuzz_stats.rejected, (unsigned long long)fuzz_stats.duplicates,
            (unsigned long long)fuzz_stats.commits, (unsigned long long)fuzz_stats.resets);
    fprintf(stderr, "fuzz_ingest: accepted by type:");
    for (int t = 1; t < 16; t++)
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
    if (scratch)
        store_batch_abort(&fuzz_batch);
    else if (++fuzz_inputs_in_batch >= FUZZ_COMMIT_EVERY)
        fuzz_batch_commit();
    return 0;
}
