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

/* Whether requests travel by MSG_RING (false: eventfd doorbells). */
bool rc_workers_use_msg_ring(void);

#endif
