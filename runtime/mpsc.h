/*
 * Lock-free multi-producer single-consumer inbox: producers push one node,
 * the consumer takes everything at once. Taking all at once rules out ABA, and
 * "was empty" on push tells the producer when the consumer needs a wake-up:
 * exactly one wake per empty-to-non-empty transition, never a lost one.
 */
#ifndef RC_MPSC_H
#define RC_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct rc_snode {
    struct rc_snode *next;
};

struct rc_mpsc {
    _Atomic(struct rc_snode *) head;
};

/* Returns true when the inbox was empty: the consumer must be woken. */
static inline bool rc_mpsc_push(struct rc_mpsc *q, struct rc_snode *node)
{
    struct rc_snode *old = atomic_load_explicit(&q->head, memory_order_relaxed);

    do
        node->next = old;
    while (!atomic_compare_exchange_weak_explicit(&q->head, &old, node,
                                                  memory_order_release,
                                                  memory_order_relaxed));
    return old == NULL;
}

/* Takes every node, oldest first. */
static inline struct rc_snode *rc_mpsc_take_all(struct rc_mpsc *q)
{
    struct rc_snode *node = atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
    struct rc_snode *fifo = NULL;

    while (node != NULL) {
        struct rc_snode *next = node->next;

        node->next = fifo;
        fifo = node;
        node = next;
    }
    return fifo;
}

static inline bool rc_mpsc_empty(struct rc_mpsc *q)
{
    return atomic_load_explicit(&q->head, memory_order_acquire) == NULL;
}

#endif
