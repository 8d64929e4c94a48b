#include "backend_afalg.h"

#include <errno.h>
#include <linux/if_alg.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "list.h"
#include "ring.h"
#include "runtime.h"
#include "stats.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

enum kkind { K_AEAD, K_SKCIPHER, K_HASH };

struct kalg {
    const char *name, *type;
    enum kkind kind;
    bool keyed;
    unsigned int ivlen;   /* the only IV size the kernel takes */
    unsigned int outlen;  /* digests: their size */
    unsigned int block;   /* skciphers: input in whole blocks */
};

static const struct kalg kalgs[] = {
    { "gcm(aes)", "aead", K_AEAD, true, 12, 0, 0 },
    { "rfc7539(chacha20,poly1305)", "aead", K_AEAD, true, 12, 0, 0 },
    { "cbc(aes)", "skcipher", K_SKCIPHER, true, 16, 0, 16 },
    { "sha256", "hash", K_HASH, false, 0, 32, 0 },
    { "sha384", "hash", K_HASH, false, 0, 48, 0 },
    { "sha512", "hash", K_HASH, false, 0, 64, 0 },
    { "hmac(sha256)", "hash", K_HASH, true, 0, 32, 0 },
    { "hmac(sha384)", "hash", K_HASH, true, 0, 48, 0 },
};
#define NKALGS (sizeof(kalgs) / sizeof(kalgs[0]))

/* One operation's controls: ALG_SET_OP, ALG_SET_IV (up to 16 bytes), ALG_SET_AEAD_ASSOCLEN. */
union kcmsg {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct af_alg_iv) + 16) +
             CMSG_SPACE(sizeof(uint32_t))];
};

/* Set at start-up, before the runtime is marked running; read-only after. */
static unsigned int used_mask;
static char used_names[256];

struct kent;

struct rc_key {
    _Atomic int refs;  /* memory: users, plus pool entries that keep sockets for it */
    _Atomic int users; /* rc_key_new's reference and requests' */
    atomic_bool retired;
    /* The pools' entries with sockets for it: woken to close them when it retires. */
    pthread_mutex_t lock;
    struct kent *holders;
    const struct kalg *alg;
    unsigned int authsize;
    size_t keylen;
    unsigned char key[];
};

/* The kernel's sockets for one key in one pool. */
struct kent {
    struct kent *next;
    size_t max_send;            /* what one SENDMSG may carry: the operation sockets' send buffer */
    struct kent *holder_next;   /* in key->holders */
    struct rc_kpool *pool;
    struct rc_key *key;
    int keyfd;
    unsigned int busy;       /* operation sockets in use */
    unsigned int nidle, cap;
    int *idle;               /* operation sockets ready for the next operation */
};

struct rc_kpool {
    struct io_uring *ring;
    int wake_fd;             /* an eventfd the owner's ring listens to; -1: none */
    pthread_t thread;        /* its owner */
    unsigned int fork_gen;   /* the process it belongs to: a fork child's copy is its parent's */
    void (*done)(void *owner, struct rc_req *req, int result);
    void *owner;
    unsigned int max_sockets, open, busy;
    atomic_bool retired;     /* a key it holds sockets for retired: set by its last user */
    struct kent *ents;
    struct rc_link waiting;  /* rc_kstate.link, oldest first */
    struct rc_link running;  /* rc_kstate.link: on the ring */
};

struct rc_kstate {
    struct rc_req *req;
    struct rc_kernel_op *user;   /* the caller's: told outlen and by_kernel */
    struct rc_kernel_op op;      /* what was checked, kept: the caller's may change */
    struct rc_kpool *pool;
    struct kent *ent;
    int fd;
    struct rc_event ev_send, ev_read;
    int pending;             /* CQEs still to come */
    bool refused;            /* queued for a socket, then refused one: the work function's */
    int send_res, read_res;
    size_t send_len, read_len;
    struct rc_link link;     /* its pool's waiting or running list */
    struct msghdr msg;
    struct iovec siov, riov[2];
    union kcmsg cmsg;
    unsigned char aad_sink[]; /* the kernel writes the AAD ahead of the output */
};

/* ---- algorithms and start-up ------------------------------------------- */

static int kalg_index(const char *name)
{
    for (size_t i = 0; name != NULL && i < NKALGS; i++)
        if (strcmp(kalgs[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int bind_alg(int fd, const struct kalg *a)
{
    struct sockaddr_alg sa = { .salg_family = AF_ALG };

    snprintf((char *)sa.salg_type, sizeof(sa.salg_type), "%s", a->type);
    snprintf((char *)sa.salg_name, sizeof(sa.salg_name), "%s", a->name);
    return bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
}

const char *rc_kernel_algs_in_use(void)
{
    return used_names;
}

int rc_kernel_uses(const char *alg)
{
    int rc = rc_runtime_ready();
    int i = kalg_index(alg);

    if (rc != 0)
        return rc;
    return i >= 0 && (used_mask & (1u << i)) != 0;
}

/* ---- keys -------------------------------------------------------------- */

void rc_kpool_sweep(struct rc_kpool *p);

static bool key_fits(const struct kalg *a, size_t keylen, unsigned int authsize)
{
    switch (a->kind) {
    case K_AEAD:
        if (strcmp(a->name, "gcm(aes)") == 0)
            return (keylen == 16 || keylen == 24 || keylen == 32)
                   && (authsize == 4 || authsize == 8 || (authsize >= 12 && authsize <= 16));
        return keylen == 32 && authsize == 16;
    case K_SKCIPHER:
        return (keylen == 16 || keylen == 24 || keylen == 32) && authsize == 0;
    case K_HASH:
        return authsize == 0 && (a->keyed || keylen == 0);
    }
    return false;
}

int rc_key_new(const char *alg, const void *key, size_t keylen, unsigned int authsize,
               struct rc_key **out)
{
    int i = kalg_index(alg);
    struct rc_key *k;

    *out = NULL;
    if (i < 0)
        return -ENOENT;
    if (!key_fits(&kalgs[i], keylen, authsize) || (keylen > 0 && key == NULL)
        || keylen > 4096)
        return -EINVAL;
    k = calloc(1, sizeof(*k) + keylen);
    if (k == NULL)
        return -ENOMEM;
    atomic_init(&k->refs, 1);
    atomic_init(&k->users, 1);
    pthread_mutex_init(&k->lock, NULL);
    k->alg = &kalgs[i];
    k->authsize = authsize;
    k->keylen = keylen;
    if (keylen > 0)
        memcpy(k->key, key, keylen);
    *out = k;
    return 0;
}

static void key_put(struct rc_key *k)
{
    if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static void key_use(struct rc_key *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->users, 1, memory_order_relaxed);
}

/*
 * A user lets go. The last one wipes the key and wakes the pools that hold
 * sockets for it: each closes them on its own thread, at once, even when idle.
 */
static void key_unuse(struct rc_key *k)
{
    static const uint64_t one = 1;
    struct rc_kpool *here = NULL;

    if (atomic_fetch_sub_explicit(&k->users, 1, memory_order_acq_rel) == 1) {
        OPENSSL_cleanse(k->key, k->keylen);
        atomic_store_explicit(&k->retired, true, memory_order_relaxed);
        pthread_mutex_lock(&k->lock);
        for (struct kent *e = k->holders; e != NULL; e = e->holder_next) {
            /* In a fork child, the parent's pools and their descriptors are not ours to touch. */
            if (e->pool->fork_gen != rc_fork_gen)
                continue;
            atomic_store_explicit(&e->pool->retired, true, memory_order_release);
            /* A thread's own pool has no loop to wake: swept here when this is its thread. */
            if (e->pool->wake_fd >= 0)
                (void)!write(e->pool->wake_fd, &one, sizeof(one));
            else if (pthread_equal(e->pool->thread, pthread_self()))
                here = e->pool;
        }
        pthread_mutex_unlock(&k->lock);
        if (here != NULL)
            rc_kpool_sweep(here);
    }
    key_put(k);
}

void rc_key_free(struct rc_key *key)
{
    if (key != NULL)
        key_unuse(key);
}

/* ---- requests' kernel form --------------------------------------------- */

static void on_send(struct rc_event *ev, int res, unsigned int flags);
static void on_read(struct rc_event *ev, int res, unsigned int flags);

bool rc_kernel_event(const struct rc_event *ev)
{
    return ev->fn == on_send || ev->fn == on_read;
}

/* What the kernel reads and writes for op: -errno when op cannot be done there. */
static int sizes(const struct rc_kernel_op *op, size_t *send_len, size_t *read_len,
                 size_t *outlen)
{
    const struct kalg *a = op->key->alg;
    size_t in = op->inlen, tag = op->key->authsize;

    if ((op->inlen > 0 && op->in == NULL) || op->ivlen != a->ivlen)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(op->reserved) / sizeof(op->reserved[0]); i++)
        if (op->reserved[i] != 0)
            return -EINVAL;
    if (op->inlen > RC_KERNEL_MAX_BYTES)
        return -E2BIG;
    *send_len = in;
    switch (a->kind) {
    case K_AEAD:
        if (op->dir == RC_KERNEL_DIGEST || op->assoclen > in)
            return -EINVAL;
        if (op->dir == RC_KERNEL_ENCRYPT) {
            *outlen = in - op->assoclen + tag;
        } else {
            if (in - op->assoclen < tag)
                return -EINVAL;
            *outlen = in - op->assoclen - tag;
        }
        *read_len = op->assoclen + *outlen;
        /* A read of nothing never reaches the kernel's decrypt, so no tag would be checked. */
        if (*read_len == 0)
            return -EINVAL;
        break;
    case K_SKCIPHER:
        /* No AAD: launch and ended would split the output at assoclen. */
        if (op->dir == RC_KERNEL_DIGEST || op->assoclen != 0 || in == 0 || in % a->block != 0)
            return -EINVAL;
        *outlen = *read_len = in;
        break;
    case K_HASH:
        if (op->dir != RC_KERNEL_DIGEST || op->assoclen != 0)
            return -EINVAL;
        *outlen = *read_len = a->outlen;
        break;
    }
    return op->outsize < *outlen || (*outlen > 0 && op->out == NULL) ? -EINVAL : 0;
}

int rc_req_set_kernel(struct rc_req *req, struct rc_kernel_op *op)
{
    size_t send_len = 0, read_len = 0, outlen = 0;
    struct rc_kstate *ks;
    int rc;

    if (req == NULL || op == NULL || op->key == NULL || req->kernel != NULL
        || req->mode != RC_MODE_NONE)
        return -EINVAL;
    rc = sizes(op, &send_len, &read_len, &outlen);
    if (rc != 0)
        return rc;
    ks = calloc(1, sizeof(*ks) + op->assoclen);
    if (ks == NULL)
        return -ENOMEM;
    ks->req = req;
    ks->user = op;
    ks->op = *op;
    ks->fd = -1;
    ks->send_len = send_len;
    ks->read_len = read_len;
    key_use(ks->op.key);
    op->by_kernel = 0;
    req->kernel = ks;
    return 0;
}

void rc_kstate_free(struct rc_kstate *ks)
{
    if (ks == NULL)
        return;
    key_unuse(ks->op.key);
    OPENSSL_cleanse(ks->aad_sink, ks->op.assoclen);
    free(ks);
}

bool rc_kstate_refused(const struct rc_kstate *ks)
{
    return ks->refused;
}

bool rc_kernel_takes(const struct rc_req *req)
{
    return req->kernel != NULL
           && (used_mask & (1u << (unsigned int)(req->kernel->op.key->alg - kalgs))) != 0;
}

/* ---- pools ------------------------------------------------------------- */

struct rc_kpool *rc_kpool_new(struct io_uring *ring, int wake_fd, unsigned int max_sockets,
                              void (*done)(void *owner, struct rc_req *req, int result),
                              void *owner)
{
    struct rc_kpool *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->ring = ring;
    p->wake_fd = wake_fd;
    p->thread = pthread_self();
    p->fork_gen = rc_fork_gen;
    p->max_sockets = max_sockets;
    p->done = done;
    p->owner = owner;
    rc_list_init(&p->waiting);
    rc_list_init(&p->running);
    return p;
}

unsigned int rc_kpool_busy(const struct rc_kpool *p)
{
    return p->busy;
}

static void close_idle(struct rc_kpool *p, struct kent *e)
{
    while (e->nidle > 0) {
        close(e->idle[--e->nidle]);
        p->open--;
    }
}

static void drop_entry(struct rc_kpool *p, struct kent **link)
{
    struct kent *e = *link;

    close_idle(p, e);
    close(e->keyfd);
    p->open--;
    *link = e->next;
    pthread_mutex_lock(&e->key->lock);
    for (struct kent **h = &e->key->holders; *h != NULL; h = &(*h)->holder_next)
        if (*h == e) {
            *h = e->holder_next;
            break;
        }
    pthread_mutex_unlock(&e->key->lock);
    key_put(e->key);
    free(e->idle);
    free(e);
}

void rc_kpool_sweep(struct rc_kpool *p)
{
    /* Checked on every turn: a load, and the walk only when one of its keys retired. */
    if (!atomic_load_explicit(&p->retired, memory_order_relaxed)
        || !atomic_exchange_explicit(&p->retired, false, memory_order_acquire))
        return;
    for (struct kent **l = &p->ents; *l != NULL;) {
        /* A retired key has no users, so none of its operations can be busy. */
        if (atomic_load_explicit(&(*l)->key->retired, memory_order_relaxed) && (*l)->busy == 0)
            drop_entry(p, l);
        else
            l = &(*l)->next;
    }
}

/* Room for one more socket: closes an idle one, else a key socket with nothing open. */
static bool make_room(struct rc_kpool *p, const struct kent *keep)
{
    if (p->open < p->max_sockets)
        return true;
    for (struct kent *e = p->ents; e != NULL; e = e->next)
        if (e->nidle > 0) {
            close(e->idle[--e->nidle]);
            p->open--;
            return true;
        }
    for (struct kent **l = &p->ents; *l != NULL; l = &(*l)->next)
        if (*l != keep && (*l)->busy == 0 && (*l)->nidle == 0) {
            drop_entry(p, l);
            return true;
        }
    return false;
}

/* A bound key socket for k: its descriptor, or -errno with *step the call that failed. */
static int open_key_socket(const struct rc_key *k, const char **step)
{
    int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    int rc;

    *step = "socket";
    if (fd < 0)
        return -errno;
    *step = "bind";
    rc = bind_alg(fd, k->alg);
    if (rc == 0 && k->alg->keyed) {
        *step = "key";
        if (setsockopt(fd, SOL_ALG, ALG_SET_KEY, k->key, (socklen_t)k->keylen) != 0)
            rc = -errno;
    }
    if (rc == 0 && k->alg->kind == K_AEAD) {
        *step = "tag size";
        if (setsockopt(fd, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, k->authsize) != 0)
            rc = -errno;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static struct kent *find_entry(struct rc_kpool *p, const struct rc_key *k)
{
    for (struct kent *e = p->ents; e != NULL; e = e->next)
        if (e->key == k)
            return e;
    return NULL;
}

/* Out of descriptors while operations run: one of theirs frees soon, so wait for it. */
static int out_of_fds(const struct rc_kpool *p, int err)
{
    return (err == -EMFILE || err == -ENFILE) && p->busy > 0 ? -EAGAIN : err;
}

/*
 * What one SENDMSG on an operation socket may carry. The kernel takes no more
 * than the socket's send buffer, less a page, and its linked READV cannot
 * make room: a larger input is refused up front (the work function takes it)
 * rather than cut short. The buffer is raised to fit RC_KERNEL_MAX_BYTES
 * where the system allows (net.core.wmem_max).
 */
static size_t send_buffer(int fd)
{
    int want = 2 * RC_KERNEL_MAX_BYTES, got = 0;
    socklen_t len = sizeof(got);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) != 0 || (size_t)got < 2 * page)
        return 1;
    return ((size_t)got & ~(page - 1)) - page;
}

static void release(struct rc_kpool *p, struct rc_kstate *ks, bool clean);

/* An operation socket for ks: 0, -EAGAIN when the pool is full, or -errno. */
static int acquire(struct rc_kpool *p, struct rc_kstate *ks)
{
    struct kent *e = find_entry(p, ks->op.key);
    int fd;

    if (e != NULL && e->nidle > 0) {
        fd = e->idle[--e->nidle];
        goto got;
    }
    if (e == NULL) {
        const char *step;

        if (!make_room(p, NULL))
            return -EAGAIN;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
        e->keyfd = open_key_socket(ks->op.key, &step);
        if (e->keyfd < 0) {
            fd = e->keyfd;
            free(e);
            return out_of_fds(p, fd);
        }
        p->open++;
        e->key = ks->op.key;
        e->pool = p;
        atomic_fetch_add_explicit(&e->key->refs, 1, memory_order_relaxed);
        e->next = p->ents;
        p->ents = e;
        pthread_mutex_lock(&e->key->lock);
        e->holder_next = e->key->holders;
        e->key->holders = e;
        pthread_mutex_unlock(&e->key->lock);
    }
    if (!make_room(p, e))
        return -EAGAIN;
    fd = accept4(e->keyfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return out_of_fds(p, -errno);
    p->open++;
    if (e->max_send == 0)
        e->max_send = send_buffer(fd);
got:
    e->busy++;
    p->busy++;
    ks->ent = e;
    ks->fd = fd;
    if (ks->send_len > e->max_send) {
        release(p, ks, true);
        return -EMSGSIZE;
    }
    return 0;
}

/* Gives ks's socket back; one that saw an error is closed, its state unknown. */
static void release(struct rc_kpool *p, struct rc_kstate *ks, bool clean)
{
    struct kent *e = ks->ent;

    e->busy--;
    p->busy--;
    if (clean && e->nidle == e->cap) {
        unsigned int cap = e->cap ? 2 * e->cap : 4;
        int *idle = realloc(e->idle, cap * sizeof(*idle));

        if (idle != NULL) {
            e->idle = idle;
            e->cap = cap;
        }
    }
    if (clean && e->nidle < e->cap) {
        e->idle[e->nidle++] = ks->fd;
    } else {
        close(ks->fd);
        p->open--;
    }
    ks->fd = -1;
    ks->ent = NULL;
}

/* op's SENDMSG: its input in one iovec, which msg points to, as are cmsg's controls. */
static void prep_msg(struct msghdr *msg, struct iovec *iov, union kcmsg *cmsg,
                     const struct rc_kernel_op *op, const struct kalg *a)
{
    struct cmsghdr *c;
    size_t room = 0;

    memset(msg, 0, sizeof(*msg));
    iov->iov_base = (void *)op->in;
    iov->iov_len = op->inlen;
    msg->msg_iov = iov;
    msg->msg_iovlen = op->inlen > 0;
    if (a->kind == K_HASH)
        return;
    room += CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct af_alg_iv) + op->ivlen);
    if (a->kind == K_AEAD)
        room += CMSG_SPACE(sizeof(uint32_t));
    memset(cmsg, 0, sizeof(*cmsg));
    msg->msg_control = cmsg->buf;
    msg->msg_controllen = room;

    c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_ALG;
    c->cmsg_type = ALG_SET_OP;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    *(int *)(void *)CMSG_DATA(c) = op->dir == RC_KERNEL_ENCRYPT ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT;

    c = CMSG_NXTHDR(msg, c);
    c->cmsg_level = SOL_ALG;
    c->cmsg_type = ALG_SET_IV;
    c->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + op->ivlen);
    {
        struct af_alg_iv *iv = (struct af_alg_iv *)(void *)CMSG_DATA(c);

        iv->ivlen = op->ivlen;
        memcpy(iv->iv, op->iv, op->ivlen);
    }
    if (a->kind == K_AEAD) {
        c = CMSG_NXTHDR(msg, c);
        c->cmsg_level = SOL_ALG;
        c->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
        c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
        *(uint32_t *)(void *)CMSG_DATA(c) = op->assoclen;
    }
}

/* The SENDMSG and the READV, linked, in one submission: 0, or -EBUSY (socket given back). */
static int launch(struct rc_kpool *p, struct rc_kstate *ks)
{
    struct io_uring_sqe *send, *read;

    if (io_uring_sq_space_left(p->ring) < 2)
        io_uring_submit(p->ring);
    if (io_uring_sq_space_left(p->ring) < 2) {
        release(p, ks, true);
        return -EBUSY;
    }
    prep_msg(&ks->msg, &ks->siov, &ks->cmsg, &ks->op, ks->op.key->alg);
    ks->riov[0].iov_base = ks->aad_sink;
    ks->riov[0].iov_len = ks->op.assoclen;
    ks->riov[1].iov_base = ks->op.out;
    ks->riov[1].iov_len = ks->read_len - ks->op.assoclen;
    ks->pending = 2;
    ks->send_res = ks->read_res = 0;
    ks->ev_send.fn = on_send;
    ks->ev_read.fn = on_read;
    ks->pool = p;

    send = io_uring_get_sqe(p->ring);
    io_uring_prep_sendmsg(send, ks->fd, &ks->msg, 0);
    send->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data(send, &ks->ev_send);
    read = io_uring_get_sqe(p->ring);
    io_uring_prep_readv(read, ks->fd, ks->op.assoclen > 0 ? ks->riov : &ks->riov[1],
                        ks->op.assoclen > 0 ? 2 : 1, 0);
    io_uring_sqe_set_data(read, &ks->ev_read);
    rc_list_append(&p->running, &ks->link);
    return 0;
}

static void finish(struct rc_kpool *p, struct rc_kstate *ks, int result)
{
    p->done(p->owner, ks->req, result);
}

/* Starts queued operations while sockets can be had. */
static void pump(struct rc_kpool *p)
{
    struct rc_link *l;

    while ((l = rc_list_first(&p->waiting)) != NULL) {
        struct rc_kstate *ks = rc_container_of(l, struct rc_kstate, link);
        int rc = 0;

        /* Its caller has its answer already (a deadline passed): no need to run it. */
        if (!atomic_load_explicit(&ks->req->claimed, memory_order_relaxed))
            rc = acquire(p, ks);
        else
            rc = -ECANCELED;
        if (rc == -EAGAIN)
            return;
        rc_list_remove(l);
        if (rc == 0)
            rc = launch(p, ks);
        ks->refused = rc != 0 && rc != -ECANCELED;
        if (rc != 0)
            finish(p, ks, rc);
    }
}

int rc_kpool_start(struct rc_kpool *p, struct rc_req *req)
{
    struct rc_kstate *ks = req->kernel;
    int rc = -EAGAIN;

    rc_kpool_sweep(p);
    /* Those already waiting go first. */
    if (rc_list_empty(&p->waiting))
        rc = acquire(p, ks);
    if (rc == 0) {
        rc = launch(p, ks);
    } else if (rc == -EAGAIN) {
        rc_list_append(&p->waiting, &ks->link);
        rc_stat_inc(RC_ST_KERNEL_WAITS);
        rc = 0;
    }
    return rc;
}

static void ended(struct rc_kstate *ks)
{
    struct rc_kpool *p = ks->pool;
    size_t outlen = ks->read_len - ks->op.assoclen;
    int result = 0;

    if (ks->send_res < 0)
        result = ks->send_res;
    else if ((size_t)ks->send_res != ks->send_len)
        result = -EIO;
    else if (ks->read_res < 0)
        result = ks->read_res;
    else if ((size_t)ks->read_res != ks->read_len)
        result = -EIO;
    rc_list_remove(&ks->link);
    release(p, ks, result == 0);
    /* A failed tag check is the kernel's answer too. */
    if (result == 0 || result == -EBADMSG) {
        rc_stat_inc(RC_ST_KERNEL);
        ks->user->by_kernel = 1;
    }
    if (result == 0) {
        ks->user->outlen = outlen;
    } else if (outlen > 0) {
        /* A failed decryption may have written plaintext already: none of it is released. */
        OPENSSL_cleanse(ks->op.out, outlen);
    }
    finish(p, ks, result);
    pump(p);
}

static void on_send(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_kstate *ks = rc_container_of(ev, struct rc_kstate, ev_send);

    (void)flags;
    ks->send_res = res;
    if (--ks->pending == 0)
        ended(ks);
}

static void on_read(struct rc_event *ev, int res, unsigned int flags)
{
    struct rc_kstate *ks = rc_container_of(ev, struct rc_kstate, ev_read);

    (void)flags;
    ks->read_res = res;
    if (--ks->pending == 0)
        ended(ks);
}

void rc_kpool_cancel_waiting(struct rc_kpool *p, int err)
{
    struct rc_link *l;

    while ((l = rc_list_first(&p->waiting)) != NULL) {
        rc_list_remove(l);
        finish(p, rc_container_of(l, struct rc_kstate, link), err);
    }
}

void rc_kpool_cancel_running(struct rc_kpool *p)
{
    for (struct rc_link *l = p->running.next; l != &p->running; l = l->next) {
        struct rc_kstate *ks = rc_container_of(l, struct rc_kstate, link);
        struct rc_event *evs[2] = { &ks->ev_send, &ks->ev_read };

        for (int i = 0; i < 2; i++) {
            struct io_uring_sqe *sqe = rc_ring_sqe(p->ring);

            if (sqe == NULL)
                return;
            /* Whichever is still there; the answer of a cancel is not wanted (user_data 0). */
            io_uring_prep_cancel(sqe, evs[i], 0);
            io_uring_sqe_set_data(sqe, NULL);
        }
    }
}

void rc_kpool_free(struct rc_kpool *p)
{
    if (p == NULL)
        return;
    while (p->ents != NULL)
        drop_entry(p, &p->ents);
    free(p);
}

/* ---- start-up: what the kernel offers ------------------------------------ */

static const char *errno_name(int err)
{
    const char *name = strerrorname_np(err);

    return name != NULL ? name : "unknown errno";
}

/*
 * Whether the kernel runs a as the backend will use it: a key socket (bound,
 * a key of zeros, the tag size), an operation socket accepted from it, and
 * one small operation sent whole whose answer is there at once. 0, or -errno
 * with *step the call the kernel refused.
 */
static int try_alg(const struct kalg *a, const char **step)
{
    static const unsigned char zeros[32];
    unsigned char out[sizeof(zeros) + 64];
    struct rc_kernel_op op = {
        .dir = a->kind == K_HASH ? RC_KERNEL_DIGEST : RC_KERNEL_ENCRYPT,
        .ivlen = a->ivlen,
        .in = zeros,
        .inlen = a->kind == K_SKCIPHER ? a->block : sizeof(zeros),
        .out = out,
        .outsize = sizeof(out),
    };
    size_t send_len = 0, read_len = 0, outlen = 0;
    struct rc_key *key = NULL;
    union kcmsg cmsg;
    struct msghdr msg;
    struct iovec iov;
    int keyfd = -1, fd = -1, rc;
    ssize_t n;

    *step = "set-up";
    rc = rc_key_new(a->name, zeros, a->keyed ? sizeof(zeros) : 0, a->kind == K_AEAD ? 16 : 0, &key);
    if (rc != 0)
        goto out;
    op.key = key;
    rc = sizes(&op, &send_len, &read_len, &outlen);
    if (rc != 0)
        goto out;
    keyfd = open_key_socket(key, step);
    if (keyfd < 0) {
        rc = keyfd;
        goto out;
    }
    *step = "accept";
    fd = accept4(keyfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    prep_msg(&msg, &iov, &cmsg, &op, a);
    *step = "send";
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    rc = n < 0 ? -errno : (size_t)n != send_len ? -EIO : 0;
    if (rc != 0)
        goto out;
    /* A kernel that waits for more input here would leave the backend's reads waiting too. */
    *step = "read";
    n = recv(fd, out, read_len, MSG_DONTWAIT);
    rc = n < 0 ? -errno : (size_t)n != read_len ? -EIO : 0;
out:
    if (fd >= 0)
        close(fd);
    if (keyfd >= 0)
        close(keyfd);
    rc_key_free(key);
    return rc;
}

int rc_kernel_probe(const struct rc_config *cfg, char *err, size_t errlen)
{
    unsigned int offered = 0, nrefused = 0;
    size_t used = 0, len = 0;
    char refused[512] = "";
    int fd;

    used_mask = 0;
    used_names[0] = '\0';
    if (cfg->backend != RC_BACKEND_AUTO && cfg->backend != RC_BACKEND_AFALG)
        return 0;
    fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (cfg->backend != RC_BACKEND_AFALG)
            return 0;
        snprintf(err, errlen,
                 "backend=afalg (RINGCRYPT_BACKEND): this kernel has no AF_ALG sockets (socket: %s, %s)",
                 errno_name(errno), strerror(errno));
        return -EINVAL;
    }
    close(fd);
    for (size_t i = 0; i < NKALGS; i++) {
        const char *step = "";
        int rc = try_alg(&kalgs[i], &step);

        if (rc == 0) {
            offered |= 1u << i;
            used += (size_t)snprintf(used_names + used, sizeof(used_names) - used, "%s%s",
                                     used ? " " : "", kalgs[i].name);
        } else {
            nrefused++;
            if (len < sizeof(refused))
                len += (size_t)snprintf(refused + len, sizeof(refused) - len, "%s%s (%s: %s)",
                                        len ? ", " : "", kalgs[i].name, step, errno_name(-rc));
        }
    }
    if (offered == 0 && cfg->backend == RC_BACKEND_AFALG) {
        snprintf(err, errlen,
                 "backend=afalg (RINGCRYPT_BACKEND): the kernel's AF_ALG refuses every algorithm "
                 "the backend uses: %s", refused);
        return -EINVAL;
    }
    /* auto takes what there is (rc_info tells); afalg was asked for: the operator hears what it lacks. */
    if (nrefused > 0 && cfg->backend == RC_BACKEND_AFALG)
        fprintf(stderr,
                "ringcrypt: backend=afalg (RINGCRYPT_BACKEND): the kernel's AF_ALG refuses %s; "
                "the workers run %s\n", refused, nrefused > 1 ? "them" : "it");
    used_mask = offered;
    return 0;
}
