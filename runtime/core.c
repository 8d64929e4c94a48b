#include "core.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "ring.h"
#include "runtime.h"
#include "waiter.h"

#define SQ_DEFAULT 256
#define REAP_BATCH 64
#define REAP_MAX_PER_TURN 4096

static __thread struct rc_core *tls_core;

struct rc_core *rc_core_current(void)
{
    return tls_core;
}

void rc_core_forget_after_fork(void)
{
    tls_core = NULL;
}

static bool stale(const struct rc_core *core)
{
    return core->fork_gen != rc_fork_gen;
}

static struct rc_req *req_of(struct rc_link *l)
{
    return rc_container_of(l, struct rc_req, link);
}

/* ---- answers ----------------------------------------------------------- */

void rc_core_answer(struct rc_core *core, struct rc_req *req)
{
    if (rc_list_linked(&req->link))
        rc_list_remove(&req->link);
    core->in_backend--;
    rc_req_answer(req, rc_req_result(req));
}

static void on_reply(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_req *req = rc_container_of(ev, struct rc_req, ev_reply);

    (void)res;
    (void)flags;
    rc_core_answer(req->core, req);
}

static int answer_inbox(struct rc_core *core)
{
    struct rc_snode *n = rc_mpsc_take_all(&core->doorbell.inbox);
    int count = 0;

    while (n != NULL) {
        struct rc_req *req = rc_container_of(n, struct rc_req, inbox);

        n = n->next;
        rc_core_answer(core, req);
        count++;
    }
    return count;
}

static void on_doorbell(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_core *core = rc_container_of(ev, struct rc_core, doorbell.ev);

    (void)res;
    (void)flags;
    /* Re-arm first: a post racing with the drain below rings again. */
    if (!core->destroying)
        rc_doorbell_arm(&core->doorbell, &core->ring);
    answer_inbox(core);
}

bool rc_core_claim_home(struct rc_req *req)
{
    int expected = RC_HOME_CORE;

    return atomic_compare_exchange_strong(&req->home, &expected, RC_HOME_SENDING);
}

void rc_core_post(struct rc_req *req)
{
    struct rc_core *core = req->core;

    /* The core may take the answer before the eventfd write: it must not go until then. */
    atomic_fetch_add(&core->posters, 1);
    rc_doorbell_post(&core->doorbell, &req->inbox);
    atomic_fetch_sub(&core->posters, 1);
}

/* ---- slots, blocked requests, tracking --------------------------------- */

int rc_core_admit(struct rc_core *core, struct rc_req *req)
{
    if (req->phase == RC_PHASE_HANDED) {
        rc_list_remove(&req->link);
        req->phase = RC_PHASE_IDLE;
    }
    if (req->has_slot)
        return 0;
    if (core->inflight >= core->max_inflight || !rc_list_empty(&core->blocked))
        return -EAGAIN;
    core->inflight++;
    req->has_slot = true;
    return 0;
}

void rc_core_slot_put(struct rc_core *core, struct rc_req *req)
{
    struct rc_link *first = rc_list_first(&core->blocked);
    struct rc_req *next;

    req->has_slot = false;
    if (first == NULL || core->destroying) {
        core->inflight--;
        return;
    }
    /* Hand the slot over so the oldest blocked request cannot lose it again. */
    next = req_of(first);
    rc_list_remove(first);
    rc_list_append(&core->handed, first);
    next->phase = RC_PHASE_HANDED;
    next->has_slot = true;
    rc_waiter_wake(next->waiter, RC_MODE_CORE, RC_WAKE_RETRY);
}

void rc_core_block(struct rc_core *core, struct rc_req *req)
{
    if (req->phase == RC_PHASE_BLOCKED)
        return;
    req->phase = RC_PHASE_BLOCKED;
    rc_list_append(&core->blocked, &req->link);
}

void rc_core_unblock(struct rc_req *req)
{
    bool handed = req->phase == RC_PHASE_HANDED;

    rc_list_remove(&req->link);
    req->phase = RC_PHASE_IDLE;
    if (handed)
        rc_core_slot_put(req->core, req);
}

void rc_core_track(struct rc_core *core, struct rc_req *req)
{
    req->phase = RC_PHASE_SUBMITTED;
    req->ev_reply.fn = on_reply;
    rc_list_append(&core->pending, &req->link);
    core->in_backend++;
}

void rc_core_untrack(struct rc_core *core, struct rc_req *req)
{
    req->phase = RC_PHASE_IDLE;
    rc_list_remove(&req->link);
    core->in_backend--;
}

/* ---- the loop ---------------------------------------------------------- */

struct io_uring_sqe *rc_core_sqe(struct rc_core *core)
{
    return rc_ring_sqe(&core->ring);
}

/* A loop that polls rc_core_fd learns of work the ring will not announce. */
static void wake_poller(struct rc_core *core)
{
    static const uint64_t one = 1;

    if (core->wake_fd >= 0)
        (void)!write(core->wake_fd, &one, sizeof(one));
}

void rc_core_flush(struct rc_core *core)
{
    if (!core->in_run)
        io_uring_submit(&core->ring);
}

void rc_core_defer(struct rc_core *core, struct rc_task *task)
{
    task->next = NULL;
    *core->rq_tail = task;
    core->rq_tail = &task->next;
    if (!core->in_run)
        wake_poller(core);
}

static int run_tasks(struct rc_core *core)
{
    struct rc_task *t = core->rq_head;
    int n = 0;

    /* Tasks queued from here on run next turn, after the ring had its say. */
    core->rq_head = NULL;
    core->rq_tail = &core->rq_head;
    while (t != NULL) {
        struct rc_task *next = t->next;

        t->fn(t);
        t = next;
        n++;
    }
    return n;
}

static bool internal_event(const struct rc_event *ev)
{
    return ev->fn == on_reply || ev->fn == on_doorbell || rc_backend_owns_event(ev);
}

static int reap(struct rc_core *core)
{
    struct io_uring_cqe *cqes[REAP_BATCH];
    struct {
        uint64_t user_data;
        int res;
        unsigned int flags;
    } batch[REAP_BATCH];
    int total = 0;

    while (total < REAP_MAX_PER_TURN) {
        unsigned int n = io_uring_peek_batch_cqe(&core->ring, cqes, REAP_BATCH);

        if (n == 0)
            break;
        /* Copy and release the CQEs first: handlers may submit and reap freely. */
        for (unsigned int i = 0; i < n; i++) {
            batch[i].user_data = cqes[i]->user_data;
            batch[i].res = cqes[i]->res;
            batch[i].flags = cqes[i]->flags;
        }
        io_uring_cq_advance(&core->ring, n);
        for (unsigned int i = 0; i < n; i++) {
            struct rc_event *ev = (struct rc_event *)(uintptr_t)batch[i].user_data;
            bool internal;

            if (ev == NULL || batch[i].user_data == LIBURING_UDATA_TIMEOUT)
                continue;
            internal = internal_event(ev);
            if (core->destroying && !internal)
                continue;
            core->app_events += !internal;
            core->batch_left = n - i - 1;
            rc_event_fn(ev)(ev, batch[i].res, batch[i].flags);
        }
        core->batch_left = 0;
        total += (int)n;
    }
    return total;
}

static int expire(struct rc_core *core)
{
    struct rc_link *l;
    uint64_t now;
    int n = 0;

    if (rc_list_empty(&core->pending))
        return 0;
    now = rc_now_ns();
    while ((l = rc_list_first(&core->pending)) != NULL && req_of(l)->deadline_ns <= now) {
        struct rc_req *req = req_of(l);

        /* The backend still holds it: keep it where destroy can find it. */
        rc_list_remove(l);
        rc_list_append(&core->limbo, l);
        rc_req_finish(req, -ETIMEDOUT, RC_FINISH_WAKE | RC_FINISH_EXPIRED);
        n++;
    }
    return n;
}

/*
 * With few requests in a backend and a CPU to spare, polling for the answer
 * costs nothing another thread could use, while sleeping costs a wake-up of
 * tens of microseconds per operation (docs/ARCHITECTURE.md, "Busy-polling").
 * A spin that got much less CPU time than it took shows that some other
 * thread wanted the CPU after all (a load client on the same machine,
 * another core): polling then stops for SPIN_BACKOFF waits before it is tried
 * again. True when something arrived within the budget.
 */
#define SPIN_BACKOFF 256

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool spin(struct rc_core *core, uint64_t *wait_ns)
{
    uint64_t budget = core->spin_ns < *wait_ns ? core->spin_ns : *wait_ns;
    uint64_t start, cpu0, took = 0;
    bool got = false;

    if (budget == 0 || core->in_backend == 0 || core->in_backend >= core->spin_below)
        return false;
    if (core->spin_backoff > 0) {
        core->spin_backoff--;
        return false;
    }
    cpu0 = thread_cpu_ns();
    start = rc_now_ns();
    do {
        if (io_uring_submit_and_get_events(&core->ring) < 0)
            break;
        got = io_uring_cq_ready(&core->ring) > 0;
        took = rc_now_ns() - start;
    } while (!got && took < budget);
    /* Preempted for a quarter of the spin or more: the CPU was not free. */
    if (4 * (thread_cpu_ns() - cpu0) < 3 * took)
        core->spin_backoff = SPIN_BACKOFF;
    if (!got && *wait_ns != UINT64_MAX)
        *wait_ns -= budget;
    return got;
}

static int wait_turn(struct rc_core *core, int timeout_ms, bool busy)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts;
    uint64_t wait_ns = timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms * 1000000u;
    struct rc_link *first = rc_list_first(&core->pending);
    int rc;

    if (first != NULL) {
        uint64_t deadline = req_of(first)->deadline_ns, now = rc_now_ns();
        uint64_t left = deadline > now ? deadline - now : 0;

        if (left < wait_ns)
            wait_ns = left;
    }
    if (!busy && spin(core, &wait_ns))
        return 0;
    if (busy || wait_ns == 0)
        rc = io_uring_submit_and_get_events(&core->ring);
    else if (wait_ns == UINT64_MAX)
        rc = io_uring_submit_and_wait(&core->ring, 1);
    else {
        ts.tv_sec = (long long)(wait_ns / 1000000000u);
        ts.tv_nsec = (long long)(wait_ns % 1000000000u);
        rc = io_uring_submit_and_wait_timeout(&core->ring, &cqe, 1, &ts, NULL);
    }
    if (rc == -ETIME || rc == -EINTR || rc == -EBUSY || rc == -EAGAIN)
        return 0;
    return rc < 0 ? rc : 0;
}

int rc_core_run(struct rc_core *core, int timeout_ms)
{
    int handled, rc;

    if (stale(core))
        return -EBADFD;
    if (core->in_run)
        return -EBUSY;
    core->in_run = true;
    if (core->wake_fd >= 0) {
        uint64_t count;

        (void)!read(core->wake_fd, &count, sizeof(count));
    }
    core->turn_ns = rc_now_ns();
    handled = run_tasks(core);
    rc = wait_turn(core, timeout_ms, handled > 0 || core->rq_head != NULL);
    /* The wait may have been long: handlers offloading now need the time now. */
    core->turn_ns = rc_now_ns();
    if (rc == 0) {
        handled += reap(core);
        handled += expire(core);
    }
    for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
        if (rc_backends[i]->turn_end != NULL)
            rc_backends[i]->turn_end(core);
    core->in_run = false;
    if (core->wake_fd >= 0) {
        /* A polling loop comes back only if the fd says so: send what handlers queued. */
        if (io_uring_sq_ready(&core->ring) > 0)
            io_uring_submit(&core->ring);
        if (core->rq_head != NULL)
            wake_poller(core);
    }
    return rc < 0 ? rc : handled;
}

int rc_core_poll(struct rc_core *core)
{
    return rc_core_run(core, 0);
}

int rc_core_fd(struct rc_core *core)
{
    int fd, rc;

    if (core->wake_fd >= 0)
        return core->wake_fd;
    /*
     * poll() on a DEFER_TASKRUN ring fd is not woken by deferred completions
     * (MSG_RING's among them); an eventfd registered with the ring is. Made
     * on demand: only a loop that polls pays for its signals and drains.
     */
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = io_uring_register_eventfd(&core->ring, fd);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    core->wake_fd = fd;
    /* Work already waiting must show too. */
    if (core->rq_head != NULL || io_uring_cq_ready(&core->ring) > 0)
        wake_poller(core);
    return fd;
}

void rc_core_stats(const struct rc_core *core, struct rc_stats *out)
{
    rc_counters_export(&core->stats, out);
}

/* ---- life -------------------------------------------------------------- */

int rc_core_create(const struct rc_core_opts *opts, struct rc_core **out)
{
    struct rc_core *core = NULL;
    unsigned int sq = SQ_DEFAULT, cq;
    int rc;

    rc = rc_runtime_ready();
    if (rc != 0)
        goto fail;
    if (tls_core != NULL) {
        rc = -EBUSY;
        goto fail;
    }
    for (size_t i = 0; opts != NULL && i < sizeof(opts->reserved) / sizeof(opts->reserved[0]); i++) {
        if (opts->reserved[i] != 0) {
            rc = -EINVAL;
            goto fail;
        }
    }
    core = calloc(1, sizeof(*core));
    if (core == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    core->max_inflight = rc_runtime_config()->max_inflight;
    core->spin_ns = (uint64_t)rc_runtime_config()->spin_us * 1000u;
    /* Each request in a backend keeps a CPU busy; polling needs one more free. */
    core->spin_below = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
    if (opts != NULL && opts->sq_entries != 0)
        sq = opts->sq_entries;
    /* Room for every answer at once, and as much again for the app's own operations. */
    cq = 2 * core->max_inflight + 2 * sq;
    if (opts != NULL && opts->cq_entries != 0) {
        cq = opts->cq_entries;
        if (sq > cq)
            sq = cq;
    }
    core->doorbell.efd = -1;
    core->wake_fd = -1;
    rc = rc_ring_setup(&core->ring, sq, cq);
    if (rc != 0)
        goto fail;
    io_uring_register_ring_fd(&core->ring);
    rc = rc_doorbell_init(&core->doorbell, on_doorbell);
    if (rc != 0)
        goto fail_ring;
    rc = rc_doorbell_arm(&core->doorbell, &core->ring);
    if (rc != 0)
        goto fail_ring;
    /* The doorbell listens from now on, not from the first turn: a loop may poll first. */
    io_uring_submit(&core->ring);
    core->rq_tail = &core->rq_head;
    rc_list_init(&core->blocked);
    rc_list_init(&core->handed);
    rc_list_init(&core->pending);
    rc_list_init(&core->limbo);
    core->fork_gen = rc_fork_gen;
    core->turn_ns = rc_now_ns();
    rc_stats_register(&core->stats);
    tls_core = core;
    rc_tls_counters = &core->stats;
    *out = core;
    return 0;

fail_ring:
    rc_doorbell_close(&core->doorbell);
    io_uring_queue_exit(&core->ring);
fail:
    free(core);
    *out = NULL;
    return rc;
}

static void cancel_list(struct rc_link *head, struct rc_link *to)
{
    struct rc_link *l;

    while ((l = rc_list_first(head)) != NULL) {
        struct rc_req *req = req_of(l);

        rc_list_remove(l);
        req->phase = RC_PHASE_IDLE;
        if (to != NULL)
            rc_list_append(to, l);
        rc_req_finish(req, -ECANCELED, RC_FINISH_QUIET);
    }
}

/* Hands every request a backend still holds to that backend. */
static void orphan_limbo(struct rc_core *core)
{
    struct rc_link sending;

    rc_list_init(&sending);
    while (!rc_list_empty(&core->limbo)) {
        struct rc_link *l = rc_list_first(&core->limbo);
        int expected = RC_HOME_CORE;

        /* Unlinked first: once orphaned, the backend may free it at any moment. */
        rc_list_remove(l);
        /* Some backends answer on this very ring: reaped below, like answers on their way. */
        if (!req_of(l)->backend->answers_on_core_ring
            && atomic_compare_exchange_strong(&req_of(l)->home, &expected, RC_HOME_ORPHAN))
            core->in_backend--;
        else
            rc_list_append(&sending, l);
    }
    /* Answers already on their way come home and are reaped from here. */
    while (!rc_list_empty(&sending)) {
        struct rc_link *l = rc_list_first(&sending);

        rc_list_remove(l);
        rc_list_append(&core->limbo, l);
    }
}

void rc_core_destroy(struct rc_core *core)
{
    if (core == NULL)
        return;
    if (!stale(core)) {
        core->destroying = true;
        cancel_list(&core->blocked, NULL);
        cancel_list(&core->handed, NULL);
        cancel_list(&core->pending, &core->limbo);
        for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
            if (rc_backends[i]->cancel != NULL)
                rc_backends[i]->cancel(core);
        /* Whatever is still queued goes out, and refusals come back, before orphaning. */
        io_uring_submit_and_get_events(&core->ring);
        reap(core);
        orphan_limbo(core);
        while (core->in_backend > 0 || atomic_load(&core->posters) > 0) {
            struct io_uring_cqe *cqe;
            struct __kernel_timespec ts = { .tv_nsec = 1000000 };

            io_uring_submit_and_wait_timeout(&core->ring, &cqe, 1, &ts, NULL);
            reap(core);
            answer_inbox(core);
            if (core->in_backend == 0)
                sched_yield();
        }
        /* Not in a fork child: a backend's locks may have been held by a thread that did not come along. */
        for (unsigned int i = 0; i < RC_BACKEND_IDS; i++)
            if (rc_backends[i]->core_free != NULL)
                rc_backends[i]->core_free(core);
        rc_stats_retire(&core->stats);
    }
    if (tls_core == core) {
        tls_core = NULL;
        rc_tls_counters = NULL;
    }
    io_uring_queue_exit(&core->ring);
    rc_doorbell_close(&core->doorbell);
    if (core->wake_fd >= 0)
        close(core->wake_fd);
    free(core);
}
