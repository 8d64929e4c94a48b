#include "kcipher.h"

#include <openssl/async.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/proverr.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* TLS's AAD is 5 or 13 bytes; a message with more goes to the default provider. */
#define AAD_MAX 512
#define BLOCK 16

struct rc_kcipher {
    const char *alg;             /* the kernel's name */
    bool aead;
    unsigned char keybytes[32];
    size_t keylen;               /* 0: no key the kernel could take */
    struct rc_key *key;          /* made for key_authsize at the first kernel call */
    unsigned int key_authsize;
    unsigned char iv[BLOCK];     /* CBC: the chaining IV */
    unsigned char oiv[BLOCK];    /* CBC: the IV init gave, where a re-init without one restarts */
    size_t ivlen;
    bool have_iv;

    /* AEAD: the current message. */
    unsigned char aad[AAD_MAX];
    size_t aadlen;
    bool aad_overflow, data_seen;
    unsigned char tag[BLOCK];
    size_t taglen;
    bool tag_set;                /* decryption: the tag to check */
    bool tag_ready;              /* encryption: the kernel's tag, for get_ctx_params */
    bool finished;               /* the kernel finished a message the default provider never saw */
    unsigned char *kept;         /* the kernel call's input, in case the message goes on */
    size_t kept_len, kept_skip, kept_data;

    /* CBC. */
    bool pad;
    unsigned int tls;
    bool soft;                   /* the default provider's since a call the kernel could not take */
    bool iv_stale;               /* the default provider's context has an older IV */
};

static void drop_kept(struct rc_kcipher *k)
{
    if (k->kept != NULL)
        OPENSSL_clear_free(k->kept, k->kept_len);
    k->kept = NULL;
}

void rc_kcipher_free(struct rc_kcipher *k)
{
    if (k == NULL)
        return;
    drop_kept(k);
    rc_key_free(k->key);
    OPENSSL_clear_free(k, sizeof(*k));
}

struct rc_kcipher *rc_kcipher_dup(const struct rc_kcipher *k)
{
    struct rc_kcipher *d = OPENSSL_malloc(sizeof(*d));

    if (d == NULL)
        return NULL;
    *d = *k;
    d->key = NULL; /* made again from keybytes when needed */
    if (k->kept != NULL) {
        d->kept = OPENSSL_memdup(k->kept, k->kept_len);
        if (d->kept == NULL) {
            OPENSSL_clear_free(d, sizeof(*d));
            return NULL;
        }
    }
    return d;
}

/* new_key: key (NULL: one the kernel cannot take) replaces the one we had. */
static int init(struct rc_actx *w, bool new_key, const unsigned char *key, size_t keylen,
                const unsigned char *iv, size_t ivlen)
{
    struct rc_kcipher *k = w->k;

    if (w->alg->kernel == NULL)
        return 1;
    if (k == NULL) {
        k = w->k = OPENSSL_zalloc(sizeof(*k));
        if (k == NULL) {
            rc_err_raise(RC_R_NO_MEMORY, "cipher context");
            return 0;
        }
        k->alg = w->alg->kernel;
        k->aead = strcmp(k->alg, "cbc(aes)") != 0;
        k->pad = true;
    }
    if (new_key) {
        rc_key_free(k->key);
        k->key = NULL;
        k->keylen = key != NULL && keylen <= sizeof(k->keybytes) ? keylen : 0;
        if (k->keylen > 0)
            memcpy(k->keybytes, key, k->keylen);
    }
    if (iv != NULL) {
        k->have_iv = ivlen <= sizeof(k->iv);
        k->ivlen = k->have_iv ? ivlen : 0;
        memcpy(k->iv, iv, k->ivlen);
        memcpy(k->oiv, iv, k->ivlen);
        k->soft = k->iv_stale = k->finished = false;
    } else if (!k->aead && k->have_iv) {
        /*
         * CBC starts again from the IV init gave (the default provider's own
         * copy of it was overwritten when it was brought up to date).
         */
        memcpy(k->iv, k->oiv, BLOCK);
        k->soft = false;
        k->iv_stale = true;
    } else if (k->data_seen || k->kept != NULL) {
        /* An AEAD message begun and not finished: the default provider's to sort out. */
        k->have_iv = false;
    }
    drop_kept(k);
    k->aadlen = 0;
    k->aad_overflow = k->data_seen = k->tag_set = k->tag_ready = false;
    return 1;
}

int rc_kcipher_init(struct rc_actx *w, const unsigned char *key, size_t keylen,
                    const unsigned char *iv, size_t ivlen)
{
    return init(w, key != NULL, key, keylen, iv, ivlen);
}

int rc_kcipher_init_opaque(struct rc_actx *w, const unsigned char *iv, size_t ivlen)
{
    return init(w, true, NULL, 0, iv, ivlen);
}

static int catch_up(struct rc_actx *w);

/* The default provider's context set to iv, its key kept: what init does with no key. */
static int inner_set_iv(struct rc_actx *w, const unsigned char *iv, size_t ivlen)
{
    return w->enc ? RC_CIPHER_FN(w, encrypt_init, ENCRYPT_INIT)(w->inner, NULL, 0, iv, ivlen, NULL)
                  : RC_CIPHER_FN(w, decrypt_init, DECRYPT_INIT)(w->inner, NULL, 0, iv, ivlen, NULL);
}

int rc_kcipher_set_params(struct rc_actx *w, const OSSL_PARAM p[])
{
    static const char *const iv_changers[] = {
        OSSL_CIPHER_PARAM_AEAD_IVLEN, OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
        OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV,
    };
    struct rc_kcipher *k = w->k;
    const OSSL_PARAM *q;
    unsigned int u;

    if (k == NULL || p == NULL)
        return 1;
    /* The TLS 1.2 IV controls make the IV here: it is no longer the one init gave. */
    for (size_t i = 0; i < sizeof(iv_changers) / sizeof(iv_changers[0]); i++)
        if (OSSL_PARAM_locate_const(p, iv_changers[i]) != NULL)
            k->have_iv = false;
    q = OSSL_PARAM_locate_const(p, OSSL_CIPHER_PARAM_AEAD_TAG);
    if (q != NULL && q->data != NULL && !w->enc && q->data_size <= sizeof(k->tag)) {
        /* After the kernel checked the old one: the default provider's final checks this. */
        if (k->kept != NULL && !catch_up(w))
            return 0;
        memcpy(k->tag, q->data, q->data_size);
        k->taglen = q->data_size;
        k->tag_set = true;
    }
    q = OSSL_PARAM_locate_const(p, OSSL_CIPHER_PARAM_PADDING);
    if (q != NULL && OSSL_PARAM_get_uint(q, &u))
        k->pad = u != 0;
    q = OSSL_PARAM_locate_const(p, OSSL_CIPHER_PARAM_TLS_VERSION);
    if (q != NULL && OSSL_PARAM_get_uint(q, &u))
        k->tls = u;
    return 1;
}

/*
 * Whether the default provider begins a message after a finished one under
 * the same IV. Releases differ (ChaCha20-Poly1305 did until OpenSSL guarded
 * its IV state in 2026; GCM never did), so a copy of the context is asked:
 * set afresh to the IV, it finishes an empty message and begins another.
 */
static bool restarts_after_final(struct rc_actx *w)
{
    struct rc_kcipher *k = w->k;
    void *d = RC_CIPHER_FN(w, dupctx, DUPCTX)(w->inner);
    unsigned char tail[BLOCK];
    size_t n = 0;
    bool yes;

    ERR_set_mark();
    yes = d != NULL && RC_CIPHER_FN(w, encrypt_init, ENCRYPT_INIT)(d, NULL, 0, k->iv, k->ivlen, NULL)
          && RC_CIPHER_FN(w, final, FINAL)(d, tail, &n, sizeof(tail))
          /* AAD: no output, but the size check still wants room for it */
          && RC_CIPHER_FN(w, update, UPDATE)(d, NULL, &n, 1, k->iv, 1);
    ERR_pop_to_mark();
    if (d != NULL)
        RC_CIPHER_FN(w, freectx, FREECTX)(d);
    return yes;
}

/*
 * A message after one the kernel finished, with no new IV: the default
 * provider's context never saw the first (only its AAD). Where the default
 * provider refuses (a second message under one IV), so do we; where it starts
 * over, its context is set up afresh with the same IV, and the kernel's tag
 * is stale.
 */
static int after_kernel_final(struct rc_actx *w)
{
    struct rc_kcipher *k = w->k;

    if (!k->finished)
        return 1;
    if (!restarts_after_final(w))
        return 0;
    k->finished = k->tag_ready = false;
    return inner_set_iv(w, k->iv, k->ivlen);
}

int rc_kcipher_aad(struct rc_actx *w, const unsigned char *in, size_t inl)
{
    struct rc_kcipher *k = w->k;

    if (k == NULL || !k->aead || in == NULL)
        return 1;
    if (!after_kernel_final(w))
        return 0;
    /* AAD after data: the default provider, having seen the data, decides what it means. */
    if (k->data_seen || k->kept != NULL)
        return rc_kcipher_software(w);
    if (k->aad_overflow || inl > AAD_MAX - k->aadlen) {
        k->aad_overflow = true;
        return 1;
    }
    memcpy(k->aad + k->aadlen, in, inl);
    k->aadlen += inl;
    return 1;
}

/* The CBC context gets the chaining IV the kernel calls moved on to. */
static int sync_iv(struct rc_actx *w)
{
    struct rc_kcipher *k = w->k;

    if (!k->iv_stale)
        return 1;
    k->iv_stale = !inner_set_iv(w, k->iv, BLOCK);
    return !k->iv_stale;
}

/* The message goes on: the default provider's context catches up with the kernel's call. */
static int catch_up(struct rc_actx *w)
{
    struct rc_kcipher *k = w->k;
    unsigned char *sink;
    size_t n = 0;
    int ok;

    if (k->kept == NULL)
        return 1;
    sink = OPENSSL_malloc(k->kept_data + BLOCK);
    if (sink == NULL) {
        rc_err_raise(RC_R_NO_MEMORY, "%zu bytes", k->kept_data);
        return 0;
    }
    ok = RC_CIPHER_FN(w, update, UPDATE)(w->inner, sink, &n, k->kept_data + BLOCK,
                                         k->kept + k->kept_skip, k->kept_data);
    OPENSSL_clear_free(sink, k->kept_data + BLOCK);
    drop_kept(k);
    return ok;
}

int rc_kcipher_software(struct rc_actx *w)
{
    struct rc_kcipher *k = w->k;

    if (k == NULL)
        return 1;
    if (k->aead) {
        k->data_seen = true;
        return catch_up(w);
    }
    k->soft = true;
    return sync_iv(w);
}

/* Whether the runtime would take a data call of inl bytes to the kernel. */
static bool kernel_takes(const struct rc_kcipher *k, unsigned char *out, size_t outsize,
                         const unsigned char *in, size_t inl)
{
    return out != NULL && in != NULL && inl > 0 && outsize >= inl && k->keylen > 0
           && k->have_iv && k->ivlen == (k->aead ? 12u : BLOCK)
           && ASYNC_get_current_job() != NULL && inl >= rc_op_min_offload_bytes()
           && rc_kernel_uses(k->alg) == 1;
}

static bool key_for(struct rc_kcipher *k, unsigned int authsize)
{
    if (k->key != NULL && k->key_authsize == authsize)
        return true;
    rc_key_free(k->key);
    k->key = NULL;
    k->key_authsize = authsize;
    return rc_key_new(k->alg, k->keybytes, k->keylen, authsize, &k->key) == 0;
}

static int aead_update(struct rc_actx *w, unsigned char *out, size_t *outl, size_t outsize,
                       const unsigned char *in, size_t inl)
{
    struct rc_kcipher *k = w->k;
    size_t tag = w->enc ? 0 : k->taglen, kin_len = k->aadlen + inl + tag, outlen = 0;
    struct rc_kernel_op kt = { .dir = w->enc ? RC_KERNEL_ENCRYPT : RC_KERNEL_DECRYPT,
                               .ivlen = 12, .assoclen = (unsigned int)k->aadlen };
    struct rc_op op = { .exec = rc_cipher_exec, .kernel = &kt, .skip = k->aadlen, .trail = tag };
    unsigned char *kin, *kout;
    int ok;

    if (k->data_seen || k->aad_overflow || (!w->enc && !k->tag_set)
        || kin_len > RC_KERNEL_MAX_BYTES || !kernel_takes(k, out, outsize, in, inl)
        || !key_for(k, w->enc ? BLOCK : (unsigned int)k->taglen))
        return -1;
    kin = OPENSSL_malloc(kin_len);
    kout = OPENSSL_malloc(inl + BLOCK);
    if (kin == NULL || kout == NULL) {
        OPENSSL_free(kin);
        OPENSSL_free(kout);
        return -1;
    }
    memcpy(kin, k->aad, k->aadlen);
    memcpy(kin + k->aadlen, in, inl);
    memcpy(kin + k->aadlen + inl, k->tag, tag);
    kt.key = k->key;
    memcpy(kt.iv, k->iv, 12);
    op.in = kin;
    op.inlen = kin_len;
    op.out = kout;
    op.outsize = inl + BLOCK;
    ok = rc_actx_run(w, &op, true, &outlen);
    k->data_seen = true;
    if (ok && op.by_kernel) {
        memcpy(out, kout, inl);
        if (w->enc)
            memcpy(k->tag, kout + inl, BLOCK);
        k->kept = kin;
        k->kept_len = kin_len;
        k->kept_skip = k->aadlen;
        k->kept_data = inl;
        kin = NULL;
        *outl = inl;
    } else if (ok) {
        memcpy(out, kout, outlen);
        *outl = outlen;
    }
    OPENSSL_clear_free(kout, inl + BLOCK);
    if (kin != NULL)
        OPENSSL_clear_free(kin, kin_len);
    /*
     * Refused by the kernel (a forgery, or a message that goes on): the
     * default provider decrypts, here, without a second wait, and its final
     * checks the tag.
     */
    if (op.kernel_said_no)
        return RC_CIPHER_FN(w, update, UPDATE)(w->inner, out, outl, outsize, in, inl);
    return ok;
}

static int cbc_update(struct rc_actx *w, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    struct rc_kcipher *k = w->k;
    /* A TLS record to send is padded here as the default provider would: pad bytes of pad - 1. */
    bool record = k->tls >= TLS1_VERSION && w->enc && in == out && k->pad;
    size_t pad = record ? BLOCK - inl % BLOCK : 0, total = inl + pad, n, done = 0, last = 0;
    struct rc_kernel_op kt = { .dir = w->enc ? RC_KERNEL_ENCRYPT : RC_KERNEL_DECRYPT,
                               .ivlen = BLOCK };
    struct rc_op op = { .exec = rc_cipher_exec, .kernel = &kt, .in = in, .out = out, .trail = pad };
    unsigned char next_iv[BLOCK] = { 0 };

    if (k->soft || (k->tls != 0 && !record) || total % BLOCK != 0 || total > RC_KERNEL_MAX_BYTES
        || outsize < total || !kernel_takes(k, out, outsize, in, inl) || !key_for(k, 0))
        return -1;
    /* With padding, a decryption's last block waits in the default provider's context. */
    n = w->enc || !k->pad ? total : total - BLOCK;
    if (n == 0)
        return -1;
    memset(out + inl, (int)pad - 1, pad);
    op.inlen = op.outsize = n;
    /* Whoever does it, the next IV is the last ciphertext block; in place, read it first. */
    if (!w->enc)
        memcpy(next_iv, in + n - BLOCK, BLOCK);
    if (!sync_iv(w))
        return 0;
    kt.key = k->key;
    memcpy(kt.iv, k->iv, BLOCK);
    if (!rc_actx_run(w, &op, true, &done))
        return 0;
    if (w->enc)
        memcpy(next_iv, out + n - BLOCK, BLOCK);
    memcpy(k->iv, next_iv, BLOCK);
    k->iv_stale = op.by_kernel;
    if (n < total
        && (!rc_kcipher_software(w)
            || !RC_CIPHER_FN(w, update, UPDATE)(w->inner, out + done, &last, outsize - done,
                                                in + n, BLOCK)))
        return 0;
    *outl = done + last;
    return 1;
}

int rc_kcipher_update(struct rc_actx *w, unsigned char *out, size_t *outl, size_t outsize,
                      const unsigned char *in, size_t inl)
{
    struct rc_kcipher *k = w->k;
    int rc;

    if (k == NULL)
        return -1;
    if (k->aead && !after_kernel_final(w))
        return 0;
    if (k->kept != NULL)
        rc = -1;
    else
        rc = k->aead ? aead_update(w, out, outl, outsize, in, inl)
                     : cbc_update(w, out, outl, outsize, in, inl);
    if (rc < 0 && !rc_kcipher_software(w))
        return 0;
    return rc;
}

int rc_kcipher_final(struct rc_actx *w, size_t *outl)
{
    struct rc_kcipher *k = w->k;

    if (k == NULL)
        return -1;
    if (!k->aead)
        return sync_iv(w) ? -1 : 0;
    if (!after_kernel_final(w))
        return 0;
    /* A message is finished: the next one needs a new IV, as the default provider insists. */
    k->have_iv = false;
    if (k->kept == NULL)
        return -1;
    drop_kept(k);
    k->tag_ready = w->enc;
    k->finished = true;
    *outl = 0;
    return 1;
}

/* CBC: the chaining IV brought up to date, and the IV init gave as the default provider's was. */
static int cbc_get_params(struct rc_actx *w, OSSL_PARAM p[])
{
    OSSL_PARAM *iv = OSSL_PARAM_locate(p, OSSL_CIPHER_PARAM_IV);

    if (!sync_iv(w) || !RC_CIPHER_FN(w, get_ctx_params, GET_CTX_PARAMS)(w->inner, p))
        return 0;
    return iv == NULL || OSSL_PARAM_set_octet_string(iv, w->k->oiv, BLOCK);
}

int rc_kcipher_get_params(struct rc_actx *w, OSSL_PARAM p[])
{
    struct rc_kcipher *k = w->k;
    OSSL_PARAM *tag, *rest;
    size_t n = 0, j = 0;
    int ok;

    if (k == NULL)
        return -1;
    if (!k->aead)
        return k->have_iv ? cbc_get_params(w, p) : -1;
    /* The TLS 1.2 IV controls make the IV (GCM's IV generation): not init's any more. */
    if (OSSL_PARAM_locate(p, OSSL_CIPHER_PARAM_AEAD_TLS1_GET_IV_GEN) != NULL)
        k->have_iv = false;
    tag = OSSL_PARAM_locate(p, OSSL_CIPHER_PARAM_AEAD_TAG);
    if (!k->tag_ready || tag == NULL)
        return -1;
    if (tag->data == NULL || tag->data_size == 0 || tag->data_size > BLOCK
        || tag->data_type != OSSL_PARAM_OCTET_STRING) {
        ERR_raise(ERR_LIB_PROV, PROV_R_INVALID_TAG);
        return 0;
    }
    memcpy(tag->data, k->tag, tag->data_size);
    tag->return_size = tag->data_size;
    /* The rest is the default provider's; it has no tag to give, so it does not see that one. */
    while (p[n].key != NULL)
        n++;
    if (n == 1)
        return 1;
    rest = OPENSSL_malloc(n * sizeof(*rest));
    if (rest == NULL)
        return 0;
    for (size_t i = 0; i <= n; i++)
        if (&p[i] != tag)
            rest[j++] = p[i];
    ok = RC_CIPHER_FN(w, get_ctx_params, GET_CTX_PARAMS)(w->inner, rest);
    for (size_t i = 0, r = 0; i < n; i++)
        if (&p[i] != tag)
            p[i].return_size = rest[r++].return_size;
    OPENSSL_free(rest);
    return ok;
}
