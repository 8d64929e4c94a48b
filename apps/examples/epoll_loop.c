/*
 * ringcrypt inside an event loop the application already has: an epoll set
 * holding the application's own descriptor (a timerfd here, standing for its
 * sockets) and the core's rc_core_fd. Each tick starts an ECDSA signature in
 * an ASYNC job; the job pauses while a worker signs, the core's fd turns
 * readable, rc_core_poll calls the wait ctx's callback and the loop resumes
 * the job. After --count N verified signatures (16 by default) it prints its
 * core's counters and exits 0.
 *
 *   OPENSSL_MODULES=build build/examples/epoll_loop --count 100
 */
#include <ringcrypt.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <openssl/async.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#define DEPTH 4 /* signatures in flight at once */

static const char usage[] = "usage: epoll_loop [--count N]\n";
static const unsigned char msg[] = "signed from an epoll loop";

struct job {
    ASYNC_JOB *job;        /* NULL: the slot is free */
    ASYNC_WAIT_CTX *wctx;
    int ready;             /* set by the callback: resume the job */
    EVP_PKEY *key;
    OSSL_LIB_CTX *libctx;
    unsigned char sig[128];
    size_t siglen;
};

/* Inside the job: the provider offloads the signature and the job pauses. */
static int sign(void *arg)
{
    struct job *j = *(struct job **)arg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;

    j->siglen = sizeof(j->sig);
    ok = md != NULL && EVP_DigestSignInit_ex(md, NULL, "SHA256", j->libctx, NULL, j->key, NULL) == 1
         && EVP_DigestSign(md, j->sig, &j->siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* Called by rc_core_poll on this thread: only marks the job, the loop resumes it. */
static int wake(void *arg)
{
    ((struct job *)arg)->ready = 1;
    return 1;
}

/* Starts or resumes j's job: 1 finished and verified, 0 paused, -1 failed. */
static int step(struct job *j)
{
    EVP_MD_CTX *md;
    int ret = 0, ok;

    j->ready = 0;
    switch (ASYNC_start_job(&j->job, j->wctx, &ret, sign, &j, sizeof(j))) {
    case ASYNC_PAUSE:
        return 0;
    case ASYNC_FINISH:
        break;
    default:
        ret = 0;
    }
    j->job = NULL;
    ASYNC_WAIT_CTX_free(j->wctx);
    j->wctx = NULL;
    md = EVP_MD_CTX_new();
    ok = ret == 1 && md != NULL
         && EVP_DigestVerifyInit_ex(md, NULL, "SHA256", j->libctx, NULL, j->key, NULL) == 1
         && EVP_DigestVerify(md, j->sig, j->siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 1 : -1;
}

int main(int argc, char **argv)
{
    struct job jobs[DEPTH] = { 0 };
    struct itimerspec tick = { .it_interval.tv_nsec = 1000000, .it_value.tv_nsec = 1000000 };
    struct epoll_event ev = { .events = EPOLLIN }, got[2];
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov = NULL;
    EVP_PKEY *key = NULL;
    struct rc_core *core = NULL;
    struct rc_stats st;
    long count = 16, started = 0, done = 0;
    int ep = -1, tfd = -1, cfd, status = 1, rc, i, n;
    char *end = NULL;

    if (argc == 3 && strcmp(argv[1], "--count") == 0)
        count = strtol(argv[2], &end, 10);
    if (argc != 1 && (end == NULL || *end != '\0' || end == argv[2] || count < 1 || count > 1000000)) {
        fprintf(stderr, "epoll_loop: %s: unknown option or bad value\n%s", argv[end == NULL ? 1 : 2], usage);
        return 2;
    }

    libctx = OSSL_LIB_CTX_new();
    prov = libctx != NULL ? OSSL_PROVIDER_load(libctx, "ringcrypt") : NULL;
    key = prov != NULL ? EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256") : NULL;
    if (key == NULL) {
        fprintf(stderr, "epoll_loop: no P-256 key from the ringcrypt provider\n");
        ERR_print_errors_fp(stderr);
        goto out;
    }
    rc = rc_core_create(NULL, &core);
    cfd = rc == 0 ? rc_core_fd(core) : rc;
    if (cfd < 0) {
        fprintf(stderr, "epoll_loop: core: %s\n", strerror(-cfd));
        goto out;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    ev.data.fd = cfd;
    if (ep < 0 || tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) < 0
        || (ev.data.fd = tfd, epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev)) < 0
        || timerfd_settime(tfd, 0, &tick, NULL) < 0) {
        perror("epoll_loop: epoll or timerfd");
        goto out;
    }

    while (done < count) {
        n = epoll_wait(ep, got, 2, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_loop: epoll_wait");
            goto out;
        }
        for (i = 0; i < n; i++) {
            uint64_t ticks;

            if (got[i].data.fd == cfd) {
                /* Completions: the callbacks of finished offloads run here. */
                rc = rc_core_poll(core);
                if (rc < 0) {
                    fprintf(stderr, "epoll_loop: rc_core_poll: %s\n", strerror(-rc));
                    goto out;
                }
            } else if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
                /* The application's own event: a free slot starts a signature. */
                for (int s = 0; s < DEPTH && started < count; s++) {
                    if (jobs[s].wctx != NULL)
                        continue;
                    jobs[s] = (struct job){ .key = key, .libctx = libctx, .ready = 1,
                                            .wctx = ASYNC_WAIT_CTX_new() };
                    if (jobs[s].wctx == NULL
                        || !ASYNC_WAIT_CTX_set_callback(jobs[s].wctx, wake, &jobs[s])) {
                        fprintf(stderr, "epoll_loop: no wait ctx\n");
                        goto out;
                    }
                    started++;
                }
            }
        }
        /* Resume (or start) every job whose callback ran. */
        for (i = 0; i < DEPTH; i++) {
            if (jobs[i].wctx == NULL || !jobs[i].ready)
                continue;
            rc = step(&jobs[i]);
            if (rc < 0) {
                fprintf(stderr, "epoll_loop: a signature failed\n");
                ERR_print_errors_fp(stderr);
                goto out;
            }
            done += rc;
        }
    }
    rc_core_stats(core, &st);
    printf("verified %ld offloaded %llu paused %llu callbacks %llu errors %llu\n",
           done, (unsigned long long)st.submitted, (unsigned long long)st.paused,
           (unsigned long long)st.callbacks, (unsigned long long)st.errors);
    status = 0;
out:
    for (i = 0; i < DEPTH; i++)
        ASYNC_WAIT_CTX_free(jobs[i].wctx); /* only after a failure: the job is abandoned */
    if (tfd >= 0)
        close(tfd);
    if (ep >= 0)
        close(ep);
    if (core != NULL)
        rc_core_destroy(core);
    ASYNC_cleanup_thread();
    EVP_PKEY_free(key);
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(libctx);
    return status;
}
