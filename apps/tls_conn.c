#include "tls_conn.h"

#include <errno.h>
#include <liburing.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF 16384
#define SBUF 16384
/* One TLS record and change each way: the most a connection buffers in the BIO pair. */
#define PAIR (64 * 1024)

#define conn_of(p, member) ((struct tls_conn *)(void *)((char *)(p) - offsetof(struct tls_conn, member)))

/* The socket and the SSL go once nothing can touch them: no SQE, no queued task, no paused job. */
static void maybe_finish(struct tls_conn *c)
{
    if (!c->closing || c->inflight > 0 || c->task_queued || SSL_waiting_for_async(c->ssl))
        return;
    SSL_free(c->ssl);
    BIO_free(c->net);
    close(c->fd);
    free(c->rbuf);
    free(c->sbuf);
    c->ops->closed(c);
}

/*
 * Our close_notify. Its record may be encrypted in a paused job, and once
 * the peer's close_notify is in, SSL_read returns at once without resuming
 * it: the job goes on only through SSL_shutdown again.
 */
static void shutdown_step(struct tls_conn *c)
{
    int r = SSL_shutdown(c->ssl);

    c->shutdown_paused = r < 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_ASYNC;
    ERR_clear_error();
}

/* Draining: once our close_notify is written and everything sent, the socket closes. */
static void drain_step(struct tls_conn *c)
{
    tls_conn_flush(c);
    if (!c->send_posted && !c->shutdown_paused)
        tls_conn_close(c, c->error);
}

/*
 * A paused job goes on only when its offload is done, and then the async
 * callback drives the connection: driving it before, on I/O, would only
 * resume the job for it to pause again (ML-DSA handshakes did, once each).
 */
static void drive_unless_paused(struct tls_conn *c)
{
    if (!SSL_waiting_for_async(c->ssl))
        c->ops->drive(c);
}

static void post_recv(struct tls_conn *c)
{
    size_t room = BIO_ctrl_get_write_guarantee(c->net);
    struct io_uring_sqe *sqe;

    if (c->recv_posted || c->eof || c->draining || c->closing || room == 0)
        return;
    sqe = rc_core_sqe(c->core);
    io_uring_prep_recv(sqe, c->fd, c->rbuf, room < RBUF ? room : RBUF, 0);
    io_uring_sqe_set_data(sqe, &c->ev_recv);
    c->recv_posted = true;
    c->inflight++;
}

static void on_recv(struct rc_event *ev, int res, unsigned int flags)
{
    struct tls_conn *c = conn_of(ev, ev_recv);

    (void)flags;
    c->inflight--;
    c->recv_posted = false;
    if (c->closing) {
        maybe_finish(c);
        return;
    }
    /* Our close_notify is on its way: what comes in now is not read (nor may SSL_read resume SSL_shutdown's job). */
    if (c->draining)
        return;
    if (res <= 0) {
        c->eof = true;
        if (res < 0 && c->error == 0)
            c->error = -res;
        /* The SSL sees the end of its input. */
        BIO_shutdown_wr(c->net);
    } else {
        BIO_write(c->net, c->rbuf, res);
    }
    drive_unless_paused(c);
}

void tls_conn_flush(struct tls_conn *c)
{
    struct io_uring_sqe *sqe;

    if (c->send_posted || c->closing)
        return;
    if (c->soff == c->slen) {
        int n = BIO_read(c->net, c->sbuf, SBUF);

        if (n <= 0)
            return;
        c->slen = (size_t)n;
        c->soff = 0;
    }
    sqe = rc_core_sqe(c->core);
    io_uring_prep_send(sqe, c->fd, c->sbuf + c->soff, c->slen - c->soff, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &c->ev_send);
    c->send_posted = true;
    c->inflight++;
}

static void on_send(struct rc_event *ev, int res, unsigned int flags)
{
    struct tls_conn *c = conn_of(ev, ev_send);

    (void)flags;
    c->inflight--;
    c->send_posted = false;
    if (c->closing) {
        maybe_finish(c);
        return;
    }
    if (res < 0) {
        tls_conn_close(c, -res);
        return;
    }
    c->soff += (size_t)res;
    if (c->draining) {
        drain_step(c);
        return;
    }
    tls_conn_flush(c);
    /* Room again: a write that waited may go on. */
    drive_unless_paused(c);
}

static void on_task(struct rc_task *t)
{
    struct tls_conn *c = conn_of(t, task);

    c->task_queued = false;
    if (c->shutdown_paused) {
        shutdown_step(c);
        if (c->closing)
            maybe_finish(c);
        else if (!c->shutdown_paused)
            drain_step(c);
        return;
    }
    if (c->closing && !SSL_waiting_for_async(c->ssl)) {
        maybe_finish(c);
        return;
    }
    /* The same SSL call again resumes the paused job. */
    c->ops->drive(c);
}

int tls_conn_async_callback(SSL *ssl, void *arg)
{
    struct tls_conn *c = arg;

    (void)ssl;
    if (!c->task_queued) {
        c->task_queued = true;
        rc_core_defer(c->core, &c->task);
    }
    return 1;
}

int tls_conn_start(struct tls_conn *c, struct rc_core *core, int fd, SSL_CTX *ctx, bool server,
                   const struct tls_conn_ops *ops)
{
    BIO *inner = NULL;

    *c = (struct tls_conn){
        .core = core, .fd = fd, .ops = ops,
        .ev_recv = { on_recv }, .ev_send = { on_send }, .task = { NULL, on_task },
    };
    c->rbuf = malloc(RBUF);
    c->sbuf = malloc(SBUF);
    c->ssl = SSL_new(ctx);
    if (c->rbuf == NULL || c->sbuf == NULL || c->ssl == NULL
        || !BIO_new_bio_pair(&inner, PAIR, &c->net, PAIR))
        goto fail;
    SSL_set_bio(c->ssl, inner, inner);
    if (server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    SSL_set_async_callback_arg(c->ssl, c);
    return 0;
fail:
    SSL_free(c->ssl);
    free(c->rbuf);
    free(c->sbuf);
    close(fd);
    ERR_clear_error();
    return -ENOMEM;
}

enum tls_step tls_conn_after(struct tls_conn *c, int ret)
{
    int err;

    if (c->closing || c->draining) {
        maybe_finish(c);
        return TLS_DONE;
    }
    if (ret > 0) {
        tls_conn_flush(c);
        return TLS_PROGRESS;
    }
    err = SSL_get_error(c->ssl, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        tls_conn_flush(c);
        if (c->eof) {
            tls_conn_finish(c, c->error != 0 ? c->error : ECONNRESET);
            return TLS_DONE;
        }
        post_recv(c);
        return TLS_WAIT;
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_ASYNC:
        tls_conn_flush(c);
        return TLS_WAIT;
    case SSL_ERROR_WANT_ASYNC_JOB:
        /* No job to be had now: try again next turn. */
        tls_conn_async_callback(c->ssl, c);
        return TLS_WAIT;
    case SSL_ERROR_ZERO_RETURN:
        tls_conn_finish(c, 0);
        return TLS_DONE;
    default:
        /* The fatal alert OpenSSL wrote is still owed to the peer. */
        ERR_clear_error();
        tls_conn_finish(c, EPROTO);
        return TLS_DONE;
    }
}

size_t tls_conn_unsent(const struct tls_conn *c)
{
    return BIO_ctrl_pending(c->net) + (c->slen - c->soff);
}

void tls_conn_finish(struct tls_conn *c, int error)
{
    if (c->error == 0)
        c->error = error;
    if (c->draining || c->closing)
        return;
    /* Echoes written just before the peer's close_notify go out first, then ours. */
    if (!SSL_in_init(c->ssl) && c->error != EPROTO)
        shutdown_step(c);
    ERR_clear_error();
    c->draining = true;
    drain_step(c);
}

void tls_conn_close(struct tls_conn *c, int error)
{
    if (c->error == 0)
        c->error = error;
    if (c->closing)
        return;
    c->closing = true;
    /* Whatever the ring still has on this socket completes now. */
    shutdown(c->fd, SHUT_RDWR);
    maybe_finish(c);
}

void tls_conn_names(SSL *ssl, bool peer, char *group, size_t glen, char *sig, size_t slen)
{
    const char *g, *name = NULL;
    int type = NID_undef, md = NID_undef, ok;

#if OPENSSL_VERSION_NUMBER >= 0x30200000L
    g = SSL_get0_group_name(ssl);
#else
    g = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
#endif
    snprintf(group, glen, "%s", g != NULL ? g : "none");
#ifdef SSL_get0_signature_name
    if (peer)
        SSL_get0_peer_signature_name(ssl, &name);
    else
        SSL_get0_signature_name(ssl, &name);
#endif
    if (name != NULL) {
        snprintf(sig, slen, "%s", name);
        return;
    }
    ok = peer ? SSL_get_peer_signature_type_nid(ssl, &type) && SSL_get_peer_signature_nid(ssl, &md)
              : SSL_get_signature_type_nid(ssl, &type) && SSL_get_signature_nid(ssl, &md);
    if (ok)
        snprintf(sig, slen, "%s+%s", OBJ_nid2sn(type), OBJ_nid2sn(md));
    else
        snprintf(sig, slen, "none");
}
