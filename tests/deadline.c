/*
 * A backend that does not answer: every request still completes, with
 * -ETIMEDOUT and ASYNC_STATUS_ERR, at its deadline (RINGCRYPT_TIMEOUT_MS), in
 * every mode. When the backend answers late the answer is dropped: nothing
 * completes twice and every request is freed once. And a backend that never
 * answers at all does not keep the process from exiting.
 */
#include <errno.h>
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
    CHECK_EQ(atomic_load(&ran), JOBS);
    CHECK_EQ(atomic_load(&released), JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.callbacks + s.fd_wakes, (uint64_t)JOBS);
    t_driver_fini(&d, jobs, JOBS);
    return T_PASS;
}

static int core_late(void) { return timeouts(T_CORE, true); }
static int callback_late(void) { return timeouts(T_CALLBACK, true); }
static int fd_late(void) { return timeouts(T_FD, true); }
static int core_never(void) { return timeouts(T_CORE, false); }
static int fd_never(void) { return timeouts(T_FD, false); }

static const char *const short_deadline[] = { "RINGCRYPT_TIMEOUT_MS=200", NULL };

static const struct scenario scenarios[] = {
    { "core_late_answer", core_late, short_deadline },
    { "callback_late_answer", callback_late, short_deadline },
    { "fd_late_answer", fd_late, short_deadline },
    { "core_never_answers", core_never, short_deadline },
    { "fd_never_answers", fd_never, short_deadline },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
