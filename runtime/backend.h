/*
 * What runs an offloaded request: the backends, behind one interface.
 *
 * rc_offload asks the backends in order (rc_backends) which one takes a
 * request; the first that does runs it. A backend either finishes the
 * request on the calling thread at once (run_here: the inline backend, or a
 * kernel operation on a thread without a core) or holds it and answers it
 * later (submit): by rc_req_answer from any thread in callback and fd modes,
 * by rc_core_answer on the core's thread in core mode. The core asks every
 * backend about the CQEs on its ring and about its own end, so that adding a
 * backend is one more row in the table and one more file.
 */
#ifndef RC_BACKEND_H
#define RC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "req.h"

struct rc_core;

enum rc_backend_id {
    RC_BACKEND_ID_INLINE,
    RC_BACKEND_ID_AFALG,
    RC_BACKEND_ID_WORKER,
    RC_BACKEND_IDS,
};

struct rc_backend {
    const char *name;
    enum rc_backend_id id; /* its index in rc_backends and in a core's backend_data */
    /*
     * It runs req on another thread, at the cost of a round trip the caller's
     * thread may not need to pay: placement may keep req on the caller instead.
     */
    bool other_thread;
    /* It answers core-mode requests on the core's own ring: a dying core reaps them, never orphans. */
    bool answers_on_core_ring;

    /* Whether it runs req (its form, what this process probed). */
    bool (*takes)(const struct rc_req *req);
    /*
     * Runs req to its end on the calling thread (core: the thread's, or NULL)
     * when it can without another thread: 0 with *result, or -errno (nothing
     * run: submit it instead). NULL: never.
     */
    int (*run_here)(struct rc_req *req, struct rc_core *core, int *result);
    /* Takes req, with a reference of its own, to answer it later: 0, or -errno with nothing kept. */
    int (*submit)(struct rc_req *req);

    /* Process-wide life, under the runtime's lock; each may be NULL. */
    int (*start)(const struct rc_config *cfg, char *err, size_t errlen);
    void (*stop)(unsigned int timeout_ms, bool at_exit);
    void (*fork_prepare)(unsigned int timeout_ms);
    void (*fork_parent)(void);
    void (*fork_child)(void);
    /*
     * Fills its part of rc_info for cfg: asked in table order after the
     * rest is zeroed, the first to name itself in out->backend is the one
     * reported. NULL: nothing to say.
     */
    void (*describe)(const struct rc_config *cfg, struct rc_info *out);

    /* A core's side, on its thread; each may be NULL. */
    bool (*owns_event)(const struct rc_event *ev); /* one of its handlers of the core's CQEs */
    void (*turn_end)(struct rc_core *core);        /* the core's turn is over */
    /* The core is going: ends what it queued for the core, asks what runs to stop. */
    void (*cancel)(struct rc_core *core);
    void (*core_free)(struct rc_core *core); /* nothing of the core's is left in it */
};

extern const struct rc_backend rc_backend_inline;
extern const struct rc_backend rc_backend_afalg;
extern const struct rc_backend rc_backend_worker;

/* In the order they are asked; the last takes every request. */
extern const struct rc_backend *const rc_backends[RC_BACKEND_IDS];

/* The first backend that takes req. */
const struct rc_backend *rc_backend_for(const struct rc_req *req);

/*
 * req's backend cannot run it after all (refused a kernel socket): the next
 * backend in the table that takes it gets it, as req->backend. 0 or -errno.
 */
int rc_backend_fallback(struct rc_req *req);

/* Whether ev is a backend's own CQE handler on a core's ring. */
bool rc_backend_owns_event(const struct rc_event *ev);

#endif
