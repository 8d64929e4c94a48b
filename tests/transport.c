/*
 * Both transports between cores and workers carry every request there and
 * back exactly once: MSG_RING, the eventfd doorbells it falls back to
 * (RINGCRYPT_FORCE_EVENTFD=1), and MSG_RING sends the kernel refuses, in
 * either direction, which must be retried rather than lost.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "testing.h"

#define JOBS 64
#define ROUNDS 50

static _Atomic int released;

static int body(struct t_job *j)
{
    for (int r = 0; r < ROUNDS; r++) {
        int rc = t_offload(&(struct t_offload_args){ .fn = t_work_compute,
                                                     .in = j->index * 1000 + r,
                                                     .released = &released });

        if (rc != 0)
            return rc;
    }
    return 0;
}

static int run_all_modes(const char *transport)
{
    struct rc_info info;

    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.transport, transport) == 0, "transport %s, expected %s",
          info.transport, transport);
    for (int m = T_CORE; m <= T_FD; m++) {
        struct t_job jobs[JOBS];
        struct t_driver d;
        struct rc_stats before, s;

        atomic_store(&released, 0);
        rc_stats_total(&before);
        CHECK_EQ(t_driver_init(&d, (enum t_mode)m, jobs, JOBS, body, NULL), 0);
        CHECK_EQ(t_driver_run(&d, jobs, JOBS, 60000), 0);
        for (int i = 0; i < JOBS; i++)
            CHECK(jobs[i].ret == 0, "%s job %d: %d", t_mode_names[m], i, jobs[i].ret);
        CHECK_EQ(t_wait_released(&released, JOBS * ROUNDS, d.core), JOBS * ROUNDS);
        t_driver_fini(&d, jobs, JOBS);
        t_stats_since(&before, &s);
        CHECK_EQ(s.submitted, JOBS * ROUNDS);
        CHECK_EQ(s.completed, JOBS * ROUNDS);
        CHECK_EQ(s.errors, 0);
        CHECK_EQ(atomic_load(&released), JOBS * ROUNDS);
    }
    return T_PASS;
}

static int msg_ring(void)
{
    struct rc_info info;

    rc_info(&info);
    if (strcmp(info.transport, "msg_ring") != 0) {
        fprintf(stderr, "this kernel has no usable IORING_OP_MSG_RING\n");
        return T_SKIP;
    }
    return run_all_modes("msg_ring");
}

static int eventfd_forced(void)
{
    return run_all_modes("eventfd");
}

/*
 * One request at a time, so the refused sends land deterministically: the
 * core's send to the worker fails once (the request then goes by doorbell),
 * the worker's answer fails twice (it is sent again each time).
 */
static int refused_sends(void)
{
    struct rc_info info;

    rc_info(&info);
    if (strcmp(info.transport, "msg_ring") != 0)
        return T_SKIP;
    for (int round = 0; round < 20; round++) {
        struct t_job job;
        struct t_driver d;
        struct rc_stats before, s;

        atomic_store(&released, 0);
        rc_stats_total(&before);
        CHECK_EQ(t_driver_init(&d, T_CORE, &job, 1, body, NULL), 0);
        rc_testing_fail_msg_ring(3);
        CHECK_EQ(t_driver_run(&d, &job, 1, 30000), 0);
        CHECK_EQ(job.ret, 0);
        CHECK_EQ(job.wakes, ROUNDS);
        t_driver_fini(&d, &job, 1);
        t_stats_since(&before, &s);
        CHECK_EQ(s.completed, ROUNDS);
        CHECK_EQ(s.callbacks, ROUNDS);
        CHECK_EQ(s.errors, 0);
        CHECK_EQ(atomic_load(&released), ROUNDS);
    }
    return T_PASS;
}

/* Every send refused for a while: nothing is lost, nothing completes twice. */
static int refusal_storm(void)
{
    struct t_job jobs[JOBS];
    struct t_driver d;
    struct rc_stats before, s;
    struct rc_info info;

    rc_info(&info);
    if (strcmp(info.transport, "msg_ring") != 0)
        return T_SKIP;
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, JOBS, body, NULL), 0);
    rc_testing_fail_msg_ring(5000);
    CHECK_EQ(t_driver_run(&d, jobs, JOBS, 60000), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(jobs[i].ret, 0);
    t_driver_fini(&d, jobs, JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.completed, JOBS * ROUNDS);
    CHECK_EQ(s.callbacks, JOBS * ROUNDS);
    CHECK_EQ(atomic_load(&released), JOBS * ROUNDS);
    return T_PASS;
}

static const char *const forced[] = { "RINGCRYPT_FORCE_EVENTFD=1", NULL };

static const struct scenario scenarios[] = {
    { "msg_ring", msg_ring, NULL },
    { "eventfd_forced", eventfd_forced, forced },
    { "refused_sends", refused_sends, NULL },
    { "refusal_storm", refusal_storm, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
