/*
 * A backend that does not answer: every request still completes, with
 * -ETIMEDOUT and ASYNC_STATUS_ERR, at its deadline (RINGCRYPT_TIMEOUT_MS), in
 * every mode. When the backend answers late the answer is dropped: nothing
 * completes twice and every request is freed once. And a backend that never
 * answers at all does not keep the process from exiting.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define JOBS 8

static _Atomic int released, ran;

static int body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = t_work_blocked, .in = j->index,
                                               .released = &released, .ran = &ran });
}

/* Timeouts in mode; open_gate: let the stuck backend answer afterwards. */
static int timeouts(enum t_mode mode, bool open_gate)
{
    struct t_job jobs[JOBS];
    struct t_driver d;
    struct rc_stats before, s;
    long start;

    t_gate_close();
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, mode, jobs, JOBS, body, NULL), 0);
    start = t_now_ms();
    CHECK_EQ(t_driver_run(&d, jobs, JOBS, 20000), 0);
    /* 200 ms deadlines: not before, and not much after either. */
    CHECK(t_now_ms() - start >= 150, "timed out after %ld ms", t_now_ms() - start);
    CHECK(t_now_ms() - start < 10000, "timed out after %ld ms", t_now_ms() - start);
    for (int i = 0; i < JOBS; i++) {
        CHECK_EQ(jobs[i].ret, -ETIMEDOUT);
        CHECK(jobs[i].seen_err >= 1, "job %d never saw ASYNC_STATUS_ERR", i);
    }
    t_stats_since(&before, &s);
    CHECK_EQ(s.timeouts, JOBS);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.errors, JOBS);
    CHECK_EQ(atomic_load(&released), 0);
    if (!open_gate) {
        /* Exit with the workers stuck: the runtime's exit handler must not hang. */
        t_driver_fini(&d, jobs, JOBS);
        return T_PASS;
    }

    t_gate_open();
    start = t_now_ms();
    while (atomic_load(&released) < JOBS && t_now_ms() - start < 20000) {
        if (d.core != NULL)
            rc_core_run(d.core, 10);
        else
            usleep(1000);
    }
    /* Only what a worker had started runs; what expired in its queue is dropped. */
    CHECK(atomic_load(&ran) <= sysconf(_SC_NPROCESSORS_ONLN), "%d of %d expired requests ran",
          atomic_load(&ran), JOBS);
    CHECK_EQ(atomic_load(&released), JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.callbacks + s.fd_wakes, (uint64_t)JOBS);
    t_driver_fini(&d, jobs, JOBS);
    return T_PASS;
}

static int compute_body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = t_work_compute, .in = j->index,
                                               .released = &released });
}

struct idle_timer {
    struct rc_event ev;
    struct t_job *job;
};

static void on_idle_timer(struct rc_event *ev, int res, unsigned int flags)
{
    struct idle_timer *t = (struct idle_timer *)(void *)((char *)ev - offsetof(struct idle_timer, ev));

    (void)res;
    (void)flags;
    t_job_step(t->job);
}

/*
 * A deadline counts from the offload, not from when the loop last looked at
 * the clock: after waiting longer than the timeout (200 ms) in rc_core_run, or
 * outside it, the first offload still gets its full time.
 */
static int offload_after_idle_wait(void)
{
    struct __kernel_timespec ts = { .tv_nsec = 400 * 1000 * 1000 };
    struct idle_timer timer = { .ev.fn = on_idle_timer };
    struct t_job jobs[2];
    struct t_driver d;
    struct io_uring_sqe *sqe;

    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 2, compute_body, NULL), 0);
    timer.job = &jobs[0];
    sqe = rc_core_sqe(d.core);
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    io_uring_sqe_set_data(sqe, &timer.ev);
    /* The handler offloads in the turn that waited 400 ms. */
    for (long start = t_now_ms(); !jobs[0].finished && t_now_ms() - start < 5000;)
        rc_core_run(d.core, -1);
    CHECK_EQ(jobs[0].ret, 0);
    /* Then an offload made outside any turn, 400 ms after the last one. */
    usleep(400 * 1000);
    CHECK_EQ(t_job_step(&jobs[1]), ASYNC_PAUSE);
    for (long start = t_now_ms(); !jobs[1].finished && t_now_ms() - start < 5000;)
        rc_core_run(d.core, -1);
    CHECK_EQ(jobs[1].ret, 0);
    t_driver_fini(&d, jobs, 2);
    return T_PASS;
}

/*
 * The watchdog is not woken for a request: one that arrives while it sleeps
 * on an empty list (here 100 ms into that sleep) still expires when its own
 * deadline comes, because every request has the same timeout as the sleep.
 */
static int expires_while_watchdog_idle(void)
{
    struct t_job quick, stuck;
    struct t_driver d;
    long start;

    CHECK_EQ(t_driver_init(&d, T_FD, &quick, 1, compute_body, NULL), 0);
    CHECK_EQ(t_driver_run(&d, &quick, 1, 20000), 0);
    CHECK_EQ(quick.ret, 0);
    t_driver_fini(&d, &quick, 1);
    /* Its worker lets go of it after the answer: counted once that happened. */
    CHECK_EQ(t_wait_released(&released, 1, NULL), 1);
    usleep(100 * 1000);

    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_FD, &stuck, 1, body, NULL), 0);
    start = t_now_ms();
    CHECK_EQ(t_driver_run(&d, &stuck, 1, 20000), 0);
    CHECK(t_now_ms() - start >= 150, "timed out after %ld ms", t_now_ms() - start);
    CHECK_EQ(stuck.ret, -ETIMEDOUT);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, 2, NULL), 2);
    t_driver_fini(&d, &stuck, 1);
    return T_PASS;
}

static void step_both(struct rc_task *task)
{
    struct t_job *jobs = (struct t_job *)(void *)((char *)task - offsetof(struct t_job, task));

    t_job_step(&jobs[0]);
    t_job_step(&jobs[1]);
}

static int fast_then_stuck_body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = j->index == 0 ? t_work_compute : t_work_blocked,
                                               .in = j->index, .released = &released });
}

/*
 * One worker gets a fast request and a stuck one in the same batch: the fast
 * one's answer leaves before the stuck one starts, and destroying the core
 * then does not wait for the stuck one.
 */
static int answer_not_held_by_next(void)
{
    static struct t_job jobs[2]; /* job 1 is abandoned paused: OpenSSL keeps its fibre */
    struct t_driver d;
    long start;

    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 2, fast_then_stuck_body, NULL), 0);
    /* Both sends leave in one io_uring_enter: they reach the worker together. */
    jobs[0].task.fn = step_both;
    rc_core_defer(d.core, &jobs[0].task);
    start = t_now_ms();
    while (!jobs[0].finished && t_now_ms() - start < 5000)
        rc_core_run(d.core, 10);
    CHECK_EQ(jobs[0].finished, 1);
    CHECK_EQ(jobs[0].ret, 0);
    CHECK(t_now_ms() - start < 1000, "the fast answer took %ld ms", t_now_ms() - start);
    start = t_now_ms();
    rc_core_destroy(d.core);
    d.core = NULL;
    CHECK(t_now_ms() - start < 1000, "destroy took %ld ms", t_now_ms() - start);
    t_job_abandon(&jobs[1]);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, 2, NULL), 2);
    t_driver_fini(&d, jobs, 2);
    return T_PASS;
}

static _Atomic int ran_by_job[3];

static int slot_body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = j->index == 0 ? t_work_blocked : t_work_compute,
                                               .in = j->index, .released = &released,
                                               .ran = &ran_by_job[j->index] });
}

/* Drives d until job j finished; false after 20 s. */
static bool finish(struct t_driver *d, struct t_job *jobs, int n, int j)
{
    for (long start = t_now_ms(); !jobs[j].finished;) {
        struct pollfd pfd[3];
        int who[3], np = 0;

        if (t_now_ms() - start > 20000)
            return false;
        if (d->mode == T_CORE) {
            rc_core_run(d->core, 100);
            continue;
        }
        for (int k = 0; k < n; k++) {
            OSSL_ASYNC_FD fd;
            size_t nfds = 1;

            if (!jobs[k].finished && ASYNC_WAIT_CTX_get_all_fds(jobs[k].wctx, &fd, &nfds) && nfds == 1) {
                pfd[np] = (struct pollfd){ .fd = fd, .events = POLLIN };
                who[np++] = k;
            }
        }
        if (poll(pfd, (nfds_t)np, 100) > 0)
            for (int k = 0; k < np; k++)
                if (pfd[k].revents & POLLIN)
                    t_job_step(&jobs[who[k]]);
    }
    return true;
}

/*
 * Two slots (RINGCRYPT_MAX_INFLIGHT=2), one worker. A is stuck in the
 * worker; B waits behind it and expires. B's slot stays taken while the
 * backend holds B, so C must wait for it; once A's worker is free again, B is
 * dropped without being computed, and C gets its slot and completes.
 */
static int expired_holds_slot(enum t_mode mode)
{
    struct t_job jobs[3];
    struct t_driver d;
    struct rc_stats before, s;

    t_gate_close();
    CHECK_EQ(t_driver_init(&d, mode, jobs, 3, slot_body, NULL), 0);
    CHECK_EQ(t_job_step(&jobs[0]), ASYNC_PAUSE);
    CHECK_EQ(t_gate_wait_held(1), 1);
    CHECK_EQ(t_job_step(&jobs[1]), ASYNC_PAUSE);
    CHECK(finish(&d, jobs, 3, 1), "B never expired");
    CHECK_EQ(jobs[1].ret, -ETIMEDOUT);

    rc_stats_total(&before);
    CHECK_EQ(t_job_step(&jobs[2]), ASYNC_PAUSE);
    t_stats_since(&before, &s);
    CHECK_EQ(s.submitted, 0);
    CHECK_EQ(s.eagain, 1);

    t_gate_open();
    CHECK(finish(&d, jobs, 3, 2), "C never completed");
    CHECK_EQ(jobs[2].ret, 0);
    CHECK(finish(&d, jobs, 3, 0), "A never completed");
    CHECK_EQ(atomic_load(&ran_by_job[0]), 1);
    CHECK_EQ(atomic_load(&ran_by_job[1]), 0);
    CHECK_EQ(atomic_load(&ran_by_job[2]), 1);
    CHECK_EQ(t_wait_released(&released, 3, d.core), 3);
    t_driver_fini(&d, jobs, 3);
    return T_PASS;
}

static int core_expired_slot(void) { return expired_holds_slot(T_CORE); }
static int fd_expired_slot(void) { return expired_holds_slot(T_FD); }

static int core_late(void) { return timeouts(T_CORE, true); }
static int callback_late(void) { return timeouts(T_CALLBACK, true); }
static int fd_late(void) { return timeouts(T_FD, true); }
static int core_never(void) { return timeouts(T_CORE, false); }
static int fd_never(void) { return timeouts(T_FD, false); }

static const char *const short_deadline[] = { "RINGCRYPT_TIMEOUT_MS=200", NULL };
static const char *const one_worker[] = { "RINGCRYPT_WORKERS=1", NULL };
static const char *const two_slots[] = { "RINGCRYPT_WORKERS=1", "RINGCRYPT_MAX_INFLIGHT=2",
                                         "RINGCRYPT_TIMEOUT_MS=1000", NULL };

static const struct scenario scenarios[] = {
    { "core_late_answer", core_late, short_deadline },
    { "callback_late_answer", callback_late, short_deadline },
    { "fd_late_answer", fd_late, short_deadline },
    { "core_never_answers", core_never, short_deadline },
    { "fd_never_answers", fd_never, short_deadline },
    { "offload_after_idle_wait", offload_after_idle_wait, short_deadline },
    { "expires_while_watchdog_idle", expires_while_watchdog_idle, short_deadline },
    { "answer_not_held_by_next", answer_not_held_by_next, one_worker },
    { "core_expired_holds_slot", core_expired_slot, two_slots },
    { "fd_expired_holds_slot", fd_expired_slot, two_slots },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
