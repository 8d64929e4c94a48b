/* The per-thread core: what the rest of the runtime needs from it. */
#ifndef RC_CORE_H
#define RC_CORE_H

#include <liburing.h>
#include <stdbool.h>

#include "backend.h"
#include "doorbell.h"
#include "list.h"
#include "req.h"
#include "stats.h"

struct rc_core {
    struct io_uring ring;
    struct rc_counters stats;
    unsigned int fork_gen;

    struct rc_task *rq_head, **rq_tail; /* run queue */

    /* Core-mode requests: */
    struct rc_link blocked; /* waiting for a slot, oldest first */
    struct rc_link handed;  /* given a freed slot, not yet back to use it */
    struct rc_link pending; /* in a backend, earliest deadline first */
    struct rc_link limbo;   /* past their deadline, still in a backend */
    unsigned int inflight;  /* slots taken (blocked excluded) */
    unsigned int max_inflight;
    unsigned int in_backend;   /* requests a backend still holds for this core */
    _Atomic int posters;       /* backend threads between a doorbell push and its write */

    struct rc_doorbell doorbell; /* answers when MSG_RING is not used */

    /* Busy-poll budget before sleeping, and below how many requests in a backend it applies. */
    uint64_t spin_ns;
    unsigned int spin_below;
    unsigned int spin_backoff;  /* waits left without polling, after a preempted spin */

    /* The time at the start of this turn: deadlines of the turn's offloads count from it. */
    uint64_t turn_ns;

    /* What placement (placement.c) reads as the loop's other work: */
    uint64_t app_events;     /* the application's completions handled so far */
    unsigned int batch_left; /* completions reaped in this batch, not yet handled */

    void *backend_data[RC_BACKEND_IDS]; /* each backend's state for this core, its own to make */

    int wake_fd; /* rc_core_fd, made on first use: registered with the ring; -1 until then */
    bool in_run;
    bool destroying;
};

/*
 * A slot under the in-flight limit for req, or -EAGAIN. Requests blocked
 * earlier go first: a freed slot is handed to the oldest of them.
 */
int rc_core_admit(struct rc_core *core, struct rc_req *req);
/* Gives req's slot back, to the oldest blocked request if there is one. */
void rc_core_slot_put(struct rc_core *core, struct rc_req *req);

/* Back-pressure: req waits on the blocked list until a slot is handed to it. */
void rc_core_block(struct rc_core *core, struct rc_req *req);
/* Its job was abandoned while blocked or handed a slot. */
void rc_core_unblock(struct rc_req *req);

/* The request now sits in a backend until its answer or deadline. */
void rc_core_track(struct rc_core *core, struct rc_req *req);
/* The backend gave it back without an answer (submit failed). */
void rc_core_untrack(struct rc_core *core, struct rc_req *req);

/* Core thread: the backend's answer for req arrived; completes and drops the backend's ref. */
void rc_core_answer(struct rc_core *core, struct rc_req *req);

/*
 * Backend threads, before answering: claims the way home (CORE -> SENDING).
 * False when the core is gone; the caller then drops the request. Once
 * claimed, the core waits for the answer, so its ring stays open until then.
 */
bool rc_core_claim_home(struct rc_req *req);

/* Backend threads: the answer by the core's doorbell (a claimed request only). */
void rc_core_post(struct rc_req *req);

/* Outside a loop turn, submits what was prepared: no turn is coming to do it. */
void rc_core_flush(struct rc_core *core);

/* In a fork child: this thread's core is the parent's. */
void rc_core_forget_after_fork(void);

#endif
