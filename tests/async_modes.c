/*
 * Pause and resume through ASYNC_start_job in the three completion modes (core,
 * foreign callback, fd) and the synchronous path, observing what the caller
 * sees: results, the wait ctx status at each wake-up (OK, EAGAIN, ERR) and the
 * counters.
 */
#include <errno.h>
#include <stdlib.h>

#include "harness.h"

#define JOBS 16

static _Atomic int released; /* per scenario: each runs in its own process */

struct body_arg {
    int (*fn)(void *);
    int result;
    unsigned int delay_us;
};

static int body(struct t_job *j)
{
    const struct body_arg *a = j->arg;

    return t_offload(&(struct t_offload_args){ .fn = a->fn, .in = j->index, .result = a->result,
                                               .delay_us = a->delay_us, .released = &released });
}

/*
 * Runs n jobs in mode and the counters they moved. With hold, the backend
 * keeps the first two requests at a gate until every job has started, so
 * later ones meet whatever limit there is, however fast the build (a
 * sanitizer build can start a job slower than work ends).
 */
static int run_jobs(enum t_mode mode, int n, const struct body_arg *arg, struct t_job *jobs,
                    struct rc_stats *delta, bool hold)
{
    struct t_driver d;
    struct rc_stats before;
    int rc;

    rc_stats_total(&before);
    if (hold)
        t_gate_close();
    rc = t_driver_init(&d, mode, jobs, n, body, (void *)arg);
    CHECK_EQ(rc, 0);
    t_driver_start(&d, jobs, n);
    if (hold) {
        CHECK_EQ(t_gate_wait_held(2), 2);
        t_gate_open();
    }
    rc = t_driver_loop(&d, jobs, n, 20000);
    CHECK_EQ(rc, 0);
    CHECK_EQ(t_wait_released(&released, n, d.core), n);
    t_driver_fini(&d, jobs, n);
    t_stats_since(&before, delta);
    return rc;
}

static int check_ok(enum t_mode mode)
{
    static const struct body_arg arg = { t_work_compute, 0, 100 };
    struct t_job jobs[JOBS];
    struct rc_stats s;

    run_jobs(mode, JOBS, &arg, jobs, &s, false);
    for (int i = 0; i < JOBS; i++) {
        CHECK_EQ(jobs[i].finished, 1);
        CHECK_EQ(jobs[i].ret, 0);
        CHECK_EQ(jobs[i].seen_err, 0);
        CHECK(jobs[i].seen_ok >= 1, "job %d never saw ASYNC_STATUS_OK", i);
    }
    CHECK_EQ(s.submitted, JOBS);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.errors, 0);
    CHECK_EQ(s.inline_ops, 0);
    /* A core answers only in a loop turn, after the pause; a worker may beat the pause. */
    if (mode == T_CORE)
        CHECK(s.paused >= JOBS, "paused %llu", (unsigned long long)s.paused);
    CHECK_EQ(s.resumed, s.paused);
    if (mode == T_FD) {
        CHECK_EQ(s.fd_wakes, JOBS);
        CHECK_EQ(s.callbacks, 0);
    } else {
        CHECK_EQ(s.callbacks, JOBS);
        CHECK_EQ(s.fd_wakes, 0);
    }
    CHECK_EQ(atomic_load(&released), JOBS);
    return T_PASS;
}

static int check_err(enum t_mode mode)
{
    static const struct body_arg arg = { t_work_compute, -EIO, 0 };
    struct t_job jobs[JOBS];
    struct rc_stats s;

    run_jobs(mode, JOBS, &arg, jobs, &s, false);
    for (int i = 0; i < JOBS; i++) {
        CHECK_EQ(jobs[i].ret, -EIO);
        /* Callback modes see ERR at the wake-up, fd mode once the job has returned. */
        CHECK(jobs[i].seen_err >= 1, "job %d never saw ASYNC_STATUS_ERR", i);
    }
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.errors, JOBS);
    CHECK_EQ(atomic_load(&released), JOBS);
    return T_PASS;
}

/* In-flight limit 2, the first two requests held: every other job is pushed back. */
static int check_eagain(enum t_mode mode)
{
    static const struct body_arg arg = { t_work_blocked, 0, 0 };
    struct t_job jobs[4 * JOBS];
    struct rc_stats s;
    int eagain_seen = 0;

    run_jobs(mode, 4 * JOBS, &arg, jobs, &s, true);
    for (int i = 0; i < 4 * JOBS; i++) {
        CHECK_EQ(jobs[i].ret, 0);
        eagain_seen += jobs[i].seen_eagain;
    }
    CHECK(s.eagain >= 4 * JOBS - 2, "eagain %llu: the in-flight limit of 2 did not push back",
          (unsigned long long)s.eagain);
    CHECK(eagain_seen > 0, "no caller saw ASYNC_STATUS_EAGAIN");
    CHECK_EQ(s.submitted, 4 * JOBS);
    CHECK_EQ(s.completed, 4 * JOBS);
    CHECK_EQ(s.errors, 0);
    CHECK_EQ(atomic_load(&released), 4 * JOBS);
    return T_PASS;
}

/*
 * In-flight limit 1: jobs 1 and 2 wait for a slot, and the app resumes them
 * early (as it may, say when their sockets turn readable): they pause again,
 * keep their place in line, and all three finish.
 */
static int core_blocked_resumed_early(void)
{
    static const struct body_arg arg = { t_work_compute, 0, 2000 };
    struct t_job jobs[3];
    struct t_driver d;

    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 3, body, (void *)&arg), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(t_job_step(&jobs[1]), ASYNC_PAUSE);
        CHECK_EQ(t_job_step(&jobs[2]), ASYNC_PAUSE);
    }
    CHECK_EQ(t_driver_loop(&d, jobs, 3, 20000), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(jobs[i].ret, 0);
    CHECK_EQ(t_wait_released(&released, 3, d.core), 3);
    t_driver_fini(&d, jobs, 3);
    return T_PASS;
}

static int core_ok(void) { return check_ok(T_CORE); }
static int callback_ok(void) { return check_ok(T_CALLBACK); }
static int fd_ok(void) { return check_ok(T_FD); }
static int core_err(void) { return check_err(T_CORE); }
static int callback_err(void) { return check_err(T_CALLBACK); }
static int fd_err(void) { return check_err(T_FD); }
static int core_eagain(void) { return check_eagain(T_CORE); }
static int callback_eagain(void) { return check_eagain(T_CALLBACK); }
static int fd_eagain(void) { return check_eagain(T_FD); }

/* Outside a job the work runs on the caller, whatever the backend. */
static int sync_path(void)
{
    struct rc_req *req = t_req(t_work_compute, 5, 0, &released);
    struct rc_stats before, s;

    rc_stats_total(&before);
    CHECK_EQ(rc_offload(req), 0);
    CHECK_EQ(((struct t_work *)rc_req_ctx(req))->out, 16);
    CHECK_EQ(rc_offload(req), -EALREADY);
    rc_req_free(req);
    t_stats_since(&before, &s);
    CHECK_EQ(s.inline_ops, 1);
    CHECK_EQ(s.submitted, 0);
    CHECK_EQ(s.paused, 0);
    CHECK_EQ(atomic_load(&released), 1);

    req = t_req(t_work_compute, 5, -EINVAL, &released);
    CHECK_EQ(rc_offload(req), -EINVAL);
    rc_req_free(req);
    CHECK(rc_req_new(NULL, 8, NULL) == NULL, "a request without work was accepted");
    return T_PASS;
}

/* RINGCRYPT_BACKEND=inline: inside a job too, no pause. */
static int inline_backend(void)
{
    static const struct body_arg arg = { t_work_compute, 0, 0 };
    struct t_job jobs[JOBS];
    struct rc_stats s;

    run_jobs(T_CORE, JOBS, &arg, jobs, &s, false);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(jobs[i].ret, 0);
    CHECK_EQ(s.inline_ops, JOBS);
    CHECK_EQ(s.paused, 0);
    CHECK_EQ(s.submitted, 0);
    return T_PASS;
}

static const char *const limit1[] = { "RINGCRYPT_MAX_INFLIGHT=1", NULL };
static const char *const limit2[] = { "RINGCRYPT_MAX_INFLIGHT=2", NULL };
static const char *const inline_env[] = { "RINGCRYPT_BACKEND=inline", NULL };

static const struct scenario scenarios[] = {
    { "sync_path", sync_path, NULL },
    { "core_ok", core_ok, NULL },
    { "callback_ok", callback_ok, NULL },
    { "fd_ok", fd_ok, NULL },
    { "core_err", core_err, NULL },
    { "callback_err", callback_err, NULL },
    { "fd_err", fd_err, NULL },
    { "core_eagain", core_eagain, limit2 },
    { "callback_eagain", callback_eagain, limit2 },
    { "fd_eagain", fd_eagain, limit2 },
    { "core_blocked_resumed_early", core_blocked_resumed_early, limit1 },
    { "inline_backend", inline_backend, inline_env },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
