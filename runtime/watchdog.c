#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

#include "clock.h"
#include "runtime.h"

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rc_link list;
    pthread_t thread;
    bool started, stop;
} wd = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .list = { &wd.list, &wd.list },
};

/* Called and returns with the lock held; drops it while completing. */
static void end_locked(struct rc_req *req, int outcome)
{
    rc_list_remove(&req->link);
    req->watched = false;
    /* Its backend may answer and its caller free it the moment the lock goes. */
    rc_req_get(req);
    pthread_mutex_unlock(&wd.lock);
    rc_req_finish(req, outcome,
                  RC_FINISH_WAKE | (outcome == -ETIMEDOUT ? RC_FINISH_EXPIRED : 0));
    rc_req_put(req);
    pthread_mutex_lock(&wd.lock);
}

/*
 * Every request gets the same timeout, so one that arrives while the list is
 * empty has its deadline no earlier than the end of a timeout-long sleep
 * begun before it: an empty list sleeps that long, and a new request never
 * has to wake this thread (a wake-up per operation on a thread of its own,
 * when operations come one at a time).
 */
static void *watchdog_main(void *arg)
{
    sem_post(arg);
    pthread_mutex_lock(&wd.lock);
    while (!wd.stop) {
        struct rc_link *first = rc_list_first(&wd.list);
        struct rc_req *req = first != NULL ? rc_container_of(first, struct rc_req, link) : NULL;
        uint64_t until = req != NULL ? req->deadline_ns
                                     : rc_now_ns() + (uint64_t)rc_runtime_config()->timeout_ms * 1000000u;
        struct timespec ts;

        if (req == NULL || req->deadline_ns > rc_now_ns()) {
            ts.tv_sec = (time_t)(until / 1000000000u);
            ts.tv_nsec = (long)(until % 1000000000u);
            pthread_cond_timedwait(&wd.cond, &wd.lock, &ts);
            continue;
        }
        end_locked(req, -ETIMEDOUT);
    }
    pthread_mutex_unlock(&wd.lock);
    return NULL;
}

/*
 * Returns once the thread runs its own code: a thread still being set up
 * (by the sanitizers' runtimes, say) may hold an allocator's lock, and a
 * fork() meanwhile would leave that lock taken in the child for good.
 */
static int start_locked(void)
{
    pthread_condattr_t attr;
    sem_t running;
    int rc;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wd.cond, &attr);
    pthread_condattr_destroy(&attr);
    sem_init(&running, 0, 0);
    wd.stop = false;
    rc = pthread_create(&wd.thread, NULL, watchdog_main, &running);
    if (rc != 0) {
        pthread_cond_destroy(&wd.cond);
        sem_destroy(&running);
        return -rc;
    }
    sem_wait(&running);
    sem_destroy(&running);
    wd.started = true;
    return 0;
}

int rc_watchdog_watch(struct rc_req *req)
{
    int rc = 0;

    pthread_mutex_lock(&wd.lock);
    if (!wd.started)
        rc = start_locked();
    if (rc == 0) {
        rc_list_append(&wd.list, &req->link);
        req->watched = true;
    }
    pthread_mutex_unlock(&wd.lock);
    return rc;
}

void rc_watchdog_unwatch(struct rc_req *req)
{
    pthread_mutex_lock(&wd.lock);
    if (req->watched) {
        rc_list_remove(&req->link);
        req->watched = false;
    }
    pthread_mutex_unlock(&wd.lock);
}

void rc_watchdog_stop(void)
{
    struct rc_link *l;

    pthread_mutex_lock(&wd.lock);
    if (!wd.started) {
        pthread_mutex_unlock(&wd.lock);
        return;
    }
    wd.stop = true;
    pthread_cond_signal(&wd.cond);
    pthread_mutex_unlock(&wd.lock);
    pthread_join(wd.thread, NULL);

    pthread_mutex_lock(&wd.lock);
    /* Stopped backends answered all they could; a stuck one never will. */
    while ((l = rc_list_first(&wd.list)) != NULL)
        end_locked(rc_container_of(l, struct rc_req, link), -ESHUTDOWN);
    pthread_cond_destroy(&wd.cond);
    wd.started = false;
    pthread_mutex_unlock(&wd.lock);
}

void rc_watchdog_forget_after_fork(void)
{
    /* The thread did not survive the fork, and the lock may have been held by another. */
    pthread_mutex_init(&wd.lock, NULL);
    rc_list_init(&wd.list);
    wd.started = false;
    wd.stop = false;
}
