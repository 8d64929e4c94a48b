/*
 * One offloaded operation and its life.
 *
 * A request is shared by its caller (the job that offloads it) and, while a
 * backend holds it, the backend: each holds a reference. Exactly one party
 * completes it as the caller sees it (rc_req_finish claims it): the backend's
 * answer, a deadline, a cancelled core or a stopped runtime, whichever comes
 * first; the others only drop their reference.
 */
#ifndef RC_REQ_H
#define RC_REQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "mpsc.h"
#include "ringcrypt.h"

enum rc_mode {
    RC_MODE_NONE,     /* not offloaded yet */
    RC_MODE_SYNC,     /* ran on the caller */
    RC_MODE_CORE,     /* completion on the origin core's ring */
    RC_MODE_CALLBACK, /* completing thread sets the status and calls back */
    RC_MODE_FD,       /* completing thread writes the wait ctx's eventfd */
};

/* Where a core-mode answer may go; settles the race with rc_core_destroy. */
enum rc_home {
    RC_HOME_CORE,    /* the origin core is waiting */
    RC_HOME_SENDING, /* a backend is posting the answer; the core waits for it */
    RC_HOME_ORPHAN,  /* the core is gone; the backend drops the request */
};

/* Where the job's side of a request stands. */
enum rc_phase {
    RC_PHASE_IDLE,      /* not in a backend: new, or back after back-pressure */
    RC_PHASE_BLOCKED,   /* on its core's blocked list, waiting for a slot */
    RC_PHASE_HANDED,    /* handed a freed slot, on its core's handed list until it retries */
    RC_PHASE_SUBMITTED, /* a backend holds it */
};

struct rc_backend;
struct rc_waiter;
struct rc_core;
struct rc_kstate;

struct rc_req {
    struct rc_event ev_exec;       /* worker ring: the request arrived */
    struct rc_event ev_exec_fail;  /* core ring: sending it to a worker failed */
    struct rc_event ev_reply;      /* core ring: the answer arrived */
    struct rc_event ev_reply_fail; /* worker ring: sending the answer failed */
    struct rc_snode inbox;         /* eventfd transport */
    struct rc_link link;           /* one of its core's lists, or the watchdog's */

    rc_work_fn fn;
    struct rc_kstate *kernel; /* its second form, for the kernel (rc_req_set_kernel), or NULL */
    void (*release)(void *ctx);
    size_t ctx_size;

    _Atomic int refs;
    _Atomic int claimed;
    _Atomic int done;
    _Atomic int home;   /* enum rc_home */
    _Atomic int result; /* published by the backend, see rc_req_set_result */

    int outcome;        /* what rc_offload returns; written before done */
    enum rc_mode mode;
    enum rc_phase phase; /* the job's side; its thread only */
    bool has_slot;       /* holds a slot under the in-flight limit */
    bool watched;        /* on the watchdog's list (under its lock) */
    const struct rc_backend *backend; /* the one that holds or held it */
    void *bdata;                      /* that backend's, opaque to the rest */
    struct rc_core *core;
    struct rc_waiter *waiter;
    unsigned int fork_gen; /* the process it was offloaded in (see rc_fork_gen) */
    void *placed_by;       /* the sending thread's placement state, until its job is back */
    uint64_t placed_events; /* core mode: its core's app_events when it was sent */
    uint64_t deadline_ns;

    max_align_t ctx[];
};

void rc_req_get(struct rc_req *req);
void rc_req_put(struct rc_req *req);

enum rc_finish {
    RC_FINISH_QUIET = 0,   /* nobody to tell: the job's side looks for itself */
    RC_FINISH_WAKE = 1,    /* tell the wait ctx: status and callback, or the eventfd */
    RC_FINISH_EXPIRED = 2, /* its deadline passed: counted as a timeout */
};

/*
 * Completes req as its caller sees it, once: counts it, stores outcome, marks
 * it done, then wakes as how says. Returns false if someone else completed it
 * first.
 */
bool rc_req_finish(struct rc_req *req, int outcome, unsigned int how);

/*
 * A backend lets go of req with its result: gives back its slot (held until
 * now even if a deadline completed the request), completes it if nobody did
 * first, and drops the backend's reference. The core's thread in core mode.
 */
void rc_req_answer(struct rc_req *req, int result);

/*
 * io_uring carries requests between threads with the kernel's own ordering,
 * which ThreadSanitizer cannot see. The hand-over is therefore made explicit
 * with release/acquire pairs (plain moves on x86): the sender publishes the
 * handler of the event it sends last, every dispatcher loads handlers with
 * acquire, and a backend publishes its result the same way.
 */
static inline void rc_event_publish(struct rc_event *ev,
                                    void (*fn)(struct rc_event *, int, unsigned int))
{
    __atomic_store_n(&ev->fn, fn, __ATOMIC_RELEASE);
}

static inline void (*rc_event_fn(struct rc_event *ev))(struct rc_event *, int, unsigned int)
{
    return __atomic_load_n(&ev->fn, __ATOMIC_ACQUIRE);
}

/* The backend's half: publish the result computed on this thread. */
static inline void rc_req_set_result(struct rc_req *req, int result)
{
    atomic_store_explicit(&req->result, result, memory_order_release);
}

static inline int rc_req_result(struct rc_req *req)
{
    return atomic_load_explicit(&req->result, memory_order_acquire);
}

#endif
