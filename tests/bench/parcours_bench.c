/*
 * parcours_bench.c: how fast parcoursd ingests, measured from the partners' side.
 *
 * The bench starts its own parcoursd on a temporary data directory (durable, as in
 * production), then runs N client threads, each a DEALER with up to W events in flight, over M
 * beneficiaries. Each beneficiary walks the whole pathway again and again (registration,
 * orientation, referent, contract, appointments, training, job, exit, re-entry), so the mix of
 * event types and the work per event are those of real use. It prints events/s, the ack latency
 * percentiles, the daemon's mean batch size and its peak memory. It is a benchmark, not a test:
 * it prints, it does not judge.
 *
 * With --subscribers S, S partners (each of them told of every event) read their notification
 * streams while the load runs, and the bench also prints the publish-to-notification latency:
 * from the partner's send to the subscriber's receipt.
 *
 * With --backup yes, a thread of the bench takes hot backups back to back while the load runs
 * (parcours_admin_backup() over the admin endpoint, as `parcoursctl backup` does: each copy is
 * written to a temporary file next to the store, fsynced, then unlinked), and the bench also
 * prints how many were taken, their size and the copy throughput: what a backup costs ingest.
 * A batch that finds the map full during a copy is answered RETRY: the clients send those
 * events again, as libparcours does, and the bench prints how many RETRY answers there were.
 *
 * With --status yes, a thread asks the admin endpoint for STATUS every 50 ms while the load
 * runs, and the bench prints how long each answer took and how many pathways the store held
 * at the end: with as many beneficiaries as wanted (--beneficiaries 1000000 and twice as many
 * events registers each of them, then walks on), what a STATUS costs the loop at that size.
 *
 * With --purge N, N more pathways are registered before the timed load under a retention of one
 * day active and one archived: dated five days ago (--purge-due yes, the default), all due for
 * the daemon's purge while the load runs; dated now (--purge-due no), the same store with
 * nothing to destroy, the other half of the pair.
 *
 * With --ids pseudonyms, beneficiary ids are keyed hashes of their index under a key drawn at
 * random for the run, as partners derive them from their own identifiers: they come in no
 * order. The default, ascending, numbers them B-bench-0000001, 2, ..., an order real ids never
 * have and a B-tree turns into locality.
 *
 *   parcours-bench --daemon PATH [--clients N] [--window W] [--events E] [--beneficiaries M]
 *                  [--durable yes|no] [--batch-max B] [--checkpoint-ms C] [--commit-ms M]
 *                  [--subscribers S]
 * [--stalled yes|no]
 *                  [--curve yes|no] [--backup yes|no] [--status yes|no]
 *                  [--ids ascending|pseudonyms]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "parcours.h"
#include "parcours.pb-c.h"

typedef struct bench_options {
    const char *daemon;
    int clients;
    int window;
    long events; /* in all */
    int beneficiaries;
    bool durable;
    int batch_max;
    int checkpoint_ms; /* [store] checkpoint_interval; 0 for the daemon's default */
    int subscribers;
    bool curve;
    bool stalled;    /* the subscribers take their window and never acknowledge (G5) */
    bool backup;     /* hot backups back to back while the load runs */
    bool status;     /* STATUS asked every 50 ms while the load runs, each answer timed */
    bool pseudonyms; /* beneficiary ids as keyed hashes (random-looking), as partners make them */
    long purge;      /* -1: no retention section; else pathways preloaded past their retention */
    int purge_slice; /* [retention] purge_slice, 0 for the daemon's default */
    bool purge_due;  /* the preloaded pathways are past retention (else dated now: the pair) */
    uint64_t id_key[2]; /* the key of those hashes, random for each run */
    long preload;       /* pathways registered, dated now, before the timed load */
    double rate;        /* events/s in all, paced evenly over the clients; 0: as fast as acked */
    /* The subscribers are the partners the events are told to (cd93, territory-wide, told of
     * all; trainer93, a member while a training runs, told of training, job and exit events),
     * not watchers each told of everything. */
    bool fanout;
    /* Each step sent by the partner that acts in it (the CAF registers, the departement orients
     * to the mission locale, which follows the person, the provider and the employer record
     * their own ends), each partner over its own connection, instead of France Travail for
     * all: follow-up groups of up to five, as in a territory. */
    bool mix;
    int commit_ms; /* [store] commit_interval; -1 for the daemon's default */
} bench_options_t;

/* SplitMix64's finaliser: a keyed, well-mixed 64-bit function of x. */
static uint64_t bench_mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* The bench's partners; their index is their key's. Watchers come after them. */
static const struct {
    const char *id, *kind;
} bench_partners[] = {
    {"ft93", "FRANCE_TRAVAIL"}, {"cd93", "DEPARTEMENT"},       {"caf93", "CAF"},
    {"ml93", "MISSION_LOCALE"}, {"trainer93", "TRAINING_ORG"}, {"employer93", "EMPLOYER"},
};
enum { BENCH_PARTNERS = 6, P_FT = 0, P_CD = 1, P_CAF = 2, P_ML = 3, P_TRAINER = 4, P_EMPLOYER = 5 };

/* CURVE keys, made at run time: the daemon's pair, and one pair per partner. */
typedef struct bench_keys {
    char server_public[41], server_secret[41];
    /* bench_partners' in their order, then BENCH_PARTNERS + i = watch<i> */
    char partner_public[64][41], partner_secret[64][41];
} bench_keys_t;

static bench_keys_t bench_keys;

/* Set once every client has its acks: a stalled subscriber stays connected until then. */
static int bench_clients_done;

static void bench_keys_make(int partners)
{
    zmq_curve_keypair(bench_keys.server_public, bench_keys.server_secret);
    for (int i = 0; i < partners && i < 64; i++)
        zmq_curve_keypair(bench_keys.partner_public[i], bench_keys.partner_secret[i]);
}

/* Makes s a CURVE client as partner index i (0 = ft93, 1 + k = watch<k>). */
static void bench_secure(void *s, const bench_options_t *o, int i)
{
    if (!o->curve)
        return;
    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, bench_keys.server_public, 40);
    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, bench_keys.partner_public[i], 40);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, bench_keys.partner_secret[i], 40);
}

typedef struct bench_client bench_client_t;

/* A partner reading its notification stream during the load. */
typedef struct bench_subscriber {
    int index;
    int partner; /* its bench_partners index, or -1 for watch<index> */
    const bench_options_t *options;
    const char *endpoint;
    void *zmq_context;
    bench_client_t *clients; /* to find the send time of each event */
    int n_clients;
    long expected;
    long notifications; /* every one received (a minimised one carries no event id to time) */
    long received;
    int64_t *latency_ns;
} bench_subscriber_t;

struct bench_client {
    int index;
    const bench_options_t *options;
    const char *endpoint;
    void *zmq_context;
    long events;      /* this client's share */
    int64_t *sent_ns; /* first send time of each event, by counter */
    int64_t *latency_ns;
    long acked; /* events answered for good (not RETRY) */
    long not_accepted;
    long retry_answers; /* RETRY answers (nothing applied), each followed by a re-send */
    long retried;       /* events answered RETRY at least once */
    char first_error[256];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The pathway every beneficiary walks, one step per round; then it starts over (re-entry). */
enum { STEPS = 14 };

/* Fills e with step `step` of the walk; the payload storage lives in the caller's frame. */
typedef struct payloads {
    Parcours__V1__BeneficiaryRegistered registered;
    Parcours__V1__OrientationRequested requested;
    Parcours__V1__OrientationDecided decided;
    Parcours__V1__ReferentAssigned referent;
    Parcours__V1__ContractSigned contract;
    Parcours__V1__AppointmentRecorded appointment;
    Parcours__V1__TrainingEntered training;
    Parcours__V1__TrainingExited training_exit;
    Parcours__V1__JobPlaced job;
    Parcours__V1__JobEnded job_end;
    Parcours__V1__ContractEnded contract_end;
    Parcours__V1__PathwayExited exit;
} payloads_t;

static void payloads_init(payloads_t *p)
{
    *p = (payloads_t){
        .registered = PARCOURS__V1__BENEFICIARY_REGISTERED__INIT,
        .requested = PARCOURS__V1__ORIENTATION_REQUESTED__INIT,
        .decided = PARCOURS__V1__ORIENTATION_DECIDED__INIT,
        .referent = PARCOURS__V1__REFERENT_ASSIGNED__INIT,
        .contract = PARCOURS__V1__CONTRACT_SIGNED__INIT,
        .appointment = PARCOURS__V1__APPOINTMENT_RECORDED__INIT,
        .training = PARCOURS__V1__TRAINING_ENTERED__INIT,
        .training_exit = PARCOURS__V1__TRAINING_EXITED__INIT,
        .job = PARCOURS__V1__JOB_PLACED__INIT,
        .job_end = PARCOURS__V1__JOB_ENDED__INIT,
        .contract_end = PARCOURS__V1__CONTRACT_ENDED__INIT,
        .exit = PARCOURS__V1__PATHWAY_EXITED__INIT,
    };
    p->requested.reason =
        PARCOURS__V1__ORIENTATION_REQUEST_REASON__ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION;
    p->decided.pathway_type = PARCOURS__V1__PATHWAY_TYPE__PATHWAY_TYPE_EMPLOI;
    p->decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_FRANCE_TRAVAIL;
    p->decided.structure_id = "ft93";
    p->decided.notified_at = 1767225600000; /* required since the 2023 law */
    p->referent.referent_partner_id = "ft93";
    /* The contrat d'engagement of the 2023 law: a PPAE starting after the territory's cut-over
     * date (2025-01-01 by default) would be refused. */
    p->contract.kind = PARCOURS__V1__CONTRACT_KIND__CONTRACT_KIND_CONTRAT_ENGAGEMENT;
    p->contract.start = 1767225600000;
    p->contract.plan_action_ref = "pa-ft93-bench";
    p->contract.weekly_hours = 15;
    p->appointment.kind = PARCOURS__V1__APPOINTMENT_KIND__APPOINTMENT_KIND_INDIVIDUAL;
    p->appointment.status = PARCOURS__V1__APPOINTMENT_STATUS__APPOINTMENT_STATUS_SEEN;
    p->appointment.at = 1767225600000;
    p->training.provider_id = "trainer93";
    p->training.programme_code = "RNCP-35000";
    p->training.start = 1767225600000;
    p->training_exit.outcome = PARCOURS__V1__TRAINING_OUTCOME__TRAINING_OUTCOME_COMPLETED;
    p->job.kind = PARCOURS__V1__EMPLOYMENT_KIND__EMPLOYMENT_KIND_CDI;
    p->job.start = 1767225600000;
    p->job_end.reason = PARCOURS__V1__JOB_END_REASON__JOB_END_REASON_TERM_REACHED;
    p->contract_end.reason = PARCOURS__V1__CONTRACT_END_REASON__CONTRACT_END_REASON_TERM_REACHED;
    p->exit.reason = PARCOURS__V1__EXIT_REASON__EXIT_REASON_SUSTAINED_EMPLOYMENT;
}

/* Who sends step `step`: ft93 for every step (France Travail may emit each of them), or with the
 * realistic mix the partner that acts in it. With CURVE a connection speaks for the one partner
 * its key belongs to: a client has a connection per sender. */
static int bench_step_sender(int step, bool mix)
{
    if (!mix)
        return P_FT;
    switch (step) {
    case 0:
    case 1:
        return P_CAF; /* registers (an RSA right opens), asks for the orientation */
    case 2:
        return P_CD; /* orients to the mission locale */
    case 8:
        return P_TRAINER; /* the training it provides ends */
    case 11:
        return P_EMPLOYER; /* the job it offered ends */
    default:
        return P_ML; /* the referent's partner: referent, contract, appointments, the rest */
    }
}

static void event_step(Parcours__V1__Event *e, payloads_t *p, int step, bool mix)
{
    e->partner_id = (char *)bench_partners[bench_step_sender(step, mix)].id;
    if (mix) {
        p->decided.referent_body = PARCOURS__V1__REFERENT_BODY__REFERENT_BODY_MISSION_LOCALE;
        p->decided.structure_id = "ml93";
        p->referent.referent_partner_id = "ml93";
        p->contract.plan_action_ref = "pa-ml93-bench";
        p->job.employer_partner_id = "employer93";
    }
    switch (step) {
    case 0:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_BENEFICIARY_REGISTERED;
        e->beneficiary_registered = &p->registered;
        break;
    case 1:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_ORIENTATION_REQUESTED;
        e->orientation_requested = &p->requested;
        break;
    case 2:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_ORIENTATION_DECIDED;
        e->orientation_decided = &p->decided;
        break;
    case 3:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_REFERENT_ASSIGNED;
        e->referent_assigned = &p->referent;
        break;
    case 4:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_CONTRACT_SIGNED;
        e->contract_signed = &p->contract;
        break;
    case 5:
    case 6:
    case 9:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_APPOINTMENT_RECORDED;
        e->appointment_recorded = &p->appointment;
        break;
    case 7:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_TRAINING_ENTERED;
        e->training_entered = &p->training;
        break;
    case 8:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_TRAINING_EXITED;
        e->training_exited = &p->training_exit;
        break;
    case 10:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_JOB_PLACED;
        e->job_placed = &p->job;
        break;
    case 11:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_JOB_ENDED;
        e->job_ended = &p->job_end;
        break;
    case 12:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_CONTRACT_ENDED;
        e->contract_ended = &p->contract_end;
        break;
    default:
        e->payload_case = PARCOURS__V1__EVENT__PAYLOAD_PATHWAY_EXITED;
        e->pathway_exited = &p->exit;
        break;
    }
}

/* Packs event `counter` of client c into frame: the same event every time it is sent. */
static size_t bench_event_pack(const bench_client_t *c, int mine, long counter, uint8_t *frame)
{
    const bench_options_t *o = c->options;
    payloads_t p;
    payloads_init(&p);
    char event_id[32], beneficiary[48];
    Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
    long round = counter / mine;
    int b = (int)(counter % mine) * o->clients + c->index;
    /* Time-ordered ids per client: the dedupe index then appends. */
    snprintf(event_id, sizeof(event_id), "c%02d-%012ld", c->index, counter);
    /* Real ids are pseudonyms, keyed hashes partners derive: no order for the store to use. */
    if (o->pseudonyms)
        snprintf(beneficiary, sizeof(beneficiary), "p93-%016" PRIx64 "%016" PRIx64,
                 bench_mix((uint64_t)b ^ o->id_key[0]), bench_mix((uint64_t)b ^ o->id_key[1]));
    else
        snprintf(beneficiary, sizeof(beneficiary), "B-bench-%07d", b);
    e.event_id = event_id;
    e.beneficiary_id = beneficiary;
    e.occurred_at = wall_ms();
    event_step(&e, &p, (int)(round % STEPS), o->mix);
    return parcours__v1__event__pack(&e, frame);
}

/* A RETRY answer (nothing applied: the store is full, as during a hot backup when the map may
 * not grow) is handled as libparcours does by default: the same event is sent again after 200
 * ms, doubling on each RETRY of the same event. While a client has events to send again it
 * sends no new ones, so that no later step of a beneficiary overtakes an earlier one. An
 * event's latency runs from its first send to its final answer. */
enum { RETRY_BACKOFF_MS = 200 };

static void *bench_client_run(void *arg)
{
    bench_client_t *c = arg;
    const bench_options_t *o = c->options;
    /* A connection per partner this client sends as (ft93 alone without the mix). The window
     * counts the events in flight on all of them; it is below the events a beneficiary waits
     * between two of its steps, so each step is answered before the next goes, whichever
     * connection carries it. */
    void *socks[BENCH_PARTNERS] = {0};
    zmq_pollitem_t items[BENCH_PARTNERS];
    int n_items = 0;
    for (int i = 0; i < BENCH_PARTNERS; i++) {
        if (!o->mix && i != P_FT)
            continue;
        void *s = zmq_socket(c->zmq_context, ZMQ_DEALER);
        int linger = 0, hwm = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        bench_secure(s, o, i);
        zmq_connect(s, c->endpoint);
        socks[i] = s;
        items[n_items++] = (zmq_pollitem_t){s, 0, ZMQ_POLLIN, 0};
    }

    /* This client's beneficiaries: index, index + clients, ... */
    int mine = (o->beneficiaries - c->index + o->clients - 1) / o->clients;
#define SOCK_FOR(counter) socks[bench_step_sender((int)(((counter) / mine) % STEPS), o->mix)]
    uint8_t frame[1024], reply[1024];
    uint8_t *attempts = calloc((size_t)c->events, 1);          /* RETRY answers, by counter */
    long *again = calloc((size_t)o->window + 1, sizeof(long)); /* to send again, in order */
    int n_again = 0;
    long sent = 0, in_flight = 0, retrying = 0; /* retrying: answered RETRY, not yet for good */
    int64_t again_at = 0;
    int64_t begin = now_ns(), deadline = begin + (int64_t)600 * 1000000000;
    /* At a fixed rate, this client's share: event `sent` goes at begin + sent * interval. */
    int64_t interval = o->rate > 0 ? (int64_t)(1e9 * o->clients / o->rate) : 0;
    while (c->acked < c->events && now_ns() < deadline) {
        if (n_again > 0 && now_ns() >= again_at) {
            for (int i = 0; i < n_again; i++) {
                size_t len = bench_event_pack(c, mine, again[i], frame);
                if (zmq_send(SOCK_FOR(again[i]), frame, len, 0) >= 0)
                    in_flight++;
            }
            n_again = 0;
        }
        while (retrying == 0 && sent < c->events && in_flight < o->window &&
               (interval == 0 || now_ns() >= begin + sent * interval)) {
            size_t len = bench_event_pack(c, mine, sent, frame);
            __atomic_store_n(&c->sent_ns[sent], now_ns(), __ATOMIC_RELEASE);
            if (zmq_send(SOCK_FOR(sent), frame, len, 0) < 0)
                break;
            sent++;
            in_flight++;
        }
        if (zmq_poll(items, n_items, interval > 0 ? 1 : n_again > 0 ? 10 : 100) <= 0)
            continue;
        int n;
        for (int k = 0; k < n_items; k++)
            while ((n = zmq_recv(items[k].socket, reply, sizeof(reply), ZMQ_DONTWAIT)) >= 0) {
                int64_t t = now_ns();
                Parcours__V1__Ack *ack = parcours__v1__ack__unpack(NULL, (size_t)n, reply);
                if (ack == NULL)
                    continue;
                long counter = -1;
                sscanf(ack->event_id, "c%*d-%ld", &counter);
                in_flight--;
                if (ack->status == PARCOURS__V1__ACK_STATUS__ACK_STATUS_RETRY && counter >= 0 &&
                    counter < sent && n_again < o->window) {
                    c->retry_answers++;
                    if (attempts[counter] == 0) {
                        c->retried++;
                        retrying++;
                    }
                    if (attempts[counter] < 4)
                        attempts[counter]++;
                    again[n_again++] = counter;
                    again_at =
                        t + (int64_t)RETRY_BACKOFF_MS * 1000000 * (1 << (attempts[counter] - 1));
                    parcours__v1__ack__free_unpacked(ack, NULL);
                    continue;
                }
                if (counter >= 0 && counter < sent) {
                    c->latency_ns[c->acked] = t - c->sent_ns[counter];
                    if (attempts[counter] > 0)
                        retrying--;
                }
                if (ack->status != PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED) {
                    if (c->not_accepted++ == 0)
                        snprintf(c->first_error, sizeof(c->first_error), "%s: status %d: %s",
                                 ack->event_id, ack->status, ack->message);
                }
                c->acked++;
                parcours__v1__ack__free_unpacked(ack, NULL);
            }
    }
#undef SOCK_FOR
    free(again);
    free(attempts);
    for (int i = 0; i < BENCH_PARTNERS; i++)
        if (socks[i] != NULL)
            zmq_close(socks[i]);
    return NULL;
}

static void *bench_subscriber_run(void *arg)
{
    bench_subscriber_t *sub = arg;
    void *s = zmq_socket(sub->zmq_context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    bench_secure(s, sub->options, sub->partner >= 0 ? sub->partner : BENCH_PARTNERS + sub->index);
    zmq_connect(s, sub->endpoint);
    char partner[32];
    if (sub->partner >= 0)
        snprintf(partner, sizeof(partner), "%s", bench_partners[sub->partner].id);
    else
        snprintf(partner, sizeof(partner), "watch%d", sub->index);
    Parcours__V1__Subscribe subscribe = PARCOURS__V1__SUBSCRIBE__INIT;
    Parcours__V1__DeliverRequest req = PARCOURS__V1__DELIVER_REQUEST__INIT;
    Parcours__V1__DeliveryAck ack = PARCOURS__V1__DELIVERY_ACK__INIT;
    subscribe.partner_id = partner;
    subscribe.window = 2000;
    req.kind_case = PARCOURS__V1__DELIVER_REQUEST__KIND_SUBSCRIBE;
    req.subscribe = &subscribe;
    uint8_t out[256];
    zmq_send(s, out, parcours__v1__deliver_request__pack(&req, out), 0);
    int64_t deadline = now_ns() + (int64_t)900 * 1000000000;
    uint64_t last_seq = 0, acked_seq = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    bool stalled = sub->options->stalled;
    /* Told of a share only: until the clients are done and nothing more came for a second. */
    int64_t idle_since = now_ns();
    while ((stalled                ? !__atomic_load_n(&bench_clients_done, __ATOMIC_ACQUIRE)
            : sub->options->fanout ? !(__atomic_load_n(&bench_clients_done, __ATOMIC_ACQUIRE) &&
                                       now_ns() - idle_since > 1000000000)
                                   : sub->received < sub->expected) &&
           now_ns() < deadline) {
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) > 0) {
            idle_since = now_ns();
            while (zmq_msg_recv(&msg, s, ZMQ_DONTWAIT) >= 0) {
                int64_t t = now_ns();
                Parcours__V1__DeliverReply *r = parcours__v1__deliver_reply__unpack(
                    NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
                if (r != NULL && r->kind_case == PARCOURS__V1__DELIVER_REPLY__KIND_NOTIFICATION &&
                    r->notification->event != NULL) {
                    sub->notifications++;
                    int client = -1;
                    long counter = -1;
                    sscanf(r->notification->event->event_id, "c%d-%ld", &client, &counter);
                    if (client >= 0 && client < sub->n_clients && counter >= 0 &&
                        counter < sub->clients[client].events && sub->received < sub->expected)
                        sub->latency_ns[sub->received++] =
                            t - __atomic_load_n(&sub->clients[client].sent_ns[counter],
                                                __ATOMIC_ACQUIRE);
                    last_seq = r->notification->partner_seq;
                }
                if (r != NULL)
                    parcours__v1__deliver_reply__free_unpacked(r, NULL);
            }
        }
        if (!stalled && last_seq > acked_seq) { /* acknowledge what arrived, once per pass */
            ack.up_to = last_seq;
            req.kind_case = PARCOURS__V1__DELIVER_REQUEST__KIND_ACK;
            req.ack = &ack;
            zmq_send(s, out, parcours__v1__deliver_request__pack(&req, out), 0);
            acked_seq = last_seq;
        }
    }
    zmq_msg_close(&msg);
    zmq_close(s);
    return NULL;
}

/* Hot backups taken back to back, until every client has its acks. */
typedef struct bench_backup {
    const char *endpoint; /* the daemon's admin endpoint (ipc://: no key) */
    const char *dir;      /* where each copy is written, then unlinked */
    long taken;
    long failed;
    uint64_t bytes;     /* of the backups taken, in all */
    uint64_t last_size; /* of the last one taken */
    uint64_t max_size;
    int64_t busy_ns; /* time spent in the backups taken, copy and fsync */
    char first_error[256];
} bench_backup_t;

static void *bench_backup_run(void *arg)
{
    bench_backup_t *b = arg;
    char path[600];
    while (!__atomic_load_n(&bench_clients_done, __ATOMIC_ACQUIRE)) {
        snprintf(path, sizeof(path), "%s/backup-XXXXXX", b->dir);
        int fd = mkstemp(path);
        if (fd < 0) {
            if (b->failed++ == 0)
                snprintf(b->first_error, sizeof(b->first_error), "mkstemp: %s", strerror(errno));
            break;
        }
        uint64_t bytes = 0;
        char why[200];
        int64_t t0 = now_ns();
        int rc =
            parcours_admin_backup(b->endpoint, NULL, NULL, fd, 10000, &bytes, why, sizeof(why));
        if (rc == PARCOURS_OK && fsync(fd) != 0)
            rc = PARCOURS_EWRITE;
        int64_t t1 = now_ns();
        close(fd);
        unlink(path);
        if (rc == PARCOURS_OK) {
            b->taken++;
            b->bytes += bytes;
            b->last_size = bytes;
            if (bytes > b->max_size)
                b->max_size = bytes;
            b->busy_ns += t1 - t0;
        } else {
            if (b->failed++ == 0)
                snprintf(b->first_error, sizeof(b->first_error), "%s%s%s", parcours_strerror(rc),
                         why[0] ? ": " : "", why);
            nanosleep(&(struct timespec){0, 100000000}, NULL); /* then try again */
        }
    }
    return NULL;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const int64_t *sorted, long n, double q)
{
    if (n == 0)
        return 0;
    long i = (long)(q * (double)(n - 1) + 0.5);
    return (double)sorted[i] / 1e6;
}

/* Asks the daemon's admin endpoint for its status. */
/* Registers n beneficiaries dated five days ago, before the timed load: with the bench's
 * retention of one day active and one archived, each is due for the purge from the start. */
static long bench_preload(const bench_options_t *o, void *ctx, const char *endpoint, long n,
                          bool past)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, hwm = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    bench_secure(s, o, 0);
    zmq_connect(s, endpoint);
    long sent = 0, acked = 0, accepted = 0;
    int64_t old = wall_ms() - (past ? (int64_t)5 * 86400000 : 0);
    const char *prefix = past ? "pre" : "load";
    uint8_t frame[512], reply[512];
    Parcours__V1__BeneficiaryRegistered registered = PARCOURS__V1__BENEFICIARY_REGISTERED__INIT;
    while (acked < n) {
        while (sent < n && sent - acked < 1000) {
            char event_id[32], beneficiary[48];
            snprintf(event_id, sizeof(event_id), "%s-%010ld", prefix, sent);
            uint64_t salt = past ? ~UINT64_C(0) : UINT64_C(0x5bd1e995);
            snprintf(beneficiary, sizeof(beneficiary), "p93-%016" PRIx64 "%016" PRIx64,
                     bench_mix((uint64_t)sent ^ o->id_key[0] ^ salt),
                     bench_mix((uint64_t)sent ^ o->id_key[1] ^ salt));
            Parcours__V1__Event e = PARCOURS__V1__EVENT__INIT;
            e.event_id = event_id;
            e.partner_id = "ft93"; /* the sender of the bench's key 0 */
            e.beneficiary_id = beneficiary;
            e.occurred_at = old;
            e.payload_case = PARCOURS__V1__EVENT__PAYLOAD_BENEFICIARY_REGISTERED;
            e.beneficiary_registered = &registered;
            if (zmq_send(s, frame, parcours__v1__event__pack(&e, frame), 0) < 0)
                break;
            sent++;
        }
        int len = zmq_recv(s, reply, sizeof(reply), 0);
        if (len < 0)
            break;
        Parcours__V1__Ack *ack = parcours__v1__ack__unpack(NULL, (size_t)len, reply);
        if (ack != NULL && ack->status == PARCOURS__V1__ACK_STATUS__ACK_STATUS_ACCEPTED)
            accepted++;
        parcours__v1__ack__free_unpacked(ack, NULL);
        acked++;
    }
    zmq_close(s);
    return accepted;
}

/* The retention's dry run: pathways still due. -1 when it cannot be asked. */
static long bench_due(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(s, endpoint);
    Parcours__V1__AdminRequest req = PARCOURS__V1__ADMIN_REQUEST__INIT;
    req.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_PURGE;
    req.dry_run = 1;
    uint8_t buf[64];
    zmq_send(s, buf, parcours__v1__admin_request__pack(&req, buf), 0);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    long due = -1;
    if (zmq_poll(&item, 1, 10000) > 0) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, 0) >= 0) {
            Parcours__V1__AdminReply *r =
                parcours__v1__admin_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
            if (r != NULL && r->survey != NULL)
                due = (long)r->survey->due;
            parcours__v1__admin_reply__free_unpacked(r, NULL);
        }
        zmq_msg_close(&msg);
    }
    zmq_close(s);
    return due;
}

static Parcours__V1__Status *bench_status(void *ctx, const char *endpoint,
                                          Parcours__V1__AdminReply **reply_out)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(s, endpoint);
    Parcours__V1__AdminRequest req = PARCOURS__V1__ADMIN_REQUEST__INIT;
    req.command = PARCOURS__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS;
    uint8_t buf[64];
    zmq_send(s, buf, parcours__v1__admin_request__pack(&req, buf), 0);
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    Parcours__V1__AdminReply *reply = NULL;
    if (zmq_poll(&item, 1, 1000) > 0) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, s, 0) >= 0)
            reply = parcours__v1__admin_reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
    }
    zmq_close(s);
    *reply_out = reply;
    return reply ? reply->status : NULL;
}

/* STATUS asked again and again while the load runs, each answer timed. */
typedef struct bench_status_probe {
    const char *endpoint;
    void *zmq_context;
    int64_t *latency_ns;
    long n, cap;
    long failed;
} bench_status_probe_t;

static void *bench_status_run(void *arg)
{
    bench_status_probe_t *p = arg;
    while (!__atomic_load_n(&bench_clients_done, __ATOMIC_ACQUIRE)) {
        Parcours__V1__AdminReply *reply = NULL;
        int64_t t0 = now_ns();
        Parcours__V1__Status *st = bench_status(p->zmq_context, p->endpoint, &reply);
        int64_t t1 = now_ns();
        if (st != NULL && p->n < p->cap)
            p->latency_ns[p->n++] = t1 - t0;
        else if (st == NULL)
            p->failed++;
        if (reply != NULL)
            parcours__v1__admin_reply__free_unpacked(reply, NULL);
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    return NULL;
}

/* The daemon's peak resident memory (VmHWM), in KiB. */
static long peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

static pid_t start_daemon(const bench_options_t *o, const char *dir, char *ingest, char *deliver,
                          char *admin)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/partners.ini", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    /* The bench's partners, each with its key (the index of its key pair). */
    for (int i = 0; i < BENCH_PARTNERS; i++) {
        fprintf(f, "[%s]\nname = %s (bench)\nkind = %s\nterritory = 93\n", bench_partners[i].id,
                bench_partners[i].id, bench_partners[i].kind);
        if (o->curve)
            fprintf(f, "public_key = %s\n", bench_keys.partner_public[i]);
    }
    /* Watchers: partners with a territory-wide duty, so that each is told of every event. */
    for (int i = 0; !o->fanout && i < o->subscribers; i++) {
        fprintf(f, "[watch%d]\nname = Watcher %d (bench)\nkind = DEPARTEMENT\nterritory = 93\n", i,
                i);
        if (o->curve)
            fprintf(f, "public_key = %s\n", bench_keys.partner_public[BENCH_PARTNERS + i]);
    }
    fclose(f);
    if (o->curve) { /* the daemon's secret key, owner-only as the daemon requires */
        snprintf(path, sizeof(path), "%s/parcoursd.secret", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || dprintf(fd, "%s\n", bench_keys.server_secret) < 0)
            return -1;
        close(fd);
    }
    /* Below the kernel's ephemeral range, where no outgoing connection takes ports. */
    int port = 20000 + (int)(getpid() % 6000) * 2;
    snprintf(ingest, 128, "tcp://127.0.0.1:%d", port);
    snprintf(deliver, 128, "tcp://127.0.0.1:%d", port + 1);
    snprintf(admin, 600, "ipc://%s/admin.sock", dir);
    snprintf(path, sizeof(path), "%s/parcoursd.conf", dir);
    char checkpoint[64] = "";
    if (o->checkpoint_ms > 0)
        snprintf(checkpoint, sizeof checkpoint, "checkpoint_interval = %d\n", o->checkpoint_ms);
    if (o->commit_ms >= 0)
        snprintf(checkpoint + strlen(checkpoint), sizeof checkpoint - strlen(checkpoint),
                 "commit_interval = %d\n", o->commit_ms);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "[store]\npath = %s/data\ndurable = %s\n%s[ingest]\nendpoint = %s\nbatch_max = %d\n"
            "[deliver]\nendpoint = %s\n"
            "[admin]\nendpoint = %s\n[partners]\nfile = partners.ini\n[log]\nlevel = warning\n"
            "[security]\ncurve = %s\n%s\n%s",
            dir, o->durable ? "yes" : "no", checkpoint, ingest, o->batch_max, deliver, admin,
            o->curve ? "yes" : "no", o->curve ? "secret_key = parcoursd.secret" : "",
            o->purge >= 0 ? "[retention]\nactive_days = 1\narchive_days = 1\n" : "");
    if (o->purge >= 0 && o->purge_slice > 0)
        fprintf(f, "purge_slice = %d\n", o->purge_slice);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execl(o->daemon, o->daemon, "-c", path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    bench_options_t o = {NULL, 1,      200,   200000, 10000, true,  2000, 0,
                         0,    true,   false, false,  false, true,  -1,   0,
                         true, {0, 0}, 0,     0,      false, false, -1};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--daemon") == 0)
            o.daemon = argv[i + 1];
        else if (strcmp(argv[i], "--clients") == 0)
            o.clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--window") == 0)
            o.window = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--events") == 0)
            o.events = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--beneficiaries") == 0)
            o.beneficiaries = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--durable") == 0)
            o.durable = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--batch-max") == 0)
            o.batch_max = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--subscribers") == 0)
            o.subscribers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--checkpoint-ms") == 0)
            o.checkpoint_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--commit-ms") == 0)
            o.commit_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--curve") == 0)
            o.curve = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--stalled") == 0)
            o.stalled = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--backup") == 0)
            o.backup = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--status") == 0)
            o.status = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--purge") == 0)
            o.purge = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--purge-due") == 0)
            o.purge_due = strcmp(argv[i + 1], "no") != 0;
        else if (strcmp(argv[i], "--purge-slice") == 0)
            o.purge_slice = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--ids") == 0)
            o.pseudonyms =
                strcmp(argv[i + 1], "hashed") == 0 || strcmp(argv[i + 1], "pseudonyms") == 0 ? true
                : strcmp(argv[i + 1], "sequential") == 0 || strcmp(argv[i + 1], "ascending") == 0
                    ? false
                    : (o.daemon = NULL, false);
        else if (strcmp(argv[i], "--preload") == 0)
            o.preload = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            o.rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--fanout") == 0)
            o.fanout = strcmp(argv[i + 1], "realistic") == 0  ? true
                       : strcmp(argv[i + 1], "watchers") == 0 ? false
                                                              : (o.daemon = NULL, false);
        else if (strcmp(argv[i], "--mix") == 0)
            o.mix = strcmp(argv[i + 1], "realistic") == 0 ? true
                    : strcmp(argv[i + 1], "single") == 0  ? false
                                                          : (o.daemon = NULL, false);
        else
            o.daemon = NULL;
    }
    /* The realistic fan-out: the partners the events are told to subscribe. France Travail
     * sends everything without the mix, and is not told of its own events. */
    int fanout_partners[BENCH_PARTNERS], n_fanout = 0;
    for (int i = 0; o.fanout && i < BENCH_PARTNERS; i++)
        if (o.mix || i == P_CD || i == P_TRAINER)
            fanout_partners[n_fanout++] = i;
    if (o.fanout)
        o.subscribers = n_fanout;
    if (o.daemon == NULL || o.clients < 1 || o.window < 1 || o.events < o.clients ||
        o.beneficiaries < o.clients || o.subscribers < 0 || o.subscribers > 63) {
        fprintf(stderr, "usage: parcours-bench --daemon PATH [--clients N] [--window W] "
                        "[--events E] [--beneficiaries M] [--durable yes|no] [--batch-max B] "
                        "[--checkpoint-ms C] [--commit-ms M] "
                        "[--subscribers S] [--stalled yes|no] [--curve yes|no] "
                        "[--backup yes|no] [--status yes|no] [--ids hashed|sequential] "
                        "[--preload N] [--rate EVENTS_PER_S] [--fanout watchers|realistic] "
                        "[--mix single|realistic] [--purge N] [--purge-due yes|no] "
                        "[--purge-slice S]\n");
        return 2;
    }
    {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, o.id_key, sizeof o.id_key) != (ssize_t)sizeof o.id_key)
            return perror("/dev/urandom"), 1;
        close(fd);
    }
    char dir[] = "/tmp/parcours-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return perror("mkdtemp"), 1;
    char ingest[128], deliver[128], admin[600];
    bench_keys_make(BENCH_PARTNERS + o.subscribers);
    pid_t pid = start_daemon(&o, dir, ingest, deliver, admin);
    void *ctx = zmq_ctx_new();
    Parcours__V1__AdminReply *reply = NULL;
    for (int i = 0; i < 100 && bench_status(ctx, admin, &reply) == NULL; i++)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    if (reply == NULL) {
        fprintf(stderr, "parcours-bench: the daemon did not start\n");
        kill(pid, SIGKILL);
        return 1;
    }
    parcours__v1__admin_reply__free_unpacked(reply, NULL);

    long preloaded = 0, due_before = 0, loaded = 0;
    if (o.preload > 0)
        loaded = bench_preload(&o, ctx, ingest, o.preload, false);
    if (o.purge > 0) {
        preloaded = bench_preload(&o, ctx, ingest, o.purge, o.purge_due);
        due_before = bench_due(ctx, admin);
    }
    bench_client_t *clients = calloc((size_t)o.clients, sizeof(*clients));
    pthread_t *threads = calloc((size_t)o.clients, sizeof(*threads));
    int64_t start = now_ns();
    for (int i = 0; i < o.clients; i++) {
        bench_client_t *c = &clients[i];
        c->index = i;
        c->options = &o;
        c->endpoint = ingest;
        c->zmq_context = ctx;
        c->events = o.events / o.clients;
        c->sent_ns = calloc((size_t)c->events, sizeof(int64_t));
        c->latency_ns = calloc((size_t)c->events, sizeof(int64_t));
        pthread_create(&threads[i], NULL, bench_client_run, c);
    }
    bench_subscriber_t *subs = calloc((size_t)o.subscribers + 1, sizeof(*subs));
    pthread_t *sub_threads = calloc((size_t)o.subscribers + 1, sizeof(*sub_threads));
    for (int i = 0; i < o.subscribers; i++) {
        bench_subscriber_t *s = &subs[i];
        s->index = i;
        s->partner = o.fanout ? fanout_partners[i] : -1;
        s->options = &o;
        s->endpoint = deliver;
        s->zmq_context = ctx;
        s->clients = clients;
        s->n_clients = o.clients;
        s->expected = o.events / o.clients * o.clients;
        s->latency_ns = calloc((size_t)s->expected, sizeof(int64_t));
        pthread_create(&sub_threads[i], NULL, bench_subscriber_run, s);
    }
    bench_backup_t backup = {.endpoint = admin, .dir = dir};
    pthread_t backup_thread;
    if (o.backup)
        pthread_create(&backup_thread, NULL, bench_backup_run, &backup);
    bench_status_probe_t probe = {.endpoint = admin, .zmq_context = ctx, .cap = 100000};
    pthread_t status_thread;
    if (o.status) {
        probe.latency_ns = calloc((size_t)probe.cap, sizeof(int64_t));
        pthread_create(&status_thread, NULL, bench_status_run, &probe);
    }
    long acked = 0, not_accepted = 0, retry_answers = 0, retried = 0;
    for (int i = 0; i < o.clients; i++) {
        pthread_join(threads[i], NULL);
        acked += clients[i].acked;
        not_accepted += clients[i].not_accepted;
        retry_answers += clients[i].retry_answers;
        retried += clients[i].retried;
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    long due_after = o.purge > 0 ? bench_due(ctx, admin) : 0;
    __atomic_store_n(&bench_clients_done, 1, __ATOMIC_RELEASE);
    long notified = 0;
    for (int i = 0; i < o.subscribers; i++) {
        pthread_join(sub_threads[i], NULL);
        notified += subs[i].received;
    }
    if (o.backup) /* the backup under way when the load ended is finished, and counted */
        pthread_join(backup_thread, NULL);
    if (o.status)
        pthread_join(status_thread, NULL);

    int64_t *all = calloc((size_t)acked + 1, sizeof(int64_t));
    long n = 0;
    for (int i = 0; i < o.clients; i++) {
        memcpy(all + n, clients[i].latency_ns, (size_t)clients[i].acked * sizeof(int64_t));
        n += clients[i].acked;
    }
    qsort(all, (size_t)n, sizeof(int64_t), compare_i64);
    Parcours__V1__Status *st = bench_status(ctx, admin, &reply);
    long rss = peak_rss_kib(pid);

    printf("clients=%d window=%d events=%ld beneficiaries=%d (%s ids) durable=%s curve=%s "
           "mix=%s\n",
           o.clients, o.window, acked, o.beneficiaries, o.pseudonyms ? "hashed" : "sequential",
           o.durable ? "yes" : "no", o.curve ? "yes" : "no",
           o.mix ? "realistic (each step by its partner)" : "single (France Travail)");
    if (o.preload > 0)
        printf("  preload         %ld pathways registered before the load\n", loaded);
    if (o.rate > 0)
        printf("  rate            %.0f events/s asked, paced over the clients\n", o.rate);
    printf("  events/s        %.0f\n", (double)acked / seconds);
    if (o.purge > 0 && o.purge_due)
        printf("  purge           %ld pathways past retention preloaded, %ld due when the load "
               "began, %ld destroyed during it (%.0f/s)\n",
               preloaded, due_before, due_before - due_after,
               seconds > 0 ? (double)(due_before - due_after) / seconds : 0);
    else if (o.purge >= 0)
        printf("  purge           running, %ld pathways preloaded, none past retention\n",
               preloaded);
    printf("  ack latency ms  p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
           percentile_ms(all, n, 0.50), percentile_ms(all, n, 0.99), percentile_ms(all, n, 0.999),
           n ? (double)all[n - 1] / 1e6 : 0);
    if (st != NULL)
        printf("  batches         %" PRIu64
               ", mean size %.1f, max %u, commit ms mean %.2f max %.2f\n",
               st->batches, st->batch_size_mean, st->batch_size_max, st->commit_ms_mean,
               st->commit_ms_max);
    if (o.subscribers > 0) {
        int64_t *lat = calloc((size_t)notified + 1, sizeof(int64_t));
        long m = 0;
        for (int i = 0; i < o.subscribers; i++) {
            memcpy(lat + m, subs[i].latency_ns, (size_t)subs[i].received * sizeof(int64_t));
            m += subs[i].received;
        }
        qsort(lat, (size_t)m, sizeof(int64_t), compare_i64);
        if (o.fanout) {
            long told = 0;
            printf("  subscribers     the realistic fan-out, live:");
            for (int i = 0; i < o.subscribers; i++) {
                printf(" %s %ld", bench_partners[subs[i].partner].id, subs[i].notifications);
                told += subs[i].notifications;
            }
            printf("; %ld notifications, %.0f/s\n", told, seconds > 0 ? (double)told / seconds : 0);
        } else
            printf("  subscribers     %d%s, notifications received %ld of %ld, %.0f/s\n",
                   o.subscribers, o.stalled ? " stalled (never acknowledging)" : "", m,
                   (long)o.subscribers * (o.events / o.clients * o.clients),
                   seconds > 0 ? (double)m / seconds : 0);
        printf("  publish->notify p50 %.2f ms  p99 %.2f ms\n", percentile_ms(lat, m, 0.50),
               percentile_ms(lat, m, 0.99));
        free(lat);
    }
    if (o.backup) {
        double busy = (double)backup.busy_ns / 1e9;
        printf("  backups         %ld taken back to back%s, size mean %.1f MiB last %.1f MiB max "
               "%.1f MiB\n",
               backup.taken, backup.failed ? "" : ", none failed",
               backup.taken ? (double)backup.bytes / backup.taken / 1048576.0 : 0,
               (double)backup.last_size / 1048576.0, (double)backup.max_size / 1048576.0);
        printf("  backup copy     %.1f MB/s (copy and fsync), mean %.2f s each, running %.0f%% "
               "of the measured time\n",
               busy > 0 ? (double)backup.bytes / 1e6 / busy : 0,
               backup.taken ? busy / (double)backup.taken : 0,
               seconds > 0 ? 100.0 * busy / seconds : 0);
        if (backup.failed)
            printf("  BACKUP FAILED   %ld (first: %s)\n", backup.failed, backup.first_error);
    }
    if (o.status) {
        qsort(probe.latency_ns, (size_t)probe.n, sizeof(int64_t), compare_i64);
        uint64_t pathways = 0;
        for (size_t i = 0; st != NULL && i < st->n_pathways_per_phase; i++)
            pathways += st->pathways_per_phase[i]->count;
        printf("  status          %ld answers during the load%s, ms p50 %.2f  p99 %.2f  max %.2f; "
               "%" PRIu64 " pathways at the end\n",
               probe.n, probe.failed ? " (some unanswered within 1 s)" : "",
               percentile_ms(probe.latency_ns, probe.n, 0.50),
               percentile_ms(probe.latency_ns, probe.n, 0.99),
               probe.n ? (double)probe.latency_ns[probe.n - 1] / 1e6 : 0, pathways);
        free(probe.latency_ns);
    }
    if (retry_answers > 0)
        printf("  RETRY answers   %ld, on %ld events, each sent again after a backoff (200 ms, "
               "doubling)\n",
               retry_answers, retried);
    printf("  daemon peak RSS %.1f MiB\n", (double)rss / 1024.0);
    if (not_accepted > 0)
        printf("  NOT ACCEPTED    %ld (first: %s)\n", not_accepted, clients[0].first_error);

    if (reply != NULL)
        parcours__v1__admin_reply__free_unpacked(reply, NULL);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < o.clients; i++) {
        free(clients[i].sent_ns);
        free(clients[i].latency_ns);
    }
    for (int i = 0; i < o.subscribers; i++)
        free(subs[i].latency_ns);
    free(subs);
    free(sub_threads);
    free(all);
    free(clients);
    free(threads);
    zmq_ctx_term(ctx);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "parcours-bench: could not remove %s\n", dir);
    return not_accepted > 0 || acked < o.events / o.clients * o.clients ? 1 : 0;
}
