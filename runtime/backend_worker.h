/*
 * The worker backend: N threads, each with its own ring. A core sends a
 * request with IORING_OP_MSG_RING to a worker's ring and the worker sends the
 * answer back the same way to the origin core's ring; where MSG_RING is
 * missing or RINGCRYPT_FORCE_EVENTFD=1, an eventfd doorbell and a lock-free
 * inbox carry both directions. Threads without a core always use a worker's
 * doorbell. Callback- and fd-mode requests complete on the worker itself.
 *
 * A worker is sent at most one request at a time; when every worker has
 * one, requests wait in one shared overflow queue that workers drain as they
 * finish. A worker stuck in a work function therefore holds that one request
 * and receives nothing more.
 */
#ifndef RC_BACKEND_WORKER_H
#define RC_BACKEND_WORKER_H

#include <stdbool.h>

#include "config.h"
#include "req.h"

int rc_workers_start(const struct rc_config *cfg);
/*
 * Requests still queued complete with -ESHUTDOWN; waits for the threads up to
 * timeout_ms. keep_memory: at exit(), other threads may still hold the pool.
 */
void rc_workers_stop(unsigned int timeout_ms, bool keep_memory);
/*
 * fork()'s prepare handler: waits until no worker handles a request (runs
 * OpenSSL's code, releases a request's context) and keeps them from starting
 * another; a worker still busy after timeout_ms is left as it is and the fork
 * goes ahead. The parent's handler lets them go; in the child the pool is
 * forgotten.
 */
void rc_workers_fork_prepare(unsigned int timeout_ms);
void rc_workers_fork_parent(void);
void rc_workers_forget_after_fork(void);

/* 0, or -ESHUTDOWN when the workers are stopped. */
int rc_worker_submit(struct rc_req *req);

/* Whether requests travel by MSG_RING (false: eventfd doorbells). */
bool rc_workers_use_msg_ring(void);

/* Core ring handler: a MSG_RING carrying a request to a worker failed. */
void rc_worker_on_exec_fail(struct rc_event *ev, int res, unsigned int flags);

#endif
