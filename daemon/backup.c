/* backup.c: hot backups, a copy thread writing into a pipe that admin requests drain. */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define IDENTITY_MAX 256

struct backup {
    struct event_base *base;
    store_t *store;
    backup_reply_fn reply;
    void *ctx;
    uint8_t *part; /* BACKUP_PART_MAX bytes, one part's data */
    struct event *idle;
    unsigned idle_seconds; /* a copy left this long without a request is abandoned */
    backup_stats_t stats;

    /* The running copy, when running. */
    bool running;
    pthread_t thread;
    int read_fd;  /* the loop's end of the pipe, non-blocking */
    int write_fd; /* the copy thread's end, which closes it when done */
    int result;   /* store_copy_fd's, read after the join */
    uint64_t token;
    uint64_t offset; /* bytes handed to the client so far */
    int64_t started_ms;
    struct event *readable;

    /* The request waiting for the copy to write more, when parked. */
    bool parked;
    uint8_t identity[IDENTITY_MAX];
    size_t identity_len;
};

static void *copy_thread(void *arg)
{
    backup_t *b = arg;
    b->result = store_copy_fd(b->store, b->write_fd);
    close(b->write_fd); /* the loop reads end-of-file: the copy is complete, or failed */
    return NULL;
}

static void reply_error(backup_t *b, const void *identity, size_t identity_len,
                        const char *sentence)
{
    Parcours__V1__AdminReply reply = PARCOURS__V1__ADMIN_REPLY__INIT;
    reply.ok = 0;
    reply.error = (char *)sentence;
    b->reply(b->ctx, identity, identity_len, &reply);
}

static void reply_part(backup_t *b, size_t len, bool done)
{
    Parcours__V1__AdminReply reply = PARCOURS__V1__ADMIN_REPLY__INIT;
    Parcours__V1__BackupPart part = PARCOURS__V1__BACKUP_PART__INIT;
    reply.ok = 1;
    reply.backup = &part;
    part.token = b->token;
    part.offset = b->offset;
    part.data.data = b->part;
    part.data.len = len;
    part.done = done;
    b->reply(b->ctx, b->identity, b->identity_len, &reply);
}

/* Ends the running copy: closing the pipe makes the copy thread's next write fail, if it is
 * still writing; then the map may grow again. */
static void backup_end(backup_t *b)
{
    if (!b->running)
        return;
    close(b->read_fd);
    pthread_join(b->thread, NULL);
    store_copy_end(b->store);
    event_free(b->readable);
    b->readable = NULL;
    event_del(b->idle);
    b->running = false;
    b->parked = false;
    b->stats.running = false;
}

static uint64_t backup_token(void)
{
    uint64_t token = 0;
    while (token == 0) {
        if (getrandom(&token, sizeof(token), 0) != (ssize_t)sizeof(token))
            token = (uint64_t)clock_monotonic_ms() ^ ((uint64_t)getpid() << 32);
    }
    return token;
}

static void on_readable(evutil_socket_t fd, short what, void *arg);

/* Starts a copy; on failure says why in err and returns -1. */
static int backup_start(backup_t *b, char *err, size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "The daemon cannot make a pipe for the copy: %s", strerror(errno));
        return -1;
    }
    /* A pipe as large as a part: the copy thread writes a whole part while the client fetches
     * the previous one. Refused beyond /proc/sys/fs/pipe-max-size: the default then serves. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, BACKUP_PART_MAX);
    int rc = fcntl(fds[0], F_SETFL, O_NONBLOCK);
    if (rc == 0) {
        rc = store_copy_begin(b->store);
        /* A map that could not grow ahead still copies; batches may then get RETRY sooner. */
        if (rc == STORE_EFULL)
            log_info("backup: the map cannot grow ahead of the copy; senders may get RETRY "
                     "until it ends");
        rc = rc == STORE_EFULL ? STORE_OK : rc;
    }
    if (rc != 0) {
        snprintf(err, errlen, "The daemon cannot start the copy: %s",
                 rc < 0 ? store_strerror(rc) : strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    b->read_fd = fds[0];
    b->write_fd = fds[1];
    b->readable = event_new(b->base, b->read_fd, EV_READ, on_readable, b);
    b->result = STORE_OK;
    if (b->readable == NULL || pthread_create(&b->thread, NULL, copy_thread, b) != 0) {
        snprintf(err, errlen, "The daemon cannot start the copy thread.");
        if (b->readable != NULL)
            event_free(b->readable);
        b->readable = NULL;
        store_copy_end(b->store);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    b->running = true;
    b->token = backup_token();
    b->offset = 0;
    b->started_ms = clock_monotonic_ms();
    b->stats.running = true;
    log_info("backup: started");
    return 0;
}

/* Answers the parked request with what the pipe holds, or waits for more. */
static void backup_serve(backup_t *b)
{
    size_t len = 0;
    bool eof = false;
    while (len < BACKUP_PART_MAX) {
        ssize_t n = read(b->read_fd, b->part + len, BACKUP_PART_MAX - len);
        if (n > 0) {
            len += (size_t)n;
        } else if (n == 0) {
            eof = true;
            break;
        } else if (errno != EINTR) {
            break; /* EAGAIN: nothing more for now */
        }
    }
    if (len > 0) {
        reply_part(b, len, false);
        b->offset += len;
        b->parked = false;
        return;
    }
    if (!eof) {
        event_add(b->readable, NULL);
        return;
    }
    /* End of file: the copy thread closed its end, and ends. */
    uint8_t identity[IDENTITY_MAX];
    size_t identity_len = b->identity_len;
    memcpy(identity, b->identity, identity_len);
    uint64_t bytes = b->offset;
    double seconds = (double)(clock_monotonic_ms() - b->started_ms) / 1000.0;
    backup_end(b);
    if (b->result == STORE_OK) {
        log_info("backup: done, %llu bytes in %.1f s", (unsigned long long)bytes, seconds);
        b->stats.done++;
        b->stats.last_done_at = (int64_t)time(NULL);
        b->stats.last_done_bytes = bytes;
        reply_part(b, 0, true); /* to the identity parked last, still in b->identity */
    } else {
        char sentence[160];
        snprintf(sentence, sizeof(sentence), "The copy failed: %s", store_strerror(b->result));
        log_error("backup: %s", sentence);
        b->stats.failed++;
        reply_error(b, identity, identity_len, sentence);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    backup_t *b = arg;
    if (b->running && b->parked)
        backup_serve(b);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    backup_t *b = arg;
    if (!b->running)
        return;
    if (b->parked) { /* its client waits for the copy thread: not idle */
        struct timeval again = {(time_t)b->idle_seconds, 0};
        event_add(b->idle, &again);
        return;
    }
    log_info("backup: abandoned after %u s without a request, at byte %llu", b->idle_seconds,
             (unsigned long long)b->offset);
    b->stats.abandoned++;
    backup_end(b);
}

backup_t *backup_new(struct event_base *base, store_t *store, unsigned idle_seconds,
                     backup_reply_fn reply, void *ctx)
{
    backup_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->base = base;
    b->store = store;
    b->idle_seconds = idle_seconds > 0 ? idle_seconds : 1;
    b->reply = reply;
    b->ctx = ctx;
    b->read_fd = b->write_fd = -1;
    b->part = malloc(BACKUP_PART_MAX);
    b->idle = evtimer_new(base, on_idle, b);
    if (b->part == NULL || b->idle == NULL) {
        backup_destroy(&b);
        return NULL;
    }
    return b;
}

void backup_destroy(backup_t **b)
{
    if (b == NULL || *b == NULL)
        return;
    if ((*b)->running) {
        log_info("backup: abandoned at byte %llu, the daemon stops",
                 (unsigned long long)(*b)->offset);
        (*b)->stats.abandoned++;
    }
    backup_end(*b);
    if ((*b)->idle != NULL)
        event_free((*b)->idle);
    free((*b)->part);
    free(*b);
    *b = NULL;
}

const backup_stats_t *backup_stats(const backup_t *b)
{
    return &b->stats;
}

void backup_request(backup_t *b, const void *identity, size_t identity_len,
                    const Parcours__V1__AdminRequest *request)
{
    char sentence[256];
    if (identity_len > IDENTITY_MAX) {
        reply_error(b, identity, identity_len, "The admin connection's identity is too long.");
        return;
    }
    if (request->backup_token == 0 && request->backup_offset == 0) {
        if (b->running) {
            snprintf(sentence, sizeof(sentence),
                     "A backup is already running (started %lld s ago): wait for it to end, or "
                     "for it to be abandoned %u s after its last request.",
                     (long long)((clock_monotonic_ms() - b->started_ms) / 1000), b->idle_seconds);
            reply_error(b, identity, identity_len, sentence);
            return;
        }
        if (backup_start(b, sentence, sizeof(sentence)) != 0) {
            reply_error(b, identity, identity_len, sentence);
            return;
        }
    } else if (!b->running || request->backup_token != b->token) {
        reply_error(b, identity, identity_len,
                    "No backup with this token is running: it ended, or was abandoned after a "
                    "while without a request. Start a new one.");
        return;
    } else if (request->backup_offset != b->offset) {
        snprintf(sentence, sizeof(sentence),
                 "This backup has sent %llu bytes but the request asks from byte %llu: start a "
                 "new one.",
                 (unsigned long long)b->offset, (unsigned long long)request->backup_offset);
        reply_error(b, identity, identity_len, sentence);
        return;
    } else if (b->parked) {
        reply_error(b, identity, identity_len,
                    "A request for this backup is already waiting for its part.");
        return;
    }
    memcpy(b->identity, identity, identity_len);
    b->identity_len = identity_len;
    b->parked = true;
    struct timeval idle = {(time_t)b->idle_seconds, 0};
    event_add(b->idle, &idle);
    backup_serve(b);
}
