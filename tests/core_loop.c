/*
 * The per-thread core as the application's event loop: one core per thread,
 * the application's own io_uring operations dispatched through the same
 * rc_event handlers as ringcrypt's, deferred tasks in FIFO order one turn at
 * a time, rc_core_run's waiting and not waiting, no re-entry from handlers,
 * and rc_core_fd as the way into a loop that polls descriptors itself.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

/* An application's operation: its event, what the handler saw, how often. */
struct op {
    struct rc_event ev;
    int calls;
    int res;
    unsigned int flags;
    struct rc_core *core;
    int nested_run, nested_poll; /* rc_core_run/poll from inside the handler */
    int chain;                   /* operations still to queue from the handler */
};

static void on_op(struct rc_event *ev, int res, unsigned int flags)
{
    struct op *op = container_of(ev, struct op, ev);

    op->calls++;
    op->res = res;
    op->flags = flags;
}

/* Runs turns until *calls reaches want or 20 s passed. */
static void run_until(struct rc_core *core, const int *calls, int want)
{
    long start = t_now_ms();

    while (*calls < want && t_now_ms() - start < 20000) {
        int rc = rc_core_run(core, 100);

        CHECK(rc >= 0, "rc_core_run: %d", rc);
        if (rc < 0)
            break;
    }
}

static struct io_uring_sqe *op_sqe(struct rc_core *core, struct op *op)
{
    struct io_uring_sqe *sqe = rc_core_sqe(core);

    memset(op, 0, sizeof(*op));
    op->ev.fn = on_op;
    op->core = core;
    op->res = 12345;
    CHECK(sqe != NULL, "rc_core_sqe returned NULL");
    return sqe;
}

static int one_core_per_thread(void)
{
    /* Not NULL, so that a refused create is seen to clear it. */
    struct rc_core *core, *again = (struct rc_core *)&again;

    CHECK(rc_core_current() == NULL, "a core before rc_core_create");
    CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK(core != NULL, "no core");
    CHECK(rc_core_current() == core, "rc_core_current is not the new core");
    CHECK_EQ(rc_core_create(NULL, &again), -EBUSY);
    CHECK(again == NULL, "a refused rc_core_create left *out set");
    CHECK(rc_core_current() == core, "a refused rc_core_create replaced the core");
    CHECK(rc_core_fd(core) >= 0, "rc_core_fd %d", rc_core_fd(core));
    rc_core_destroy(core);
    CHECK(rc_core_current() == NULL, "the destroyed core is still current");

    /* Destroyed, the thread may start over. */
    CHECK_EQ(rc_core_create(NULL, &core), 0);
    CHECK(rc_core_current() == core, "the second core is not current");
    rc_core_destroy(core);
    rc_core_destroy(NULL);
    CHECK(rc_core_current() == NULL, "rc_core_destroy(NULL) made a core current");
    return T_PASS;
}

static int app_nop(void)
{
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &op);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    /* Nothing else is in flight on a fresh core: this turn handles exactly the NOP. */
    CHECK_EQ(rc_core_run(core, 5000), 1);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(op.res, 0);
    /* Once only: later turns do not see it again. */
    CHECK_EQ(rc_core_poll(core), 0);
    CHECK_EQ(op.calls, 1);
    rc_core_destroy(core);
    return T_PASS;
}

static int app_timeout(void)
{
    struct __kernel_timespec ts = { .tv_nsec = 20 * 1000000 };
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;
    long start;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &op);
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    io_uring_sqe_set_data(sqe, &op.ev);
    start = t_now_ms();
    /* -1: no limit, the timeout itself ends the wait. */
    CHECK_EQ(rc_core_run(core, -1), 1);
    CHECK(t_now_ms() - start >= 15, "a 20 ms timeout fired after %ld ms", t_now_ms() - start);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(op.res, -ETIME);
    CHECK_EQ(rc_core_poll(core), 0);
    CHECK_EQ(op.calls, 1);
    rc_core_destroy(core);
    return T_PASS;
}

static int app_pipe_read(void)
{
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;
    char buf[16] = { 0 };
    int p[2];

    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &op);
    io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
    io_uring_sqe_set_data(sqe, &op.ev);
    CHECK_EQ(rc_core_run(core, 50), 0);
    CHECK_EQ(op.calls, 0);
    CHECK_EQ(write(p[1], "hello", 5), 5);
    run_until(core, &op.calls, 1);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(op.res, 5);
    CHECK(memcmp(buf, "hello", 5) == 0, "read \"%.5s\"", buf);
    rc_core_destroy(core);
    close(p[0]);
    close(p[1]);
    return T_PASS;
}

/* A handler may queue more operations; they complete on later turns. */
static void on_chain(struct rc_event *ev, int res, unsigned int flags)
{
    struct op *op = container_of(ev, struct op, ev);

    on_op(ev, res, flags);
    if (op->chain-- > 0) {
        struct io_uring_sqe *sqe = rc_core_sqe(op->core);

        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, &op->ev);
    }
}

static int handler_queues_more(void)
{
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &op);
    op.ev.fn = on_chain;
    op.chain = 4;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    run_until(core, &op.calls, 5);
    CHECK_EQ(op.calls, 5);
    CHECK_EQ(rc_core_poll(core), 0);
    CHECK_EQ(op.calls, 5);
    rc_core_destroy(core);
    return T_PASS;
}

/* user_data 0 is no event: skipped, not called through a NULL pointer. */
static int user_data_zero(void)
{
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    for (int i = 0; i < 3; i++) {
        sqe = rc_core_sqe(core);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, 0);
    }
    sqe = op_sqe(core, &op);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    run_until(core, &op.calls, 1);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(op.res, 0);
    CHECK(rc_core_poll(core) >= 0, "the loop broke after user_data 0");
    rc_core_destroy(core);
    return T_PASS;
}

/* A full submission queue is flushed, so an SQE is always there. */
static int sqe_never_null(void)
{
    const struct rc_core_opts opts = { .sq_entries = 4 };
    struct rc_core *core;
    struct op ops[40];

    CHECK_EQ(rc_core_create(&opts, &core), 0);
    for (int i = 0; i < 40; i++) {
        struct io_uring_sqe *sqe = op_sqe(core, &ops[i]);

        if (sqe == NULL)
            break;
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, &ops[i].ev);
    }
    for (int i = 0; i < 40; i++) {
        run_until(core, &ops[i].calls, 1);
        CHECK(ops[i].calls == 1 && ops[i].res == 0, "op %d: %d calls, res %d", i,
              ops[i].calls, ops[i].res);
    }
    rc_core_destroy(core);
    return T_PASS;
}

/*
 * rc_core_opts.reserved is where later options go: a value there is an option
 * this library does not know, refused rather than ignored; zeros are fine.
 */
static int opts_reserved_nonzero(void)
{
    struct rc_core_opts opts = { .sq_entries = 4 };
    struct rc_core *core = NULL;

    opts.reserved[5] = 1;
    CHECK_EQ(rc_core_create(&opts, &core), -EINVAL);
    CHECK(core == NULL && rc_core_current() == NULL, "a refused core was made");
    opts.reserved[5] = 0;
    CHECK_EQ(rc_core_create(&opts, &core), 0);
    rc_core_destroy(core);
    return T_PASS;
}

/* ---- tasks -------------------------------------------------------------- */

struct step {
    struct rc_task task;
    int id;
    struct rc_core *core;
    struct step *then;     /* deferred from this task */
    int nested_run, nested_poll;
};

static int order[16], norder;

static void on_step(struct rc_task *t)
{
    struct step *s = container_of(t, struct step, task);

    if (norder < 16)
        order[norder++] = s->id;
    if (s->then != NULL)
        rc_core_defer(s->core, &s->then->task);
}

static int defer_fifo(void)
{
    struct rc_core *core;
    struct step s[5];

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    for (int i = 0; i < 5; i++)
        s[i] = (struct step){ .task.fn = on_step, .id = i, .core = core };
    s[1].then = &s[3];
    s[3].then = &s[4];
    rc_core_defer(core, &s[0].task);
    rc_core_defer(core, &s[1].task);
    rc_core_defer(core, &s[2].task);
    /* Nothing has run yet: deferring only queues. */
    CHECK_EQ(norder, 0);

    /* The task that task 1 queued waits for the next turn. */
    CHECK(rc_core_run(core, 5000) >= 3, "the first turn did not count its three tasks");
    CHECK_EQ(norder, 3);
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2, "order %d %d %d", order[0],
          order[1], order[2]);
    CHECK(rc_core_poll(core) >= 1, "a turn with a task counted none");
    CHECK_EQ(norder, 4);
    CHECK_EQ(order[3], 3);
    CHECK(rc_core_poll(core) >= 1, "a turn with a task counted none");
    CHECK_EQ(norder, 5);
    CHECK_EQ(order[4], 4);
    CHECK_EQ(rc_core_poll(core), 0);
    CHECK_EQ(norder, 5);
    rc_core_destroy(core);
    return T_PASS;
}

/*
 * A queued task is pending work: the turn must not sleep through its timeout.
 * A minute each, so that a turn that waits cannot be mistaken for a slow one.
 */
static int pending_task_no_wait(void)
{
    struct rc_core *core;
    struct step a = { .task.fn = on_step, .id = 7 }, b = { .task.fn = on_step, .id = 8 };
    long start;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    a.core = b.core = core;
    a.then = &b;
    rc_core_defer(core, &a.task);
    start = t_now_ms();
    CHECK(rc_core_run(core, 60000) >= 1, "a turn with a task counted none");
    /* b was queued by a, so the same turn must not wait for a completion either. */
    CHECK(t_now_ms() - start < 30000, "a turn with a task to run took %ld ms", t_now_ms() - start);
    start = t_now_ms();
    CHECK(rc_core_run(core, 60000) >= 1, "a turn with a task counted none");
    CHECK(t_now_ms() - start < 30000, "a turn with a task to run took %ld ms", t_now_ms() - start);
    CHECK_EQ(norder, 2);
    rc_core_destroy(core);
    return T_PASS;
}

static int run_timeouts(void)
{
    struct rc_core *core;
    long start, took;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    /* Generous bounds: this checks that it waits and comes back, not how precisely. */
    start = t_now_ms();
    CHECK_EQ(rc_core_run(core, 200), 0);
    took = t_now_ms() - start;
    CHECK(took >= 150 && took < 30000, "rc_core_run(200) on an idle core took %ld ms", took);

    /* Turns that waited even 250 ms each would show; a loaded machine's scheduling would not. */
    start = t_now_ms();
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(rc_core_run(core, 0), 0);
        CHECK_EQ(rc_core_poll(core), 0);
    }
    took = t_now_ms() - start;
    CHECK(took < 5000, "20 non-blocking turns took %ld ms", took);
    rc_core_destroy(core);
    return T_PASS;
}

/* ---- no re-entry -------------------------------------------------------- */

/* What a nested rc_core_run would wait, were it not refused: longer than any slow turn. */
#define NESTED_WAIT_MS 60000

static void on_nested(struct rc_event *ev, int res, unsigned int flags)
{
    struct op *op = container_of(ev, struct op, ev);

    on_op(ev, res, flags);
    op->nested_run = rc_core_run(op->core, NESTED_WAIT_MS);
    op->nested_poll = rc_core_poll(op->core);
}

static void on_nested_task(struct rc_task *t)
{
    struct step *s = container_of(t, struct step, task);

    on_step(t);
    s->nested_run = rc_core_run(s->core, NESTED_WAIT_MS);
    s->nested_poll = rc_core_poll(s->core);
}

static int nested_run(void)
{
    struct rc_core *core;
    struct op op;
    struct step s = { .task.fn = on_nested_task, .id = 1 };
    struct io_uring_sqe *sqe;
    long start;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &op);
    op.ev.fn = on_nested;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    s.core = core;
    rc_core_defer(core, &s.task);
    start = t_now_ms();
    run_until(core, &op.calls, 1);
    CHECK(t_now_ms() - start < NESTED_WAIT_MS / 2, "nested calls waited: %ld ms",
          t_now_ms() - start);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(op.nested_run, -EBUSY);
    CHECK_EQ(op.nested_poll, -EBUSY);
    CHECK_EQ(norder, 1);
    CHECK_EQ(s.nested_run, -EBUSY);
    CHECK_EQ(s.nested_poll, -EBUSY);

    /* Refusing the nested calls left the loop usable. */
    sqe = op_sqe(core, &op);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    run_until(core, &op.calls, 1);
    CHECK_EQ(op.calls, 1);
    rc_core_destroy(core);
    return T_PASS;
}

/* ---- rc_core_fd in the application's own poll loop ---------------------- */

static _Atomic int released;

static int slow_body(struct t_job *j)
{
    struct rc_req *req = t_req(t_work_compute, j->index + 10, 0, &released);
    int rc;

    if (req == NULL)
        return -ENOMEM;
    /* Slow enough that the answer arrives while the thread sleeps in poll(). */
    ((struct t_work *)rc_req_ctx(req))->delay_us = 20000;
    rc = rc_offload(req);
    if (rc == 0 && ((struct t_work *)rc_req_ctx(req))->out != (j->index + 10) * 3 + 1)
        rc = -EPROTO;
    rc_req_free(req);
    return rc;
}

/*
 * Whether fd polls readable before poll()'s timeout. poll() also reports
 * readiness it finds when the timeout expires, but that is a wake-up that
 * never came; the timeout is long, so that a slow wake-up is not one.
 */
#define WAKE_MS 20000

static bool wakes_up(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    long start = t_now_ms();
    int rc;

    do
        rc = poll(&pfd, 1, WAKE_MS);
    while (rc < 0 && errno == EINTR);
    if (rc > 0 && t_now_ms() - start >= WAKE_MS)
        fprintf(stderr, "  (readable only when poll() timed out, after %ld ms)\n",
                t_now_ms() - start);
    return rc > 0 && (pfd.revents & POLLIN) && t_now_ms() - start < WAKE_MS;
}

/*
 * An application that only calls rc_core_poll when rc_core_fd wakes it:
 * each step must wake the fd, or the job would hang there. When a step fails
 * the job is driven on with rc_core_run so that the rest still runs.
 * first_turn: the loop polled the core once before the job started, as a
 * loop that begins with rc_core_poll does; without it the fd must work too.
 */
static int fd_loop(bool first_turn)
{
    struct t_job job;
    struct t_driver d;
    int fd;

    CHECK_EQ(t_driver_init(&d, T_CORE, &job, 1, slow_body, NULL), 0);
    fd = rc_core_fd(d.core);
    if (first_turn)
        CHECK_EQ(rc_core_poll(d.core), 0);
    CHECK_EQ(t_job_step(&job), ASYNC_PAUSE);

    /* The request went out and its answer woke the fd. */
    CHECK(wakes_up(fd), "the answer did not wake rc_core_fd");
    CHECK(rc_core_poll(d.core) >= 0, "rc_core_poll failed");
    if (atomic_load(&job.wakes) == 0) {
        CHECK(0, "the job's callback did not run in the turn after the fd woke");
        for (int i = 0; i < 50 && atomic_load(&job.wakes) == 0; i++)
            rc_core_run(d.core, 100);
    }
    CHECK_EQ(atomic_load(&job.wakes), 1);
    CHECK_EQ(atomic_load(&job.seen_ok), 1);
    CHECK(!job.finished, "resumed within the turn that called the callback");

    /* The callback deferred the resumption: that is work for rc_core_poll too. */
    CHECK(wakes_up(fd), "a deferred task is pending but rc_core_fd does not wake");
    CHECK(rc_core_poll(d.core) >= 1, "rc_core_poll did not run the deferred resumption");
    if (!job.finished)
        CHECK_EQ(t_driver_run(&d, &job, 0, 20000), 0);
    CHECK_EQ(job.finished, 1);
    CHECK_EQ(job.ret, 0);
    t_driver_fini(&d, &job, 1);
    CHECK_EQ(atomic_load(&released), 1);
    return T_PASS;
}

static int fd_loop_fresh_core(void) { return fd_loop(false); }
static int fd_loop_after_turn(void) { return fd_loop(true); }

/* The application's side of such a loop: a task it defers, an operation a handler queues. */
static int fd_loop_app_work(void)
{
    struct rc_core *core;
    struct step s = { .task.fn = on_step, .id = 1 };
    struct op op;
    struct io_uring_sqe *sqe;
    int fd;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    fd = rc_core_fd(core);
    CHECK_EQ(rc_core_poll(core), 0);
    s.core = core;
    rc_core_defer(core, &s.task);
    CHECK(wakes_up(fd), "a task deferred between turns does not wake rc_core_fd");
    CHECK(rc_core_poll(core) >= 1, "the turn after the wake-up ran no task");
    CHECK_EQ(norder, 1);

    sqe = op_sqe(core, &op);
    op.ev.fn = on_chain;
    op.chain = 1;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    /* Prepared between turns: a turn sends it (the application's part). */
    run_until(core, &op.calls, 1);
    CHECK_EQ(op.calls, 1);
    /* Prepared by the handler, inside a turn: nothing else will send it. */
    CHECK(wakes_up(fd), "an operation queued by a handler does not wake rc_core_fd");
    rc_core_poll(core);
    if (op.calls < 2)
        run_until(core, &op.calls, 2);
    CHECK_EQ(op.calls, 2);
    rc_core_destroy(core);
    return T_PASS;
}

/* ---- threads ------------------------------------------------------------ */

struct other {
    struct rc_core *main_core;
    struct rc_core *core;
    int create_rc, current_ok, calls, res, job_ret;
};

static void *other_thread(void *arg)
{
    struct other *o = arg;
    struct op op;
    struct io_uring_sqe *sqe;
    struct t_job jobs[4];
    struct t_driver d;

    /* Cores are per thread: the main thread's does not count here. */
    o->current_ok = rc_core_current() == NULL;
    o->create_rc = rc_core_create(NULL, &o->core);
    if (o->create_rc != 0)
        return NULL;
    o->current_ok &= rc_core_current() == o->core && o->core != o->main_core;
    sqe = op_sqe(o->core, &op);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    run_until(o->core, &op.calls, 1);
    o->calls = op.calls;
    o->res = op.res;
    rc_core_destroy(o->core);

    /* And the thread can offload in core mode through a core of its own. */
    o->job_ret = -1;
    if (t_driver_init(&d, T_CORE, jobs, 4, slow_body, NULL) == 0 &&
        t_driver_run(&d, jobs, 4, 20000) == 0) {
        o->job_ret = 0;
        for (int i = 0; i < 4; i++)
            if (jobs[i].ret != 0)
                o->job_ret = jobs[i].ret;
    }
    t_driver_fini(&d, jobs, 4);
    return NULL;
}

static int second_thread(void)
{
    struct other o = { 0 };
    struct rc_core *core;
    struct op op;
    struct io_uring_sqe *sqe;
    pthread_t t;

    CHECK_EQ(rc_core_create(NULL, &core), 0);
    o.main_core = core;
    CHECK_EQ(pthread_create(&t, NULL, other_thread, &o), 0);
    /* The main core keeps working meanwhile. */
    sqe = op_sqe(core, &op);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &op.ev);
    run_until(core, &op.calls, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(op.calls, 1);
    CHECK_EQ(o.create_rc, 0);
    CHECK_EQ(o.current_ok, 1);
    CHECK_EQ(o.calls, 1);
    CHECK_EQ(o.res, 0);
    CHECK_EQ(o.job_ret, 0);
    CHECK(rc_core_current() == core, "another thread's cores changed this thread's");
    rc_core_destroy(core);
    CHECK_EQ(atomic_load(&released), 4);
    return T_PASS;
}

/*
 * Operations still in flight at destroy are dropped: no handler runs, nothing
 * hangs. The timeout is an hour away: nothing slow is mistaken for waiting on it.
 */
static int destroy_with_ops_in_flight(void)
{
    struct __kernel_timespec ts = { .tv_sec = 3600 };
    struct rc_core *core;
    struct op rd, tmo, nop;
    struct io_uring_sqe *sqe;
    char buf[8];
    int p[2];
    long start;

    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(rc_core_create(NULL, &core), 0);
    sqe = op_sqe(core, &rd);
    io_uring_prep_read(sqe, p[0], buf, sizeof(buf), 0);
    io_uring_sqe_set_data(sqe, &rd.ev);
    sqe = op_sqe(core, &tmo);
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    io_uring_sqe_set_data(sqe, &tmo.ev);
    CHECK_EQ(rc_core_poll(core), 0);
    /* Prepared but never submitted by a turn. */
    sqe = op_sqe(core, &nop);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &nop.ev);
    start = t_now_ms();
    rc_core_destroy(core);
    CHECK(t_now_ms() - start < 60000, "rc_core_destroy took %ld ms", t_now_ms() - start);
    CHECK_EQ(rd.calls, 0);
    CHECK_EQ(tmo.calls, 0);
    CHECK_EQ(nop.calls, 0);
    CHECK(rc_core_current() == NULL, "destroyed core still current");
    close(p[0]);
    close(p[1]);
    return T_PASS;
}

static const char *const forced[] = { "RINGCRYPT_FORCE_EVENTFD=1", NULL };

static const struct scenario scenarios[] = {
    { "one_core_per_thread", one_core_per_thread, NULL },
    { "app_nop", app_nop, NULL },
    { "app_timeout", app_timeout, NULL },
    { "app_pipe_read", app_pipe_read, NULL },
    { "handler_queues_more", handler_queues_more, NULL },
    { "user_data_zero", user_data_zero, NULL },
    { "sqe_never_null", sqe_never_null, NULL },
    { "opts_reserved_nonzero", opts_reserved_nonzero, NULL },
    { "defer_fifo", defer_fifo, NULL },
    { "pending_task_no_wait", pending_task_no_wait, NULL },
    { "run_timeouts", run_timeouts, NULL },
    { "nested_run", nested_run, NULL },
    { "fd_loop_fresh_core", fd_loop_fresh_core, NULL },
    { "fd_loop_after_turn", fd_loop_after_turn, NULL },
    { "fd_loop_fresh_core_eventfd", fd_loop_fresh_core, forced },
    { "fd_loop_after_turn_eventfd", fd_loop_after_turn, forced },
    { "fd_loop_app_work", fd_loop_app_work, NULL },
    { "second_thread", second_thread, NULL },
    { "destroy_with_ops_in_flight", destroy_with_ops_in_flight, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
