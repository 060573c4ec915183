/*
 * nats_bench.c: the NATS JetStream peer of tests/bench.sh --peers (../docs/benchmarks.md).
 *
 *   nats-bench URL EVENTS [--sync] [--window W]
 *
 * Publishes EVENTS messages of 200 bytes to a file-backed, one-replica stream, each with a
 * unique Nats-Msg-Id (the server's dedupe, as Parcours dedupes on event_id), on subjects keyed by
 * a random beneficiary. Asynchronously with W in flight (default 256), or one at a time with
 * --sync, where every publish waits for its ack. Prints events/s, and with --sync the ack
 * latency percentiles, in the lines tests/bench.sh reads.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1));
    return (double)v[i] / 1e6;
}

static void die(const char *what, natsStatus s)
{
    fprintf(stderr, "nats-bench: %s: %s\n", what, natsStatus_GetText(s));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nats-bench URL EVENTS [--sync] [--window W]\n");
        return 2;
    }
    const char *url = argv[1];
    long events = atol(argv[2]);
    int sync = 0;
    long window = 256;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--sync") == 0)
            sync = 1;
        else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
            window = atol(argv[++i]);
    }
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s != NATS_OK)
        die("connect", s);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = window;
    jsCtx *js = NULL;
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
        die("jetstream", s);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {"ev.>"};
    sc.Name = "EV";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = 1;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if ((s = js_AddStream(&si, js, &sc, NULL, &jerr)) != NATS_OK)
        die("add stream", s);
    jsStreamInfo_Destroy(si);

    char payload[200];
    memset(payload, 'x', sizeof payload);
    int64_t *lat = sync ? calloc((size_t)events, sizeof(int64_t)) : NULL;
    uint64_t rng = (uint64_t)now_ns() | 1;
    int64_t start = now_ns();
    for (long i = 0; i < events; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        char subject[64], id[64];
        snprintf(subject, sizeof subject, "ev.p93-%016" PRIx64, rng);
        snprintf(id, sizeof id, "e-%" PRIx64 "-%ld", (uint64_t)start, i);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id;
        if (sync) {
            jsPubAck *pa = NULL;
            int64_t t0 = now_ns();
            if ((s = js_Publish(&pa, js, subject, payload, sizeof payload, &po, &jerr)) != NATS_OK)
                die("publish", s);
            lat[i] = now_ns() - t0;
            jsPubAck_Destroy(pa);
        } else if ((s = js_PublishAsync(js, subject, payload, sizeof payload, &po)) != NATS_OK) {
            die("publish async", s);
        }
    }
    if (!sync) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 60000;
        if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
            die("publish async complete", s);
    }
    double seconds = (double)(now_ns() - start) / 1e9;
    printf("nats clients=1 %s events=%ld\n", sync ? "sync" : "async", events);
    printf("  events/s        %.0f\n", (double)events / seconds);
    if (sync) {
        qsort(lat, (size_t)events, sizeof(int64_t), cmp_i64);
        printf("  ack latency ms  p50 %.2f  p99 %.2f\n", pct_ms(lat, events, 0.50),
               pct_ms(lat, events, 0.99));
    }
    free(lat);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return 0;
}
