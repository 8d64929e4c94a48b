/*
 * Teardown while work is in flight: a wait ctx freed under a paused job (what
 * SSL_free does), in flight, blocked on back-pressure, or just handed a slot;
 * a core destroyed with requests in flight; the runtime shut down under
 * queued requests (a dead backend), with a worker that finishes and with one
 * that never does. Nothing crashes, nothing completes twice, no callback
 * reaches a freed wait ctx, every request and eventfd is freed once.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define JOBS 8

static _Atomic int released;
static struct t_job jobs[JOBS]; /* static: abandoned jobs stay reachable, as in libssl */

static int body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = t_work_blocked, .in = j->index,
                                               .released = &released });
}

static int freed_in_flight(enum t_mode mode)
{
    struct t_driver d;
    struct rc_stats before, s;
    int fds;

    CHECK_EQ(rc_init(), 0); /* the workers' rings and doorbells are not the point */
    fds = t_count_fds();
    t_gate_close();
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, mode, jobs, JOBS, body, NULL), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    for (int i = 0; i < JOBS; i++)
        t_job_abandon(&jobs[i]);
    CHECK_EQ(atomic_load(&released), 0);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, JOBS, d.core), JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.callbacks, 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(jobs[i].wakes, 0);
    t_driver_fini(&d, jobs, JOBS);
    /* Fd mode's eventfds went with their waiters, the core's ring with the core. */
    CHECK_EQ(t_count_fds(), fds);
    return T_PASS;
}

static int core_freed_in_flight(void) { return freed_in_flight(T_CORE); }
static int callback_freed_in_flight(void) { return freed_in_flight(T_CALLBACK); }
static int fd_freed_in_flight(void) { return freed_in_flight(T_FD); }

/* In-flight limit 1: job 0 runs, jobs 1..3 wait for a slot; 1 and 2 go away. */
static int core_freed_while_blocked(void)
{
    struct t_driver d;
    struct rc_stats before, s;

    t_gate_close();
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 4, body, NULL), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    t_job_abandon(&jobs[1]);
    t_job_abandon(&jobs[2]);
    /* Never submitted: nothing but their callers held them. */
    CHECK_EQ(atomic_load(&released), 2);
    t_gate_open();
    CHECK_EQ(t_driver_loop(&d, jobs, 4, 20000), 0);
    CHECK_EQ(jobs[0].ret, 0);
    CHECK_EQ(jobs[3].ret, 0);
    CHECK(jobs[3].seen_eagain >= 1, "job 3 never saw ASYNC_STATUS_EAGAIN");
    CHECK_EQ(atomic_load(&released), 4);
    t_stats_since(&before, &s);
    CHECK_EQ(s.submitted, 2);
    CHECK_EQ(s.completed, 2);
    CHECK_EQ(s.eagain, 3);
    t_driver_fini(&d, jobs, 4);
    return T_PASS;
}

/* Job 1 is handed the slot job 0 frees, then goes away before using it: job 2 gets it. */
static int core_freed_after_handover(void)
{
    struct t_driver d;
    long start;

    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, 3, body, NULL), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    t_gate_open();
    start = t_now_ms();
    while (jobs[1].wakes == 0 && t_now_ms() - start < 20000)
        rc_core_run(d.core, 10);
    CHECK_EQ(jobs[1].wakes, 1);
    CHECK_EQ(jobs[2].wakes, 0);
    t_job_abandon(&jobs[1]);
    CHECK_EQ(t_driver_loop(&d, jobs, 3, 20000), 0);
    CHECK_EQ(jobs[0].ret, 0);
    CHECK_EQ(jobs[2].ret, 0);
    CHECK_EQ(atomic_load(&released), 3);
    t_driver_fini(&d, jobs, 3);
    return T_PASS;
}

/*
 * The core goes while its requests sit in stuck workers or wait for a slot.
 * Their deadlines are an hour away: rc_core_destroy returning at all shows it
 * waited neither for the workers nor for the deadlines.
 */
static int core_destroyed_in_flight(void)
{
    struct t_driver d;
    struct rc_stats before, s;

    t_gate_close();
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, T_CORE, jobs, JOBS, body, NULL), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    rc_core_destroy(d.core);
    d.core = NULL;
    CHECK_EQ(atomic_load(&released), 0);
    CHECK(rc_core_current() == NULL, "the thread still has a core");
    /* Whatever happens to the jobs is the app's affair; resumed, they see -ECANCELED. */
    for (int i = 0; i < JOBS; i++) {
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_FINISH);
        CHECK_EQ(jobs[i].ret, -ECANCELED);
    }
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, JOBS, d.core), JOBS);
    t_stats_since(&before, &s);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.callbacks, 0);
    t_driver_fini(&d, jobs, JOBS);
    return T_PASS;
}

static pid_t main_tid;
static _Atomic bool shutting_down;

/* Whether thread tid sleeps in futex(2): a contended lock, a condition, a join. */
static bool in_futex_wait(pid_t tid)
{
    char path[64], buf[64] = "";
    long nr;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
    f = fopen(path, "r");
    if (f == NULL)
        return false;
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    /* "running", or the number of the system call it is blocked in. */
    return sscanf(buf, "%ld", &nr) == 1 && nr == SYS_futex;
}

/*
 * Opens the gate once the main thread, inside rc_shutdown, waits for the
 * held worker: the workers have been told to stop, and the queued requests
 * can only be refused. On its way there the main thread takes no contended
 * lock and waits for nothing.
 */
static void *open_gate_in_shutdown(void *arg)
{
    long start = t_now_ms();

    (void)arg;
    while (!(atomic_load(&shutting_down) && in_futex_wait(main_tid)) && t_now_ms() - start < 20000)
        usleep(1000);
    t_gate_open();
    return NULL;
}

/* One worker: job 0 runs when the runtime stops, jobs 1.. are still queued. */
static int shutdown_queued(void)
{
    struct t_driver d;
    pthread_t opener;
    struct t_job again;
    struct t_driver d2;

    main_tid = gettid();
    t_gate_close();
    CHECK_EQ(t_driver_init(&d, T_CALLBACK, jobs, JOBS, body, NULL), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    CHECK_EQ(t_gate_wait_held(1), 1);
    pthread_create(&opener, NULL, open_gate_in_shutdown, NULL);
    atomic_store(&shutting_down, true);
    rc_shutdown();
    pthread_join(opener, NULL);
    CHECK_EQ(t_driver_loop(&d, jobs, JOBS, 20000), 0);
    CHECK_EQ(jobs[0].ret, 0);
    for (int i = 1; i < JOBS; i++)
        CHECK_EQ(jobs[i].ret, -ESHUTDOWN);
    CHECK_EQ(atomic_load(&released), JOBS);
    t_driver_fini(&d, jobs, JOBS);

    /* The next offload starts the runtime again. */
    CHECK_EQ(t_driver_init(&d2, T_CALLBACK, &again, 1, body, NULL), 0);
    CHECK_EQ(t_driver_run(&d2, &again, 1, 20000), 0);
    CHECK_EQ(again.ret, 0);
    t_driver_fini(&d2, &again, 1);
    return T_PASS;
}

/*
 * One worker stuck for good, its requests ended by their own deadlines:
 * shutdown gives up waiting for it after the timeout (300 ms) rather than
 * hanging, and the stuck worker's late answers are dropped.
 */
static int shutdown_stuck(void)
{
    struct t_driver d;
    struct rc_stats before, s;
    long start;

    t_gate_close();
    rc_stats_total(&before);
    CHECK_EQ(t_driver_init(&d, T_FD, jobs, 4, body, NULL), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(t_job_step(&jobs[i]), ASYNC_PAUSE);
    start = t_now_ms();
    do {
        usleep(1000);
        t_stats_since(&before, &s);
    } while (s.timeouts < 4 && t_now_ms() - start < 20000);
    CHECK_EQ(s.timeouts, 4);
    start = t_now_ms();
    rc_shutdown();
    CHECK(t_now_ms() - start < 30000, "shutdown took %ld ms", t_now_ms() - start);
    CHECK_EQ(t_driver_loop(&d, jobs, 4, 20000), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(jobs[i].ret, -ETIMEDOUT);
    /* The stuck worker answers at last: its answer is dropped, its request freed. */
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, 4, d.core), 4);
    t_driver_fini(&d, jobs, 4);
    return T_PASS;
}

static const char *const limit1[] = { "RINGCRYPT_MAX_INFLIGHT=1", NULL };
/*
 * The held request must outlive the wait for rc_shutdown to block, however
 * slow the build (a TSan run once took over the default 5 s): a long deadline.
 */
static const char *const one_worker[] = { "RINGCRYPT_WORKERS=1", "RINGCRYPT_TIMEOUT_MS=60000",
                                          NULL };
static const char *const one_worker_short[] = { "RINGCRYPT_WORKERS=1", "RINGCRYPT_TIMEOUT_MS=300",
                                                NULL };
static const char *const hour_deadline[] = { "RINGCRYPT_TIMEOUT_MS=3600000", NULL };

static const struct scenario scenarios[] = {
    { "core_freed_in_flight", core_freed_in_flight, NULL },
    { "callback_freed_in_flight", callback_freed_in_flight, NULL },
    { "fd_freed_in_flight", fd_freed_in_flight, NULL },
    { "core_freed_while_blocked", core_freed_while_blocked, limit1 },
    { "core_freed_after_handover", core_freed_after_handover, limit1 },
    { "core_destroyed_in_flight", core_destroyed_in_flight, hour_deadline },
    { "shutdown_queued", shutdown_queued, one_worker },
    { "shutdown_stuck", shutdown_stuck, one_worker_short },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
