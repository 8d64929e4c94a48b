#include "placement.h"

#include "core.h"
#include "runtime.h"

#define PROBE_FIRST 4
#define PROBE_LAST 64

/* One thread's offloads; only that thread touches it. */
struct place {
    unsigned int out;       /* its requests in a backend whose jobs have not come back */
    bool overlapped;        /* since out was 0: another call went out, or the core served the app */
    bool busy;              /* the last time out fell to 0, something had overlapped */
    unsigned int streak;    /* calls run here since the last one sent out */
    unsigned int probe;     /* run this many here, then send one out */
};

static __thread struct place tl = { .probe = PROBE_FIRST };

static bool core_has_work(const struct rc_core *core)
{
    return core != NULL
           && (core->rq_head != NULL || core->inflight > 0 || core->batch_left > 0
               || io_uring_cq_ready(&core->ring) > 0);
}

void rc_place_forget_after_fork(void)
{
    tl = (struct place){ .probe = PROBE_FIRST };
}

bool rc_place_here(const struct rc_core *core)
{
    if (rc_runtime_config()->placement != RC_PLACEMENT_ADAPTIVE)
        return false;
    if (tl.out > 0 || tl.busy || core_has_work(core))
        return false;
    if (++tl.streak < tl.probe)
        return true;
    tl.streak = 0;
    return false;
}

void rc_place_sent(struct rc_req *req)
{
    if (tl.out++ > 0)
        tl.overlapped = true;
    req->placed_by = &tl;
    if (req->mode == RC_MODE_CORE)
        req->placed_events = req->core->app_events;
}

void rc_place_back(struct rc_req *req, const struct rc_core *core)
{
    /*
     * Abandoned on another thread: that count stays, and its thread offloads
     * from then on (what it did before placement existed).
     */
    if (req->placed_by != &tl || tl.out == 0)
        return;
    req->placed_by = NULL;
    /* A core that served its application meanwhile had other work: the loop's, not only jobs'. */
    if (core != NULL && core->app_events != req->placed_events)
        tl.overlapped = true;
    if (--tl.out > 0)
        return;
    tl.busy = tl.overlapped;
    tl.overlapped = false;
    if (tl.busy)
        tl.probe = PROBE_FIRST;
    else if (tl.probe < PROBE_LAST)
        tl.probe *= 2;
}
