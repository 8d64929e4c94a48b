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
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "core.h"
#include "doorbell.h"
#include "ring.h"
#include "testing.h"

#define WORKER_SQ 256
#define WORKER_SPIN_US 50
/* After this many fruitless polls in a row, a worker polls once in 2^8 sleeps. */
#define POLL_MISSES_MAX 8

struct rc_worker {
    struct io_uring ring;
    struct rc_doorbell doorbell;
    struct rc_pool *pool;
    pthread_t thread;
    sem_t started;
    int start_rc;
    bool joined;
    /* Polling for its next request: submitters prefer it to a sleeping worker. */
    atomic_bool polling;
    /* Polls in a row that found nothing, and sleeps left before it polls again: its thread's only. */
    unsigned int poll_misses, poll_skips;
    /*
     * It holds a request — sent to it (MSG_RING, doorbell) or taken from the
     * overflow — not finished yet, and is sent no other: stuck in a work
     * function, it holds that one request and no more.
     */
    atomic_bool busy;
    /*
     * Held for reading while it handles a request (OpenSSL's code and the
     * request's release): fork's prepare takes it for writing, so no worker
     * is inside OpenSSL — holding a key's lock — when the child is made.
     */
    pthread_rwlock_t guard;
    bool guard_held; /* by fork's prepare; the forking thread's, under the runtime lock */
};

struct rc_pool {
    unsigned int n;
    bool msg_ring;
    uint64_t spin_ns;
    struct rc_pool *kept_next;
    _Atomic unsigned int next;
    _Atomic int stopping;
    /* Requests that found every worker busy, oldest first: the first worker to finish takes one. */
    pthread_mutex_t overflow_lock;
    struct rc_snode *overflow_head, **overflow_tail;
    _Atomic unsigned int overflowed;
    struct rc_worker w[];
};

static _Atomic(struct rc_pool *) pool;
/* Stopped pools that could not be freed, kept reachable on purpose; under the runtime lock. */
static struct rc_pool *kept;
/* Threads between loading the pool and posting to a doorbell: stop waits for them. */
static _Atomic int submitters;
static __thread struct rc_worker *tls_worker;

/* The tests' builds only ($b/testing/): production sends every MSG_RING where it goes. */
#ifdef RC_TESTING
static _Atomic unsigned int failures_to_inject;

void rc_testing_fail_msg_ring(unsigned int n)
{
    atomic_store(&failures_to_inject, n);
}

static bool inject_failure(void)
{
    unsigned int n = atomic_load_explicit(&failures_to_inject, memory_order_relaxed);

    while (n > 0)
        if (atomic_compare_exchange_weak(&failures_to_inject, &n, n - 1))
            return true;
    return false;
}
#else
static bool inject_failure(void)
{
    return false;
}
#endif

/*
 * A MSG_RING that carries `carried` to the ring behind fd; only a failure
 * posts a CQE, on this ring, pointing at on_fail. An injected failure aims
 * at fd -1, so the kernel itself refuses it.
 */
static void prep_msg(struct io_uring_sqe *sqe, int fd, struct rc_event *carried,
                     struct rc_event *on_fail)
{
    io_uring_prep_msg_ring(sqe, inject_failure() ? -1 : fd, 0, (uint64_t)(uintptr_t)carried, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data(sqe, on_fail);
}

/* ---- busy workers and the overflow ------------------------------------- */

static bool claim(struct rc_worker *w)
{
    bool idle = false;

    return !atomic_load(&w->busy) && atomic_compare_exchange_strong(&w->busy, &idle, true);
}

/* An idle worker, a polling one first (it needs no wake-up), claimed; NULL when all are busy. */
static struct rc_worker *pick(struct rc_pool *p)
{
    unsigned int start;

    for (unsigned int i = 0; i < p->n; i++)
        if (atomic_load_explicit(&p->w[i].polling, memory_order_relaxed) && claim(&p->w[i]))
            return &p->w[i];
    start = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    for (unsigned int i = 0; i < p->n; i++) {
        struct rc_worker *w = &p->w[(start + i) % p->n];

        if (claim(w))
            return w;
    }
    return NULL;
}

static struct rc_req *overflow_pop(struct rc_pool *p)
{
    struct rc_snode *n;

    if (atomic_load(&p->overflowed) == 0)
        return NULL;
    pthread_mutex_lock(&p->overflow_lock);
    n = p->overflow_head;
    if (n != NULL) {
        p->overflow_head = n->next;
        if (p->overflow_head == NULL)
            p->overflow_tail = &p->overflow_head;
        atomic_fetch_sub(&p->overflowed, 1);
    }
    pthread_mutex_unlock(&p->overflow_lock);
    return n != NULL ? rc_container_of(n, struct rc_req, inbox) : NULL;
}

/*
 * Every worker is busy: req waits, under the lock that publishes it, for the
 * first to finish. Busy workers look here as they finish, so no wake-up is
 * needed — except by a worker that finished before this push was visible to
 * it. Both sides are sequentially consistent (it clears busy, then looks at
 * the overflow; this pushes, then looks at busy), so one sees the other.
 */
static void overflow(struct rc_pool *p, struct rc_req *req)
{
    pthread_mutex_lock(&p->overflow_lock);
    req->inbox.next = NULL;
    *p->overflow_tail = &req->inbox;
    p->overflow_tail = &req->inbox.next;
    atomic_fetch_add(&p->overflowed, 1);
    pthread_mutex_unlock(&p->overflow_lock);
    for (unsigned int i = 0; i < p->n; i++) {
        if (!atomic_load(&p->w[i].busy)) {
            rc_doorbell_ring(&p->w[i].doorbell);
            return;
        }
    }
}

/* ---- the worker's side ------------------------------------------------- */

/*
 * The answer home, published with result: by MSG_RING to core_fd from ring
 * when there is one with room, else by the core's doorbell. Whatever is read
 * of req or its core is read before the publication, which the core's acquire
 * covers.
 */
static void deliver(struct io_uring *ring, struct rc_req *req, int core_fd, int result)
{
    struct io_uring_sqe *sqe = ring != NULL ? rc_ring_sqe(ring) : NULL;

    rc_req_set_result(req, result);
    if (sqe != NULL)
        prep_msg(sqe, core_fd, &req->ev_reply, &req->ev_reply_fail);
    else
        rc_core_post(req); /* its push publishes too */
}

/* Lets go of req with result; w NULL: a thread without a worker's ring (rc_workers_stop). */
static void answer(struct rc_worker *w, struct rc_req *req, int result)
{
    if (req->mode != RC_MODE_CORE) {
        rc_req_answer(req, result);
        return;
    }
    if (!rc_core_claim_home(req)) {
        rc_req_put(req); /* its core is gone */
        return;
    }
    deliver(w != NULL && w->pool->msg_ring ? &w->ring : NULL, req, req->core->ring.ring_fd,
            result);
}

static void on_reply_fail(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_req *req = rc_container_of(ev, struct rc_req, ev_reply_fail);

    (void)res;
    (void)flags;
    /*
     * The core waits for this answer (home is SENDING), so its ring is alive:
     * the failure is transient (-EOVERFLOW, -EBUSY, -ENOMEM). Send it again,
     * publishing again so the core's acquire covers this thread's reads too.
     */
    deliver(&tls_worker->ring, req, req->core->ring.ring_fd, rc_req_result(req));
}

static void execute(struct rc_worker *w, struct rc_req *req)
{
    int result;

    pthread_rwlock_rdlock(&w->guard);
    /* Answers already made go out first: this request may take long, or forever. */
    if (io_uring_sq_ready(&w->ring) > 0)
        io_uring_submit(&w->ring);
    if (atomic_load_explicit(&w->pool->stopping, memory_order_relaxed))
        result = -ESHUTDOWN;
    else if (atomic_load(&req->claimed))
        result = -ETIMEDOUT; /* completed already (deadline, core gone): nobody wants the work */
    else
        result = req->fn(req->ctx);
    answer(w, req, result);
    pthread_rwlock_unlock(&w->guard);
}

/* w, busy, is done with a request: it runs the overflow's, then becomes idle. */
static void finished(struct rc_worker *w)
{
    struct rc_pool *p = w->pool;
    struct rc_req *req;

    do {
        while ((req = overflow_pop(p)) != NULL)
            execute(w, req);
        atomic_store(&w->busy, false);
        /* Cleared, then a last look: see overflow(). */
    } while (atomic_load(&p->overflowed) > 0 && claim(w));
}

static void on_exec(struct rc_event *ev, int res, unsigned int flags)
{
    (void)res;
    (void)flags;
    execute(tls_worker, rc_container_of(ev, struct rc_req, ev_exec));
    finished(tls_worker);
}

static void run_inbox(struct rc_worker *w)
{
    struct rc_snode *n = rc_mpsc_take_all(&w->doorbell.inbox);

    while (n != NULL) {
        struct rc_req *req = rc_container_of(n, struct rc_req, inbox);

        n = n->next;
        execute(w, req);
        finished(w);
    }
}

static void on_doorbell(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_worker *w = rc_container_of(ev, struct rc_worker, doorbell.ev);

    (void)res;
    (void)flags;
    rc_doorbell_arm(&w->doorbell, &w->ring);
    run_inbox(w);
    /* Rung by overflow(), idle. */
    if (atomic_load(&w->pool->overflowed) > 0 && claim(w))
        finished(w);
}

/*
 * Just done, a worker polls briefly before sleeping: at low concurrency the
 * next request comes one round trip later, and picking up a polling worker
 * saves the tens of microseconds an idle CPU takes to wake. True when
 * something arrived.
 */
static bool poll_for_work(struct rc_worker *w)
{
    uint64_t start = rc_now_ns();
    bool got = false;

    if (w->pool->spin_ns == 0)
        return false;
    if (w->poll_skips > 0) {
        w->poll_skips--;
        return false;
    }
    atomic_store_explicit(&w->polling, true, memory_order_relaxed);
    do {
        if (io_uring_submit_and_get_events(&w->ring) < 0)
            break;
        got = io_uring_cq_ready(&w->ring) > 0;
    } while (!got && rc_now_ns() - start < w->pool->spin_ns);
    atomic_store_explicit(&w->polling, false, memory_order_relaxed);
    /*
     * Requests that come further apart than a poll (a server's handshakes,
     * each a few offloads among much other work) would have it burn the
     * whole poll after every one of them: after k misses in a row it sleeps
     * 2^k - 1 times (at most 255) before polling again, and a
     * hit polls after every request again.
     */
    if (got) {
        w->poll_misses = 0;
    } else {
        if (w->poll_misses < POLL_MISSES_MAX)
            w->poll_misses++;
        w->poll_skips = (1u << w->poll_misses) - 1;
    }
    return got;
}

static void *worker_main(void *arg)
{
    struct rc_worker *w = arg;
    struct rc_req *req;

    w->start_rc = rc_ring_setup(&w->ring, WORKER_SQ, 0);
    if (w->start_rc == 0) {
        io_uring_register_ring_fd(&w->ring);
        w->start_rc = rc_doorbell_arm(&w->doorbell, &w->ring);
        if (w->start_rc != 0)
            io_uring_queue_exit(&w->ring);
    }
    sem_post(&w->started);
    if (w->start_rc != 0)
        return NULL;
    tls_worker = w;
    while (!atomic_load(&w->pool->stopping)) {
        if (!poll_for_work(w))
            io_uring_submit_and_wait(&w->ring, 1);
        rc_ring_reap(&w->ring);
    }
    /* Answer whatever is left with -ESHUTDOWN, the overflow too, then let the answers out. */
    rc_ring_reap(&w->ring);
    run_inbox(w);
    while ((req = overflow_pop(w->pool)) != NULL)
        execute(w, req);
    io_uring_submit(&w->ring);
    return NULL;
}

/* ---- the submitting side ----------------------------------------------- */

static int post_to_worker(struct rc_req *req)
{
    struct rc_pool *p;
    struct rc_worker *w;
    int rc = 0;

    atomic_fetch_add(&submitters, 1);
    p = atomic_load(&pool);
    if (p == NULL)
        rc = -ESHUTDOWN;
    else if ((w = pick(p)) != NULL)
        rc_doorbell_post(&w->doorbell, &req->inbox); /* its CAS publishes req */
    else
        overflow(p, req);
    atomic_fetch_sub(&submitters, 1);
    return rc;
}

static void on_exec_fail(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_req *req = rc_container_of(ev, struct rc_req, ev_exec_fail);
    struct rc_worker *w = req->bdata;

    (void)res;
    (void)flags;
    /* The worker's ring refused (it should not): its doorbell still reaches it, claimed for it. */
    if (atomic_load_explicit(&pool, memory_order_acquire) != NULL) {
        rc_doorbell_post(&w->doorbell, &req->inbox);
        return;
    }
    rc_req_set_result(req, -ESHUTDOWN);
    rc_core_answer(req->core, req);
}

static int submit(struct rc_req *req)
{
    struct rc_pool *p = atomic_load_explicit(&pool, memory_order_acquire);
    struct io_uring_sqe *sqe;
    struct rc_worker *w;

    /* The worker writes nothing but its result: every handler is set here, before publishing. */
    req->ev_exec_fail.fn = on_exec_fail;
    req->ev_reply_fail.fn = on_reply_fail;
    if (p == NULL || req->mode != RC_MODE_CORE || !p->msg_ring)
        return post_to_worker(req);
    /* A core's ring outlives no rc_shutdown (the contract), so the pool is stable here. */
    w = pick(p);
    if (w == NULL) {
        overflow(p, req);
        return 0;
    }
    sqe = rc_core_sqe(req->core);
    if (sqe == NULL) {
        /* A ring that refuses SQEs still has a doorbell. */
        rc_doorbell_post(&w->doorbell, &req->inbox);
        return 0;
    }
    req->bdata = w;
    rc_event_publish(&req->ev_exec, on_exec);
    prep_msg(sqe, w->ring.ring_fd, &req->ev_exec, &req->ev_exec_fail);
    return 0;
}

/* ---- start, stop and fork ---------------------------------------------- */

static void free_pool(struct rc_pool *p, unsigned int started)
{
    for (unsigned int i = 0; i < started; i++) {
        if (p->w[i].start_rc == 0 && p->w[i].joined)
            io_uring_queue_exit(&p->w[i].ring);
        rc_doorbell_close(&p->w[i].doorbell);
        sem_destroy(&p->w[i].started);
        pthread_rwlock_destroy(&p->w[i].guard);
    }
    pthread_mutex_destroy(&p->overflow_lock);
    free(p);
}

static void join_all(struct rc_pool *p, unsigned int n, unsigned int timeout_ms)
{
    struct timespec deadline = rc_realtime_after_ms(timeout_ms);

    for (unsigned int i = 0; i < n; i++)
        rc_doorbell_ring(&p->w[i].doorbell);
    for (unsigned int i = 0; i < n; i++) {
        /* A worker stuck in a request keeps its ring; the rest is freed. */
        p->w[i].joined = pthread_timedjoin_np(p->w[i].thread, NULL, &deadline) == 0;
        if (!p->w[i].joined)
            pthread_detach(p->w[i].thread);
    }
}

/* Starts worker i of p: 0, or -errno with nothing of it left running. */
static int start_worker(struct rc_pool *p, unsigned int i)
{
    struct rc_worker *w = &p->w[i];
    pthread_rwlockattr_t attr;
    int rc;

    w->pool = p;
    sem_init(&w->started, 0, 0);
    /* A waiting fork stops new requests: the worker cannot keep it out with one after another. */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&w->guard, &attr);
    pthread_rwlockattr_destroy(&attr);
    rc = rc_doorbell_init(&w->doorbell, on_doorbell);
    if (rc != 0)
        return rc;
    rc = -pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0)
        return rc;
    sem_wait(&w->started);
    if (w->start_rc != 0) {
        pthread_join(w->thread, NULL);
        w->joined = true;
    }
    return w->start_rc;
}

static int workers_start(const struct rc_config *cfg, char *err, size_t errlen)
{
    struct rc_pool *p = NULL;
    unsigned int running = 0;
    int rc = 0;

    if (cfg->backend == RC_BACKEND_INLINE)
        return 0;
    p = calloc(1, sizeof(*p) + cfg->workers * sizeof(struct rc_worker));
    if (p == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    p->n = cfg->workers;
    p->msg_ring = !cfg->force_eventfd && rc_ring_has_msg_ring();
    /* A worker's request comes back within a round trip; longer polls only burn CPU. */
    p->spin_ns = (uint64_t)(cfg->spin_us < WORKER_SPIN_US ? cfg->spin_us : WORKER_SPIN_US) * 1000u;
    pthread_mutex_init(&p->overflow_lock, NULL);
    p->overflow_tail = &p->overflow_head;
    for (running = 0; running < p->n; running++) {
        rc = start_worker(p, running);
        if (rc != 0)
            break;
    }
    if (rc != 0) {
        atomic_store(&p->stopping, 1);
        join_all(p, running, cfg->timeout_ms);
        free_pool(p, running + 1);
        goto fail;
    }
    atomic_store_explicit(&pool, p, memory_order_release);
    return 0;

fail:
    snprintf(err, errlen, "cannot start %u workers: %s", cfg->workers, strerror(-rc));
    return rc;
}

/*
 * Requests still queued complete with -ESHUTDOWN; waits for the threads up to
 * timeout_ms. keep_memory: at exit(), other threads may still hold the pool.
 */
static void workers_stop(unsigned int timeout_ms, bool keep_memory)
{
    struct rc_pool *p = atomic_exchange(&pool, NULL);
    struct rc_req *req;
    bool stuck = false;

    if (p == NULL)
        return;
    /* Submitters still holding p post before the workers are told: their final drain sees it. */
    while (atomic_load(&submitters) > 0)
        sched_yield();
    atomic_store(&p->stopping, 1);
    join_all(p, p->n, timeout_ms);
    /* Every worker stuck: nobody else answers what waits in the overflow. */
    while ((req = overflow_pop(p)) != NULL)
        answer(NULL, req, -ESHUTDOWN);
    for (unsigned int i = 0; i < p->n; i++)
        stuck |= !p->w[i].joined;
    /* A stuck worker still uses the pool; so may other threads at exit(). */
    if (stuck || keep_memory) {
        p->kept_next = kept;
        kept = p;
    } else {
        free_pool(p, p->n);
    }
}

/*
 * fork()'s prepare handler: waits until no worker handles a request (runs
 * OpenSSL's code, releases a request's context) and keeps them from starting
 * another; a worker still busy after timeout_ms is left as it is and the fork
 * goes ahead. The parent's handler lets them go; in the child the pool is
 * forgotten.
 */
static void workers_fork_prepare(unsigned int timeout_ms)
{
    struct rc_pool *p = atomic_load(&pool);
    struct timespec deadline = rc_realtime_after_ms(timeout_ms);

    if (p == NULL)
        return;
    for (unsigned int i = 0; i < p->n; i++)
        p->w[i].guard_held = pthread_rwlock_timedwrlock(&p->w[i].guard, &deadline) == 0;
    pthread_mutex_lock(&p->overflow_lock);
}

static void fork_release(struct rc_pool *p)
{
    pthread_mutex_unlock(&p->overflow_lock);
    for (unsigned int i = 0; i < p->n; i++) {
        if (p->w[i].guard_held)
            pthread_rwlock_unlock(&p->w[i].guard);
        p->w[i].guard_held = false;
    }
}

static void workers_fork_parent(void)
{
    struct rc_pool *p = atomic_load(&pool);

    if (p != NULL)
        fork_release(p);
}

static void workers_fork_child(void)
{
    struct rc_pool *p = atomic_load(&pool);

    /* A thread that was posting when the parent forked will never leave here. */
    atomic_store(&submitters, 0);
    if (p == NULL)
        return;
    fork_release(p);
    /* The threads stayed in the parent; close this process's copies of their rings. */
    for (unsigned int i = 0; i < p->n; i++)
        p->w[i].joined = true;
    free_pool(p, p->n);
    atomic_store(&pool, NULL);
}

static bool takes(const struct rc_req *req)
{
    (void)req;
    return true;
}

static bool owns_event(const struct rc_event *ev)
{
    return ev->fn == on_exec_fail;
}

static void describe(const struct rc_config *cfg, struct rc_info *out)
{
    struct rc_pool *p = atomic_load_explicit(&pool, memory_order_acquire);

    if (cfg->backend == RC_BACKEND_INLINE)
        return;
    if (out->backend == NULL)
        out->backend = "worker";
    out->transport = p != NULL && p->msg_ring ? "msg_ring" : "eventfd";
    out->workers = cfg->workers;
}

const struct rc_backend rc_backend_worker = {
    .name = "worker",
    .id = RC_BACKEND_ID_WORKER,
    .other_thread = true,
    .takes = takes,
    .submit = submit,
    .start = workers_start,
    .stop = workers_stop,
    .fork_prepare = workers_fork_prepare,
    .fork_parent = workers_fork_parent,
    .fork_child = workers_fork_child,
    .owns_event = owns_event,
    .describe = describe,
};
