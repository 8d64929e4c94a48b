#include "kdigest.h"

#include <openssl/async.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>

#include "errors.h"

struct rc_kdigest {
    const char *alg;             /* the kernel's name; NULL: not there */
    const char *named;           /* HMAC: the digest last named, in force from the next key */
    bool was_named;
    bool never;                  /* never the kernel (HMAC for TLS records: constant time) */
    int update_id, final_id;
    unsigned char *key;          /* HMAC */
    size_t keylen;
    struct rc_key *kkey;         /* HMAC: made from key at the first kernel final */
    unsigned char *buf;          /* the message so far, while it is kept */
    size_t len, cap;
    bool streaming;              /* the default provider's context has it all */
};

typedef int (*update_fn)(void *ctx, const unsigned char *in, size_t inl);
typedef int (*final_fn)(void *ctx, unsigned char *out, size_t *outl, size_t outsize);

static const struct {
    const char *alg;
    size_t size;
} sizes[] = {
    { "sha256", 32 }, { "sha384", 48 }, { "sha512", 64 }, { "hmac(sha256)", 32 }, { "hmac(sha384)", 48 },
};

/* Unkeyed hashes share one key object each, so every context reuses the same sockets. */
static _Atomic(struct rc_key *) shared[3];

static update_fn inner_update(const struct rc_actx *w)
{
    return (update_fn)rc_alg_fn(w->alg, w->d->update_id);
}

static final_fn inner_final(const struct rc_actx *w)
{
    return (final_fn)rc_alg_fn(w->alg, w->d->final_id);
}

static void forget_message(struct rc_kdigest *d)
{
    if (d->buf != NULL)
        OPENSSL_clear_free(d->buf, d->cap);
    d->buf = NULL;
    d->len = d->cap = 0;
}

void rc_kdigest_free(struct rc_kdigest *d)
{
    if (d == NULL)
        return;
    forget_message(d);
    rc_key_free(d->kkey);
    OPENSSL_clear_free(d->key, d->keylen);
    OPENSSL_free(d);
}

struct rc_kdigest *rc_kdigest_dup(const struct rc_kdigest *d)
{
    struct rc_kdigest *c = OPENSSL_memdup(d, sizeof(*d));

    if (c == NULL)
        return NULL;
    c->kkey = NULL;
    c->key = c->buf = NULL;
    if ((d->key != NULL && (c->key = OPENSSL_memdup(d->key, d->keylen ? d->keylen : 1)) == NULL)
        || (d->buf != NULL && (c->buf = OPENSSL_memdup(d->buf, d->cap)) == NULL)) {
        rc_kdigest_free(c);
        return NULL;
    }
    return c;
}

static int stream(struct rc_actx *w);

static struct rc_kdigest *state(struct rc_actx *w)
{
    if (w->d == NULL && (w->d = OPENSSL_zalloc(sizeof(*w->d))) == NULL)
        rc_err_raise(RC_R_NO_MEMORY, "digest context");
    return w->d;
}

static void set_alg(struct rc_kdigest *d, const char *alg)
{
    if (alg == d->alg)
        return;
    rc_key_free(d->kkey);
    d->kkey = NULL;
    d->alg = alg;
}

int rc_kdigest_use(struct rc_actx *w, const char *alg)
{
    struct rc_kdigest *d = state(w);

    if (d == NULL)
        return 0;
    set_alg(d, alg);
    return 1;
}

int rc_kdigest_learn(struct rc_actx *w, bool named, const char *alg, const unsigned char *key,
                     size_t keylen)
{
    struct rc_kdigest *d = state(w);

    if (d == NULL)
        return 0;
    if (named) {
        d->named = alg;
        d->was_named = true;
    }
    if (key != NULL) {
        OPENSSL_clear_free(d->key, d->keylen);
        d->key = OPENSSL_memdup(key, keylen > 0 ? keylen : 1);
        d->keylen = d->key != NULL ? keylen : 0;
        rc_key_free(d->kkey);
        d->kkey = NULL;
        if (d->key == NULL) {
            rc_err_raise(RC_R_NO_MEMORY, "key");
            return 0;
        }
        /* A key starts a new MAC, with the digest named last, as the default provider does. */
        if (d->was_named)
            set_alg(d, d->named);
        forget_message(d);
        d->streaming = d->never || d->alg == NULL || rc_kernel_uses(d->alg) != 1;
    }
    return 1;
}

int rc_kdigest_never(struct rc_actx *w)
{
    struct rc_kdigest *d = state(w);

    if (d == NULL)
        return 0;
    d->never = true;
    return d->streaming || stream(w);
}

int rc_kdigest_start(struct rc_actx *w, int update_id, int final_id)
{
    struct rc_kdigest *d = state(w);

    if (d == NULL)
        return 0;
    d->update_id = update_id;
    d->final_id = final_id;
    forget_message(d);
    d->streaming = d->never || d->alg == NULL || rc_kernel_uses(d->alg) != 1;
    return 1;
}

/* Hands the kept message to the default provider's context, which takes it from here. */
static int stream(struct rc_actx *w)
{
    struct rc_kdigest *d = w->d;
    int ok = d->len == 0 || inner_update(w)(w->inner, d->buf, d->len);

    forget_message(d);
    d->streaming = true;
    return ok;
}

int rc_kdigest_software(struct rc_actx *w, bool keep)
{
    if (w->d == NULL)
        return 1;
    if (!keep)
        forget_message(w->d);
    return stream(w);
}

int rc_kdigest_copy(struct rc_actx *out, const struct rc_actx *in)
{
    const struct rc_kdigest *s = in->d;
    struct rc_kdigest *d = s != NULL ? state(out) : NULL;

    if (d == NULL)
        return 0;
    forget_message(d);
    set_alg(d, s->alg);
    d->never = s->never;
    d->update_id = s->update_id;
    d->final_id = s->final_id;
    d->streaming = true;
    return s->streaming || s->len == 0 || inner_update(out)(out->inner, s->buf, s->len);
}

int rc_kdigest_update(void *c, const unsigned char *in, size_t inl)
{
    struct rc_actx *w = c;
    struct rc_kdigest *d = w->d;

    if (!rc_actx_usable(w))
        return 0;
    if (d == NULL || d->streaming)
        return inner_update(w)(w->inner, in, inl);
    if (inl > RC_KERNEL_MAX_BYTES - d->len)
        return stream(w) && inner_update(w)(w->inner, in, inl);
    if (d->len + inl > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        unsigned char *buf;

        while (cap < d->len + inl)
            cap *= 2;
        buf = OPENSSL_malloc(cap);
        if (buf == NULL)
            return stream(w) && inner_update(w)(w->inner, in, inl);
        if (d->len > 0)
            memcpy(buf, d->buf, d->len);
        OPENSSL_clear_free(d->buf, d->cap);
        d->buf = buf;
        d->cap = cap;
    }
    if (inl > 0)
        memcpy(d->buf + d->len, in, inl);
    d->len += inl;
    return 1;
}

/* Where the kernel does not take it: the kept message, then final, in software. */
static int exec_digest(struct rc_op *op)
{
    struct rc_actx *w = op->obj;

    return (op->inlen == 0 || inner_update(w)(w->inner, op->in, op->inlen))
           && inner_final(w)(w->inner, op->out, &op->outlen, op->outsize);
}

static size_t digest_size(const char *alg)
{
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (strcmp(sizes[i].alg, alg) == 0)
            return sizes[i].size;
    return 0;
}

static struct rc_key *kernel_key(struct rc_kdigest *d)
{
    static const char *const unkeyed[3] = { "sha256", "sha384", "sha512" };

    for (int i = 0; i < 3; i++) {
        struct rc_key *k = atomic_load(&shared[i]), *none = NULL;

        if (strcmp(d->alg, unkeyed[i]) != 0)
            continue;
        if (k != NULL || rc_key_new(d->alg, NULL, 0, 0, &k) != 0)
            return k;
        if (!atomic_compare_exchange_strong(&shared[i], &none, k)) {
            rc_key_free(k);
            k = none;
        }
        return k;
    }
    if (d->kkey == NULL && d->key != NULL)
        rc_key_new(d->alg, d->key, d->keylen, 0, &d->kkey);
    return d->kkey;
}

int rc_kdigest_final(void *c, unsigned char *out, size_t *outl, size_t outsize)
{
    struct rc_actx *w = c;
    struct rc_kdigest *d = w->d;
    size_t size;
    struct rc_kernel_op kt = { .dir = RC_KERNEL_DIGEST };
    struct rc_op op = { .exec = exec_digest, .kernel = &kt };
    int ok;

    if (!rc_actx_usable(w))
        return 0;
    if (d == NULL || d->streaming)
        return inner_final(w)(w->inner, out, outl, outsize);
    size = digest_size(d->alg);
    kt.key = ASYNC_get_current_job() != NULL && d->len >= rc_op_min_offload_bytes()
                     && outsize >= size && out != NULL
                 ? kernel_key(d)
                 : NULL;
    if (kt.key == NULL)
        return stream(w) && inner_final(w)(w->inner, out, outl, outsize);
    op.in = d->buf;
    op.inlen = d->len;
    op.out = out;
    op.outsize = size;
    ok = rc_actx_run(w, &op, true, outl);
    forget_message(d);
    return ok;
}
