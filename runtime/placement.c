#include "placement.h"

#include "clock.h"
#include "core.h"
#include "runtime.h"

#define PROBE_GAP_FIRST_NS 1000000u
#define PROBE_GAP_LAST_NS 32000000u

/* One thread's offloads; only that thread touches it. */
struct place {
    unsigned int out;       /* its requests in a backend whose jobs have not come back */
    bool overlapped;        /* since out was 0: another call went out, or the core served the app */
    bool busy;              /* the last time out fell to 0, something had overlapped */
    uint64_t gap_ns;        /* from the last probe's return to the next probe */
    uint64_t next_probe_ns; /* calls run here until then; 0: the first call is a probe */
};

static __thread struct place tl = { .gap_ns = PROBE_GAP_FIRST_NS };

static bool core_has_work(const struct rc_core *core)
{
    return core != NULL
           && (core->rq_head != NULL || core->inflight > 0 || core->batch_left > 0
               || io_uring_cq_ready(&core->ring) > 0);
}

void rc_place_forget_after_fork(void)
{
    tl = (struct place){ .gap_ns = PROBE_GAP_FIRST_NS };
}

bool rc_place_here(const struct rc_core *core)
{
    if (rc_runtime_config()->placement != RC_PLACEMENT_ADAPTIVE)
        return false;
    if (tl.out > 0 || tl.busy || core_has_work(core))
        return false;
    return rc_now_ns() < tl.next_probe_ns;
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
        tl.gap_ns = PROBE_GAP_FIRST_NS;
    else if (tl.gap_ns < PROBE_GAP_LAST_NS)
        tl.gap_ns *= 2;
    tl.next_probe_ns = rc_now_ns() + tl.gap_ns;
}
