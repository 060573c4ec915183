/* notification.c: the DeliverReply{notification} frame, written by hand. */
#include "notification.h"

#include <string.h>

/* Field numbers and wire types of the protobuf encoding. */
#define WIRE_VARINT            0
#define WIRE_FIXED64           1
#define WIRE_LENGTH            2
#define WIRE_FIXED32           5
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
#define EVENT_BENEFICIARY      3 /* Event.beneficiary_id */

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

/* Reads a varint at *at, moving *at past it; -1 when it runs past end or over 10 bytes. */
static int varint_get(const uint8_t *buf, size_t end, size_t *at, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *at < end; shift += 7) {
        uint8_t b = buf[(*at)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return 0;
    }
    return -1;
}

int notification_event_beneficiary(const uint8_t *event, size_t len, const uint8_t **id,
                                   size_t *id_len)
{
    return notification_bytes_field(event, len, EVENT_BENEFICIARY, id, id_len);
}

int notification_bytes_field(const uint8_t *message, size_t len, unsigned field,
                             const uint8_t **value, size_t *value_len)
{
    *value = NULL;
    *value_len = 0;
    size_t at = 0;
    while (at < len) {
        uint64_t tag, n;
        if (varint_get(message, len, &at, &tag) != 0 || (tag >> 3) == 0)
            return -1;
        switch (tag & 7) {
        case WIRE_VARINT:
            if (varint_get(message, len, &at, &n) != 0)
                return -1;
            break;
        case WIRE_FIXED64:
        case WIRE_FIXED32:
            n = (tag & 7) == WIRE_FIXED64 ? 8 : 4;
            if (len - at < n)
                return -1;
            at += n;
            break;
        case WIRE_LENGTH:
            if (varint_get(message, len, &at, &n) != 0 || len - at < n)
                return -1;
            /* The last occurrence wins, as in every protobuf decoder. */
            if ((tag >> 3) == field) {
                *value = message + at;
                *value_len = (size_t)n;
            }
            at += (size_t)n;
            break;
        default:
            return -1; /* groups are not proto3 */
        }
    }
    return 0;
}
