/*
 * A worker stuck in a work function holds that one request and is sent
 * nothing more. With two workers and one stuck, every other request completes
 * on the other worker while the stuck one is still blocked: from a core and
 * from threads without one (callback and fd modes), over MSG_RING and over
 * doorbells. With every worker stuck nothing is lost: waiting requests
 * complete once the workers are free, or end at their deadline without being
 * computed; rc_shutdown still returns, and the runtime starts again after it.
 */
#include <errno.h>
#include <pthread.h>

#include "harness.h"

#define WORKERS 2
#define QUICK 200

static _Atomic int released, stuck_ran, quick_ran;

/* Jobs below `stuck` block at the gate; the others compute at once. */
static int body(struct t_job *j)
{
    bool stuck = j->index < *(const int *)j->arg;

    return t_offload(&(struct t_offload_args){ .fn = stuck ? t_work_blocked : t_work_compute,
                                               .in = j->index, .released = &released,
                                               .ran = stuck ? &stuck_ran : &quick_ran });
}

static const int none_stuck = 0, one_stuck = 1, all_stuck = WORKERS;

/* QUICK requests driven in mode on a thread of their own (with its own core in core mode). */
struct quick_run {
    enum t_mode mode;
    int rc, ok;
    struct t_job jobs[QUICK];
};

static void *quick_thread(void *arg)
{
    struct quick_run *q = arg;
    struct t_driver d;

    q->rc = t_driver_init(&d, q->mode, q->jobs, QUICK, body, (void *)&none_stuck);
    if (q->rc == 0)
        q->rc = t_driver_run(&d, q->jobs, QUICK, 30000);
    for (int i = 0; i < QUICK; i++)
        q->ok += q->jobs[i].finished && q->jobs[i].ret == 0;
    t_driver_fini(&d, q->jobs, QUICK);
    return NULL;
}

/* One worker stuck on a request made in stuck_mode; quick ones come in quick_mode. */
static int one_worker_stuck(enum t_mode stuck_mode, enum t_mode quick_mode)
{
    static struct quick_run q;
    struct t_driver d;
    struct t_job stuck;
    pthread_t thread;

    t_gate_close();
    CHECK_EQ(t_driver_init(&d, stuck_mode, &stuck, 1, body, (void *)&one_stuck), 0);
    CHECK_EQ(t_job_step(&stuck), ASYNC_PAUSE);
    CHECK_EQ(t_gate_wait_held(1), 1);

    q.mode = quick_mode;
    CHECK_EQ(pthread_create(&thread, NULL, quick_thread, &q), 0);
    pthread_join(thread, NULL);
    CHECK_EQ(q.rc, 0);
    CHECK_EQ(q.ok, QUICK);
    CHECK_EQ(atomic_load(&quick_ran), QUICK);
    CHECK(!stuck.finished, "the stuck request completed while its worker was stuck");
    CHECK_EQ(atomic_load(&stuck_ran), 0);

    t_gate_open();
    CHECK_EQ(t_driver_loop(&d, &stuck, 1, 20000), 0);
    CHECK_EQ(stuck.ret, 0);
    CHECK_EQ(atomic_load(&stuck_ran), 1);
    CHECK_EQ(t_wait_released(&released, QUICK + 1, d.core), QUICK + 1);
    t_driver_fini(&d, &stuck, 1);
    return T_PASS;
}

static int core_core(void) { return one_worker_stuck(T_CORE, T_CORE); }
static int core_callback(void) { return one_worker_stuck(T_CORE, T_CALLBACK); }
static int core_fd(void) { return one_worker_stuck(T_CORE, T_FD); }
static int callback_core(void) { return one_worker_stuck(T_CALLBACK, T_CORE); }
static int fd_callback(void) { return one_worker_stuck(T_FD, T_CALLBACK); }

#define ALL (WORKERS + QUICK)

static struct t_driver all_d;
static struct t_job all_jobs[ALL];

/* Every worker stuck on a request of mode, then QUICK more requests in the same mode. */
static void all_workers_stuck(enum t_mode mode)
{
    t_gate_close();
    CHECK_EQ(t_driver_init(&all_d, mode, all_jobs, ALL, body, (void *)&all_stuck), 0);
    for (int i = 0; i < WORKERS; i++)
        CHECK_EQ(t_job_step(&all_jobs[i]), ASYNC_PAUSE);
    CHECK_EQ(t_gate_wait_held(WORKERS), WORKERS);
    for (int i = WORKERS; i < ALL; i++)
        CHECK_EQ(t_job_step(&all_jobs[i]), ASYNC_PAUSE);
    CHECK_EQ(atomic_load(&quick_ran), 0);
}

/* Requests waiting behind stuck workers are not lost: all complete once the workers are free. */
static int released_later(enum t_mode mode)
{
    all_workers_stuck(mode);
    for (int i = 0; i < ALL; i++)
        CHECK(!all_jobs[i].finished, "job %d finished with every worker stuck", i);
    t_gate_open();
    CHECK_EQ(t_driver_loop(&all_d, all_jobs, ALL, 30000), 0);
    for (int i = 0; i < ALL; i++)
        CHECK_EQ(all_jobs[i].ret, 0);
    CHECK_EQ(atomic_load(&stuck_ran), WORKERS);
    CHECK_EQ(atomic_load(&quick_ran), QUICK);
    CHECK_EQ(t_wait_released(&released, ALL, all_d.core), ALL);
    t_driver_fini(&all_d, all_jobs, ALL);
    return T_PASS;
}

/*
 * With a short deadline (RINGCRYPT_TIMEOUT_MS) every request ends with
 * -ETIMEDOUT; when the workers are free again, the requests that expired
 * before a worker started them are let go without being computed.
 */
static int deadline_passes(enum t_mode mode)
{
    all_workers_stuck(mode);
    CHECK_EQ(t_driver_loop(&all_d, all_jobs, ALL, 30000), 0);
    for (int i = 0; i < ALL; i++)
        CHECK_EQ(all_jobs[i].ret, -ETIMEDOUT);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, ALL, all_d.core), ALL);
    CHECK_EQ(atomic_load(&stuck_ran), WORKERS);
    CHECK_EQ(atomic_load(&quick_ran), 0);
    t_driver_fini(&all_d, all_jobs, ALL);
    return T_PASS;
}

/*
 * rc_shutdown with every worker stuck (no core: callback mode) returns after
 * RINGCRYPT_TIMEOUT_MS, every request ends with -ESHUTDOWN (or -ETIMEDOUT,
 * whichever comes first), none of the waiting ones is computed, and the next
 * offload starts the runtime again.
 */
static int shutdown_stuck(void)
{
    struct t_job again;
    struct t_driver d;

    all_workers_stuck(T_CALLBACK);
    rc_shutdown();
    CHECK_EQ(t_driver_loop(&all_d, all_jobs, ALL, 30000), 0);
    for (int i = 0; i < ALL; i++)
        CHECK(all_jobs[i].ret == -ESHUTDOWN || all_jobs[i].ret == -ETIMEDOUT, "job %d: %d", i,
              all_jobs[i].ret);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, ALL, NULL), ALL);
    CHECK_EQ(atomic_load(&quick_ran), 0);
    t_driver_fini(&all_d, all_jobs, ALL);

    CHECK_EQ(t_driver_init(&d, T_CALLBACK, &again, 1, body, (void *)&none_stuck), 0);
    CHECK_EQ(t_driver_run(&d, &again, 1, 20000), 0);
    CHECK_EQ(again.ret, 0);
    t_driver_fini(&d, &again, 1);
    return T_PASS;
}

static int core_released(void) { return released_later(T_CORE); }
static int callback_released(void) { return released_later(T_CALLBACK); }
static int fd_released(void) { return released_later(T_FD); }
static int core_deadline(void) { return deadline_passes(T_CORE); }
static int fd_deadline(void) { return deadline_passes(T_FD); }

/* Long deadlines: nothing may end by its deadline while the stuck worker holds its request. */
static const char *const base[] = { "RINGCRYPT_WORKERS=2", "RINGCRYPT_TIMEOUT_MS=60000", NULL };
static const char *const eventfd[] = { "RINGCRYPT_WORKERS=2", "RINGCRYPT_TIMEOUT_MS=60000",
                                       "RINGCRYPT_FORCE_EVENTFD=1", NULL };
/* Time enough for the workers to start the stuck requests, even under a sanitizer. */
static const char *const short_deadline[] = { "RINGCRYPT_WORKERS=2", "RINGCRYPT_TIMEOUT_MS=3000",
                                              NULL };
static const char *const stop_wait[] = { "RINGCRYPT_WORKERS=2", "RINGCRYPT_TIMEOUT_MS=1000", NULL };

static const struct scenario scenarios[] = {
    { "one_stuck_core_then_core", core_core, base },
    { "one_stuck_core_then_core_eventfd", core_core, eventfd },
    { "one_stuck_core_then_callback", core_callback, base },
    { "one_stuck_core_then_fd", core_fd, base },
    { "one_stuck_callback_then_core", callback_core, base },
    { "one_stuck_fd_then_callback_eventfd", fd_callback, eventfd },
    { "all_stuck_core_released", core_released, base },
    { "all_stuck_callback_released", callback_released, eventfd },
    { "all_stuck_fd_released", fd_released, base },
    { "all_stuck_core_deadline", core_deadline, short_deadline },
    { "all_stuck_fd_deadline", fd_deadline, short_deadline },
    { "all_stuck_shutdown", shutdown_stuck, stop_wait },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
