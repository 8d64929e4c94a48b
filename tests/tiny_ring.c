/*
 * A core whose rings hold 4 entries with 1 000 requests in flight: answers
 * overflow the completion queue, submissions overflow the submission queue,
 * and still every request completes exactly once, by either transport.
 */
#include <errno.h>

#include "harness.h"

#define JOBS 1000

static _Atomic int released;
static _Atomic int completions[JOBS];

static int body(struct t_job *j)
{
    int rc = t_offload(&(struct t_offload_args){ .fn = t_work_compute, .in = j->index,
                                                 .released = &released });

    atomic_fetch_add(&completions[j->index], 1);
    return rc;
}

static int tiny(void)
{
    static struct t_job jobs[JOBS];
    const struct rc_core_opts opts = { .sq_entries = 4, .cq_entries = 4 };
    struct t_driver d;
    struct rc_stats before, s;
    int rc;

    rc_stats_total(&before);
    CHECK_EQ(t_driver_init_opts(&d, T_CORE, &opts, jobs, JOBS, body, NULL), 0);
    rc = t_driver_run(&d, jobs, JOBS, 60000);
    CHECK_EQ(rc, 0);
    for (int i = 0; i < JOBS; i++) {
        CHECK(jobs[i].ret == 0, "job %d: %d", i, jobs[i].ret);
        CHECK(atomic_load(&completions[i]) == 1, "job %d completed %d times", i,
              atomic_load(&completions[i]));
    }
    t_driver_fini(&d, jobs, JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.submitted, JOBS);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.callbacks, JOBS);
    CHECK_EQ(s.eagain, 0);
    CHECK_EQ(atomic_load(&released), JOBS);
    return T_PASS;
}

static const char *const msg_env[] = { "RINGCRYPT_MAX_INFLIGHT=1000", NULL };
static const char *const efd_env[] = { "RINGCRYPT_MAX_INFLIGHT=1000", "RINGCRYPT_FORCE_EVENTFD=1", NULL };

static const struct scenario scenarios[] = {
    { "cq4_msg_ring", tiny, msg_env },
    { "cq4_eventfd", tiny, efd_env },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
