/*
 * The AF_ALG backend in the runtime: on which ring a kernel operation runs.
 * Always the asking thread's, so that its answer is a CQE on the thread that
 * waits for it:
 *  - a core's: the operation goes on the core's ring and its job pauses; the
 *    core reaps the kernel's answer like any other CQE (submit);
 *  - a thread without a core (callback and fd modes, as in `openssl speed
 *    -async_jobs`): a small ring and a socket pool of its own, made on first
 *    use and closed when the thread exits, waited on at once (run_here).
 *    Sending the operation to a worker instead would cost two wake-ups
 *    across threads for a cipher the kernel runs within the submission.
 * Whatever the kernel refuses (descriptors, memory) goes to the next
 * backend, which runs the work function.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"
#include "backend_afalg.h"
#include "clock.h"
#include "core.h"
#include "ring.h"
#include "runtime.h"

#define LOCAL_SQ 8

struct local {
    struct io_uring ring;
    struct rc_kpool *pool;
    unsigned int fork_gen;
    bool got;
    int result;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static __thread struct local *mine;

static void local_free(void *arg)
{
    struct local *l = arg;

    /* Another key's destructor at thread exit may still offload: it starts afresh. */
    if (mine == l)
        mine = NULL;
    rc_kpool_free(l->pool);
    io_uring_queue_exit(&l->ring);
    free(l);
}

static void make_key(void)
{
    (void)pthread_key_create(&key, local_free);
}

static void on_done(void *owner, struct rc_req *req, int result)
{
    struct local *l = owner;

    (void)req;
    l->result = result;
    l->got = true;
}

static struct local *local_get(void)
{
    struct local *l = mine;

    /* A fork child's copy is its parent's: left as it is. */
    if (l != NULL && l->fork_gen == rc_fork_gen)
        return l;
    l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    if (rc_ring_setup(&l->ring, LOCAL_SQ, 0) != 0)
        goto fail;
    l->pool = rc_kpool_new(&l->ring, -1, rc_runtime_config()->kernel_sockets, on_done, l);
    if (l->pool == NULL) {
        io_uring_queue_exit(&l->ring);
        goto fail;
    }
    l->fork_gen = rc_fork_gen;
    pthread_once(&once, make_key);
    (void)pthread_setspecific(key, l);
    mine = l;
    return l;
fail:
    free(l);
    return NULL;
}

/* A kernel form's request never runs this: rc_kernel_run's requests only carry the operation. */
static int never(void *ctx)
{
    (void)ctx;
    return -EOPNOTSUPP;
}

int rc_kernel_run(struct rc_kernel_op *op)
{
    struct rc_req *req;
    int rc = rc_runtime_ready(), result = 0;

    if (rc != 0)
        return rc;
    req = rc_req_new(never, 0, NULL);
    if (req == NULL)
        return -ENOMEM;
    rc = rc_req_set_kernel(req, op);
    if (rc == 0 && !rc_kernel_takes(req))
        rc = -EOPNOTSUPP;
    if (rc == 0)
        rc = rc_kernel_run_here(req, rc_runtime_config()->timeout_ms, &result);
    rc_req_free(req);
    return rc != 0 ? rc : result;
}

int rc_kernel_run_here(struct rc_req *req, unsigned int timeout_ms, int *result)
{
    struct local *l = local_get();
    uint64_t deadline = rc_now_ns() + (uint64_t)timeout_ms * 1000000u;
    bool expired = false;
    int rc;

    if (l == NULL)
        return -ENOMEM;
    l->got = false;
    rc = rc_kpool_start(l->pool, req);
    if (rc != 0)
        return rc;
    while (!l->got) {
        struct __kernel_timespec ts = { .tv_nsec = 1000000 };
        struct io_uring_cqe *cqe;

        io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
        rc_ring_reap(&l->ring);
        if (!l->got && !expired && rc_now_ns() >= deadline) {
            /* Its CQEs still come, cancelled: the kernel lets go of the buffers first. */
            expired = true;
            rc_kpool_cancel_waiting(l->pool, -ETIMEDOUT);
            rc_kpool_cancel_running(l->pool);
        }
    }
    *result = expired ? -ETIMEDOUT : l->result;
    return 0;
}

/* ---- the backend ------------------------------------------------------- */

static int run_here(struct rc_req *req, struct rc_core *core, int *result)
{
    if (core != NULL)
        return -EAGAIN;
    return rc_kernel_run_here(req, rc_runtime_config()->timeout_ms, result);
}

static struct rc_kpool *core_pool(const struct rc_core *core)
{
    return core->backend_data[RC_BACKEND_ID_AFALG];
}

static void on_core_done(void *owner, struct rc_req *req, int result)
{
    struct rc_core *core = owner;

    if (rc_kstate_refused(req->kernel) && !core->destroying && rc_backend_fallback(req) == 0)
        return;
    rc_req_set_result(req, result);
    rc_core_answer(core, req);
}

static int submit(struct rc_req *req)
{
    struct rc_core *core = req->core;
    int rc = -ENOMEM;

    if (req->mode != RC_MODE_CORE)
        return rc_backend_fallback(req); /* this thread's own ring refused it (run_here) */
    if (core_pool(core) == NULL)
        core->backend_data[RC_BACKEND_ID_AFALG] =
            rc_kpool_new(&core->ring, core->doorbell.efd, rc_runtime_config()->kernel_sockets,
                         on_core_done, core);
    if (core_pool(core) != NULL)
        rc = rc_kpool_start(core_pool(core), req);
    /* Refused here (descriptors, memory): the next backend runs the work function. */
    return rc == 0 ? 0 : rc_backend_fallback(req);
}

/* Keys that retired meanwhile (their last user woke the core): their sockets go now. */
static void turn_end(struct rc_core *core)
{
    if (core_pool(core) != NULL)
        rc_kpool_sweep(core_pool(core));
}

static void cancel(struct rc_core *core)
{
    if (core_pool(core) == NULL)
        return;
    rc_kpool_cancel_waiting(core_pool(core), -ECANCELED);
    rc_kpool_cancel_running(core_pool(core));
}

static void core_free(struct rc_core *core)
{
    rc_kpool_free(core_pool(core));
    core->backend_data[RC_BACKEND_ID_AFALG] = NULL;
}

/* Named where the kernel runs some algorithms; the workers run the rest. */
static void describe(const struct rc_config *cfg, struct rc_info *out)
{
    (void)cfg;
    out->kernel_algs = rc_kernel_algs_in_use();
    if (out->backend == NULL && out->kernel_algs[0] != '\0')
        out->backend = "afalg";
}

const struct rc_backend rc_backend_afalg = {
    .name = "afalg",
    .id = RC_BACKEND_ID_AFALG,
    .answers_on_core_ring = true,
    .takes = rc_kernel_takes,
    .run_here = run_here,
    .submit = submit,
    .start = rc_kernel_probe,
    .owns_event = rc_kernel_event,
    .turn_end = turn_end,
    .cancel = cancel,
    .core_free = core_free,
    .describe = describe,
};
