/*
 * An eventfd doorbell in front of a lock-free inbox: the transport between
 * threads when MSG_RING is missing (or forced off), and the way in for threads
 * without a ring. The owner keeps a READ on the eventfd in its ring, so a ring
 * CQE is still the only thing it waits for.
 */
#ifndef RC_DOORBELL_H
#define RC_DOORBELL_H

#include <liburing.h>
#include <stdint.h>

#include "mpsc.h"
#include "ringcrypt.h"

struct rc_doorbell {
    int efd;
    uint64_t count;     /* the armed READ's buffer */
    struct rc_event ev; /* the armed READ's CQE */
    struct rc_mpsc inbox;
};

int rc_doorbell_init(struct rc_doorbell *db, void (*on_ring)(struct rc_event *, int, unsigned int));
void rc_doorbell_close(struct rc_doorbell *db);

/* Queues the READ whose CQE says the doorbell rang. -EAGAIN if the ring is full. */
int rc_doorbell_arm(struct rc_doorbell *db, struct io_uring *ring);

/* Producer side (any thread): queue node, ring when the inbox was empty. */
void rc_doorbell_post(struct rc_doorbell *db, struct rc_snode *node);

/* Wakes the owner with nothing in its inbox: it looks at whatever else it serves. */
void rc_doorbell_ring(struct rc_doorbell *db);

#endif
