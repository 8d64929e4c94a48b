/*
 * ringcrypt-load: a TLS load client on io_uring, to measure ringcrypt-echo.
 * Each thread has its own rc_core as its event loop and a set of connection
 * slots: connect goes through the ring (IORING_OP_CONNECT), TLS through
 * tls_conn.c (client side, default library context, no SSL_MODE_ASYNC, no
 * certificate verification). A handshake slot loops connect, full handshake,
 * close; an echo slot keeps one connection and loops write B bytes, read them
 * back; an HTTP slot loops connect, handshake, one GET, check that the status
 * line says 200, close. Latencies go into per-thread log-linear histograms,
 * merged at the end (and every second for --progress).
 */
#include <ctype.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ringcrypt.h"
#include "tls_conn.h"

/* A failed connection is replaced after this pause, so that a dead server is not hammered. */
#define RETRY_MS 10
/* After the run, connections get this long to finish their step and close cleanly. */
#define DRAIN_MS 3000
/* The longest a thread sleeps in its loop: how late it may notice the end of the run. */
#define TICK_MS 100
/* Mixed mode: an echo probe every 5 ms per connection. */
#define DEFAULT_PROBE_US 5000
/* How often the main thread looks whether the workers are done, between progress lines. */
#define POLL_MS 50
#define READ_CHUNK 16384
#define MAX_SIZE (64u << 20)
#define MAX_THREADS 256u
/*
 * HTTP mode: one request per connection; the server closes after answering.
 * Its status line must begin "HTTP/1.x 200 " (HTTP_STATUS_LEN bytes): the
 * rest of the response is not read.
 */
#define HTTP_REQUEST "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
#define HTTP_STATUS_LEN 13
/*
 * Errors are counted by cause: the errno a connection failed with (Linux's
 * are below 134), or CLOSED_BY_PEER for a connection the server ended early.
 */
#define CAUSES 134
#define CLOSED_BY_PEER 0
/* Room for a group's or a signature scheme's name. */
#define NAME_LEN 64

/* ---- latency histograms ------------------------------------------------ */

/*
 * Log-linear buckets: exact below 2 * HIST_SUB µs, then HIST_SUB buckets per
 * power of two (under 1% error) — the memory stays fixed however long the run.
 * One thread writes a histogram while the main thread may read it: atomics,
 * relaxed, since a progress line needs no exact snapshot.
 */
#define HIST_SUB_BITS 7u
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 1u) * HIST_SUB)

struct hist {
    _Atomic uint64_t max;
    _Atomic uint64_t b[HIST_BUCKETS];
};

static unsigned int hist_index(uint64_t v)
{
    unsigned int shift;

    if (v < 2 * HIST_SUB)
        return (unsigned int)v;
    shift = 63u - (unsigned int)__builtin_clzll(v) - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB + (unsigned int)((v >> shift) - HIST_SUB);
}

/* The highest value bucket i holds (wraps to UINT64_MAX for the very last one). */
static uint64_t hist_high(unsigned int i)
{
    unsigned int shift;

    if (i < 2 * HIST_SUB)
        return i;
    shift = i / HIST_SUB - 1;
    return ((uint64_t)(i % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

static void hist_record(struct hist *h, uint64_t v)
{
    atomic_fetch_add_explicit(&h->b[hist_index(v)], 1, memory_order_relaxed);
    /* One writer: a plain compare is enough. */
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        atomic_store_explicit(&h->max, v, memory_order_relaxed);
}

static void hist_merge(struct hist *dst, struct hist *src)
{
    uint64_t m = atomic_load_explicit(&src->max, memory_order_relaxed);

    for (unsigned int i = 0; i < HIST_BUCKETS; i++)
        atomic_fetch_add_explicit(&dst->b[i], atomic_load_explicit(&src->b[i], memory_order_relaxed),
                                  memory_order_relaxed);
    if (m > atomic_load_explicit(&dst->max, memory_order_relaxed))
        atomic_store_explicit(&dst->max, m, memory_order_relaxed);
}

/* The percentile given in thousandths (1000: the maximum), 0 for an empty histogram. */
static uint64_t hist_percentile(struct hist *h, unsigned int permille)
{
    uint64_t total = 0, seen = 0, rank, max = atomic_load_explicit(&h->max, memory_order_relaxed);

    for (unsigned int i = 0; i < HIST_BUCKETS; i++)
        total += atomic_load_explicit(&h->b[i], memory_order_relaxed);
    if (total == 0)
        return 0;
    rank = (total * permille + 999) / 1000;
    for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        if (seen >= rank) {
            uint64_t high = hist_high(i);

            /* The bucket's top may lie above anything recorded. */
            return high < max ? high : max;
        }
    }
    return max;
}

/* ---- configuration ----------------------------------------------------- */

enum mode { MODE_HANDSHAKE, MODE_ECHO, MODE_MIXED, MODE_HTTP };

static const char *const mode_names[] = { "handshake", "echo", "mixed", "http" };

struct options {
    const char *host, *tls;
    const char *ciphers;        /* NULL: OpenSSL's defaults */
    const char *groups;         /* NULL: OpenSSL's defaults */
    unsigned int port, connections, echo_conns, threads, size;
    double duration, cut;
    long echo_interval_us;  /* between an echo's answer and the next message; -1: mode's default */
    enum mode mode;
    bool progress, json;
};

/* What every thread shares, read-only once the threads run. */
struct config {
    const struct options *opt;
    SSL_CTX *ctx;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned char *payload;     /* the message each echo round trip sends and expects back */
};

/* ---- connection slots -------------------------------------------------- */

struct counters {
    _Atomic uint64_t handshakes, round_trips, responses, cut, errors;
    _Atomic uint64_t connects;          /* connects that succeeded */
    _Atomic uint64_t causes[CAUSES];    /* the errors by cause */
    struct hist hs, echo;       /* latencies, µs */
};

enum slot_state {
    SLOT_WAITING,       /* a retry timer or a reconnect task is pending */
    SLOT_CONNECTING,    /* the connect SQE is in flight */
    SLOT_HANDSHAKE,
    SLOT_ECHO,
    SLOT_PACED,         /* an echo connection between round trips (--echo-interval) */
    SLOT_HTTP,          /* the request is going out, the status line coming in */
    SLOT_SHUTDOWN,      /* our close_notify is going out; waiting for the peer's end */
    SLOT_DONE,          /* retired at the end of the run */
};

struct worker;

struct slot {
    struct tls_conn tc;
    struct worker *w;
    enum slot_state state;
    bool echo;          /* a persistent echo connection, else a handshake loop */
    bool cut;           /* this attempt closes once its ClientHello has gone */
    bool quiet;         /* we are closing it on purpose: its end is no error */
    int fd;             /* while connecting: tls_conn owns it afterwards */
    uint64_t t0;        /* µs: start of the connect, then of the current round trip */
    uint64_t next_at;   /* µs: a paced echo's next message */
    size_t woff, roff;  /* bytes of the message written, read back */
    char status[HTTP_STATUS_LEN];   /* the start of an HTTP response */
    struct rc_event ev_connect, ev_retry;
    struct __kernel_timespec retry_ts;  /* read by the kernel when the timeout is submitted */
    struct rc_task reconnect;
};

struct worker {
    pthread_t thread;
    const struct config *cfg;
    struct rc_core *core;
    struct slot *slots;
    unsigned int nslots, live;  /* live: slots not yet retired */
    double cut_acc;
    bool stopping, forced;
    uint64_t started_us, stopped_us, stop_at, drain_until;
    uint64_t cpu_us;            /* this thread's CPU time until the end of the run */
    struct counters st;
    /* What the handshakes agreed on (tls_conn_names); read once the thread has ended. */
    char group[NAME_LEN], sig[NAME_LEN];
    bool varied;                /* not every handshake agreed on the same */
    unsigned char rbuf[READ_CHUNK];
};

/* halt: every thread ends its run (SIGINT/SIGTERM, or give_up). */
static atomic_bool halt;
static atomic_bool run_failed;
static atomic_uint finished_threads;

/* The run cannot be completed: every thread ends, and the exit status says so. */
static void give_up(void)
{
    atomic_store(&run_failed, true);
    atomic_store(&halt, true);
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

#define slot_of(p, member) ((struct slot *)(void *)((char *)(p) - offsetof(struct slot, member)))

static void slot_connect(struct slot *s);

/* PCT attempts in every hundred, spread evenly: an accumulator rather than a random draw. */
static bool wants_cut(struct worker *w)
{
    w->cut_acc += w->cfg->opt->cut;
    if (w->cut_acc < 100.0)
        return false;
    w->cut_acc -= 100.0;
    return true;
}

static void on_retry(struct rc_event *ev, int res, unsigned int flags)
{
    (void)res;
    (void)flags;
    slot_connect(slot_of(ev, ev_retry));
}

static void on_reconnect(struct rc_task *t)
{
    slot_connect(slot_of(t, reconnect));
}

/*
 * A connection (or an attempt at one) is over: count a failure and its cause
 * (an errno or CLOSED_BY_PEER), then replace it — after a pause if it failed,
 * on the next loop turn otherwise (not from inside tls_conn's call chain) —
 * or retire the slot once the run is over.
 */
static void slot_ended(struct slot *s, bool failed, int cause)
{
    struct worker *w = s->w;
    struct io_uring_sqe *sqe;

    if (w->stopping) {
        s->state = SLOT_DONE;
        w->live--;
        return;
    }
    s->state = SLOT_WAITING;
    if (!failed) {
        rc_core_defer(w->core, &s->reconnect);
        return;
    }
    bump(&w->st.errors);
    bump(&w->st.causes[cause > 0 && cause < CAUSES ? cause : CLOSED_BY_PEER]);
    s->retry_ts = (struct __kernel_timespec){ .tv_nsec = RETRY_MS * 1000000LL };
    sqe = rc_core_sqe(w->core);
    io_uring_prep_timeout(sqe, &s->retry_ts, 0, 0);
    io_uring_sqe_set_data(sqe, &s->ev_retry);
}

static void slot_connect(struct slot *s)
{
    const struct config *cfg = s->w->cfg;
    struct io_uring_sqe *sqe;
    int one = 1;

    if (s->w->stopping) {
        slot_ended(s, false, 0);
        return;
    }
    s->fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        slot_ended(s, true, errno);
        return;
    }
    /* Handshake flights and echo messages are small: none may wait for Nagle. */
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sqe = rc_core_sqe(s->w->core);
    io_uring_prep_connect(sqe, s->fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen);
    io_uring_sqe_set_data(sqe, &s->ev_connect);
    s->state = SLOT_CONNECTING;
    /* A handshake's latency counts from here: what a new client waits for before it can talk. */
    s->t0 = now_us();
}

/* ---- the protocol (tls_conn's drive) ----------------------------------- */

/* Sends close_notify and waits for the peer's close_notify or its end of the stream. */
static void drive_shutdown(struct slot *s)
{
    int ret;

    /*
     * 0: our close_notify has gone into the BIO; the next call reads the
     * peer's, so this loops at most twice (once more if the alert waited for room).
     */
    while ((ret = SSL_shutdown(s->tc.ssl)) == 0)
        tls_conn_flush(&s->tc);
    if (tls_conn_after(&s->tc, ret) == TLS_PROGRESS)
        tls_conn_close(&s->tc, 0);
}

/*
 * A clean close rather than a bare socket close: the TLS 1.3 tickets the
 * server sent after the handshake get read, so neither side sees a reset.
 */
static void begin_shutdown(struct slot *s)
{
    s->state = SLOT_SHUTDOWN;
    s->quiet = true;
    drive_shutdown(s);
}

/* Writes what is left of the message msg of size bytes. */
static enum tls_step slot_write(struct slot *s, const void *msg, size_t size)
{
    while (s->woff < size) {
        int ret = SSL_write(s->tc.ssl, (const char *)msg + s->woff, (int)(size - s->woff));
        enum tls_step step = tls_conn_after(&s->tc, ret);

        if (step != TLS_PROGRESS)
            return step;
        s->woff += (size_t)ret;
    }
    return TLS_PROGRESS;
}

static enum tls_step echo_write(struct slot *s)
{
    return slot_write(s, s->w->cfg->payload, s->w->cfg->opt->size);
}

/* Reads the echo back, checking every byte against what was sent. */
static enum tls_step echo_read(struct slot *s)
{
    struct worker *w = s->w;
    size_t size = w->cfg->opt->size;

    while (s->roff < size) {
        size_t want = size - s->roff < READ_CHUNK ? size - s->roff : READ_CHUNK;
        int ret = SSL_read(s->tc.ssl, w->rbuf, (int)want);
        enum tls_step step = tls_conn_after(&s->tc, ret);

        if (step != TLS_PROGRESS)
            return step;
        if (memcmp(w->rbuf, w->cfg->payload + s->roff, (size_t)ret) != 0) {
            tls_conn_close(&s->tc, EBADMSG);
            return TLS_DONE;
        }
        s->roff += (size_t)ret;
    }
    return TLS_PROGRESS;
}

/*
 * Writing and reading both go on each time: a message larger than the
 * socket buffers comes back while it is still being written.
 */
static void drive_echo(struct slot *s)
{
    struct worker *w = s->w;

    for (;;) {
        if (echo_write(s) == TLS_DONE || echo_read(s) != TLS_PROGRESS)
            return;
        if (w->stopping) {
            begin_shutdown(s);
            return;
        }
        hist_record(&w->st.echo, now_us() - s->t0);
        bump(&w->st.round_trips);
        s->woff = s->roff = 0;
        s->t0 = now_us();
        if (w->cfg->opt->echo_interval_us > 0) {
            s->state = SLOT_PACED;
            s->next_at = s->t0 + (uint64_t)w->cfg->opt->echo_interval_us;
            return;
        }
    }
}

/* "HTTP/1.0 200 " or "HTTP/1.1 200 ". */
static bool status_ok(const char *st)
{
    return memcmp(st, "HTTP/1.", 7) == 0 && (st[7] == '0' || st[7] == '1')
           && memcmp(st + 8, " 200 ", 5) == 0;
}

/*
 * The request, then the status line. A response that is not a 200, or a
 * connection closed before it, is a failed attempt (an error while the run
 * lasts). Responses count even after the end of the run: every request sent
 * was for a handshake counted, and each must be answered.
 */
static void drive_http(struct slot *s)
{
    if (slot_write(s, HTTP_REQUEST, sizeof(HTTP_REQUEST) - 1) != TLS_PROGRESS)
        return;
    while (s->roff < HTTP_STATUS_LEN) {
        int ret = SSL_read(s->tc.ssl, s->status + s->roff, (int)(HTTP_STATUS_LEN - s->roff));

        if (tls_conn_after(&s->tc, ret) != TLS_PROGRESS)
            return;
        s->roff += (size_t)ret;
    }
    if (!status_ok(s->status)) {
        tls_conn_close(&s->tc, EBADMSG);
        return;
    }
    bump(&s->w->st.responses);
    begin_shutdown(s);
}

/* The first handshake's group and signature scheme; any later one that differs marks them varied. */
static void note_names(struct worker *w, SSL *ssl)
{
    char group[NAME_LEN], sig[NAME_LEN];

    tls_conn_names(ssl, true, group, sizeof(group), sig, sizeof(sig));
    if (w->group[0] == '\0') {
        memcpy(w->group, group, sizeof(group));
        memcpy(w->sig, sig, sizeof(sig));
    } else if (strcmp(w->group, group) != 0 || strcmp(w->sig, sig) != 0) {
        w->varied = true;
    }
}

static void drive_handshake(struct slot *s)
{
    struct worker *w = s->w;

    /* The ClientHello has gone once the first flight has left both the BIO pair and sbuf. */
    if (s->cut && !SSL_in_before(s->tc.ssl) && tls_conn_unsent(&s->tc) == 0) {
        s->quiet = true;
        if (!w->stopping)
            bump(&w->st.cut);
        tls_conn_close(&s->tc, 0);
        return;
    }
    if (tls_conn_after(&s->tc, SSL_do_handshake(s->tc.ssl)) != TLS_PROGRESS)
        return;
    /* What finishes after the end of the run is outside the measured interval. */
    if (!w->stopping) {
        hist_record(&w->st.hs, now_us() - s->t0);
        bump(&w->st.handshakes);
    }
    note_names(w, s->tc.ssl);
    s->woff = s->roff = 0;
    if (w->cfg->opt->mode == MODE_HTTP && !w->stopping) {
        s->state = SLOT_HTTP;
        drive_http(s);
        return;
    }
    if (!s->echo || w->stopping) {
        begin_shutdown(s);
        return;
    }
    s->state = SLOT_ECHO;
    s->t0 = now_us();
    drive_echo(s);
}

static void conn_drive(struct tls_conn *tc)
{
    struct slot *s = slot_of(tc, tc);

    switch (s->state) {
    case SLOT_HANDSHAKE:
        drive_handshake(s);
        break;
    case SLOT_ECHO:
        drive_echo(s);
        break;
    case SLOT_HTTP:
        drive_http(s);
        break;
    case SLOT_SHUTDOWN:
        drive_shutdown(s);
        break;
    default:
        /* No TLS connection in the other states. */
        break;
    }
}

static void conn_closed(struct tls_conn *tc)
{
    struct slot *s = slot_of(tc, tc);

    slot_ended(s, !s->quiet, s->tc.error);
}

static const struct tls_conn_ops load_ops = { conn_drive, conn_closed };

static void on_connect(struct rc_event *ev, int res, unsigned int flags)
{
    struct slot *s = slot_of(ev, ev_connect);
    struct worker *w = s->w;

    (void)flags;
    if (res < 0 || w->stopping) {
        close(s->fd);
        slot_ended(s, res < 0, -res);
        return;
    }
    bump(&w->st.connects);
    /* tls_conn_start closes the fd when it fails. */
    if (tls_conn_start(&s->tc, w->core, s->fd, w->cfg->ctx, false, &load_ops) != 0) {
        slot_ended(s, true, ENOMEM);
        return;
    }
    s->state = SLOT_HANDSHAKE;
    s->quiet = false;
    s->cut = !s->echo && wants_cut(w);
    conn_drive(&s->tc);
}

/* ---- threads ----------------------------------------------------------- */

static void worker_stop(struct worker *w, uint64_t now)
{
    struct timespec ts;

    w->stopping = true;
    w->stopped_us = now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    w->cpu_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    w->drain_until = now + DRAIN_MS * 1000u;
}

/* The drain took too long: whatever is left closes now. */
static void worker_force(struct worker *w)
{
    w->forced = true;
    for (unsigned int i = 0; i < w->nslots; i++) {
        struct slot *s = &w->slots[i];

        if (s->state == SLOT_CONNECTING)
            /* A connect still waiting for the server fails at once. */
            shutdown(s->fd, SHUT_RDWR);
        else if (s->state == SLOT_HANDSHAKE || s->state == SLOT_ECHO || s->state == SLOT_PACED
                 || s->state == SLOT_HTTP || s->state == SLOT_SHUTDOWN)
            tls_conn_close(&s->tc, ECANCELED);
    }
}

/*
 * Sends the next message of every paced echo whose pause is over (or, once
 * the run stops, closes it); returns how long the loop may sleep, in ms.
 */
static int resume_paced(struct worker *w, uint64_t now)
{
    int wait = TICK_MS;

    for (unsigned int i = 0; i < w->nslots; i++) {
        struct slot *s = &w->slots[i];

        if (s->state != SLOT_PACED)
            continue;
        if (w->stopping || now >= s->next_at) {
            s->state = SLOT_ECHO;
            s->t0 = now_us();
            if (w->stopping)
                begin_shutdown(s);
            else
                drive_echo(s);
        } else if ((s->next_at - now) / 1000 < (uint64_t)wait) {
            wait = (int)((s->next_at - now + 999) / 1000);
        }
    }
    return wait;
}

/* Runs until the end of the run and until every slot is retired; false if the ring failed. */
static bool worker_run(struct worker *w)
{
    w->started_us = now_us();
    w->stop_at = w->started_us + (uint64_t)(w->cfg->opt->duration * 1e6);
    w->live = w->nslots;
    for (unsigned int i = 0; i < w->nslots; i++)
        slot_connect(&w->slots[i]);
    while (!w->stopping || w->live > 0) {
        uint64_t now = now_us();
        int rc;

        if (!w->stopping && (now >= w->stop_at || atomic_load(&halt)))
            worker_stop(w, now);
        if (w->stopping && !w->forced && now >= w->drain_until)
            worker_force(w);
        rc = rc_core_run(w->core, resume_paced(w, now));
        /* Without its ring nothing can finish: what is still open goes with the process. */
        if (rc < 0) {
            fprintf(stderr, "ringcrypt-load: event loop failed: %s\n", strerror(-rc));
            return false;
        }
    }
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int rc = rc_core_create(NULL, &w->core);

    if (rc != 0) {
        fprintf(stderr, "ringcrypt-load: no io_uring core: %s (%s)\n", strerror(-rc),
                rc_last_error());
        give_up();
    } else {
        if (!worker_run(w))
            give_up();
        rc_core_destroy(w->core);
    }
    atomic_fetch_add(&finished_threads, 1);
    return NULL;
}

/*
 * Slot k of all of them goes to thread k % threads: each thread gets its share
 * of both kinds. Mixed mode with two threads or more is the exception: the
 * echo connections get the last thread to themselves, so that their round
 * trips measure the server, not this client's own handshake crypto.
 */
static int workers_make(struct worker *ws, const struct config *cfg)
{
    const struct options *o = cfg->opt;
    unsigned int handshakers = o->mode == MODE_ECHO ? 0 : o->connections;
    unsigned int echoers = o->mode == MODE_ECHO ? o->connections : o->mode == MODE_MIXED ? o->echo_conns : 0;
    bool apart = o->mode == MODE_MIXED && o->threads >= 2;
    unsigned int spread = apart ? o->threads - 1 : o->threads;
    unsigned int total = apart ? handshakers : handshakers + echoers;

    for (unsigned int t = 0; t < o->threads; t++) {
        struct worker *w = &ws[t];
        bool echo_thread = apart && t == o->threads - 1;

        w->cfg = cfg;
        w->nslots = echo_thread ? echoers : total / spread + (t < total % spread);
        w->slots = calloc(w->nslots > 0 ? w->nslots : 1, sizeof(*w->slots));
        if (w->slots == NULL)
            return -1;
        for (unsigned int i = 0; i < w->nslots; i++) {
            struct slot *s = &w->slots[i];

            *s = (struct slot){ .w = w, .fd = -1,
                                .echo = echo_thread || (!apart && t + i * o->threads >= handshakers),
                                .ev_connect = { on_connect }, .ev_retry = { on_retry },
                                .reconnect = { NULL, on_reconnect } };
        }
    }
    return 0;
}

/* ---- results ----------------------------------------------------------- */

struct totals {
    uint64_t handshakes, round_trips, responses, cut, errors, connects;
    char group[NAME_LEN], sig[NAME_LEN];    /* "none" without a handshake, "mixed" if they differed */
    uint64_t causes[CAUSES];
    uint64_t cpu_us;    /* the threads' CPU time over the run: is the client the bottleneck? */
    struct hist hs, echo;
};

static void gather(struct worker *ws, unsigned int n, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned int i = 0; i < n; i++) {
        struct counters *c = &ws[i].st;

        t->handshakes += atomic_load_explicit(&c->handshakes, memory_order_relaxed);
        t->round_trips += atomic_load_explicit(&c->round_trips, memory_order_relaxed);
        t->responses += atomic_load_explicit(&c->responses, memory_order_relaxed);
        t->cut += atomic_load_explicit(&c->cut, memory_order_relaxed);
        t->errors += atomic_load_explicit(&c->errors, memory_order_relaxed);
        t->connects += atomic_load_explicit(&c->connects, memory_order_relaxed);
        for (unsigned int k = 0; k < CAUSES; k++)
            t->causes[k] += atomic_load_explicit(&c->causes[k], memory_order_relaxed);
        hist_merge(&t->hs, &c->hs);
        hist_merge(&t->echo, &c->echo);
    }
}

/* What the threads' handshakes agreed on, once the threads have ended. */
static void gather_names(struct worker *ws, unsigned int n, struct totals *t)
{
    bool varied = false;
    const struct worker *first = NULL;

    for (unsigned int i = 0; i < n; i++) {
        if (ws[i].group[0] == '\0')
            continue;
        if (first == NULL)
            first = &ws[i];
        varied = varied || ws[i].varied || strcmp(ws[i].group, first->group) != 0
                 || strcmp(ws[i].sig, first->sig) != 0;
    }
    snprintf(t->group, sizeof(t->group), "%s", varied ? "mixed" : first != NULL ? first->group : "none");
    snprintf(t->sig, sizeof(t->sig), "%s", varied ? "mixed" : first != NULL ? first->sig : "none");
}

/* The previous progress line's handshake count and time, for the rate over the last second. */
struct tick {
    uint64_t handshakes;
    double at;
};

/*
 * The rate is the last second's, where a slowdown shows at once; the p99 and
 * errors cover the run so far. tests/echo_churn.sh reads fields 6 and 7 ("p99" N).
 */
static void print_progress(struct worker *ws, unsigned int n, struct totals *t, double elapsed,
                           struct tick *prev)
{
    gather(ws, n, t);
    fprintf(stderr, "\r%3.0f s  %7.1f handshakes/s  echo p99 %6llu us  errors %llu  "
            "(rate: last 1 s; rest: so far)  ",
            elapsed, (double)(t->handshakes - prev->handshakes) / (elapsed - prev->at),
            (unsigned long long)hist_percentile(&t->echo, 990), (unsigned long long)t->errors);
    *prev = (struct tick){ t->handshakes, elapsed };
}

/* The most common cause of the errors (0 of them: "", CLOSED_BY_PEER): its name in buf, lower-case. */
static const char *top_cause(const struct totals *t, uint64_t *count, char *buf, size_t len)
{
    unsigned int top = CLOSED_BY_PEER;

    for (unsigned int k = 0; k < CAUSES; k++)
        if (t->causes[k] > t->causes[top])
            top = k;
    *count = t->causes[top];
    if (*count == 0)
        return "";
    snprintf(buf, len, "%s", top == CLOSED_BY_PEER ? "closed by the server" : strerror((int)top));
    buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

struct field {
    const char *key, *label;
    double value;
    int decimals;
};

static void print_report(const struct options *o, struct totals *t, double secs)
{
    double bytes = (double)t->round_trips * (double)o->size;
    const struct field fields[] = {
        { "duration_s", "duration (s)", secs, 3 },
        { "handshakes", "handshakes", (double)t->handshakes, 0 },
        { "handshakes_per_s", "handshakes/s", (double)t->handshakes / secs, 1 },
        { "cut", "cut after ClientHello", (double)t->cut, 0 },
        { "responses", "HTTP 200 responses", (double)t->responses, 0 },
        { "echo_round_trips", "echo round trips", (double)t->round_trips, 0 },
        { "bytes", "bytes echoed", bytes, 0 },
        { "bytes_per_s", "bytes/s", bytes / secs, 0 },
        { "echo_p50_us", "echo p50 (us)", (double)hist_percentile(&t->echo, 500), 0 },
        { "echo_p99_us", "echo p99 (us)", (double)hist_percentile(&t->echo, 990), 0 },
        { "echo_p999_us", "echo p99.9 (us)", (double)hist_percentile(&t->echo, 999), 0 },
        { "echo_max_us", "echo max (us)", (double)hist_percentile(&t->echo, 1000), 0 },
        { "handshake_p50_us", "handshake p50 (us)", (double)hist_percentile(&t->hs, 500), 0 },
        { "handshake_p99_us", "handshake p99 (us)", (double)hist_percentile(&t->hs, 990), 0 },
        { "handshake_p999_us", "handshake p99.9 (us)", (double)hist_percentile(&t->hs, 999), 0 },
        { "handshake_max_us", "handshake max (us)", (double)hist_percentile(&t->hs, 1000), 0 },
        { "errors", "errors", (double)t->errors, 0 },
        { "connects", "connects", (double)t->connects, 0 },
        { "cpu_s", "client CPU (s)", (double)t->cpu_us / 1e6, 3 },
    };
    char buf[128];
    uint64_t top_count;
    const char *top = top_cause(t, &top_count, buf, sizeof(buf));

    if (o->json)
        printf("{\"mode\":\"%s\",\"tls\":\"%s\",\"connections\":%u,\"echo_conns\":%u,"
               "\"threads\":%u,\"size\":%u",
               mode_names[o->mode], o->tls, o->connections, o->mode == MODE_MIXED ? o->echo_conns : 0,
               o->threads, o->size);
    else
        printf("ringcrypt-load: %s, TLS %s, %u connections (+%u echo), %u thread(s), %u-byte messages\n",
               mode_names[o->mode], o->tls, o->connections,
               o->mode == MODE_MIXED ? o->echo_conns : 0, o->threads, o->size);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (o->json)
            printf(",\"%s\":%.*f", fields[i].key, fields[i].decimals, fields[i].value);
        else
            printf("%-24s %.*f\n", fields[i].label, fields[i].decimals, fields[i].value);
    }
    if (o->json)
        printf(",\"group\":\"%s\",\"signature\":\"%s\",\"top_error\":\"%s\",\"top_error_count\":%llu}\n",
               t->group, t->sig, top, (unsigned long long)top_count);
    else
        printf("%-24s %s\n%-24s %s\n", "group", t->group, "signature", t->sig);
    if (!o->json && top_count > 0)
        printf("%-24s %s (%llu)\n", "most common error", top, (unsigned long long)top_count);
    fflush(stdout);
}

/* ---- set-up ------------------------------------------------------------ */

static SSL_CTX *make_ctx(const struct options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int version = strcmp(o->tls, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;

    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, version) != 1
        || SSL_CTX_set_max_proto_version(ctx, version) != 1
        || (o->ciphers != NULL && version == TLS1_3_VERSION
            && SSL_CTX_set_ciphersuites(ctx, o->ciphers) != 1)
        || (o->ciphers != NULL && version == TLS1_2_VERSION
            && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1)
        || (o->groups != NULL && SSL_CTX_set1_groups_list(ctx, o->groups) != 1)) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The server's certificate is self-signed; the handshake's cost is what we measure. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* echo_write keeps its own offset, so a write may stop part-way when the BIO pair is full. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* No session is ever set on an SSL: every handshake is a full one. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

static int resolve(const struct options *o, struct config *cfg)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
    char port[8];
    int rc;

    snprintf(port, sizeof(port), "%u", o->port);
    rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "ringcrypt-load: %s: %s\n", o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
    cfg->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Thousands of connections need more descriptors than the usual soft limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ringcrypt-load --port P [--host 127.0.0.1] [--connections N (8)]\n"
            "                      [--duration S (10)] [--mode handshake|echo|mixed|http] [--size B (64)]\n"
            "                      [--threads T (1)] [--tls 1.2|1.3] [--ciphers LIST] [--groups LIST]\n"
            "                      [--echo-conns E (8)]\n"
            "                      [--cut PCT (0)] [--echo-interval US (mixed: 5000, echo: 0)]\n"
            "                      [--progress] [--json]\n"
            "       ringcrypt-load --help | --version\n"
            "  --ciphers is OpenSSL's cipher list (TLS 1.2) or ciphersuites (TLS 1.3); --groups the\n"
            "  TLS groups offered, colon-separated (openssl list -tls-groups), the first one's key share sent.\n"
            "  The report names the group and the server's signature scheme the handshakes agreed on.\n"
            "  http: after each handshake one GET /, whose status line must say 200 (else an error).\n"
            "  bytes/s counts the payload echoed back (B per round trip); a handshake's latency\n"
            "  runs from the connect to the end of the handshake.\n"
            "  When no connection has succeeded and every attempt has failed for a second\n"
            "  (the server is not there), the run stops early; errors are reported by cause.\n");
}

static const char *const tls_versions[] = { "1.2", "1.3" };

/* Takes the value of option ch; false once the error is reported. */
static bool option(struct cli *c, int ch, struct options *o)
{
    unsigned int which = 0;
    double us;

    switch (ch) {
    case 'p': return cli_count(c, 1, 65535, &o->port);
    case 'H': o->host = optarg; return true;
    case 'c': return cli_count(c, 0, 1000000, &o->connections);
    case 'd': return cli_number(c, 0.001, 1e7, &o->duration);
    case 'm':
        if (!cli_choice(c, mode_names, sizeof(mode_names) / sizeof(mode_names[0]), &which))
            return false;
        o->mode = (enum mode)which;
        return true;
    case 's': return cli_count(c, 1, MAX_SIZE, &o->size);
    case 't': return cli_count(c, 1, MAX_THREADS, &o->threads);
    case 'T':
        if (!cli_choice(c, tls_versions, 2, &which))
            return false;
        o->tls = tls_versions[which];
        return true;
    case 'C': o->ciphers = optarg; return true;
    case 'g': o->groups = optarg; return cli_groups(c);
    case 'e': return cli_count(c, 0, 1000000, &o->echo_conns);
    case 'x': return cli_number(c, 0, 100, &o->cut);
    case 'i':
        if (!cli_number(c, 0, 1e7, &us))
            return false;
        o->echo_interval_us = (long)us;
        return true;
    case 'P': o->progress = true; return true;
    case 'j': o->json = true; return true;
    default: return false;
    }
}

/* CLI_RUN, or the status to exit with. */
static int parse(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        { "port", required_argument, NULL, 'p' },     { "host", required_argument, NULL, 'H' },
        { "connections", required_argument, NULL, 'c' }, { "duration", required_argument, NULL, 'd' },
        { "mode", required_argument, NULL, 'm' },     { "size", required_argument, NULL, 's' },
        { "threads", required_argument, NULL, 't' }, { "tls", required_argument, NULL, 'T' },
        { "echo-conns", required_argument, NULL, 'e' }, { "cut", required_argument, NULL, 'x' },
        { "progress", no_argument, NULL, 'P' },       { "json", no_argument, NULL, 'j' },
        { "echo-interval", required_argument, NULL, 'i' },
        { "ciphers", required_argument, NULL, 'C' },  { "groups", required_argument, NULL, 'g' },
        CLI_STANDARD_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    struct cli cli = { .name = "ringcrypt-load", .usage = usage, .longs = longs, .argc = argc,
                       .argv = argv };
    int ch;

    *o = (struct options){ .host = "127.0.0.1", .tls = "1.3", .connections = 8, .echo_conns = 8,
                           .threads = 1, .duration = 10, .size = 64, .mode = MODE_HANDSHAKE,
                           .echo_interval_us = -1 };
    while ((ch = cli_next(&cli)) != -1)
        if (!option(&cli, ch, o))
            return CLI_EXIT_USAGE;
    if (cli.status != CLI_RUN)
        return cli.status;
    if (o->port == 0)
        return cli_bad(&cli, "--port", "is required: the server's port");
    /*
     * Mixed mode's echoes are latency probes: paced, they measure the server
     * without adding load of their own. Echo mode measures throughput.
     */
    if (o->echo_interval_us < 0)
        o->echo_interval_us = o->mode == MODE_MIXED ? DEFAULT_PROBE_US : 0;
    /* Mixed may drop either kind, not both; the other modes need a connection. */
    if (o->mode == MODE_MIXED && o->connections + o->echo_conns == 0)
        return cli_bad(&cli, "--connections", "mixed mode needs --connections or --echo-conns above 0");
    if (o->mode != MODE_MIXED && o->connections == 0)
        return cli_bad(&cli, "--connections 0", "%s mode needs a connection", mode_names[o->mode]);
    return CLI_RUN;
}

/*
 * Every attempt so far has failed and none has connected: no server is
 * there, and the rest of the run would only repeat the error. Says so and
 * ends the run.
 */
static void give_up_unreachable(struct worker *ws, unsigned int n, const struct options *o,
                                struct totals *t, double elapsed)
{
    char buf[128];
    uint64_t count;

    gather(ws, n, t);
    if (t->connects > 0 || t->errors == 0)
        return;
    /* After --progress's line, which ends in a carriage return. */
    fprintf(stderr, "%sringcrypt-load: %s port %u: no connection in %.1f s, %llu attempts failed (%s): "
            "stopping\n", o->progress ? "\n" : "", o->host, o->port, elapsed, (unsigned long long)t->errors,
            top_cause(t, &count, buf, sizeof(buf)));
    atomic_store(&halt, true);
}

/*
 * Waits for the workers, turning SIGINT/SIGTERM into the end of the run,
 * printing progress, ending a run that cannot connect.
 */
static void supervise(struct worker *ws, unsigned int n, const sigset_t *sigs, const struct options *o,
                      struct totals *t)
{
    uint64_t start = now_us(), next = start + 1000000u;
    struct tick prev = { 0, 0.0 };

    while (atomic_load(&finished_threads) < n) {
        uint64_t now = now_us();
        uint64_t wait = next > now && next - now < POLL_MS * 1000u ? next - now : POLL_MS * 1000u;
        struct timespec ts = { (time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000 };
        int sig = sigtimedwait(sigs, NULL, &ts);

        if (sig == SIGINT || sig == SIGTERM)
            atomic_store(&halt, true);
        now = now_us();
        /* Once a second: progress, and whether anything has connected yet. */
        if (now >= next) {
            if (o->progress)
                print_progress(ws, n, t, (double)(now - start) / 1e6, &prev);
            if (!atomic_load(&halt))
                give_up_unreachable(ws, n, o, t, (double)(now - start) / 1e6);
            next += 1000000u;
        }
    }
    if (o->progress)
        fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    struct options opt;
    struct config cfg = { .opt = &opt };
    struct worker *ws = NULL;
    struct totals *t = NULL;
    sigset_t sigs;
    unsigned int started = 0;
    uint64_t longest = 0, cpu_us = 0;
    int rc;

    if ((rc = parse(argc, argv, &opt)) != CLI_RUN)
        return rc;
    rc = 1;
    /* Every thread inherits the mask: only supervise's sigtimedwait sees SIGINT and SIGTERM. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    raise_fd_limit();
    cfg.payload = malloc(opt.size);
    ws = calloc(opt.threads, sizeof(*ws));
    t = calloc(1, sizeof(*t));
    if (cfg.payload == NULL || ws == NULL || t == NULL || resolve(&opt, &cfg) != 0
        || (cfg.ctx = make_ctx(&opt)) == NULL || workers_make(ws, &cfg) != 0)
        goto out;
    for (size_t i = 0; i < opt.size; i++)
        cfg.payload[i] = (unsigned char)(i * 131 + 7);
    for (; started < opt.threads; started++) {
        if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
            fprintf(stderr, "ringcrypt-load: cannot start thread %u\n", started);
            give_up();
            break;
        }
    }
    supervise(ws, started, &sigs, &opt, t);
    for (unsigned int i = 0; i < started; i++) {
        pthread_join(ws[i].thread, NULL);
        if (ws[i].stopped_us - ws[i].started_us > longest)
            longest = ws[i].stopped_us - ws[i].started_us;
        cpu_us += ws[i].cpu_us;
    }
    if (!atomic_load(&run_failed)) {
        gather(ws, started, t);
        t->cpu_us = cpu_us;
        gather_names(ws, started, t);
        print_report(&opt, t, longest > 0 ? (double)longest / 1e6 : opt.duration);
        /* Errors are counted, but a run in which nothing ever got through did not run. */
        rc = t->handshakes + t->round_trips == 0 && t->errors > 0;
    }
out:
    for (unsigned int i = 0; ws != NULL && i < opt.threads; i++)
        free(ws[i].slots);
    free(ws);
    free(t);
    free(cfg.payload);
    SSL_CTX_free(cfg.ctx);
    rc_shutdown();
    return rc;
}
