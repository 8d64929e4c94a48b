/*
 * Placement (runtime/placement.h): with "adaptive", the default, a call with
 * nothing to overlap runs on its caller and a call that has something to
 * overlap goes to a backend, in each completion mode; with "offload" every
 * call goes to a backend. Results are checked for every call (t_offload
 * fails on a wrong answer), and counters say where each call ran.
 */
#include <errno.h>
#include <string.h>

#include "counting.h"
#include "harness.h"

#define LONE_CALLS 256
#define JOBS 32
#define CALLS_PER_JOB 16
/* Calls of many jobs that may run here: the first job's before its first probe, the last one's alone. */
#define HERE_AT_MOST (2 * CALLS_PER_JOB)

static _Atomic int released;

struct body_arg {
    int calls;
    unsigned int delay_us;
    bool defer_task; /* core mode: a task waits in the run queue at each call */
};

static void noop_task(struct rc_task *t)
{
    (void)t;
}

static int body(struct t_job *j)
{
    const struct body_arg *a = j->arg;
    struct rc_task task = { .fn = noop_task };

    for (int i = 0; i < a->calls; i++) {
        int rc;

        if (a->defer_task)
            rc_core_defer(rc_core_current(), &task);
        rc = t_offload(&(struct t_offload_args){ .fn = t_work_compute, .in = j->index * 1000 + i,
                                                 .delay_us = a->delay_us, .released = &released });
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* n jobs of arg in mode, driven to the end; the counters they moved in *delta. */
static void run(enum t_mode mode, int n, const struct body_arg *arg, struct rc_stats *delta)
{
    struct t_job jobs[JOBS];
    struct rc_stats before;
    struct t_driver d;

    atomic_store(&released, 0);
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, mode, jobs, n, body, (void *)arg), 0);
    CHECK_EQ(t_driver_run(&d, jobs, n, 60000), 0);
    for (int i = 0; i < n; i++)
        CHECK(jobs[i].finished && jobs[i].ret == 0, "job %d: finished %d, returned %d", i,
              jobs[i].finished, jobs[i].ret);
    CHECK_EQ(t_wait_released(&released, n * arg->calls, d.core), n * arg->calls);
    t_driver_fini(&d, jobs, n);
    t_stats_since(&before, delta);
    CHECK_EQ(delta->submitted + delta->inline_ops, (uint64_t)(n * arg->calls));
    CHECK_EQ(delta->errors, 0);
}

/*
 * One job calling one after another: no call has anything to overlap. Its
 * calls take 300 us each, so that each mode's run spans several probe gaps
 * (runtime/placement.h: the first call is a probe, then 1, 2, 4, 8, 16 ms after
 * each one's return, then every 32 ms).
 */
static int lone_job(void)
{
    const struct body_arg arg = { .calls = LONE_CALLS, .delay_us = 300 };

    for (int m = T_CORE; m <= T_FD; m++) {
        struct rc_stats s;
        long start = t_now_ms(), ms;

        run(m, 1, &arg, &s);
        ms = t_now_ms() - start;
        printf("  %-8s lone job: %llu of %d here, %llu sent out (probes) in %ld ms\n",
               t_mode_names[m], (unsigned long long)s.inline_ops, LONE_CALLS,
               (unsigned long long)s.submitted, ms);
        CHECK(s.submitted >= 1 && s.submitted <= 7 + (unsigned long long)ms / 32,
              "%s: %llu of %d calls sent out in %ld ms", t_mode_names[m],
              (unsigned long long)s.submitted, LONE_CALLS, ms);
        CHECK_EQ(s.paused, s.submitted);
    }
    return t_failures ? T_FAIL : T_PASS;
}

/* Many jobs: once one call is out, the next job's calls overlap it. */
static int many_jobs(void)
{
    const struct body_arg arg = { .calls = CALLS_PER_JOB, .delay_us = 200 };

    for (int m = T_CORE; m <= T_FD; m++) {
        struct rc_stats s;

        run(m, JOBS, &arg, &s);
        printf("  %-8s %d jobs: %llu of %d sent out, %llu here\n", t_mode_names[m], JOBS,
               (unsigned long long)s.submitted, JOBS * CALLS_PER_JOB,
               (unsigned long long)s.inline_ops);
        CHECK(s.inline_ops <= HERE_AT_MOST, "%s: %llu calls ran here", t_mode_names[m],
              (unsigned long long)s.inline_ops);
    }
    return t_failures ? T_FAIL : T_PASS;
}

/* A core with a task waiting has other work: every call goes out, even a lone job's. */
static int core_with_work(void)
{
    const struct body_arg arg = { .calls = 64, .defer_task = true };
    struct rc_stats s;

    run(T_CORE, 1, &arg, &s);
    CHECK_EQ(s.submitted, 64);
    CHECK_EQ(s.inline_ops, 0);
    return t_failures ? T_FAIL : T_PASS;
}

/* "offload": every call goes to a backend, the lone job's too. */
static int always_offload(void)
{
    const struct body_arg arg = { .calls = 64 };

    for (int m = T_CORE; m <= T_FD; m++) {
        struct rc_stats s;

        run(m, 1, &arg, &s);
        CHECK_EQ(s.submitted, 64);
        CHECK_EQ(s.inline_ops, 0);
    }
    return t_failures ? T_FAIL : T_PASS;
}

/*
 * A job abandoned while its call is out (SSL_free of a paused handshake)
 * gives its thread's count back: the lone job after it runs here again.
 */
static int abandoned(void)
{
    const struct body_arg busy = { .calls = 1, .delay_us = 100000 };
    const struct body_arg lone = { .calls = LONE_CALLS };
    /* Static: the abandoned job is never resumed, and its ASYNC_JOB stays referenced. */
    static struct t_job jobs[8];
    struct t_driver d;
    struct rc_stats s;
    int paused = -1;

    atomic_store(&released, 0);
    CHECK_EQ(t_driver_init(&d, T_FD, jobs, 8, body, (void *)&busy), 0);
    /* The thread's first call is a probe, sent out, and its job pauses. */
    t_driver_start(&d, jobs, 8);
    for (int i = 0; i < 8 && paused < 0; i++)
        if (!jobs[i].finished)
            paused = i;
    CHECK(paused >= 0, "no job paused");
    if (paused >= 0)
        t_job_abandon(&jobs[paused]);
    CHECK_EQ(t_driver_loop(&d, jobs, 8, 20000), 0);
    CHECK_EQ(t_wait_released(&released, 8, NULL), 8);
    t_driver_fini(&d, jobs, 8);

    run(T_FD, 1, &lone, &s);
    CHECK(s.submitted <= LONE_CALLS / 8, "after an abandoned job: %llu of %d calls sent out",
          (unsigned long long)s.submitted, LONE_CALLS);
    return t_failures ? T_FAIL : T_PASS;
}

/*
 * The provider's question (runtime/counting.h), asked before each call of a
 * lone job: every answer agrees with where rc_offload then ran the call,
 * and asking twice changes nothing.
 */
#define ASKED_CALLS 64

static int ask_each(void *arg)
{
    int *disagreed = arg;

    for (int i = 0; i < ASKED_CALLS; i++) {
        struct rc_stats before, delta;
        int here = rc_offload_here(), rc;

        CHECK_EQ(rc_offload_here(), here);
        rc_stats_total(&before);
        rc = t_offload(&(struct t_offload_args){ .fn = t_work_compute, .in = i,
                                                 .released = &released });
        if (rc != 0)
            return rc;
        t_stats_since(&before, &delta);
        if (delta.inline_ops != (uint64_t)here || delta.submitted != (uint64_t)!here)
            (*disagreed)++;
    }
    return 0;
}

static int asked(void)
{
    const char *placement = getenv("RINGCRYPT_PLACEMENT");
    bool offloading = placement != NULL && strcmp(placement, "offload") == 0;
    int disagreed = 0;
    struct rc_stats before, s;

    atomic_store(&released, 0);
    rc_stats_total(&before);
    CHECK_EQ(rc_offload_here(), 1); /* outside a job */
    CHECK_EQ(t_run_job(T_FD, ask_each, &disagreed, 20000), 0);
    CHECK_EQ(t_wait_released(&released, ASKED_CALLS, NULL), ASKED_CALLS);
    CHECK_EQ(disagreed, 0);
    t_stats_since(&before, &s);
    printf("  %s: %llu here, %llu sent out\n", offloading ? "offload" : "adaptive",
           (unsigned long long)s.inline_ops, (unsigned long long)s.submitted);
    if (offloading)
        CHECK_EQ(s.submitted, ASKED_CALLS);
    else
        CHECK(s.submitted >= 1 && s.inline_ops >= ASKED_CALLS / 2, "%llu of %d sent out",
              (unsigned long long)s.submitted, ASKED_CALLS);
    return t_failures ? T_FAIL : T_PASS;
}

/* A bad placement is refused by name, in the environment and through rc_config_set. */
static int bad_value(void)
{
    struct rc_info info;
    int rc = rc_config_set("placement", "sometimes");

    CHECK_EQ(rc, -EINVAL);
    CHECK(strstr(rc_last_error(), "adaptive") != NULL, "error: %s", rc_last_error());
    CHECK_EQ(rc_config_set("placement", "offload"), 0);
    CHECK_EQ(rc_info(&info), 0);
    return t_failures ? T_FAIL : T_PASS;
}

static int bad_env(void)
{
    struct rc_info info;

    CHECK_EQ(rc_info(&info), -EINVAL);
    CHECK(strstr(rc_last_error(), "RINGCRYPT_PLACEMENT") != NULL, "error: %s", rc_last_error());
    /* "Send it": rc_offload is the one to say what is wrong. */
    CHECK_EQ(rc_offload_here(), 0);
    return t_failures ? T_FAIL : T_PASS;
}

static const char *const adaptive[] = { "RINGCRYPT_PLACEMENT=adaptive", "RINGCRYPT_WORKERS=2",
                                        NULL };
static const char *const offload[] = { "RINGCRYPT_PLACEMENT=offload", "RINGCRYPT_WORKERS=2",
                                       NULL };
static const char *const bogus[] = { "RINGCRYPT_PLACEMENT=bogus", NULL };

static const struct scenario scenarios[] = {
    { "lone_job", lone_job, adaptive },
    { "many_jobs", many_jobs, adaptive },
    { "core_with_work", core_with_work, adaptive },
    { "always_offload", always_offload, offload },
    { "abandoned", abandoned, adaptive },
    { "asked", asked, adaptive },
    { "asked_offload", asked, offload },
    { "bad_value", bad_value, NULL },
    { "bad_env", bad_env, bogus },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
