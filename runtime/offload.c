#include "offload.h"

#include <errno.h>
#include <openssl/async.h>

#include "backend.h"
#include "clock.h"
#include "core.h"
#include "counting.h"
#include "placement.h"
#include "runtime.h"
#include "stats.h"
#include "waiter.h"
#include "watchdog.h"

/* Slots taken by requests without a core (callback and fd modes), process-wide. */
static _Atomic unsigned int detached_inflight;

static bool is_done(struct rc_req *req)
{
    return atomic_load_explicit(&req->done, memory_order_acquire) != 0;
}

static int admit(struct rc_req *req)
{
    if (req->mode == RC_MODE_CORE)
        return rc_core_admit(req->core, req);
    if (req->has_slot)
        return 0;
    if (atomic_fetch_add(&detached_inflight, 1) >= rc_runtime_config()->max_inflight) {
        atomic_fetch_sub(&detached_inflight, 1);
        return -EAGAIN;
    }
    req->has_slot = true;
    return 0;
}

static void slot_put(struct rc_req *req)
{
    if (!req->has_slot)
        return;
    if (req->mode == RC_MODE_CORE) {
        rc_core_slot_put(req->core, req);
        return;
    }
    req->has_slot = false;
    atomic_fetch_sub(&detached_inflight, 1);
}

bool rc_req_finish(struct rc_req *req, int outcome, unsigned int how)
{
    int unclaimed = 0;

    if (!atomic_compare_exchange_strong(&req->claimed, &unclaimed, 1))
        return false;
    if (req->mode != RC_MODE_CORE)
        rc_watchdog_unwatch(req);
    /* Counted before done: whoever sees done sees the counts. */
    rc_stat_inc(RC_ST_COMPLETED);
    if (outcome < 0)
        rc_stat_inc(RC_ST_ERRORS);
    if (how & RC_FINISH_EXPIRED)
        rc_stat_inc(RC_ST_TIMEOUTS);
    req->outcome = outcome;
    atomic_store_explicit(&req->done, 1, memory_order_release);
    /* After done: a callback-mode job resumed by this wake must find its answer. */
    if (how & RC_FINISH_WAKE)
        rc_waiter_wake(req->waiter, req->mode, outcome < 0 ? RC_WAKE_ERR : RC_WAKE_OK);
    return true;
}

void rc_req_answer(struct rc_req *req, int result)
{
    /*
     * The slot is given back here, not when a deadline completes the request:
     * work a backend still holds or runs counts against the limit until then.
     */
    slot_put(req);
    rc_req_finish(req, result, RC_FINISH_WAKE);
    rc_req_put(req);
}

/* Hands req to its backend: 0, -EAGAIN (back-pressure) or another -errno. */
static int submit(struct rc_req *req)
{
    int rc = admit(req);

    if (rc != 0)
        return rc;
    /* Within a turn the clock was read after the wait: close enough, and cheaper. */
    req->deadline_ns = (req->mode == RC_MODE_CORE && req->core->in_run ? req->core->turn_ns
                                                                        : rc_now_ns()) +
                       (uint64_t)rc_runtime_config()->timeout_ms * 1000000u;
    rc_req_get(req); /* the backend's reference */
    if (req->mode == RC_MODE_CORE) {
        rc_core_track(req->core, req);
    } else {
        rc = rc_watchdog_watch(req);
        if (rc != 0)
            goto undo_ref;
        req->phase = RC_PHASE_SUBMITTED;
    }
    rc = req->backend->submit(req);
    if (rc != 0)
        goto undo;
    if (req->mode == RC_MODE_CORE)
        rc_core_flush(req->core);
    rc_stat_inc(RC_ST_SUBMITTED);
    return 0;

undo:
    if (req->mode == RC_MODE_CORE)
        rc_core_untrack(req->core, req);
    else
        rc_watchdog_unwatch(req);
    req->phase = RC_PHASE_IDLE;
undo_ref:
    rc_req_put(req);
    slot_put(req);
    return rc;
}

static void pause_job(struct rc_req *req)
{
    rc_stat_inc(RC_ST_PAUSED);
    ASYNC_pause_job();
    rc_stat_inc(RC_ST_RESUMED);
    rc_waiter_resumed(req->waiter);
}

static void back_pressure(struct rc_req *req, ASYNC_WAIT_CTX *wctx)
{
    rc_stat_inc(RC_ST_EAGAIN);
    ASYNC_WAIT_CTX_set_status(wctx, ASYNC_STATUS_EAGAIN);
    /*
     * A core calls back when a slot frees. Without a core, or when the backend
     * refused with nothing in flight (no slot will free), retrying at once is
     * all there is.
     */
    if (req->mode == RC_MODE_CORE && req->core->inflight > 0)
        rc_core_block(req->core, req);
    else
        rc_waiter_wake(req->waiter, req->mode, RC_WAKE_RETRY);
}

/* Done on the caller's thread: by its work function, or by the kernel with result. */
static int ran_here(struct rc_req *req, int result)
{
    req->mode = RC_MODE_SYNC;
    req->outcome = result;
    atomic_store_explicit(&req->done, 1, memory_order_relaxed);
    rc_stat_inc(RC_ST_INLINE);
    return req->outcome;
}

static enum rc_mode choose_mode(ASYNC_WAIT_CTX *wctx, struct rc_core *core)
{
    ASYNC_callback_fn cb;
    void *arg;

    if (!ASYNC_WAIT_CTX_get_callback(wctx, &cb, &arg))
        return RC_MODE_FD;
    return core != NULL ? RC_MODE_CORE : RC_MODE_CALLBACK;
}

/*
 * The backend that takes req, or the inline one where placement finds that
 * sending it to another thread would gain nothing.
 */
static const struct rc_backend *choose_backend(const struct rc_req *req, const struct rc_core *core)
{
    const struct rc_backend *b = rc_backend_for(req);

    return b->other_thread && rc_place_here(core) ? &rc_backend_inline : b;
}

int rc_offload_here(void)
{
    /* A request with no kernel form, as far as the choice of a backend looks at one: zeroed once. */
    static const struct rc_req plain;

    if (rc_runtime_ready() != 0)
        return 0;
    return ASYNC_get_current_job() == NULL
           || choose_backend(&plain, rc_core_current()) == &rc_backend_inline;
}

int rc_offload(struct rc_req *req)
{
    const struct rc_backend *b = &rc_backend_inline;
    struct rc_core *core = rc_core_current();
    ASYNC_WAIT_CTX *wctx;
    struct rc_waiter *w;
    ASYNC_JOB *job;
    int rc;

    if (req->mode != RC_MODE_NONE)
        return -EALREADY;
    rc = rc_runtime_ready();
    if (rc != 0)
        return rc;
    /* Without a job there is no pause to wait in: only the calling thread can run it. */
    job = ASYNC_get_current_job();
    if (job != NULL)
        b = choose_backend(req, core);
    if (b->run_here != NULL && b->run_here(req, core, &rc) == 0)
        return ran_here(req, rc);
    wctx = ASYNC_get_wait_ctx(job);
    req->mode = choose_mode(wctx, core);
    w = rc_waiter_bind(wctx, req->mode == RC_MODE_FD);
    if (w == NULL)
        return ran_here(req, req->fn(req->ctx));
    req->backend = b;
    if (req->mode == RC_MODE_CORE)
        req->core = core;
    req->fork_gen = rc_fork_gen;
    rc_waiter_get(w);
    req->waiter = w;
    w->cur = req;

    /* Back-pressure: pause until told to retry; a destroyed core completes it meanwhile. */
    while (!is_done(req)) {
        /* Resumed before its turn (the app may retry at will): still waiting for a slot. */
        if (req->phase == RC_PHASE_BLOCKED) {
            pause_job(req);
            continue;
        }
        /*
         * Set before the backend can see the request: in callback mode the
         * completing thread sets the status too, and must not be overwritten.
         */
        ASYNC_WAIT_CTX_set_status(wctx, ASYNC_STATUS_OK);
        rc = submit(req);
        if (rc != -EAGAIN)
            break;
        back_pressure(req, wctx);
        pause_job(req);
    }
    if (rc == 0) {
        rc_place_sent(req);
        /*
         * Paused even when the answer is already in (a worker can beat this
         * thread here): its wake — callback or eventfd write — is for this
         * pause, and only a pause announces the wait ctx's fd to the app.
         * ASYNC_pause_job may return early (the app may retry at will): loop on done.
         */
        do
            pause_job(req);
        while (!is_done(req));
        /* Its core may have been destroyed meanwhile (the request then came back cancelled). */
        rc_place_back(req, req->mode == RC_MODE_CORE && rc_core_current() == req->core
                               ? req->core : NULL);
    } else if (!is_done(req)) {
        rc_req_finish(req, rc, RC_FINISH_QUIET);
    }
    w->cur = NULL;
    rc_waiter_settle(w, wctx);
    if (req->outcome < 0)
        ASYNC_WAIT_CTX_set_status(wctx, ASYNC_STATUS_ERR);
    return req->outcome;
}

void rc_offload_abandon(struct rc_req *req)
{
    /*
     * Not done means its core is alive — unless this is a fork child and the
     * request its parent's: then the core is a copy the child may have freed.
     */
    if (req->mode == RC_MODE_CORE && !is_done(req) && req->fork_gen == rc_fork_gen &&
        (req->phase == RC_PHASE_BLOCKED || req->phase == RC_PHASE_HANDED))
        rc_core_unblock(req);
    rc_place_back(req, NULL);
    rc_req_put(req);
}

void rc_offload_forget_after_fork(void)
{
    atomic_store(&detached_inflight, 0);
    rc_place_forget_after_fork();
}
