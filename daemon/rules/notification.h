/*
 * notification.h: the DeliverReply{notification} frame, written by hand.
 *
 * The deliver endpoint sends the same event to many partners. The log keeps each event as the
 * canonical encoding of what the ingest boundary checked (never the frame received), and the
 * frame's Notification.event field is nothing but those bytes with a length in front (or, for
 * an EMPLOYER or TRAINING_ORG, the minimised event): writing the frame by hand embeds them as
 * they are, where protobuf-c would need the event unpacked and packed again for every
 * notification. The bytes written are those
 * parcours__v1__deliver_reply__pack() writes for the same fields (proto3: a zero number is
 * left out, an absent message is left out, fields in number order).
 */
#ifndef PARCOURS_NOTIFICATION_H
#define PARCOURS_NOTIFICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The fields of one Notification. Nothing is retained by this module. */
typedef struct notification {
    uint64_t partner_seq;
    uint64_t seq;
    const uint8_t *event; /* a packed Event (canonical, or minimised), or NULL for none */
    size_t event_len;
    const uint8_t *pathway; /* a packed Pathway (the partner's view), or NULL for none */
    size_t pathway_len;
    int64_t committed_at;
    uint64_t stream_id;
    bool withdrawn;         /* the event was destroyed: neither event nor pathway is sent */
    const uint8_t *erasure; /* a packed Erasure (an erased person's notice), or NULL */
    size_t erasure_len;
} notification_t;

/* The size in bytes of the DeliverReply frame holding n. */
size_t notification_packed_size(const notification_t *n);

/* Writes the DeliverReply frame holding n to out, which has room for
 * notification_packed_size(n) bytes; returns the bytes written. */
size_t notification_pack(const notification_t *n, uint8_t *out);

#endif
