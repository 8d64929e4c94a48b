/*
 * The AF_ALG backend: symmetric operations run by the kernel, driven through
 * io_uring. Each ring owner (a core, or a worker for requests without a
 * core) keeps a pool of kernel sockets: per key, a bound key socket with
 * ALG_SET_KEY (and the AEAD tag size) and the operation sockets accepted
 * from it, one operation in flight on each. One operation is a SENDMSG
 * (ALG_SET_OP, ALG_SET_IV, ALG_SET_AEAD_ASSOCLEN and the input) linked to a
 * READV of the output on the owner's ring; the owner learns of its end from
 * the two CQEs, on its own thread. A full pool queues operations until a
 * socket frees.
 */
#ifndef RC_BACKEND_AFALG_H
#define RC_BACKEND_AFALG_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "req.h"

struct rc_kpool;

/*
 * At runtime start (backends auto and afalg): which algorithms the kernel
 * offers, each tried as the backend uses it (bound, keyed, an operation
 * socket accepted and one small operation answered), and so which of them
 * the backend uses; the others run on the workers. -EINVAL with a sentence in
 * err when backend is afalg and the kernel has no AF_ALG or refuses every
 * algorithm; with afalg, those it refuses are named on stderr, each with the
 * call refused and its errno.
 */
int rc_kernel_probe(const struct rc_config *cfg, char *err, size_t errlen);

/* The algorithms in use, space-separated. */
const char *rc_kernel_algs_in_use(void);

/* Whether req runs in the kernel when a backend takes it. */
bool rc_kernel_takes(const struct rc_req *req);

/*
 * The pool of the thread that owns ring; done(owner, req, result) is called
 * on that thread for each operation that ends (the kernel's answer, a
 * cancelled wait, or a queued one refused its socket: rc_kstate_refused)
 * and takes over the backend's reference. wake_fd is an eventfd the owner's
 * ring listens to: written when a key the pool holds sockets for retires, so
 * that the owner runs rc_kpool_sweep (-1: the owner has no loop; the pool is
 * swept when a key retires on the owner's thread, and at its next use). NULL
 * when out of memory.
 */
struct rc_kpool *rc_kpool_new(struct io_uring *ring, int wake_fd, unsigned int max_sockets,
                              void (*done)(void *owner, struct rc_req *req, int result),
                              void *owner);

/*
 * Starts req's kernel operation, or queues it for a socket: 0, and done is
 * called later. -errno when the kernel refused its sockets or the ring its
 * SQEs (done is not called; the work function can do it instead).
 */
int rc_kpool_start(struct rc_kpool *p, struct rc_req *req);

/* Operations on the ring, whose CQEs the owner must still reap. */
unsigned int rc_kpool_busy(const struct rc_kpool *p);

/* Ends every queued operation with err (through done). */
void rc_kpool_cancel_waiting(struct rc_kpool *p, int err);

/*
 * Asks the kernel to cancel the operations on the ring (for a teardown that
 * must not wait on one that would not end); their CQEs still come.
 */
void rc_kpool_cancel_running(struct rc_kpool *p);

/* Closes the sockets of keys nobody uses any more; cheap when there are none. */
void rc_kpool_sweep(struct rc_kpool *p);

/* Closes every socket; nothing may be busy or queued. */
void rc_kpool_free(struct rc_kpool *p);

/* Whether ev is one of a kernel operation's CQE handlers. */
bool rc_kernel_event(const struct rc_event *ev);

/*
 * Without a core: runs req's kernel form on the calling thread's own small
 * ring (and socket pool) and waits for it there, up to timeout_ms. The
 * kernel's software ciphers answer within the submission itself, so the
 * caller's job need not pause, and no other thread is involved. 0 with
 * *result the kernel's answer (-ETIMEDOUT past the deadline, the operation
 * cancelled); -errno when this thread cannot (no ring, sockets refused).
 */
int rc_kernel_run_here(struct rc_req *req, unsigned int timeout_ms, int *result);

/* Whether the operation waited for a socket and was then refused one. */
bool rc_kstate_refused(const struct rc_kstate *ks);

/* Drops a request's kernel form (from rc_req_put). */
void rc_kstate_free(struct rc_kstate *ks);

#endif
