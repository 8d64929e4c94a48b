/*
 * Bad input through the ringcrypt provider. Wrong key types, truncated,
 * tampered and oversized inputs and corrupt key material are refused the same
 * way with and without an ASYNC job (core, callback and fd modes): the call
 * fails, an error is on the caller's queue (also when the call failed on a
 * worker thread), no output is handed out, nothing leaks (ASan's LSan). Each
 * negative case has a control beside it where it could otherwise pass for the
 * wrong reason (a path that always fails). Where OpenSSL's own answer changed
 * between releases (an Ed25519 key to a plain sign init, accepted since 3.5;
 * RSA PKCS#1 v1.5 implicit rejection since 3.2, also tested turned off), the
 * expected verdict, and the bytes a success hands out, are those of the
 * default provider of the running release, with the same key and input.
 * A backend that misses its deadline fails with ringcrypt's "timed out"
 * error and leaves its context refusing further use; a refused call and a
 * runtime shut down in between leave nothing behind that makes the next call
 * fail.
 *
 * RC_TEST_VERBOSE=1 prints every error a case queued.
 */
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SENTINEL 0xA5
#define TAG_LEN 16
#define TLS_AAD_LEN 13
#define SECRET_LEN 32
#define JOB_TIMEOUT_MS 20000

static bool verbose;
/* RC_TEST_PROVIDER=default: OpenSSL's reference, which offloads nothing. */
static bool reference;

/* ---- keys and fixtures --------------------------------------------------- */

enum key_id { K_RSA, K_P256, K_P256_PEER, K_P384, K_X25519, K_X25519_PEER, K_ED25519, K_COUNT };

static const struct key_spec {
    const char *type, *group;
    size_t bits;
} key_specs[K_COUNT] = {
    [K_RSA] = { "RSA", NULL, 2048 },
    [K_P256] = { "EC", "P-256", 0 },
    [K_P256_PEER] = { "EC", "P-256", 0 },
    [K_P384] = { "EC", "P-384", 0 },
    [K_X25519] = { "X25519", NULL, 0 },
    [K_X25519_PEER] = { "X25519", NULL, 0 },
    [K_ED25519] = { "ED25519", NULL, 0 },
};

/*
 * Where a case runs: the provider under test, or OpenSSL's default provider of
 * the running release, whose answer is the expected one where releases differ
 * (with the same keys, decoded from the tested side's DER).
 */
struct side {
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *keys[K_COUNT];
    bool initialised;          /* false: the case's last init refused the key */
    unsigned char out[512];    /* what the case's last decryption handed out */
    size_t outlen;
};

static struct side tested, ref;
static unsigned char *key_der[K_COUNT];
static int key_der_len[K_COUNT];

static unsigned char digest[SECRET_LEN];     /* what RSA signs */
static unsigned char secret[SECRET_LEN];     /* what rsa_ct carries */
static unsigned char rsa_ct[512];
static size_t rsa_ct_len;

enum size_class { SMALL, LARGE, SIZES };
static const char *const size_names[SIZES] = { "small", "large" };

static const struct aead {
    const char *name;
    /* Nonce bytes a TLS 1.2 record carries: GCM's; ChaCha20-Poly1305 XORs its sequence number in. */
    size_t explicit_iv;
} aeads[] = {
    { "AES-128-GCM", 8 },
    { "AES-256-GCM", 8 },
    { "ChaCha20-Poly1305", 0 },
};
#define NAEADS (sizeof(aeads) / sizeof(aeads[0]))

/* One sealed message per AEAD and size, usable both as a plain AEAD message and as a TLS record. */
struct sealed {
    size_t len;                              /* plaintext */
    unsigned char key[32], iv[12], nonce[12], aad[TLS_AAD_LEN], tag[TAG_LEN];
    unsigned char *pt;
    unsigned char *rec;                      /* explicit nonce || ciphertext || tag */
    size_t reclen;
};
static struct sealed sealed[NAEADS][SIZES];

/* Deterministic bytes: plaintexts that no cleansed or untouched buffer can look like. */
static void fill(unsigned char *p, size_t n)
{
    static uint64_t x = 0x9E3779B97F4A7C15u;

    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static EVP_PKEY *make_key(const struct key_spec *k)
{
    OSSL_PARAM params[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(tested.libctx, k->type, NULL);
    EVP_PKEY *pkey = NULL;
    size_t bits = k->bits;

    if (k->group != NULL)
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                     (char *)k->group, 0);
    else if (bits != 0)
        params[0] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || !EVP_PKEY_CTX_set_params(ctx, params)
        || EVP_PKEY_generate(ctx, &pkey) != 1) {
        t_print_errors(k->type);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static bool make_rsa_ciphertext(void)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(tested.libctx, tested.keys[K_RSA], NULL);
    bool ok;

    rsa_ct_len = sizeof(rsa_ct);
    ok = ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1
         && EVP_PKEY_encrypt(ctx, rsa_ct, &rsa_ct_len, secret, sizeof(secret)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static bool seal(const struct aead *a, size_t len, struct sealed *s)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(tested.libctx, a->name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char *ct;
    int n = 0;
    bool ok;

    fill(s->key, sizeof(s->key));
    fill(s->iv, sizeof(s->iv));
    fill(s->aad, 8); /* the record's sequence number */
    s->aad[8] = 23;  /* application data, TLS 1.2, plaintext length */
    s->aad[9] = 3;
    s->aad[10] = 3;
    s->aad[11] = (unsigned char)(len >> 8);
    s->aad[12] = (unsigned char)len;
    for (size_t i = 0; i < sizeof(s->nonce); i++) {
        unsigned char seq = i >= 4 ? s->aad[i - 4] : 0;

        s->nonce[i] = a->explicit_iv != 0 ? (i < 4 ? s->iv[i] : seq) : s->iv[i] ^ seq;
    }
    s->len = len;
    s->reclen = a->explicit_iv + len + TAG_LEN;
    s->pt = malloc(len);
    s->rec = malloc(s->reclen);
    ok = cipher != NULL && ctx != NULL && s->pt != NULL && s->rec != NULL;
    if (ok) {
        fill(s->pt, len);
        memcpy(s->rec, s->aad, a->explicit_iv);
        ct = s->rec + a->explicit_iv;
        ok = EVP_EncryptInit_ex2(ctx, cipher, s->key, s->nonce, NULL) == 1
             && EVP_EncryptUpdate(ctx, NULL, &n, s->aad, TLS_AAD_LEN) == 1
             && EVP_EncryptUpdate(ctx, ct, &n, s->pt, (int)len) == 1
             && EVP_EncryptFinal_ex(ctx, ct + n, &n) == 1
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, s->tag) == 1;
        memcpy(ct + len, s->tag, TAG_LEN);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return ok;
}

/* Symmetric sizes on either side of the offload threshold, so both update paths run. */
static bool aead_sizes(size_t sizes[SIZES])
{
    struct rc_info info;

    /* AEAD offload is off by default (a 1 GiB threshold): scenarios set one they can afford. */
    if (rc_info(&info) != 0 || info.min_offload_bytes < 2 * TAG_LEN
        || info.min_offload_bytes > (1u << 20)) {
        fprintf(stderr, "needs RINGCRYPT_MIN_OFFLOAD_BYTES between %d and 1 MiB\n", 2 * TAG_LEN);
        return false;
    }
    sizes[SMALL] = info.min_offload_bytes / 16;
    sizes[LARGE] = info.min_offload_bytes + 4096;
    return true;
}

static bool setup(void)
{
    size_t sizes[SIZES];

    verbose = getenv("RC_TEST_VERBOSE") != NULL && strcmp(getenv("RC_TEST_VERBOSE"), "0") != 0;
    reference = getenv("RC_TEST_PROVIDER") != NULL && getenv("RC_TEST_PROVIDER")[0] != '\0'
                && strcmp(getenv("RC_TEST_PROVIDER"), "ringcrypt") != 0;
    tested.libctx = t_provider_libctx();
    ref.libctx = t_reference_libctx();
    if (tested.libctx == NULL || ref.libctx == NULL || !aead_sizes(sizes))
        return false;
    for (int k = 0; k < K_COUNT; k++) {
        const unsigned char *p;

        tested.keys[k] = make_key(&key_specs[k]);
        if (tested.keys[k] == NULL)
            return false;
        key_der_len[k] = i2d_PrivateKey(tested.keys[k], &key_der[k]);
        if (key_der_len[k] <= 0)
            return false;
        p = key_der[k];
        ref.keys[k] = d2i_AutoPrivateKey_ex(NULL, &p, key_der_len[k], ref.libctx, NULL);
        if (ref.keys[k] == NULL || EVP_PKEY_eq(ref.keys[k], tested.keys[k]) != 1) {
            t_print_errors("reference key");
            return false;
        }
    }
    fill(digest, sizeof(digest));
    fill(secret, sizeof(secret));
    if (!make_rsa_ciphertext())
        return false;
    for (size_t a = 0; a < NAEADS; a++)
        for (int s = 0; s < SIZES; s++)
            if (!seal(&aeads[a], sizes[s], &sealed[a][s]))
                return false;
    return true;
}

static void teardown(void)
{
    for (size_t a = 0; a < NAEADS; a++) {
        for (int s = 0; s < SIZES; s++) {
            free(sealed[a][s].pt);
            free(sealed[a][s].rec);
        }
    }
    for (int k = 0; k < K_COUNT; k++) {
        OPENSSL_free(key_der[k]);
        EVP_PKEY_free(tested.keys[k]);
        EVP_PKEY_free(ref.keys[k]);
    }
    t_provider_free(tested.libctx);
    t_provider_free(ref.libctx);
}

/* T_PASS when set up; a scenario that needs the runtime skips under the reference provider. */
static int begin(bool needs_runtime)
{
    int rc = setup() ? T_PASS : T_FAIL;

    if (rc == T_PASS && needs_runtime && reference) {
        fprintf(stderr, "the reference provider offloads nothing\n");
        rc = T_SKIP;
    }
    if (rc != T_PASS)
        teardown();
    return rc;
}

/* ---- verdicts ------------------------------------------------------------ */

enum verdict {
    V_REFUSED,  /* failed, handing nothing out */
    V_ACCEPTED, /* succeeded with the right result */
    V_WRONG,    /* succeeded with a wrong result */
    V_RELEASED, /* failed, but handed out output */
    V_BROKEN,   /* the case's own set-up failed */
};

static const char *const verdict_names[] = {
    "refused", "accepted", "accepted with a wrong result", "failed but released output",
    "set-up failed",
};

static enum verdict judge(bool ok, bool right, bool released)
{
    if (!ok)
        return released ? V_RELEASED : V_REFUSED;
    return right ? V_ACCEPTED : V_WRONG;
}

static bool untouched(const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != SENTINEL)
            return false;
    return true;
}

/* Any block of plaintext where it would have been decrypted: even part of it was released. */
static bool shows_plaintext(const unsigned char *buf, const unsigned char *pt, size_t len)
{
    for (size_t off = 0; off + TAG_LEN <= len; off += TAG_LEN)
        if (memcmp(buf + off, pt + off, TAG_LEN) == 0)
            return true;
    return false;
}

/* ---- cases --------------------------------------------------------------- */

enum tamper { T_NONE, T_FLIP_TAG, T_SHORT, T_EMPTY_TAG, TAMPERS };
static const char *const tamper_names[TAMPERS] = {
    "intact (control)", "tag bit flipped", "one byte short", "empty tag",
};

enum op_kind { OP_SIGN, OP_DECRYPT, OP_DERIVE };

struct bad_case {
    char name[96];
    enum verdict (*run)(const struct bad_case *c, struct side *s);
    enum verdict expect;       /* V_REFUSED, or V_ACCEPTED for a control */
    /*
     * OpenSSL's answer changed between releases: the expected verdict, and
     * what a success hands out, are the default provider's of this release.
     */
    bool by_reference;
    bool offloads;             /* in a job, the call reaches a worker (if its init took the key) */
    /* OpenSSL's default provider queues no error here: ringcrypt must add its own. */
    bool own_error;
    enum key_id key, peer;
    const char *md;
    enum op_kind op;
    int delta;                 /* input length relative to the right one */
    long offset;               /* byte of the key's DER to corrupt; from the end if negative */
    unsigned char mask;
    size_t aead;
    enum size_class size;
    enum tamper tamper;
    bool explicit_rejection;   /* RSA PKCS#1 v1.5 decryption with implicit rejection off */
};

static enum verdict digest_sign_init(const struct bad_case *c, struct side *s)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    enum verdict v = V_BROKEN;

    if (mctx != NULL)
        v = EVP_DigestSignInit_ex(mctx, NULL, c->md, s->libctx, NULL, s->keys[c->key], NULL) == 1
            ? V_ACCEPTED : V_REFUSED;
    EVP_MD_CTX_free(mctx);
    return v;
}

static int (*const op_inits[])(EVP_PKEY_CTX *) = {
    [OP_SIGN] = EVP_PKEY_sign_init,
    [OP_DECRYPT] = EVP_PKEY_decrypt_init,
    [OP_DERIVE] = EVP_PKEY_derive_init,
};

static enum verdict op_init(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->keys[c->key], NULL);
    enum verdict v = V_BROKEN;

    if (ctx != NULL)
        v = op_inits[c->op](ctx) == 1 ? V_ACCEPTED : V_REFUSED;
    EVP_PKEY_CTX_free(ctx);
    return v;
}

/*
 * A plain sign of digest with the case's key, where the init takes it (Ed25519
 * since OpenSSL 3.5, which then wants an instance that was never set).
 */
static enum verdict sign_after_init(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->keys[c->key], NULL);
    enum verdict v = V_BROKEN;
    bool ok;

    memset(s->out, SENTINEL, sizeof(s->out));
    s->outlen = sizeof(s->out);
    if (ctx == NULL)
        goto out;
    if (EVP_PKEY_sign_init(ctx) != 1) {
        s->initialised = false;
        v = V_REFUSED;
        goto out;
    }
    ok = EVP_PKEY_sign(ctx, s->out, &s->outlen, digest, sizeof(digest)) == 1;
    /* No signature of a digest is right without an instance saying what it is. */
    v = judge(ok, false, s->outlen != sizeof(s->out) || !untouched(s->out, sizeof(s->out)));
out:
    if (v != V_WRONG)
        s->outlen = 0;
    EVP_PKEY_CTX_free(ctx);
    return v;
}

static enum verdict derive(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->keys[c->key], NULL);
    unsigned char out[128];
    size_t outlen = sizeof(out);
    enum verdict v = V_BROKEN;
    bool ok;

    memset(out, SENTINEL, sizeof(out));
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1)
        goto out;
    if (EVP_PKEY_derive_set_peer(ctx, s->keys[c->peer]) != 1) {
        v = V_REFUSED;
        goto out;
    }
    ok = EVP_PKEY_derive(ctx, out, &outlen) == 1;
    v = judge(ok, outlen == SECRET_LEN, outlen != sizeof(out) || !untouched(out, sizeof(out)));
out:
    EVP_PKEY_CTX_free(ctx);
    return v;
}

/*
 * Since OpenSSL 3.2 a bad PKCS#1 v1.5 decryption succeeds with a message
 * derived from the key and the ciphertext (implicit rejection) unless the
 * context turns that off; older releases know no such parameter and always
 * refuse.
 */
static enum verdict rsa_decrypt(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->keys[K_RSA], NULL);
    unsigned char in[sizeof(rsa_ct) + 1] = { 0 };
    OSSL_PARAM params[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    unsigned int implicit = 0;
    enum verdict v = V_BROKEN;
    bool ok;

#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
    if (c->explicit_rejection)
        params[0] = OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION, &implicit);
#else
    (void)implicit;
#endif
    memcpy(in, rsa_ct, rsa_ct_len);
    memset(s->out, SENTINEL, sizeof(s->out));
    s->outlen = sizeof(s->out);
    if (ctx == NULL || EVP_PKEY_decrypt_init_ex(ctx, params) != 1)
        goto out;
    ok = EVP_PKEY_decrypt(ctx, s->out, &s->outlen, in, (size_t)((long)rsa_ct_len + c->delta)) == 1;
    v = judge(ok, s->outlen == sizeof(secret) && memcmp(s->out, secret, sizeof(secret)) == 0,
              s->outlen != sizeof(s->out) || !untouched(s->out, sizeof(s->out)));
out:
    if (v != V_ACCEPTED && v != V_WRONG)
        s->outlen = 0;
    EVP_PKEY_CTX_free(ctx);
    return v;
}

static bool rsa_verifies(struct side *s, EVP_PKEY *key, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, key, NULL);
    bool ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1
              && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1
              && EVP_PKEY_verify(ctx, sig, siglen, tbs, tbslen) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* Signs digest (plus delta bytes) with SHA-256 set on ctx, a context of s for key. */
static enum verdict rsa_sign_on(struct side *s, EVP_PKEY_CTX *ctx, EVP_PKEY *key, int delta)
{
    unsigned char tbs[sizeof(digest) + 1] = { 0 }, sig[512];
    size_t siglen = sizeof(sig), tbslen = (size_t)((long)sizeof(digest) + delta);
    bool ok;

    memcpy(tbs, digest, sizeof(digest));
    memset(sig, SENTINEL, sizeof(sig));
    ok = EVP_PKEY_sign(ctx, sig, &siglen, tbs, tbslen) == 1;
    return judge(ok, ok && rsa_verifies(s, key, sig, siglen, tbs, tbslen),
                 siglen != sizeof(sig) || !untouched(sig, sizeof(sig)));
}

static EVP_PKEY_CTX *rsa_signing_ctx(struct side *s, EVP_PKEY *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, key, NULL);

    if (ctx != NULL && EVP_PKEY_sign_init(ctx) == 1
        && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1)
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

static enum verdict rsa_sign(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = rsa_signing_ctx(s, s->keys[K_RSA]);
    enum verdict v = ctx != NULL ? rsa_sign_on(s, ctx, s->keys[K_RSA], c->delta) : V_BROKEN;

    EVP_PKEY_CTX_free(ctx);
    return v;
}

/* PKCS#1 v1.5 encryption takes at most the modulus less 11 bytes of padding. */
static enum verdict rsa_encrypt(const struct bad_case *c, struct side *s)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(s->libctx, s->keys[K_RSA], NULL);
    size_t modlen = (size_t)EVP_PKEY_get_size(s->keys[K_RSA]);
    unsigned char in[512] = { 0 }, out[512];
    size_t outlen = sizeof(out);
    enum verdict v = V_BROKEN;
    bool ok;

    memset(out, SENTINEL, sizeof(out));
    if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) != 1)
        goto out;
    fill(in, modlen);
    ok = EVP_PKEY_encrypt(ctx, out, &outlen, in, (size_t)((long)modlen - 11 + c->delta)) == 1;
    v = judge(ok, outlen == modlen, outlen != sizeof(out) || !untouched(out, sizeof(out)));
out:
    EVP_PKEY_CTX_free(ctx);
    return v;
}

static enum verdict decode_key(const struct bad_case *c, struct side *s)
{
    size_t len = (size_t)key_der_len[c->key];
    unsigned char *der = OPENSSL_memdup(key_der[c->key], len);
    const unsigned char *p = der;
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
        &pkey, "DER", NULL, EVP_PKEY_get0_type_name(s->keys[c->key]), EVP_PKEY_KEYPAIR, s->libctx,
        NULL);
    enum verdict v = V_BROKEN;
    bool ok;

    if (der == NULL || dctx == NULL)
        goto out;
    der[c->offset >= 0 ? (size_t)c->offset : len - (size_t)-c->offset] ^= c->mask;
    ok = OSSL_DECODER_from_data(dctx, &p, &len) == 1 && pkey != NULL;
    v = judge(ok, pkey != NULL && EVP_PKEY_eq(pkey, s->keys[c->key]) == 1, pkey != NULL);
out:
    OSSL_DECODER_CTX_free(dctx);
    EVP_PKEY_free(pkey);
    OPENSSL_free(der);
    return v;
}

/*
 * A tag flipped, or a message that lost its last byte: the receiver takes the
 * last 16 bytes it has as the tag, which then ends one byte early. (A tag cut
 * short but given with its shorter length is a legal truncated tag for both
 * GCM and ChaCha20-Poly1305, so only an empty one must be refused.)
 */
static void tamper_message(enum tamper t, const unsigned char *ct, size_t *len,
                           unsigned char tag[TAG_LEN], size_t *taglen)
{
    switch (t) {
    case T_FLIP_TAG:
        tag[5] ^= 0x10;
        break;
    case T_SHORT:
        memmove(tag + 1, tag, TAG_LEN - 1);
        tag[0] = ct[--*len];
        break;
    case T_EMPTY_TAG:
        *taglen = 0;
        break;
    default:
        break;
    }
}

/* EVP's contract: update hands out plaintext, final authenticates it or fails. */
static enum verdict open_message(const struct bad_case *c, struct side *side)
{
    const struct aead *a = &aeads[c->aead];
    const struct sealed *s = &sealed[c->aead][c->size];
    const unsigned char *ct = s->rec + a->explicit_iv;
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(side->libctx, a->name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char tag[TAG_LEN], *out = malloc(s->len + TAG_LEN);
    size_t len = s->len, taglen = TAG_LEN;
    enum verdict v = V_BROKEN;
    int n = 0, fin = 0;
    bool ok;

    memcpy(tag, s->tag, TAG_LEN);
    tamper_message(c->tamper, ct, &len, tag, &taglen);
    if (cipher == NULL || ctx == NULL || out == NULL
        || EVP_DecryptInit_ex2(ctx, cipher, s->key, s->nonce, NULL) != 1
        || EVP_DecryptUpdate(ctx, NULL, &n, s->aad, TLS_AAD_LEN) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)taglen, tag) != 1) {
        v = V_REFUSED;
        goto out;
    }
    memset(out, SENTINEL, len + TAG_LEN);
    if (EVP_DecryptUpdate(ctx, out, &n, ct, (int)len) != 1 || (size_t)n != len)
        goto out;
    ok = EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1;
    v = judge(ok, fin == 0 && memcmp(out, s->pt, len) == 0,
              fin != 0 || !untouched(out + n, TAG_LEN));
out:
    free(out);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return v;
}

/*
 * TLS 1.2's one-shot record call, in place as libssl makes it: it
 * authenticates before it hands anything out, so a refused record must not
 * leave plaintext in the buffer.
 */
static enum verdict open_record(const struct bad_case *c, struct side *side)
{
    const struct aead *a = &aeads[c->aead];
    const struct sealed *s = &sealed[c->aead][c->size];
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(side->libctx, a->name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char *buf = OPENSSL_memdup(s->rec, s->reclen), aad[TLS_AAD_LEN];
    size_t reclen = s->reclen;
    enum verdict v = V_BROKEN;
    int ret;

    if (cipher == NULL || ctx == NULL || buf == NULL)
        goto out;
    if (c->tamper == T_FLIP_TAG)
        buf[reclen - TAG_LEN + 5] ^= 0x10;
    else if (c->tamper == T_SHORT)
        reclen--;
    memcpy(aad, s->aad, sizeof(aad));
    aad[11] = (unsigned char)(reclen >> 8);
    aad[12] = (unsigned char)reclen;
    if (EVP_DecryptInit_ex2(ctx, cipher, s->key, a->explicit_iv != 0 ? NULL : s->iv, NULL) != 1
        || (a->explicit_iv != 0
            && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IV_FIXED,
                                   (int)(sizeof(s->iv) - a->explicit_iv), (void *)s->iv) != 1)
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_TLS1_AAD, TLS_AAD_LEN, aad) != TAG_LEN)
        goto out;
    ret = EVP_Cipher(ctx, buf, buf, (unsigned int)reclen);
    v = judge(ret > 0, memcmp(buf + a->explicit_iv, s->pt, s->len) == 0,
              shows_plaintext(buf + a->explicit_iv, s->pt, reclen - a->explicit_iv - TAG_LEN));
out:
    OPENSSL_free(buf);
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return v;
}

static const struct bad_case fixed_cases[] = {
    /*
     * Wrong key types. OpenSSL 3 picks the signature algorithm from the key (an RSA key
     * cannot reach ECDSA), so the mismatches a caller can make are a key that cannot do the
     * operation, a digest the algorithm refuses, and a peer of another type or curve.
     * OpenSSL 3.5 takes an Ed25519 key for a plain sign (for Ed25519ph, whose instance the
     * caller must set); 3.0 refused it: the default provider says which.
     */
    { .name = "ed25519 digest-sign init with SHA-256", .run = digest_sign_init,
      .key = K_ED25519, .md = "SHA256" },
    { .name = "x25519 key to digest-sign init", .run = digest_sign_init, .key = K_X25519,
      .md = "SHA256" },
    { .name = "ecdsa digest-sign init (control)", .run = digest_sign_init, .key = K_P256,
      .md = "SHA256", .expect = V_ACCEPTED },
    { .name = "ed25519 key to sign init", .run = op_init, .key = K_ED25519, .op = OP_SIGN,
      .by_reference = true },
    { .name = "ed25519 key, sign with no instance set", .run = sign_after_init, .key = K_ED25519,
      .by_reference = true, .offloads = true },
    { .name = "ec key to rsa decrypt init", .run = op_init, .key = K_P256, .op = OP_DECRYPT },
    { .name = "rsa key to derive init", .run = op_init, .key = K_RSA, .op = OP_DERIVE },
    { .name = "x25519 derive, P-256 peer", .run = derive, .key = K_X25519, .peer = K_P256 },
    { .name = "ecdh P-256 key, P-384 peer", .run = derive, .key = K_P256, .peer = K_P384 },
    { .name = "x25519 derive (control)", .run = derive, .key = K_X25519,
      .peer = K_X25519_PEER, .expect = V_ACCEPTED, .offloads = true },
    { .name = "ecdh P-256 derive (control)", .run = derive, .key = K_P256,
      .peer = K_P256_PEER, .expect = V_ACCEPTED, .offloads = true },
    /*
     * Truncated and oversized RSA input: refused on the worker, the error carried home. A
     * ciphertext one byte short is bad padding, which OpenSSL 3.2+ rejects implicitly unless
     * told otherwise.
     */
    { .name = "rsa decrypt, ciphertext one byte short", .run = rsa_decrypt, .delta = -1,
      .by_reference = true, .offloads = true },
    { .name = "rsa decrypt, ciphertext one byte short, implicit rejection off", .run = rsa_decrypt,
      .delta = -1, .explicit_rejection = true, .offloads = true },
    { .name = "rsa decrypt, input longer than the modulus", .run = rsa_decrypt, .delta = 1,
      .offloads = true },
    { .name = "rsa decrypt (control)", .run = rsa_decrypt, .expect = V_ACCEPTED,
      .offloads = true },
    { .name = "rsa sign SHA-256, input longer than the digest", .run = rsa_sign, .delta = 1,
      .offloads = true },
    { .name = "rsa sign SHA-256, input shorter than the digest", .run = rsa_sign, .delta = -1,
      .offloads = true },
    { .name = "rsa sign SHA-256 (control)", .run = rsa_sign, .expect = V_ACCEPTED,
      .offloads = true },
    { .name = "rsa pkcs1 encrypt, input one byte too big", .run = rsa_encrypt, .delta = 1 },
    { .name = "rsa pkcs1 encrypt (control)", .run = rsa_encrypt, .expect = V_ACCEPTED },
    /* Corrupt key material through the provider's decoders. */
    { .name = "rsa der, outer tag flipped", .run = decode_key, .key = K_RSA, .offset = 0,
      .mask = 0x01 },
    { .name = "rsa der, length of length flipped", .run = decode_key, .key = K_RSA,
      .offset = 1, .mask = 0x01 },
    { .name = "ec der, public point off the curve", .run = decode_key, .key = K_P256,
      .offset = -1, .mask = 0x01 },
    /* RFC 8410's PKCS#8 layout: byte 11 ends the algorithm OID. */
    { .name = "ed25519 der, algorithm OID corrupt", .run = decode_key, .key = K_ED25519,
      .offset = 11, .mask = 0x80 },
    { .name = "ec der (control)", .run = decode_key, .key = K_P256, .expect = V_ACCEPTED },
};
#define NFIXED (sizeof(fixed_cases) / sizeof(fixed_cases[0]))

/* Every AEAD, size and tampering, through EVP's update/final and through TLS's one-shot call. */
static const struct aead_path {
    const char *name;
    enum verdict (*run)(const struct bad_case *c, struct side *s);
    bool empty_tag;            /* the path takes a tag from the caller */
} aead_paths[] = {
    { "open", open_message, true },
    { "tls record", open_record, false },
};
#define NPATHS (sizeof(aead_paths) / sizeof(aead_paths[0]))
#define MAX_CASES (NFIXED + NAEADS * NPATHS * SIZES * TAMPERS)

static size_t aead_cases(struct bad_case *out)
{
    size_t n = 0;

    for (size_t a = 0; a < NAEADS; a++)
        for (size_t p = 0; p < NPATHS; p++)
            for (int s = 0; s < SIZES; s++)
                for (int t = 0; t < TAMPERS; t++) {
                    struct bad_case *c = &out[n];

                    /* An empty tag is refused before any data moves: once is enough. */
                    if (t == T_EMPTY_TAG && (!aead_paths[p].empty_tag || s != SMALL))
                        continue;
                    memset(c, 0, sizeof(*c));
                    snprintf(c->name, sizeof(c->name), "%s %s, %s, %s", aeads[a].name,
                             aead_paths[p].name, size_names[s], tamper_names[t]);
                    c->run = aead_paths[p].run;
                    c->aead = a;
                    c->size = (enum size_class)s;
                    c->tamper = (enum tamper)t;
                    c->expect = t == T_NONE ? V_ACCEPTED : V_REFUSED;
                    c->offloads = s == LARGE && t != T_EMPTY_TAG;
                    /* The default provider fails a tag check silently. */
                    c->own_error = t == T_FLIP_TAG || t == T_SHORT;
                    n++;
                }
    return n;
}

/* ---- running a case ------------------------------------------------------ */

struct attempt {
    const struct bad_case *c;
    struct side *side;
    enum verdict v;
    int errors;              /* queued on the caller's thread */
};

static int attempt_case(void *arg)
{
    struct attempt *a = arg;

    ERR_clear_error();
    a->side->initialised = true;
    a->side->outlen = 0;
    a->v = a->c->run(a->c, a->side);
    a->errors = t_pop_errors(verbose ? a->c->name : NULL, "", "", NULL);
    return 0;
}

/* The verdict of OpenSSL's default provider of this release on c: what ringcrypt must give. */
static enum verdict reference_verdict(const struct bad_case *c, int mode)
{
    struct attempt r = { .c = c, .side = &ref };

    attempt_case(&r);
    printf("  [%s] %s: %s on OpenSSL %s's default provider\n", t_job_mode_name(mode), c->name,
           verdict_names[r.v], OpenSSL_version(OPENSSL_VERSION_STRING));
    return r.v;
}

static void run_case(const struct bad_case *c, int mode)
{
    struct attempt a = { .c = c, .side = &tested };
    struct rc_stats before, delta;
    const char *m = t_job_mode_name(mode);
    enum verdict expect = c->by_reference ? reference_verdict(c, mode) : c->expect;
    bool want_offload;

    if (verbose)
        fprintf(stderr, "  [%s] %s\n", m, c->name);
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(mode, attempt_case, &a, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    CHECK(a.v == expect, "[%s] %s: %s, expected %s", m, c->name, verdict_names[a.v],
          verdict_names[expect]);
    /* Implicit rejection's message is a function of key and ciphertext: the same, byte for byte. */
    if (c->by_reference)
        CHECK(tested.outlen == ref.outlen && memcmp(tested.out, ref.out, ref.outlen) == 0,
              "[%s] %s: handed out %zu bytes, not the default provider's %zu", m, c->name,
              tested.outlen, ref.outlen);
    if (expect == V_REFUSED)
        CHECK(a.errors > 0 || (reference && c->own_error), "[%s] %s: refused with no error queued",
              m, c->name);
    else
        CHECK(a.errors == 0, "[%s] %s: %d errors queued on success", m, c->name, a.errors);
    /* A key the default provider's init refuses never reaches a worker. */
    want_offload = mode != T_NO_JOB && c->offloads && (!c->by_reference || ref.initialised)
                   && !reference;
    CHECK((delta.submitted > 0) == want_offload, "[%s] %s: %llu requests submitted, expected %s",
          m, c->name, (unsigned long long)delta.submitted, want_offload ? "some" : "none");
}

static int run_all(int mode)
{
    static struct bad_case cases[MAX_CASES];
    int rc = begin(false);
    size_t n;

    if (rc != T_PASS)
        return rc;
    memcpy(cases, fixed_cases, sizeof(fixed_cases));
    n = NFIXED + aead_cases(cases + NFIXED);
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i], mode);
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

static int no_job(void) { return run_all(T_NO_JOB); }
static int core(void) { return run_all(T_CORE); }
static int callback(void) { return run_all(T_CALLBACK); }
static int fd(void) { return run_all(T_FD); }

/* ---- a backend that misses its deadline --------------------------------- */

struct stuck {
    EVP_PKEY *key;
    EVP_PKEY_CTX *ctx;
    enum verdict first, again;
    bool timed_out, refused_again;
};

static bool refused_as_stuck(const char *what)
{
    bool matched;

    t_pop_errors(verbose ? what : NULL, "ringcrypt", "context unusable", &matched);
    return matched;
}

static int sign_past_deadline(void *arg)
{
    struct stuck *s = arg;

    ERR_clear_error();
    s->first = rsa_sign_on(&tested, s->ctx, s->key, 0);
    t_pop_errors(verbose ? "late sign" : NULL, "ringcrypt", "timed out", &s->timed_out);
    s->again = rsa_sign_on(&tested, s->ctx, s->key, 0);
    s->refused_again = refused_as_stuck("sign again");
    return 0;
}

static _Atomic int barrier_released;

static int barrier(void *arg)
{
    (void)arg;
    return t_offload(&(struct t_offload_args){ .fn = t_work_compute,
                                               .released = &barrier_released });
}

/*
 * The one worker runs requests in order: once a request sent after the late
 * signature has been freed, the signature is done and has let go of its
 * context, and nothing runs OpenSSL code while the process exits.
 */
static void wait_for_the_worker(void)
{
    t_run_job(T_CORE, barrier, NULL, JOB_TIMEOUT_MS);
    CHECK_EQ(t_wait_released(&barrier_released, 1, NULL), 1);
}

/*
 * The only worker, held by a request that cannot finish until the gate
 * opens. Its job gives up at the 1 ms deadline; the worker stays held.
 */
static int hold_worker(void *arg)
{
    (void)arg;
    t_offload(&(struct t_offload_args){ .fn = t_work_blocked });
    return 0;
}

static void *holder_thread(void *arg)
{
    (void)arg;
    t_run_job(T_FD, hold_worker, NULL, JOB_TIMEOUT_MS);
    return NULL;
}

/*
 * The one worker is held by a blocked request, so the signature sits behind
 * it past its 1 ms deadline, however busy the machine is.
 */
static int dead_backend(void)
{
    pthread_t holder;
    static const struct key_spec rsa4096 = { "RSA", NULL, 4096 };
    struct stuck s = { 0 };
    struct rc_stats before, delta;
    struct rc_info info;
    int rc = begin(true);
    EVP_PKEY_CTX *dup;

    if (rc != T_PASS)
        return rc;
    CHECK(rc_info(&info) == 0 && info.timeout_ms == 1 && info.workers == 1,
          "needs RINGCRYPT_TIMEOUT_MS=1 and RINGCRYPT_WORKERS=1 (the scenario's own env)");
    if (t_failures > 0)
        goto out;
    s.key = make_key(&rsa4096);
    s.ctx = s.key != NULL ? rsa_signing_ctx(&tested, s.key) : NULL;
    CHECK(s.ctx != NULL, "no RSA-4096 signing context");
    if (s.ctx == NULL)
        goto out;
    t_gate_close();
    CHECK_EQ(pthread_create(&holder, NULL, holder_thread, NULL), 0);
    pthread_join(holder, NULL);
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(T_CORE, sign_past_deadline, &s, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    t_gate_open();
    CHECK(delta.timeouts >= 1, "no deadline expired");
    CHECK(s.first == V_REFUSED, "late sign: %s", verdict_names[s.first]);
    CHECK(s.timed_out, "late sign: no ringcrypt \"timed out\" error queued");
    CHECK(s.again == V_REFUSED, "sign again: %s", verdict_names[s.again]);
    CHECK(s.refused_again, "sign again: no ringcrypt \"context unusable\" error queued");
    /* Outside a job too, and its copies: the worker may still be using the context. */
    CHECK(rsa_sign_on(&tested, s.ctx, s.key, 0) == V_REFUSED, "sign without a job accepted");
    CHECK(refused_as_stuck("sign without a job"), "no job: no \"context unusable\" error queued");
    dup = EVP_PKEY_CTX_dup(s.ctx);
    CHECK(dup == NULL, "a stuck context was duplicated");
    CHECK(refused_as_stuck("dup"), "dup: no \"context unusable\" error queued");
    EVP_PKEY_CTX_free(dup);
    /* Setting parameters would change the context under the worker's feet. */
    CHECK(EVP_PKEY_CTX_set_signature_md(s.ctx, EVP_sha256()) <= 0, "a stuck context took a digest");
    CHECK(refused_as_stuck("set digest"), "set digest: no \"context unusable\" error queued");
    wait_for_the_worker();
out:
    EVP_PKEY_CTX_free(s.ctx);
    EVP_PKEY_free(s.key);
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

/* ---- refusals and shutdowns leave nothing behind ------------------------ */

struct signing {
    enum verdict refused, signed_after;
    int errors_refused, errors_after;
};

/* A refused call on a context, then a good one on the same context. */
static int refuse_then_sign(void *arg)
{
    struct signing *s = arg;
    EVP_PKEY_CTX *ctx = rsa_signing_ctx(&tested, tested.keys[K_RSA]);

    s->refused = s->signed_after = V_BROKEN;
    ERR_clear_error();
    if (ctx != NULL) {
        s->refused = rsa_sign_on(&tested, ctx, tested.keys[K_RSA], 1);
        s->errors_refused = t_pop_errors(verbose ? "refused sign" : NULL, "", "", NULL);
        s->signed_after = rsa_sign_on(&tested, ctx, tested.keys[K_RSA], 0);
        s->errors_after = t_pop_errors(verbose ? "sign after" : NULL, "", "", NULL);
    }
    EVP_PKEY_CTX_free(ctx);
    return 0;
}

static void sign_in_job(int mode, const char *when)
{
    struct signing s = { 0 };
    struct rc_stats before, delta;
    const char *m = t_job_mode_name(mode);

    rc_stats_total(&before);
    CHECK_EQ(t_run_job(mode, refuse_then_sign, &s, JOB_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    CHECK(s.refused == V_REFUSED, "[%s] %s: oversized sign %s", m, when, verdict_names[s.refused]);
    CHECK(s.signed_after == V_ACCEPTED, "[%s] %s: sign after a refusal %s", m, when,
          verdict_names[s.signed_after]);
    CHECK(s.errors_refused > 0, "[%s] %s: oversized sign queued no error", m, when);
    CHECK(s.errors_after == 0, "[%s] %s: %d errors after a good sign", m, when, s.errors_after);
    CHECK(delta.submitted >= 2, "[%s] %s: %llu requests reached a worker", m, when,
          (unsigned long long)delta.submitted);
}

static int shutdown_restart(void)
{
    static const int modes[] = { T_CORE, T_CALLBACK, T_FD };
    int rc = begin(true);

    if (rc != T_PASS)
        return rc;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        sign_in_job(modes[i], "before rc_shutdown");
        CHECK(rc_core_current() == NULL, "a core outlived its job");
        rc_shutdown();
        sign_in_job(modes[i], "after rc_shutdown");
    }
    teardown();
    return t_failures ? T_FAIL : T_PASS;
}

static const char *const deadline_1ms[] = { "RINGCRYPT_TIMEOUT_MS=1", "RINGCRYPT_WORKERS=1",
                                            "RINGCRYPT_MIN_OFFLOAD_BYTES=16384", NULL };

/* AEAD offload is off by default; these cases need both sides of a 16 KiB threshold. */
static const char *const threshold_16k[] = { "RINGCRYPT_MIN_OFFLOAD_BYTES=16384", NULL };

static const struct scenario scenarios[] = {
    { "no_job", no_job, threshold_16k },
    { "core", core, threshold_16k },
    { "callback", callback, threshold_16k },
    { "fd", fd, threshold_16k },
    { "dead_backend", dead_backend, deadline_1ms },
    { "shutdown_restart", shutdown_restart, threshold_16k },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
