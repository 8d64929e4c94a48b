/*
 * Counters. A core's counters have one writer, its thread, so an increment is
 * a relaxed load and store; threads without a core share one block and add
 * atomically. Readers on any thread use relaxed loads.
 */
#ifndef RC_STATS_H
#define RC_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "list.h"
#include "ringcrypt.h"

enum rc_stat {
    RC_ST_SUBMITTED,
    RC_ST_COMPLETED,
    RC_ST_PAUSED,
    RC_ST_RESUMED,
    RC_ST_CALLBACKS,
    RC_ST_FD_WAKES,
    RC_ST_EAGAIN,
    RC_ST_ERRORS,
    RC_ST_TIMEOUTS,
    RC_ST_INLINE,
    RC_ST_KERNEL,
    RC_ST_KERNEL_WAITS,
    RC_ST_COUNT
};

struct rc_counters {
    _Atomic uint64_t v[RC_ST_COUNT];
    struct rc_link link; /* in the registry while its core lives */
};

/* The calling thread's core's counters, or NULL when it has no core. */
extern __thread struct rc_counters *rc_tls_counters;
extern struct rc_counters rc_detached_counters;

static inline void rc_stat_add(enum rc_stat s, uint64_t n)
{
    struct rc_counters *c = rc_tls_counters;

    if (c != NULL)
        atomic_store_explicit(&c->v[s],
                              atomic_load_explicit(&c->v[s], memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&rc_detached_counters.v[s], n, memory_order_relaxed);
}

static inline void rc_stat_inc(enum rc_stat s)
{
    rc_stat_add(s, 1);
}

/* A core's counters join the totals while it lives and are folded in when it goes. */
void rc_stats_register(struct rc_counters *c);
void rc_stats_retire(struct rc_counters *c);

void rc_counters_export(const struct rc_counters *c, struct rc_stats *out);

/* Appends one JSON line of the totals to path. */
int rc_stats_write_json(const char *path);

/* In a fork child: the parent's counts are not the child's. */
void rc_stats_reset_after_fork(void);

#endif
