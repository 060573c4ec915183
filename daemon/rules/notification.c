/* notification.c: the DeliverReply{notification} frame, written by hand. */
#include "notification.h"

#include <string.h>

/* Field numbers and wire types of the protobuf encoding. */
#define WIRE_VARINT            0
#define WIRE_LENGTH            2
#define TAG(field, wire)       ((uint8_t)(((field) << 3) | (wire)))
#define REPLY_NOTIFICATION     2 /* DeliverReply.notification */
#define NOTIFICATION_PARTNER   1 /* Notification.partner_seq */
#define NOTIFICATION_SEQ       2
#define NOTIFICATION_EVENT     3
#define NOTIFICATION_PATHWAY   4
#define NOTIFICATION_AT        5 /* Notification.committed_at */
#define NOTIFICATION_STREAM    6 /* Notification.stream_id */
#define NOTIFICATION_WITHDRAWN 7
#define NOTIFICATION_ERASURE   8

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* The size of the Notification message itself, without the DeliverReply tag and length. */
static size_t notification_body_size(const notification_t *n)
{
    size_t size = 0;
    if (n->partner_seq != 0)
        size += 1 + varint_size(n->partner_seq);
    if (n->seq != 0)
        size += 1 + varint_size(n->seq);
    if (n->event != NULL)
        size += 1 + varint_size(n->event_len) + n->event_len;
    if (n->pathway != NULL)
        size += 1 + varint_size(n->pathway_len) + n->pathway_len;
    /* An int64 is written as the varint of its two's complement: 10 bytes when negative. */
    if (n->committed_at != 0)
        size += 1 + varint_size((uint64_t)n->committed_at);
    if (n->stream_id != 0)
        size += 1 + varint_size(n->stream_id);
    if (n->withdrawn)
        size += 2;
    if (n->erasure != NULL)
        size += 1 + varint_size(n->erasure_len) + n->erasure_len;
    return size;
}

size_t notification_packed_size(const notification_t *n)
{
    size_t body = notification_body_size(n);
    return 1 + varint_size(body) + body;
}

size_t notification_pack(const notification_t *n, uint8_t *out)
{
    size_t at = 0;
    out[at++] = TAG(REPLY_NOTIFICATION, WIRE_LENGTH);
    at += varint_put(out + at, notification_body_size(n));
    if (n->partner_seq != 0) {
        out[at++] = TAG(NOTIFICATION_PARTNER, WIRE_VARINT);
        at += varint_put(out + at, n->partner_seq);
    }
    if (n->seq != 0) {
        out[at++] = TAG(NOTIFICATION_SEQ, WIRE_VARINT);
        at += varint_put(out + at, n->seq);
    }
    if (n->event != NULL) {
        out[at++] = TAG(NOTIFICATION_EVENT, WIRE_LENGTH);
        at += varint_put(out + at, n->event_len);
        if (n->event_len > 0)
            memcpy(out + at, n->event, n->event_len);
        at += n->event_len;
    }
    if (n->pathway != NULL) {
        out[at++] = TAG(NOTIFICATION_PATHWAY, WIRE_LENGTH);
        at += varint_put(out + at, n->pathway_len);
        if (n->pathway_len > 0)
            memcpy(out + at, n->pathway, n->pathway_len);
        at += n->pathway_len;
    }
    if (n->committed_at != 0) {
        out[at++] = TAG(NOTIFICATION_AT, WIRE_VARINT);
        at += varint_put(out + at, (uint64_t)n->committed_at);
    }
    if (n->stream_id != 0) {
        out[at++] = TAG(NOTIFICATION_STREAM, WIRE_VARINT);
        at += varint_put(out + at, n->stream_id);
    }
    if (n->withdrawn) {
        out[at++] = TAG(NOTIFICATION_WITHDRAWN, WIRE_VARINT);
        out[at++] = 1;
    }
    if (n->erasure != NULL) {
        out[at++] = TAG(NOTIFICATION_ERASURE, WIRE_LENGTH);
        at += varint_put(out + at, n->erasure_len);
        if (n->erasure_len > 0)
            memcpy(out + at, n->erasure, n->erasure_len);
        at += n->erasure_len;
    }
    return at;
}
