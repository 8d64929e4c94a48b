/*
 * fork() with requests in flight: the child inherits no core, builds its own
 * core and workers on first use, completes its own requests and never one of
 * its parent's; the parent's requests complete in the parent, exactly once.
 * fork() waits for the workers to leave the work functions they run, but no
 * longer than RINGCRYPT_TIMEOUT_MS for one that is stuck.
 */
#include <errno.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define JOBS 16

static _Atomic int released;
static struct t_job parent_jobs[JOBS];
static struct t_driver parent_driver;

static int body(struct t_job *j)
{
    return t_offload(&(struct t_offload_args){ .fn = t_work_blocked, .in = j->index,
                                               .released = &released });
}

/* In the child: its parent's n jobs stay paused, its own run to the end. */
static int child(int n)
{
    struct t_job own[JOBS];
    struct t_driver d;
    struct rc_stats s;
    struct timespec pause = { .tv_nsec = 200 * 1000 * 1000 };
    int wakes_at_fork[JOBS]; /* the parent's workers may have woken some before the fork */

    for (int i = 0; i < n; i++)
        wakes_at_fork[i] = parent_jobs[i].wakes;
    CHECK(rc_core_current() == NULL, "the child inherited its parent's core");
    rc_stats_total(&s);
    CHECK_EQ(s.completed, 0);
    /* A stuck parent's worker holds the gate closed there; the child's workers are its own. */
    t_gate_open();
    CHECK_EQ(t_driver_init(&d, T_CORE, own, JOBS, body, NULL), 0);
    CHECK_EQ(t_driver_run(&d, own, JOBS, 20000), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(own[i].ret, 0);
    /* Give a stray parent answer every chance to show up here. */
    nanosleep(&pause, NULL);
    rc_core_run(d.core, 10);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(parent_jobs[i].wakes, wakes_at_fork[i]);
        CHECK_EQ(parent_jobs[i].finished, 0);
    }
    rc_stats_total(&s);
    CHECK_EQ(s.completed, JOBS);
    CHECK_EQ(s.submitted, JOBS);
    t_driver_fini(&d, own, JOBS);
    /*
     * The child lets go of what it inherited, in the worst order: the
     * parent's core first (its blocked requests still point at it), then the
     * parent's connections. Nothing of the parent's is touched but copies.
     */
    rc_core_destroy(parent_driver.core);
    parent_driver.core = NULL;
    for (int i = 0; i < n; i++)
        t_job_abandon(&parent_jobs[i]);
    return t_failures == 0 ? T_PASS : T_FAIL;
}

/* The jobs' requests taken by the backend, the gate closed on them. */
static int start_parent_jobs(enum t_mode mode, int n)
{
    t_gate_close();
    CHECK_EQ(t_driver_init(&parent_driver, mode, parent_jobs, n, body, NULL), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(t_job_step(&parent_jobs[i]), ASYNC_PAUSE);
    return t_failures == 0 ? 0 : -1;
}

static int child_status(pid_t pid)
{
    int status;

    CHECK(pid > 0, "fork failed");
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    return t_failures == 0 ? T_PASS : T_FAIL;
}

static int with_requests_in_flight(enum t_mode mode)
{
    struct t_driver *d = &parent_driver;
    pid_t pid;

    if (start_parent_jobs(mode, JOBS) != 0)
        return T_FAIL;
    /*
     * Opened before the fork, which waits for the work functions running to
     * return: the requests not started yet are still in flight at the fork.
     */
    t_gate_open();
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(child(JOBS));
    CHECK_EQ(t_driver_loop(d, parent_jobs, JOBS, 20000), 0);
    for (int i = 0; i < JOBS; i++)
        CHECK_EQ(parent_jobs[i].ret, 0);
    CHECK_EQ(t_wait_released(&released, JOBS, d->core), JOBS);
    t_driver_fini(d, parent_jobs, JOBS);
    return child_status(pid);
}

/*
 * A worker stuck in a work function at the fork: the fork waits for it for
 * RINGCRYPT_TIMEOUT_MS (1 s here), then goes ahead without it. The child's
 * own workers serve it; the parent's request ends at its deadline, and its
 * late answer is dropped once the gate opens.
 */
static int stuck_worker(void)
{
    struct t_driver *d = &parent_driver;
    long start;
    pid_t pid;

    if (start_parent_jobs(T_CORE, 1) != 0)
        return T_FAIL;
    CHECK_EQ(t_gate_wait_held(1), 1);
    fflush(NULL);
    start = t_now_ms();
    pid = fork();
    if (pid == 0)
        _exit(child(1));
    CHECK(t_now_ms() - start >= 900, "fork waited %ld ms for the stuck worker, not 1000",
          t_now_ms() - start);
    CHECK_EQ(t_driver_loop(d, parent_jobs, 1, 20000), 0);
    CHECK_EQ(parent_jobs[0].ret, -ETIMEDOUT);
    t_gate_open();
    CHECK_EQ(t_wait_released(&released, 1, d->core), 1);
    t_driver_fini(d, parent_jobs, 1);
    return child_status(pid);
}

static int core_mode(void) { return with_requests_in_flight(T_CORE); }
static int callback_mode(void) { return with_requests_in_flight(T_CALLBACK); }

static const char *const forced[] = { "RINGCRYPT_FORCE_EVENTFD=1", NULL };
/* 4 in flight, 12 waiting for a slot when the parent forks. */
static const char *const limit4[] = { "RINGCRYPT_MAX_INFLIGHT=4", NULL };
static const char *const timeout1s[] = { "RINGCRYPT_TIMEOUT_MS=1000", NULL };

static const struct scenario scenarios[] = {
    { "core_mode_in_flight", core_mode, NULL },
    { "callback_mode_in_flight", callback_mode, NULL },
    { "core_mode_eventfd_in_flight", core_mode, forced },
    { "core_mode_blocked", core_mode, limit4 },
    { "callback_mode_blocked", callback_mode, limit4 },
    { "stuck_worker", stuck_worker, timeout1s },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
