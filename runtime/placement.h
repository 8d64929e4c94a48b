/*
 * Where an offloaded call runs: on a backend, or on the calling thread when
 * nothing could overlap with it there (placement "adaptive", the default).
 *
 * Handing a call to a worker costs its thread a pause, a resume and the
 * worker's round trip (10-20 us on the machines we measured): worth it only
 * when the thread has something else to do meanwhile — other jobs to start,
 * connections to serve. What the thread has to do is the application's
 * business, so it is inferred from what ringcrypt sees: another offload
 * asked for while one of this thread's is out means the application had
 * other work during the wait; a core's run queue, in-flight requests and
 * waiting completions say so directly. With none of those, calls run here,
 * and every so often one is sent out anyway (a probe) to see whether other
 * work arrives while it is out: the only way to learn that an application
 * (openssl speed -async_jobs N, a server whose load is rising) has more jobs
 * to start, since it starts them only when one pauses. Probes are spaced in
 * time, not in calls: a probe is a round trip from idle (two threads woken
 * on idle CPUs, slow in a VM: a probed 30 us ECDSA signature took 150-330
 * us), and one probe in 64 calls cost a lone caller 6 % of its time. The
 * gap between a probe's return and the next doubles from 1 ms to 32 ms
 * while probes find nothing, so a lone caller pays under 1 % whatever its
 * calls cost, and a thread whose load rises finds out within 32 ms.
 */
#ifndef RC_PLACEMENT_H
#define RC_PLACEMENT_H

#include <stdbool.h>

#include "req.h"

enum rc_placement {
    RC_PLACEMENT_ADAPTIVE,
    RC_PLACEMENT_OFFLOAD, /* always a backend: the suite's exact offload counts */
};

/*
 * Whether a call about to be offloaded from this thread's job (on core, or
 * none) runs here. Asking changes nothing, so it may be asked ahead.
 */
bool rc_place_here(const struct rc_core *core);

/* req went to a backend from this thread's job. */
void rc_place_sent(struct rc_req *req);

/*
 * req's job came back to it on its core, alive (or NULL: none, or gone), or
 * was abandoned (core NULL), on any thread.
 */
void rc_place_back(struct rc_req *req, const struct rc_core *core);

/* Fork child: its thread's calls out belong to the parent and never come back here. */
void rc_place_forget_after_fork(void);

#endif
