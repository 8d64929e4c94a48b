#include "ring.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "req.h"

#define REAP_BATCH 64

static const struct {
    unsigned int flags;
    const char *name;
} flag_sets[] = {
    { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN" },
    { IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "COOP_TASKRUN|TASKRUN_FLAG" },
    { 0, "none" },
};

static _Atomic(const char *) flags_taken = "none";

const char *rc_ring_flags_name(void)
{
    return atomic_load_explicit(&flags_taken, memory_order_relaxed);
}

int rc_ring_setup(struct io_uring *ring, unsigned int sq_entries, unsigned int cq_entries)
{
    int rc = -EINVAL;

    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
        struct io_uring_params p;

        memset(&p, 0, sizeof(p));
        p.flags = flag_sets[i].flags | IORING_SETUP_CLAMP;
        if (cq_entries != 0) {
            p.flags |= IORING_SETUP_CQSIZE;
            p.cq_entries = cq_entries;
        }
        rc = io_uring_queue_init_params(sq_entries, ring, &p);
        if (rc == 0)
            atomic_store_explicit(&flags_taken, flag_sets[i].name, memory_order_relaxed);
        if (rc != -EINVAL)
            return rc;
    }
    return rc;
}

struct io_uring_sqe *rc_ring_sqe(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

    while (sqe == NULL) {
        int rc = io_uring_submit(ring);

        if (rc < 0 && rc != -EINTR && rc != -EAGAIN)
            return NULL;
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static bool msg_ring_ok;

static void probe_msg_ring(void)
{
    struct io_uring from, to;
    struct io_uring_cqe *cqe;
    struct io_uring_sqe *sqe;
    struct __kernel_timespec ts = { .tv_nsec = 100 * 1000 * 1000 };

    if (rc_ring_setup(&from, 2, 0) != 0)
        return;
    if (rc_ring_setup(&to, 2, 0) != 0)
        goto out_from;
    sqe = io_uring_get_sqe(&from);
    io_uring_prep_msg_ring(sqe, to.ring_fd, 7, 0x5eed, 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, 1);
    if (io_uring_submit(&from) != 1)
        goto out;
    if (io_uring_wait_cqe_timeout(&to, &cqe, &ts) != 0)
        goto out;
    msg_ring_ok = cqe->user_data == 0x5eed && cqe->res == 7;
    io_uring_cqe_seen(&to, cqe);
    /* A CQE on the sending side means the send failed or the skip was ignored. */
    if (io_uring_peek_cqe(&from, &cqe) == 0)
        msg_ring_ok = false;
out:
    io_uring_queue_exit(&to);
out_from:
    io_uring_queue_exit(&from);
}

bool rc_ring_has_msg_ring(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, probe_msg_ring);
    return msg_ring_ok;
}

void rc_ring_reap(struct io_uring *ring)
{
    struct io_uring_cqe *cqes[REAP_BATCH];
    struct rc_event *evs[REAP_BATCH];
    int res[REAP_BATCH];
    unsigned int n;

    while ((n = io_uring_peek_batch_cqe(ring, cqes, REAP_BATCH)) > 0) {
        unsigned int k = 0;

        for (unsigned int i = 0; i < n; i++) {
            evs[k] = (struct rc_event *)(uintptr_t)cqes[i]->user_data;
            res[k] = cqes[i]->res;
            k += evs[k] != NULL;
        }
        io_uring_cq_advance(ring, n);
        for (unsigned int i = 0; i < k; i++)
            rc_event_fn(evs[i])(evs[i], res[i], 0);
    }
}
