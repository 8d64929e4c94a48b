/*
 * The fd-mode wait ctx contract, checked the way HAProxy's ssl_sock.c (and
 * nginx's async mode) depend on it: many server SSLs on one thread, in fd
 * mode (SSL_MODE_ASYNC, no callback). After SSL_ERROR_WANT_ASYNC the driver
 * registers every fd SSL_get_changed_async_fds adds and deletes every one it
 * removes; it polls the SSL's fds and resumes it when one is readable; at
 * close it deletes every fd SSL_get_all_async_fds returns, and a connection
 * cut while its job is paused is freed HAProxy's way (wait for the fd, delete
 * them all, SSL_free without resuming). Deleting an fd never announced to the
 * driver is what aborted HAProxy ("fd_tgid(fd) != 1" in fd_delete); here it
 * is a test failure, as is an announced fd that is not in the wait ctx.
 *
 * "forced" scenarios make offloads complete before their job can pause: the
 * driving thread runs under SCHED_IDLE on the one CPU the workers have, and
 * the workers under SCHED_FIFO (where allowed: root), so the worker woken by
 * a submission preempts the driver and finishes the operation before the job
 * gets the CPU back, however loaded the machine. Every request must still
 * pause its job once, and each fd wake-up must answer exactly one pause.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include "cert.h"
#include "harness.h"

#define CONNS 48
#define MAX_FDS 8
#define FD_TABLE 4096
#define RUN_MS 120000
#define STATS_MS 20000

/* What the "application" has been told, as HAProxy's fdtab holds it: fd -> owner. */
static struct conn *fdtab[FD_TABLE];

struct conn {
    SSL *s, *c;
    BIO *s_in, *c_in; /* the SSLs own them; the driver writes the peer's bytes here */
    BIO *s_out, *c_out;
    bool live, paused, cut, corrupt, hello_seen;
    int fds[MAX_FDS]; /* the fds it registered, as the app's list */
    size_t nfds;
};

struct plan {
    int tls_version;
    const char *key_type;
    int handshakes;     /* in all, over CONNS connections */
    int cut_every;      /* every Nth connection is closed while paused (0: none) */
    bool corrupt;       /* every client's X25519 key share is zeroed */
    bool forced;        /* SCHED_IDLE driver, everything on one CPU */
};

struct tally {
    int done, failed, cut, want_async, ready_at_pause;
    const char *violation;
};

static struct {
    OSSL_LIB_CTX *slib, *clib;
    OSSL_PROVIDER *cprov;
    SSL_CTX *sctx, *cctx;
    EVP_PKEY *key;
    X509 *cert;
} w;

static void violation(struct tally *t, const char *what, int fd)
{
    if (t->violation == NULL) {
        t->violation = what;
        fprintf(stderr, "contract broken: %s (fd %d)\n", what, fd);
    }
}

/* HAProxy's fd_insert of an fd that SSL_get_changed_async_fds added. */
static void fd_insert(struct conn *cn, int fd, struct tally *t)
{
    if (fd < 0 || fd >= FD_TABLE || fdtab[fd] != NULL || cn->nfds == MAX_FDS) {
        violation(t, "added an fd that is invalid or already registered", fd);
        return;
    }
    fdtab[fd] = cn;
    cn->fds[cn->nfds++] = fd;
}

/* HAProxy's fd_delete: aborts on an fd the connection never registered. */
static void fd_delete(struct conn *cn, int fd, struct tally *t)
{
    if (fd < 0 || fd >= FD_TABLE || fdtab[fd] != cn) {
        violation(t, "deleting an fd never announced to this connection", fd);
        return;
    }
    fdtab[fd] = NULL;
    for (size_t i = 0; i < cn->nfds; i++)
        if (cn->fds[i] == fd)
            cn->fds[i] = cn->fds[--cn->nfds];
}

/* After SSL_ERROR_WANT_ASYNC: ssl_async_process_fds. */
static void process_changed_fds(struct conn *cn, struct tally *t)
{
    OSSL_ASYNC_FD add[MAX_FDS], del[MAX_FDS], all[MAX_FDS];
    size_t nadd = 0, ndel = 0, nall = 0;

    if (!SSL_get_changed_async_fds(cn->s, NULL, &nadd, NULL, &ndel) || nadd > MAX_FDS
        || ndel > MAX_FDS || !SSL_get_changed_async_fds(cn->s, add, &nadd, del, &ndel)) {
        violation(t, "cannot read the changed fds", -1);
        return;
    }
    /* ringcrypt never withdraws an fd it announced while the SSL lives. */
    if (ndel != 0)
        violation(t, "an announced fd was withdrawn", del[0]);
    for (size_t i = 0; i < ndel; i++)
        fd_delete(cn, del[i], t);
    for (size_t i = 0; i < nadd; i++)
        fd_insert(cn, add[i], t);
    if (!SSL_get_all_async_fds(cn->s, NULL, &nall) || nall > MAX_FDS
        || !SSL_get_all_async_fds(cn->s, all, &nall)) {
        violation(t, "cannot read the fds", -1);
        return;
    }
    if (nall == 0)
        violation(t, "paused with no fd to wait on", -1);
    for (size_t i = 0; i < nall; i++) {
        if (all[i] < 0 || all[i] >= FD_TABLE || fdtab[all[i]] != cn) {
            violation(t, "an fd to poll was never announced", all[i]);
            continue;
        }
        if (poll(&(struct pollfd){ .fd = all[i], .events = POLLIN }, 1, 0) == 1)
            t->ready_at_pause++;
    }
}

/* ssl_sock_close (job finished) and ssl_async_fd_free (job paused): delete all, free. */
static void close_conn(struct conn *cn, struct tally *t)
{
    OSSL_ASYNC_FD all[MAX_FDS];
    size_t nall = 0;

    if (!SSL_get_all_async_fds(cn->s, NULL, &nall) || nall > MAX_FDS
        || !SSL_get_all_async_fds(cn->s, all, &nall))
        violation(t, "cannot read the fds at close", -1);
    for (size_t i = 0; i < nall; i++)
        fd_delete(cn, all[i], t);
    if (cn->nfds != 0)
        violation(t, "a registered fd is no longer in the wait ctx", cn->fds[0]);
    while (cn->nfds > 0)
        fd_delete(cn, cn->fds[0], t);
    SSL_free(cn->s);
    SSL_free(cn->c);
    cn->s = cn->c = NULL;
    cn->live = cn->paused = false;
}

static int open_conn(struct conn *cn, const struct plan *p, int serial)
{
    memset(cn, 0, sizeof(*cn));
    cn->s = SSL_new(w.sctx);
    cn->c = SSL_new(w.cctx);
    cn->s_in = BIO_new(BIO_s_mem());
    cn->s_out = BIO_new(BIO_s_mem());
    cn->c_in = BIO_new(BIO_s_mem());
    cn->c_out = BIO_new(BIO_s_mem());
    if (cn->s == NULL || cn->c == NULL || cn->s_in == NULL || cn->s_out == NULL
        || cn->c_in == NULL || cn->c_out == NULL) {
        t_print_errors("open");
        return -1;
    }
    SSL_set_bio(cn->s, cn->s_in, cn->s_out);
    SSL_set_bio(cn->c, cn->c_in, cn->c_out);
    SSL_set_accept_state(cn->s);
    SSL_set_connect_state(cn->c);
    cn->live = true;
    cn->cut = p->cut_every > 0 && serial % p->cut_every == p->cut_every - 1;
    cn->corrupt = p->corrupt;
    return 0;
}

/* Zeroes the X25519 key share of a ClientHello (the first share offered): the server's derive must then fail. */
static void zero_key_share(unsigned char *b, size_t n)
{
    static const unsigned char share[] = { 0x00, 0x1d, 0x00, 0x20 };

    for (size_t i = 0; i + sizeof(share) + 32 <= n; i++)
        if (memcmp(b + i, share, sizeof(share)) == 0) {
            memset(b + i + sizeof(share), 0, 32);
            return;
        }
}

/* Moves what each side wrote to the other; true if anything moved. */
static bool shuttle(struct conn *cn)
{
    unsigned char buf[16384];
    bool moved = false;
    int n;

    while ((n = BIO_read(cn->c_out, buf, sizeof(buf))) > 0) {
        if (cn->corrupt && !cn->hello_seen)
            zero_key_share(buf, (size_t)n);
        cn->hello_seen = true;
        BIO_write(cn->s_in, buf, n);
        moved = true;
    }
    while ((n = BIO_read(cn->s_out, buf, sizeof(buf))) > 0) {
        BIO_write(cn->c_in, buf, n);
        moved = true;
    }
    return moved;
}

/* Runs a live, unpaused connection until it pauses, finishes or needs nothing more. */
static void step(struct conn *cn, struct tally *t)
{
    for (;;) {
        int r, err;

        (void)SSL_do_handshake(cn->c);
        shuttle(cn);
        ERR_clear_error();
        r = SSL_do_handshake(cn->s);
        err = SSL_get_error(cn->s, r);
        if (err == SSL_ERROR_WANT_ASYNC) {
            t->want_async++;
            cn->paused = true;
            process_changed_fds(cn, t);
            return;
        }
        if (r == 1 || (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)) {
            shuttle(cn);
            (void)SSL_do_handshake(cn->c);
            if (r == 1 && SSL_is_init_finished(cn->c))
                t->done++;
            else
                t->failed++;
            close_conn(cn, t);
            return;
        }
        /* Both wait for the other: until the driver comes round again. */
        if (!shuttle(cn))
            return;
    }
}

/* The driver's loop: poll the paused connections' fds, resume (or free) the ready ones. */
static void drive(const struct plan *p, struct tally *t)
{
    static struct conn conns[CONNS];
    struct pollfd pfd[CONNS * MAX_FDS];
    struct conn *owner[CONNS * MAX_FDS];
    int opened = 0;
    long start = t_now_ms();

    for (;;) {
        nfds_t n = 0;
        bool any = false;

        for (int i = 0; i < CONNS; i++) {
            struct conn *cn = &conns[i];

            if (!cn->live && opened < p->handshakes && open_conn(cn, p, opened++) != 0) {
                violation(t, "cannot open a connection", -1);
                return;
            }
            if (cn->live && !cn->paused)
                step(cn, t);
            if (!cn->live)
                continue;
            any = true;
            for (size_t f = 0; f < cn->nfds; f++) {
                pfd[n] = (struct pollfd){ .fd = cn->fds[f], .events = POLLIN };
                owner[n++] = cn;
            }
        }
        if (!any && opened >= p->handshakes)
            return;
        if (t_now_ms() - start > RUN_MS) {
            violation(t, "handshakes did not finish in time", -1);
            return;
        }
        if (n == 0)
            continue;
        if (poll(pfd, n, 1000) <= 0)
            continue;
        for (nfds_t i = 0; i < n; i++) {
            struct conn *cn = owner[i];

            if (!(pfd[i].revents & POLLIN) || !cn->live || !cn->paused)
                continue;
            cn->paused = false;
            if (cn->cut) {
                t->cut++;
                close_conn(cn, t);
            }
        }
    }
}

struct driven {
    const struct plan *plan;
    struct tally tally;
};

static void *driver_thread(void *arg)
{
    struct driven *d = arg;

    drive(d->plan, &d->tally);
    return NULL;
}

static int world_init(const struct plan *p)
{
    w.slib = t_provider_libctx();
    w.clib = OSSL_LIB_CTX_new();
    w.cprov = w.clib != NULL ? OSSL_PROVIDER_load(w.clib, "default") : NULL;
    if (w.slib == NULL || w.cprov == NULL
        || cert_make_self_signed(w.slib, p->key_type, &w.key, &w.cert) != 0)
        goto fail;
    w.sctx = SSL_CTX_new_ex(w.slib, NULL, TLS_server_method());
    w.cctx = SSL_CTX_new_ex(w.clib, NULL, TLS_client_method());
    if (w.sctx == NULL || w.cctx == NULL)
        goto fail;
    SSL_CTX_set_mode(w.sctx, SSL_MODE_ASYNC);
    SSL_CTX_set_session_cache_mode(w.sctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(w.sctx, 0);
    if (SSL_CTX_use_certificate(w.sctx, w.cert) != 1 || SSL_CTX_use_PrivateKey(w.sctx, w.key) != 1
        || !SSL_CTX_set_min_proto_version(w.cctx, p->tls_version)
        || !SSL_CTX_set_max_proto_version(w.cctx, p->tls_version)
        || !SSL_CTX_set1_groups_list(w.cctx, "X25519:P-256"))
        goto fail;
    return 0;
fail:
    t_print_errors("set-up");
    return -1;
}

static void world_fini(void)
{
    SSL_CTX_free(w.sctx);
    SSL_CTX_free(w.cctx);
    X509_free(w.cert);
    EVP_PKEY_free(w.key);
    t_provider_free(w.slib);
    OSSL_PROVIDER_unload(w.cprov);
    OSSL_LIB_CTX_free(w.clib);
}

/* Waits for counters the completing threads move after the wake-up the driver saw. */
static void settled_stats(const struct rc_stats *before, struct rc_stats *s)
{
    long start = t_now_ms();

    do {
        t_stats_since(before, s);
        if (s->fd_wakes >= s->paused && s->completed >= s->submitted)
            return;
        usleep(1000);
    } while (t_now_ms() - start < STATS_MS);
}

static int run(const struct plan *p)
{
    struct driven d = { .plan = p };
    struct rc_stats before, s;
    pthread_attr_t attr;
    pthread_t thread;
    int fds_before;

    bool fifo = false;

    if (p->forced) {
        cpu_set_t one;

        /* Workers start with the provider and inherit this thread's CPUs and policy. */
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
        CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
        fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO,
                                     &(struct sched_param){ .sched_priority = 1 }) == 0;
    }
    if (world_init(p) != 0)
        return T_FAIL;
    if (fifo)
        CHECK_EQ(pthread_setschedparam(pthread_self(), SCHED_OTHER,
                                       &(struct sched_param){ .sched_priority = 0 }), 0);
    fds_before = t_count_fds();
    rc_stats_total(&before);
    pthread_attr_init(&attr);
    if (p->forced) {
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_IDLE);
        pthread_attr_setschedparam(&attr, &(struct sched_param){ .sched_priority = 0 });
    }
    CHECK_EQ(pthread_create(&thread, &attr, driver_thread, &d), 0);
    pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
    settled_stats(&before, &s);

    fprintf(stderr,
            "  %d handshakes, %d failed, %d cut while paused; %d WANT_ASYNC (%d with the answer "
            "already in); submitted %llu, paused %llu, resumed %llu, fd wakes %llu\n",
            d.tally.done, d.tally.failed, d.tally.cut, d.tally.want_async,
            d.tally.ready_at_pause, (unsigned long long)s.submitted, (unsigned long long)s.paused,
            (unsigned long long)s.resumed, (unsigned long long)s.fd_wakes);
    CHECK(d.tally.violation == NULL, "%s", d.tally.violation);
    CHECK_EQ(d.tally.done + d.tally.failed + d.tally.cut, p->handshakes);
    if (p->corrupt) {
        CHECK_EQ(d.tally.failed, p->handshakes);
        CHECK(s.errors >= (uint64_t)p->handshakes, "%llu errors",
              (unsigned long long)s.errors);
    } else {
        CHECK_EQ(d.tally.failed, 0);
    }
    /* Without SCHED_FIFO a loaded machine may let the driver run first: then it proves less. */
    if (fifo)
        CHECK(d.tally.ready_at_pause > 0, "no offload completed before its pause: not forced");
    else if (p->forced)
        fprintf(stderr, "  (workers not SCHED_FIFO: completions before the pause not forced)\n");
    /* Every submission paused its job once, and every fd wake answered a pause. */
    CHECK_EQ(s.paused, s.submitted);
    CHECK_EQ(s.fd_wakes, s.paused);
    CHECK_EQ(s.callbacks, 0);
    CHECK_EQ(s.resumed + (uint64_t)d.tally.cut, s.paused);
    CHECK_EQ((uint64_t)d.tally.want_async, s.paused);
    CHECK(s.submitted >= 2 * (uint64_t)(d.tally.done), "%llu offloads for %d handshakes",
          (unsigned long long)s.submitted, d.tally.done);
    world_fini();
    /* Abandoned jobs' requests let go of their eventfds when their workers are done. */
    for (long start = t_now_ms(); t_count_fds() > fds_before && t_now_ms() - start < STATS_MS;)
        usleep(1000);
    CHECK_EQ(t_count_fds(), fds_before);
    return t_failures == 0 ? T_PASS : T_FAIL;
}

static int tls13_ec_forced(void)
{
    return run(&(struct plan){ TLS1_3_VERSION, "ec", 400, 10, false, true });
}

static int tls12_rsa_forced(void)
{
    return run(&(struct plan){ TLS1_2_VERSION, "rsa", 200, 10, false, true });
}

static int tls13_rsa_concurrent(void)
{
    return run(&(struct plan){ TLS1_3_VERSION, "rsa", 300, 10, false, false });
}

static int tls12_ec_concurrent(void)
{
    return run(&(struct plan){ TLS1_2_VERSION, "ec", 300, 10, false, false });
}

/* A derive that fails on the worker: the job still pauses, the handshake fails, close is clean. */
static int failed_derive_forced(void)
{
    return run(&(struct plan){ TLS1_3_VERSION, "ec", 100, 0, true, true });
}

static const char *const one_worker[] = { "RINGCRYPT_WORKERS=1", NULL };

static const struct scenario scenarios[] = {
    { "tls13_ec_forced", tls13_ec_forced, one_worker },
    { "tls12_rsa_forced", tls12_rsa_forced, one_worker },
    { "tls13_rsa_concurrent", tls13_rsa_concurrent, NULL },
    { "tls12_ec_concurrent", tls12_ec_concurrent, NULL },
    { "failed_derive_forced", failed_derive_forced, one_worker },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
