/* io_uring set-up with the best flags this kernel accepts, and what it can do. */
#ifndef RC_RING_H
#define RC_RING_H

#include <liburing.h>
#include <stdbool.h>

/*
 * Sets up ring for the calling thread, which must be the only one to submit
 * on it: SINGLE_ISSUER|DEFER_TASKRUN, else COOP_TASKRUN|TASKRUN_FLAG, else no
 * flags. cq_entries 0 lets the kernel choose (twice sq_entries).
 */
int rc_ring_setup(struct io_uring *ring, unsigned int sq_entries, unsigned int cq_entries);

/* The flag set rc_ring_setup last succeeded with, by name. */
const char *rc_ring_flags_name(void);

/* Whether IORING_OP_MSG_RING with IOSQE_CQE_SKIP_SUCCESS works (probed once). */
bool rc_ring_has_msg_ring(void);

/* An SQE; a full submission queue is flushed first. NULL if the ring refuses. */
struct io_uring_sqe *rc_ring_sqe(struct io_uring *ring);

/*
 * Dispatches every CQE ready on ring to the rc_event its user_data points to
 * (0 is skipped). CQEs are released before their handlers run, so handlers
 * may submit and reap freely.
 */
void rc_ring_reap(struct io_uring *ring);

#endif
