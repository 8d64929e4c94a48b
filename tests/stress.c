/*
 * Many threads, many jobs, many requests: 2 threads x 64 jobs share 100 000
 * requests per thread, a mix of answers and failures, each checked; then the
 * process's descriptors and heap are back where they started. A mixed run puts
 * a core thread, a foreign-callback thread and an fd thread side by side.
 */
#include <errno.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include "harness.h"

#define JOBS 64

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

struct thread_run {
    enum t_mode mode;
    int requests;
    _Atomic int next;   /* requests handed out so far */
    _Atomic int wrong;  /* answers that did not match */
    _Atomic int failed; /* expected failures seen */
    int driver_rc;
};

static _Atomic int released;

static int body(struct t_job *j)
{
    struct thread_run *t = j->arg;
    int n;

    while ((n = atomic_fetch_add(&t->next, 1)) < t->requests) {
        /* Every seventh request fails on purpose. */
        int expect = n % 7 == 3 ? -EIO : 0;
        int rc = t_offload(&(struct t_offload_args){ .fn = t_work_compute, .in = n,
                                                     .result = expect, .released = &released });

        if (rc != expect)
            atomic_fetch_add(&t->wrong, 1);
        else if (rc != 0)
            atomic_fetch_add(&t->failed, 1);
    }
    return 0;
}

static void *thread_main(void *arg)
{
    struct thread_run *t = arg;
    struct t_job *jobs = calloc(JOBS, sizeof(*jobs));
    struct t_driver d;

    t->driver_rc = t_driver_init(&d, t->mode, jobs, JOBS, body, t);
    if (t->driver_rc == 0)
        t->driver_rc = t_driver_run(&d, jobs, JOBS, 240000);
    t_driver_fini(&d, jobs, JOBS);
    free(jobs);
    /* OpenSSL's per-thread ASYNC state goes now, not at process exit. */
    OPENSSL_thread_stop();
    return NULL;
}

static int run(const enum t_mode *modes, int nthreads, int per_thread)
{
    struct thread_run runs[3];
    pthread_t threads[3];
    struct rc_stats before, s;
    struct mallinfo2 m0 = { 0 }, m1;
    int fds0 = 0, fds1, total = nthreads * per_thread;

    /* The first, unmeasured round sets up what lives as long as the process. */
    for (int round = 0; round < 2; round++) {
        atomic_store(&released, 0);
        if (round == 1) {
            fds0 = t_count_fds();
            m0 = mallinfo2();
        }
        rc_stats_total(&before);
        for (int i = 0; i < nthreads; i++) {
            runs[i] = (struct thread_run){ .mode = modes[i], .requests = round ? per_thread : 1000 };
            pthread_create(&threads[i], NULL, thread_main, &runs[i]);
        }
        for (int i = 0; i < nthreads; i++)
            pthread_join(threads[i], NULL);
        rc_shutdown();
        if (round == 0)
            continue;
        fds1 = t_count_fds();
        m1 = mallinfo2();
        t_stats_since(&before, &s);
        for (int i = 0; i < nthreads; i++) {
            CHECK(runs[i].driver_rc == 0, "%s thread: %d", t_mode_names[runs[i].mode],
                  runs[i].driver_rc);
            CHECK_EQ(runs[i].wrong, 0);
            CHECK_EQ(runs[i].failed, (per_thread + 3) / 7);
        }
        CHECK_EQ(s.submitted, total);
        CHECK_EQ(s.completed, total);
        CHECK_EQ(s.errors, nthreads * ((per_thread + 3) / 7));
        CHECK_EQ(atomic_load(&released), total);
        CHECK_EQ(fds1, fds0);
        if (!SANITIZED)
            CHECK((long)m1.uordblks - (long)m0.uordblks < 64 * 1024,
                  "heap in use grew from %zu to %zu bytes", m0.uordblks, m1.uordblks);
        printf("  %d requests: heap in use %zu -> %zu bytes, %d -> %d fds\n", total,
               m0.uordblks, m1.uordblks, fds0, fds1);
    }
    return T_PASS;
}

static int two_cores(void)
{
    static const enum t_mode modes[] = { T_CORE, T_CORE };

    return run(modes, 2, SANITIZED ? 20000 : 100000);
}

static int mixed(void)
{
    static const enum t_mode modes[] = { T_CORE, T_CALLBACK, T_FD };

    return run(modes, 3, SANITIZED ? 5000 : 20000);
}

static const char *const forced[] = { "RINGCRYPT_FORCE_EVENTFD=1", NULL };

static const struct scenario scenarios[] = {
    { "two_cores_msg_ring", two_cores, NULL },
    { "two_cores_eventfd", two_cores, forced },
    { "core_callback_fd", mixed, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
