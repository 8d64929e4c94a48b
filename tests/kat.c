/*
 * Known answers and cross-implementation agreement for every algorithm the
 * ringcrypt provider takes over, in both directions, in each way of running:
 * without a job (the call stays on the caller) and inside an ASYNC job in
 * core, callback and fd mode (the call runs on a worker). The references are
 * independent: libsodium for X25519, Ed25519, ChaCha20-Poly1305 and
 * AES-256-GCM; OpenSSL's default provider, in a library context of its own,
 * for RSA, ECDSA and ECDH. The counters prove which calls were offloaded (the
 * private-key operations and the large AEAD calls, in job modes only), and
 * an RSA key whose CRT exponent is wrong proves that OpenSSL's own check of
 * its CRT result (the only one: ringcrypt adds none) keeps a faulty result
 * from leaving, in every mode and every way of signing: streamed, one-shot
 * and (OpenSSL 3.4+) the message API, PKCS#1 and PSS with their parameters.
 */
#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Generous: under TSan an RSA-4096 signature takes a while. */
#define JOB_TIMEOUT_MS 120000
/* Below and above the offload threshold the AEAD scenario sets. */
#define SMALL 100
#define BIG (64 * 1024)
#define MIN_OFFLOAD 16384
#define TAG_LEN 16
#define MAX_SIG 512    /* RSA-4096 */
#define MAX_SECRET 64
#define SECRET_LEN 32  /* an RSA-wrapped premaster, an X25519 secret */

static OSSL_LIB_CTX *rc_ctx;   /* only ringcrypt */
static OSSL_LIB_CTX *ref_ctx;  /* only OpenSSL's default provider: the reference */
static OSSL_PROVIDER *ref_prov;

/* One key in both library contexts. */
struct key_pair {
    EVP_PKEY *ref, *rc;
};

static const int rsa_bits[] = { 2048, 3072, 4096 };
static const char *const curves[] = { "P-256", "P-384" };
static struct key_pair rsa_keys[ARRAY_LEN(rsa_bits)];
/* ref: a good RSA-2048 key; rc: the same key in ringcrypt's context with a wrong CRT exponent. */
static struct key_pair crt_faulty[1];
static struct key_pair ec_keys[ARRAY_LEN(curves)], ec_peers[ARRAY_LEN(curves)];
static struct key_pair ed_keys[1];

/*
 * Every key a case makes. A worker drops its request, and with it maybe the
 * last reference to a key, after it has woken the job; OpenSSL counts those
 * references in code TSan cannot see, so keys are freed only once
 * rc_shutdown has joined the workers.
 */
static EVP_PKEY *kept[64];
static size_t nkept;


/* libsodium's AEAD, whose IETF variants share one signature. */
struct aead {
    const char *evp_name;
    int (*seal)(unsigned char *c, unsigned long long *clen, const unsigned char *m,
                unsigned long long mlen, const unsigned char *ad, unsigned long long adlen,
                const unsigned char *nsec, const unsigned char *npub, const unsigned char *k);
    int (*open)(unsigned char *m, unsigned long long *mlen, unsigned char *nsec,
                const unsigned char *c, unsigned long long clen, const unsigned char *ad,
                unsigned long long adlen, const unsigned char *npub, const unsigned char *k);
};

static const struct aead chacha = { "ChaCha20-Poly1305", crypto_aead_chacha20poly1305_ietf_encrypt,
                                    crypto_aead_chacha20poly1305_ietf_decrypt };
static const struct aead aes_gcm = { "AES-256-GCM", crypto_aead_aes256gcm_encrypt,
                                     crypto_aead_aes256gcm_decrypt };

static const unsigned char aad[] = "ringcrypt kat";

/* How a case signs. */
enum sig_api {
    DIGEST_SIGN,           /* EVP_DigestSign: digest_sign_init, update, final */
    PKEY_SIGN,             /* EVP_PKEY_sign of the message's digest: sign_init, sign */
    MESSAGE,               /* EVP_PKEY_sign_message_*: the message API of OpenSSL 3.4 */
};

struct kat_case {
    const char *name;
    int (*run)(const struct kat_case *c);
    /* Calls through ringcrypt a job must offload; 0: none may be. */
    int offloads;
    struct key_pair *keys;
    int key;
    int pad;               /* RSA padding mode, 0 for the others */
    const char *md;        /* signature digest; NULL: the algorithm's own */
    size_t size;           /* message or plaintext bytes */
    const struct aead *aead;
    bool tamper;
    enum sig_api api;
    const char *sigalg;    /* MESSAGE: the signature algorithm (RSA-SHA2-256, ED25519) */
    int saltlen;           /* PSS: the salt length (0: the digest's length) */
    const char *mgf1;      /* PSS: MGF1's digest (NULL: the signature's) */
    bool params_at_init;   /* the parameters go to init, not set after it */
    bool oneshot;          /* MESSAGE: one sign call instead of updates and a final */
    bool ssl3_ms;          /* the digest is given a parameter (SHA-1's SSL 3 master secret) */
};

/* ---- helpers ------------------------------------------------------------ */

/* Drains the error queue: whether it held an error whose reason contains needle (NULL: any). */
static bool drain_errors(const char *needle)
{
    unsigned long e;
    bool found = false;

    while ((e = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(e);

        if (needle == NULL || (reason != NULL && strstr(reason, needle) != NULL))
            found = true;
    }
    return found;
}

static int set_rsa_params(EVP_PKEY_CTX *p, int pad)
{
    if (pad == 0)
        return 1;
    if (EVP_PKEY_CTX_set_rsa_padding(p, pad) <= 0)
        return 0;
    if (pad == RSA_PKCS1_OAEP_PADDING)
        return EVP_PKEY_CTX_set_rsa_oaep_md_name(p, "SHA256", NULL) > 0
               && EVP_PKEY_CTX_set_rsa_mgf1_md_name(p, "SHA256", NULL) > 0;
    return 1;
}

/*
 * c's signature parameters, as OSSL_PARAMs in p: padding, and for PSS the
 * salt length and MGF1 digest. p, or NULL when c has none.
 */
static OSSL_PARAM *sig_params(const struct kat_case *c, OSSL_PARAM p[4], int *saltlen)
{
    size_t n = 0;

    *saltlen = c->saltlen != 0 ? c->saltlen : RSA_PSS_SALTLEN_DIGEST;
    if (c->pad == RSA_PKCS1_PADDING)
        p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                  (char *)OSSL_PKEY_RSA_PAD_MODE_PKCSV15, 0);
    if (c->pad == RSA_PKCS1_PSS_PADDING) {
        p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                  (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
        p[n++] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, saltlen);
        if (c->mgf1 != NULL)
            p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                      (char *)c->mgf1, 0);
    }
    p[n] = OSSL_PARAM_construct_end();
    return n > 0 ? p : NULL;
}

/* A digest's parameter the signature context must hand on (ssl3_ms): 1 on success. */
static int set_md_params(EVP_MD_CTX *m, const struct kat_case *c)
{
    static unsigned char ms[48] = "ringcrypt kat: an SSL 3 master secret, 48 bytes";
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_octet_string(OSSL_DIGEST_PARAM_SSL3_MS, ms, sizeof(ms)),
        OSSL_PARAM_construct_end(),
    };

    return !c->ssl3_ms || EVP_MD_CTX_set_params(m, p) == 1;
}

/* EVP_DigestSign in ctx with c's digest and parameters: the signature's length, 0 on failure. */
static size_t digest_sign(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const struct kat_case *c,
                          const unsigned char *msg, size_t len, unsigned char *sig)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    OSSL_PARAM storage[4];
    int saltlen;
    const OSSL_PARAM *params = sig_params(c, storage, &saltlen);
    size_t n = MAX_SIG;

    if (m == NULL
        || EVP_DigestSignInit_ex(m, &p, c->md, ctx, NULL, key,
                                 c->params_at_init ? params : NULL) != 1
        || (!c->params_at_init && params != NULL && EVP_PKEY_CTX_set_params(p, params) != 1)
        || !set_md_params(m, c) || EVP_DigestSign(m, sig, &n, msg, len) != 1)
        n = 0;
    EVP_MD_CTX_free(m);
    return n;
}

/* EVP_PKEY_sign in ctx of msg's digest (c->md), with c's parameters: as digest_sign. */
static size_t pkey_sign(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const struct kat_case *c,
                        const unsigned char *msg, size_t len, unsigned char *sig)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(ctx, key, NULL);
    unsigned char dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    OSSL_PARAM storage[4];
    int saltlen;
    const OSSL_PARAM *params = sig_params(c, storage, &saltlen);
    size_t n = MAX_SIG;

    if (p == NULL || EVP_Digest(msg, len, dgst, &dlen, EVP_get_digestbyname(c->md), NULL) != 1
        || EVP_PKEY_sign_init_ex(p, c->params_at_init ? params : NULL) != 1
        || EVP_PKEY_CTX_set_signature_md(p, EVP_get_digestbyname(c->md)) != 1
        || (!c->params_at_init && params != NULL && EVP_PKEY_CTX_set_params(p, params) != 1)
        || EVP_PKEY_sign(p, sig, &n, dgst, dlen) != 1)
        n = 0;
    EVP_PKEY_CTX_free(p);
    return n;
}

#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
/* The message API in ctx with c->sigalg: updates and a final, or one sign call. */
static size_t message_sign(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const struct kat_case *c,
                           const unsigned char *msg, size_t len, unsigned char *sig)
{
    EVP_SIGNATURE *alg = EVP_SIGNATURE_fetch(ctx, c->sigalg, NULL);
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(ctx, key, NULL);
    size_t n = MAX_SIG;
    bool ok = alg != NULL && p != NULL && EVP_PKEY_sign_message_init(p, alg, NULL) == 1;

    if (ok && c->oneshot)
        ok = EVP_PKEY_sign(p, sig, &n, msg, len) == 1;
    else if (ok)
        ok = EVP_PKEY_sign_message_update(p, msg, len / 2) == 1
             && EVP_PKEY_sign_message_update(p, msg + len / 2, len - len / 2) == 1
             && EVP_PKEY_sign_message_final(p, sig, &n) == 1;
    EVP_PKEY_CTX_free(p);
    EVP_SIGNATURE_free(alg);
    return ok ? n : 0;
}
#endif

/* A signature of msg in ctx the way c signs: its length, 0 on failure. */
static size_t sign_msg(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const struct kat_case *c,
                       const unsigned char *msg, size_t len, unsigned char *sig)
{
    switch (c->api) {
    case PKEY_SIGN:
        return pkey_sign(ctx, key, c, msg, len, sig);
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
    case MESSAGE:
        return message_sign(ctx, key, c, msg, len, sig);
#endif
    default:
        return digest_sign(ctx, key, c, msg, len, sig);
    }
}

/* EVP_DigestVerify in ctx with c's digest and parameters, whichever way c signs. */
static bool verify_msg(OSSL_LIB_CTX *ctx, EVP_PKEY *key, const struct kat_case *c,
                       const unsigned char *msg, size_t len, const unsigned char *sig,
                       size_t siglen)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *p = NULL;
    OSSL_PARAM storage[4];
    int saltlen;
    bool ok = m != NULL
              && EVP_DigestVerifyInit_ex(m, &p, c->md, ctx, NULL, key,
                                         sig_params(c, storage, &saltlen)) == 1
              && set_md_params(m, c) && EVP_DigestVerify(m, sig, siglen, msg, len) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

/* RSA encryption or decryption in ctx: the output's length, 0 on failure. */
static size_t rsa_crypt(OSSL_LIB_CTX *ctx, EVP_PKEY *key, int pad, bool decrypt,
                        const unsigned char *in, size_t inlen, unsigned char *out)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(ctx, key, NULL);
    size_t n = MAX_SIG;
    bool ok = p != NULL && (decrypt ? EVP_PKEY_decrypt_init(p) : EVP_PKEY_encrypt_init(p)) == 1
              && set_rsa_params(p, pad)
              && (decrypt ? EVP_PKEY_decrypt(p, out, &n, in, inlen)
                          : EVP_PKEY_encrypt(p, out, &n, in, inlen)) == 1;

    EVP_PKEY_CTX_free(p);
    return ok ? n : 0;
}

/* The shared secret of priv and peer, derived in ctx: its length, 0 on failure. */
static size_t derive(OSSL_LIB_CTX *ctx, EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *out)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(ctx, priv, NULL);
    size_t n = MAX_SECRET;
    bool ok = p != NULL && EVP_PKEY_derive_init(p) == 1 && EVP_PKEY_derive_set_peer(p, peer) == 1
              && EVP_PKEY_derive(p, out, &n) == 1;

    EVP_PKEY_CTX_free(p);
    return ok ? n : 0;
}

/*
 * Our AEAD: the data in one update (a big one is one offload), then final;
 * sealing writes the tag after the ciphertext, opening checks the tag found
 * there. 1 on success.
 */
static int our_aead(const struct aead *a, int enc, const unsigned char *key,
                    const unsigned char *nonce, const unsigned char *in, size_t len,
                    unsigned char *out)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(rc_ctx, a->evp_name, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, fin = -1, ok = 0;

    if (cipher == NULL || x == NULL || EVP_CipherInit_ex2(x, cipher, key, nonce, enc, NULL) != 1
        || EVP_CipherUpdate(x, NULL, &n, aad, sizeof(aad)) != 1
        || EVP_CipherUpdate(x, out, &n, in, (int)len) != 1 || n != (int)len)
        goto out;
    if (enc)
        ok = EVP_EncryptFinal_ex(x, out + n, &fin) == 1
             && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + len) == 1;
    else
        ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + len)) == 1
             && EVP_DecryptFinal_ex(x, out + n, &fin) == 1;
    ok = ok && fin == 0;
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(cipher);
    return ok;
}

static const char *rc_provider_name(void)
{
    const char *which = getenv("RC_TEST_PROVIDER");

    return which != NULL && which[0] != '\0' ? which : "ringcrypt";
}

/* Whether key lives in the ringcrypt context's provider (not a copy kept elsewhere). */
static bool in_ringcrypt(const EVP_PKEY *key)
{
    const OSSL_PROVIDER *prov = EVP_PKEY_get0_provider(key);

    return prov != NULL && strcmp(OSSL_PROVIDER_get0_name(prov), rc_provider_name()) == 0;
}

/* k, freed with the family (see kept). */
static EVP_PKEY *keep(EVP_PKEY *k)
{
    if (k != NULL && nkept == ARRAY_LEN(kept)) {
        CHECK(false, "more than %zu keys", ARRAY_LEN(kept));
        EVP_PKEY_free(k);
        return NULL;
    }
    if (k != NULL)
        kept[nkept++] = k;
    return k;
}

static EVP_PKEY *raw_key(const char *type, bool priv, const unsigned char *raw)
{
    return keep(priv ? EVP_PKEY_new_raw_private_key_ex(rc_ctx, type, NULL, raw, 32)
                     : EVP_PKEY_new_raw_public_key_ex(rc_ctx, type, NULL, raw, 32));
}

/* ---- X25519 and Ed25519 against libsodium ------------------------------- */

/*
 * A key pair we generate and one libsodium generates meet from both sides:
 * our derive equals crypto_scalarmult either way round, and both refuse the
 * all-zero point (the shared secret would be zero).
 */
static int x25519_vs_sodium(const struct kat_case *c)
{
    static const unsigned char zero[32];
    unsigned char sk[32], pk[32], priv[32], pub[32], base[32], want[32], got[MAX_SECRET];
    size_t privlen = sizeof(priv), publen = sizeof(pub), n;
    EVP_PKEY *ours = keep(EVP_PKEY_Q_keygen(rc_ctx, NULL, "X25519"));
    EVP_PKEY *their_pub, *their_priv, *low;

    (void)c;
    randombytes_buf(sk, sizeof(sk));
    crypto_scalarmult_base(pk, sk);
    their_pub = raw_key("X25519", false, pk);
    their_priv = raw_key("X25519", true, sk);
    low = raw_key("X25519", false, zero);
    if (ours == NULL || their_pub == NULL || their_priv == NULL || low == NULL
        || EVP_PKEY_get_raw_private_key(ours, priv, &privlen) != 1
        || EVP_PKEY_get_raw_public_key(ours, pub, &publen) != 1) {
        CHECK(false, "X25519 keys");
        return 0;
    }
    crypto_scalarmult_base(base, priv);
    CHECK(memcmp(base, pub, 32) == 0, "our generated public key is not the base point times ours");

    CHECK_EQ(crypto_scalarmult(want, sk, pub), 0);
    n = derive(rc_ctx, ours, their_pub, got);
    CHECK(n == 32 && memcmp(got, want, 32) == 0, "our derive (our key) != libsodium's");
    n = derive(rc_ctx, their_priv, ours, got);
    CHECK(n == 32 && memcmp(got, want, 32) == 0, "our derive (libsodium's key) != libsodium's");

    CHECK(crypto_scalarmult(want, sk, zero) != 0, "libsodium accepted the zero point");
    CHECK_EQ(derive(rc_ctx, ours, low, got), 0);
    CHECK(drain_errors(NULL), "a refused derive left no error");
    return 0;
}

/*
 * libsodium's key imported into ringcrypt signs exactly what libsodium signs
 * (Ed25519 is deterministic), each verifies the other's signature, a flipped
 * bit is refused by both, and a key generated in ringcrypt signs what
 * libsodium accepts.
 */
static int ed25519_vs_sodium(const struct kat_case *c)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char pub[32], ours[MAX_SIG], theirs[crypto_sign_BYTES];
    unsigned char *msg = malloc(c->size);
    size_t publen = sizeof(pub), n;
    EVP_PKEY *key, *gen = keep(EVP_PKEY_Q_keygen(rc_ctx, NULL, "ED25519"));

    crypto_sign_keypair(pk, sk);
    key = raw_key("ED25519", true, sk); /* libsodium's secret key starts with the seed */
    if (msg == NULL || key == NULL || gen == NULL
        || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1) {
        CHECK(false, "Ed25519 keys");
        goto out;
    }
    CHECK(memcmp(pub, pk, 32) == 0, "the imported seed gives another public key");
    randombytes_buf(msg, c->size);

    n = sign_msg(rc_ctx, key, c, msg, c->size, ours);
    CHECK_EQ(n, crypto_sign_BYTES);
    crypto_sign_detached(theirs, NULL, msg, c->size, sk);
    CHECK(memcmp(ours, theirs, sizeof(theirs)) == 0, "signatures differ from libsodium's");
    CHECK_EQ(crypto_sign_verify_detached(ours, msg, c->size, pk), 0);
    CHECK(verify_msg(rc_ctx, key, c, msg, c->size, theirs, sizeof(theirs)),
          "we refuse libsodium's signature");

    ours[7] ^= 0x10;
    CHECK(crypto_sign_verify_detached(ours, msg, c->size, pk) != 0, "libsodium took a flipped bit");
    CHECK(!verify_msg(rc_ctx, key, c, msg, c->size, ours, n), "we took a flipped bit");
    ERR_clear_error();

    publen = sizeof(pub);
    n = sign_msg(rc_ctx, gen, c, msg, c->size, ours);
    CHECK(n == crypto_sign_BYTES && EVP_PKEY_get_raw_public_key(gen, pub, &publen) == 1
              && crypto_sign_verify_detached(ours, msg, c->size, pub) == 0,
          "libsodium refuses the signature of a key we generated");
out:
    free(msg);
    return 0;
}

/* ---- AEAD against libsodium --------------------------------------------- */

struct aead_run {
    unsigned char key[32], nonce[12];
    unsigned char *pt, *ct, *out; /* out and ct: size + TAG_LEN */
};

static bool aead_run_init(struct aead_run *r, size_t size)
{
    randombytes_buf(r->key, sizeof(r->key));
    randombytes_buf(r->nonce, sizeof(r->nonce));
    r->pt = malloc(size);
    r->ct = malloc(size + TAG_LEN);
    r->out = malloc(size + TAG_LEN);
    if (r->pt != NULL)
        randombytes_buf(r->pt, size);
    return r->pt != NULL && r->ct != NULL && r->out != NULL;
}

static void aead_run_fini(struct aead_run *r)
{
    free(r->pt);
    free(r->ct);
    free(r->out);
}

static int sodium_seal(const struct kat_case *c, struct aead_run *r)
{
    unsigned long long clen = 0;

    return c->aead->seal(r->ct, &clen, r->pt, c->size, aad, sizeof(aad), NULL, r->nonce, r->key)
               == 0
           && clen == c->size + TAG_LEN;
}

/* We seal exactly what libsodium seals, and libsodium opens it. */
static int aead_seal(const struct kat_case *c)
{
    struct aead_run r;
    unsigned long long mlen = 0;

    if (!aead_run_init(&r, c->size) || !sodium_seal(c, &r)) {
        CHECK(false, "%s set-up", c->aead->evp_name);
        goto out;
    }
    CHECK(our_aead(c->aead, 1, r.key, r.nonce, r.pt, c->size, r.out), "we could not seal");
    CHECK(memcmp(r.out, r.ct, c->size + TAG_LEN) == 0, "our ciphertext or tag != libsodium's");
    CHECK(c->aead->open(r.ct, &mlen, NULL, r.out, c->size + TAG_LEN, aad, sizeof(aad), r.nonce,
                        r.key) == 0
              && mlen == c->size && memcmp(r.ct, r.pt, c->size) == 0,
          "libsodium cannot open what we sealed");
out:
    aead_run_fini(&r);
    return 0;
}

/*
 * We open what libsodium sealed. Tampered with, the tag is refused by both:
 * our update still releases the plaintext (EVP's contract), our final fails
 * and says why on the error queue.
 */
static int aead_open(const struct kat_case *c)
{
    struct aead_run r;
    unsigned long long mlen = 0;
    int ok;

    if (!aead_run_init(&r, c->size) || !sodium_seal(c, &r)) {
        CHECK(false, "%s set-up", c->aead->evp_name);
        goto out;
    }
    if (c->tamper)
        r.ct[c->size + TAG_LEN - 1] ^= 0x80;
    ok = our_aead(c->aead, 0, r.key, r.nonce, r.ct, c->size, r.out);
    CHECK(memcmp(r.out, r.pt, c->size) == 0, "our update did not release the plaintext");
    if (!c->tamper) {
        CHECK(ok, "we refuse what libsodium sealed");
        goto out;
    }
    CHECK(!ok, "we took a tampered tag");
    CHECK(drain_errors(NULL), "a refused tag left no error on the queue");
    CHECK(c->aead->open(r.out, &mlen, NULL, r.ct, c->size + TAG_LEN, aad, sizeof(aad), r.nonce,
                        r.key) != 0,
          "libsodium took a tampered tag");
out:
    aead_run_fini(&r);
    return 0;
}

/* ---- RSA, ECDSA, ECDH against the default provider ---------------------- */

/*
 * We sign, the default provider verifies, and the other way round; PKCS#1
 * v1.5 and Ed25519 are deterministic, so both signatures are equal; a
 * flipped bit is refused by both.
 */
static int sig_vs_default(const struct kat_case *c)
{
    const struct key_pair *k = &c->keys[c->key];
    unsigned char msg[SMALL], ours[MAX_SIG], ref[MAX_SIG];
    size_t n, rn;

    randombytes_buf(msg, sizeof(msg));
    n = sign_msg(rc_ctx, k->rc, c, msg, sizeof(msg), ours);
    CHECK(n > 0 && n <= (size_t)EVP_PKEY_get_size(k->rc), "we could not sign (%zu bytes)", n);
    CHECK(verify_msg(ref_ctx, k->ref, c, msg, sizeof(msg), ours, n),
          "the default provider refuses our signature");
    rn = sign_msg(ref_ctx, k->ref, c, msg, sizeof(msg), ref);
    CHECK(verify_msg(rc_ctx, k->rc, c, msg, sizeof(msg), ref, rn),
          "we refuse the default provider's signature");
    if (c->pad == RSA_PKCS1_PADDING || c->keys == ed_keys)
        CHECK(n == rn && memcmp(ours, ref, n) == 0, "deterministic signatures differ");

    ours[n / 2] ^= 0x01;
    CHECK(!verify_msg(ref_ctx, k->ref, c, msg, sizeof(msg), ours, n),
          "the default provider took a flipped bit");
    CHECK(!verify_msg(rc_ctx, k->rc, c, msg, sizeof(msg), ours, n), "we took a flipped bit");
    ERR_clear_error();
    return 0;
}

/*
 * The default provider encrypts, we decrypt the same plaintext, and the other
 * way round. A tampered ciphertext never decrypts to it; OAEP refuses it
 * with an error (PKCS#1 v1.5 may answer with a decoy instead).
 */
static int rsa_decrypt_vs_default(const struct kat_case *c)
{
    const struct key_pair *k = &c->keys[c->key];
    unsigned char pt[SECRET_LEN], ct[MAX_SIG], out[MAX_SIG];
    size_t n, m;

    randombytes_buf(pt, sizeof(pt));
    n = rsa_crypt(ref_ctx, k->ref, c->pad, false, pt, sizeof(pt), ct);
    CHECK_EQ(n, EVP_PKEY_get_size(k->ref));
    m = rsa_crypt(rc_ctx, k->rc, c->pad, true, ct, n, out);
    CHECK(m == sizeof(pt) && memcmp(out, pt, m) == 0, "our plaintext != the default's");

    ct[n / 2] ^= 0x01;
    m = rsa_crypt(rc_ctx, k->rc, c->pad, true, ct, n, out);
    CHECK(m != sizeof(pt) || memcmp(out, pt, m) != 0, "a tampered ciphertext gave the plaintext");
    if (c->pad == RSA_PKCS1_OAEP_PADDING) {
        CHECK_EQ(m, 0);
        CHECK(drain_errors(NULL), "a refused OAEP ciphertext left no error");
    }
    ERR_clear_error();

    n = rsa_crypt(rc_ctx, k->rc, c->pad, false, pt, sizeof(pt), ct);
    m = rsa_crypt(ref_ctx, k->ref, c->pad, true, ct, n, out);
    CHECK(m == sizeof(pt) && memcmp(out, pt, m) == 0, "the default cannot decrypt ours");
    return 0;
}

/* Our ECDH secret equals the default provider's, from either side; curves must match. */
static int ecdh_vs_default(const struct kat_case *c)
{
    const struct key_pair *a = &ec_keys[c->key], *b = &ec_peers[c->key];
    const struct key_pair *other = &ec_peers[(c->key + 1) % ARRAY_LEN(curves)];
    unsigned char ours[MAX_SECRET], ab[MAX_SECRET], ba[MAX_SECRET];
    size_t n = derive(rc_ctx, a->rc, b->rc, ours);
    size_t field = (size_t)(EVP_PKEY_get_bits(a->ref) + 7) / 8;

    CHECK_EQ(n, field);
    CHECK(derive(ref_ctx, a->ref, b->ref, ab) == field
              && derive(ref_ctx, b->ref, a->ref, ba) == field,
          "the default provider could not derive");
    CHECK(memcmp(ours, ab, field) == 0 && memcmp(ours, ba, field) == 0,
          "our ECDH secret != the default's");
    CHECK_EQ(derive(rc_ctx, a->rc, other->rc, ours), 0);
    CHECK(drain_errors(NULL), "a peer on another curve was refused without an error");
    return 0;
}

/*
 * Every CRT result of the faulty key is wrong (its dP is), as a fault in the
 * exponentiation would make it; OpenSSL's check (rsa_ossl_mod_exp: the result
 * raised to e must give the input back, else it recomputes with d) must catch
 * each one. The signature verifies with the good public key, and a PKCS#1
 * v1.5 one (deterministic) is byte for byte the good key's.
 */
static int rsa_crt_fault(const struct kat_case *c)
{
    const struct key_pair *k = &c->keys[c->key];
    unsigned char msg[SMALL], sig[MAX_SIG], want[MAX_SIG];
    size_t n, m;

    randombytes_buf(msg, sizeof(msg));
    n = sign_msg(rc_ctx, k->rc, c, msg, sizeof(msg), sig);
    CHECK(n > 0 && verify_msg(ref_ctx, k->ref, c, msg, sizeof(msg), sig, n),
          "a signature of the key with a wrong CRT exponent does not verify");
    if (c->pad == RSA_PKCS1_PADDING) {
        m = sign_msg(ref_ctx, k->ref, c, msg, sizeof(msg), want);
        CHECK(m == n && memcmp(sig, want, n) == 0, "not the good key's PKCS#1 signature");
    }
    return 0;
}

/* ---- the tables --------------------------------------------------------- */

static const struct kat_case x25519_cases[] = {
    { .name = "x25519", .run = x25519_vs_sodium, .offloads = 3 }, /* keygen, 2 derives */
};

static const struct kat_case ed25519_cases[] = {
    { .name = "ed25519_100", .run = ed25519_vs_sodium, .offloads = 2, .size = SMALL },
    { .name = "ed25519_64k", .run = ed25519_vs_sodium, .offloads = 2, .size = BIG },
};

/* Each call of a big case is one offload; a small case stays on the caller. */
#define AEAD_SIZE(a, label, sz, n)                                                         \
    { .name = label "_seal", .run = aead_seal, .offloads = n, .aead = &a, .size = sz },    \
    { .name = label "_open", .run = aead_open, .offloads = n, .aead = &a, .size = sz },    \
    { .name = label "_tamper", .run = aead_open, .offloads = n, .aead = &a, .size = sz,    \
      .tamper = true }
#define AEAD_CASES(a, label)                                                               \
    AEAD_SIZE(a, label "_100", SMALL, 0), AEAD_SIZE(a, label "_64k", BIG, 1)

static const struct kat_case aead_cases[] = {
    AEAD_CASES(chacha, "chacha20-poly1305"),
    AEAD_CASES(aes_gcm, "aes-256-gcm"),
};

#define RSA_CASES(k, label)                                                                 \
    { .name = label "_sign_pkcs1", .run = sig_vs_default, .offloads = 1, .keys = rsa_keys,  \
      .key = k, .pad = RSA_PKCS1_PADDING, .md = "SHA256" },                                 \
    { .name = label "_sign_pss", .run = sig_vs_default, .offloads = 1, .keys = rsa_keys,    \
      .key = k, .pad = RSA_PKCS1_PSS_PADDING, .md = "SHA256" },                             \
    { .name = label "_decrypt_pkcs1", .run = rsa_decrypt_vs_default, .offloads = 2,        \
      .keys = rsa_keys, .key = k, .pad = RSA_PKCS1_PADDING },                               \
    { .name = label "_decrypt_oaep", .run = rsa_decrypt_vs_default, .offloads = 2,         \
      .keys = rsa_keys, .key = k, .pad = RSA_PKCS1_OAEP_PADDING }

static const struct kat_case rsa_cases[] = {
    RSA_CASES(0, "rsa2048"),
    RSA_CASES(1, "rsa3072"),
    RSA_CASES(2, "rsa4096"),
};

/* Every way of signing, each one offload. */
#define FAULT(label, ...) { .name = "rsa2048_crt_fault_" label, .run = rsa_crt_fault, \
                            .offloads = 1, .keys = crt_faulty, __VA_ARGS__ }
static const struct kat_case rsa_fault_cases[] = {
    FAULT("pkcs1", .pad = RSA_PKCS1_PADDING, .md = "SHA256"),
    FAULT("pss", .pad = RSA_PKCS1_PSS_PADDING, .md = "SHA256"),
    FAULT("pss_params", .pad = RSA_PKCS1_PSS_PADDING, .md = "SHA256", .saltlen = 20,
          .mgf1 = "SHA384"),
    FAULT("pss_init_params", .pad = RSA_PKCS1_PSS_PADDING, .md = "SHA256", .saltlen = 64,
          .mgf1 = "SHA512", .params_at_init = true),
    FAULT("digest_params", .pad = RSA_PKCS1_PADDING, .md = "SHA1", .ssl3_ms = true),
    FAULT("oneshot_pkcs1", .api = PKEY_SIGN, .pad = RSA_PKCS1_PADDING, .md = "SHA256"),
    FAULT("oneshot_pss", .api = PKEY_SIGN, .pad = RSA_PKCS1_PSS_PADDING, .md = "SHA256",
          .saltlen = 20, .mgf1 = "SHA384", .params_at_init = true),
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
    FAULT("message", .api = MESSAGE, .sigalg = "RSA-SHA2-256", .pad = RSA_PKCS1_PADDING,
          .md = "SHA256"),
    FAULT("message_oneshot", .api = MESSAGE, .sigalg = "RSA-SHA2-256", .oneshot = true,
          .pad = RSA_PKCS1_PADDING, .md = "SHA256"),
#endif
};

#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
/* The signature algorithms with a digest built in, wrapped for their message API. */
#define MESSAGE_CASE(label, alg, ...) { .name = label, .run = sig_vs_default, .offloads = 1, \
                                        .api = MESSAGE, .sigalg = alg, __VA_ARGS__ }
static const struct kat_case message_cases[] = {
    MESSAGE_CASE("rsa_sha256", "RSA-SHA2-256", .keys = rsa_keys, .pad = RSA_PKCS1_PADDING,
                 .md = "SHA256"),
    MESSAGE_CASE("rsa_sha384_oneshot", "RSA-SHA2-384", .keys = rsa_keys,
                 .pad = RSA_PKCS1_PADDING, .md = "SHA384", .oneshot = true),
    MESSAGE_CASE("rsa_sha512", "RSA-SHA2-512", .keys = rsa_keys, .pad = RSA_PKCS1_PADDING,
                 .md = "SHA512"),
    MESSAGE_CASE("ecdsa_p256_sha256", "ECDSA-SHA2-256", .keys = ec_keys, .md = "SHA256"),
    MESSAGE_CASE("ecdsa_p384_sha384_oneshot", "ECDSA-SHA2-384", .keys = ec_keys, .key = 1,
                 .md = "SHA384", .oneshot = true),
    MESSAGE_CASE("ecdsa_p384_sha512", "ECDSA-SHA2-512", .keys = ec_keys, .key = 1,
                 .md = "SHA512"),
    MESSAGE_CASE("ed25519", "ED25519", .keys = ed_keys, .oneshot = true),
};
#endif

static const struct kat_case ec_cases[] = {
    { .name = "ecdsa_p256", .run = sig_vs_default, .offloads = 1, .keys = ec_keys, .key = 0,
      .md = "SHA256" },
    { .name = "ecdsa_p384", .run = sig_vs_default, .offloads = 1, .keys = ec_keys, .key = 1,
      .md = "SHA384" },
    { .name = "ecdh_p256", .run = ecdh_vs_default, .offloads = 1, .key = 0 },
    { .name = "ecdh_p384", .run = ecdh_vs_default, .offloads = 1, .key = 1 },
};

/* ---- running them ------------------------------------------------------- */

static const int modes[] = { T_NO_JOB, T_CORE, T_CALLBACK, T_FD };

static int run_case(void *arg)
{
    const struct kat_case *c = arg;

    return c->run(c);
}

/* c in mode: its checks, then what the counters say was offloaded. */
static void run_one(const struct kat_case *c, int mode)
{
    int failures = t_failures;
    struct rc_stats before, s;
    int rc;

    rc_stats_total(&before);
    rc = t_run_job(mode, run_case, (void *)c, JOB_TIMEOUT_MS);
    t_stats_since(&before, &s);
    CHECK_EQ(rc, 0);
    if (mode == T_NO_JOB || c->offloads == 0)
        CHECK_EQ(s.submitted, 0);
    else
        CHECK(s.submitted >= (uint64_t)c->offloads, "submitted %llu, want at least %d",
              (unsigned long long)s.submitted, c->offloads);
    CHECK(ERR_peek_error() == 0, "errors left on the queue");
    t_print_errors(c->name);
    if (t_failures != failures)
        fprintf(stderr, "  ^ in case %s, %s\n", c->name, t_job_mode_name(mode));
}

static void run_table(const struct kat_case *cases, size_t n)
{
    for (size_t m = 0; m < ARRAY_LEN(modes); m++)
        for (size_t i = 0; i < n; i++)
            run_one(&cases[i], modes[m]);
}

static bool open_contexts(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium cannot start\n");
        return false;
    }
    rc_ctx = t_provider_libctx();
    ref_ctx = OSSL_LIB_CTX_new();
    ref_prov = ref_ctx != NULL ? OSSL_PROVIDER_load(ref_ctx, "default") : NULL;
    return rc_ctx != NULL && ref_prov != NULL;
}

static void free_pairs(struct key_pair *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        EVP_PKEY_free(k[i].ref);
        EVP_PKEY_free(k[i].rc);
        k[i].ref = k[i].rc = NULL;
    }
}

/*
 * Joins the workers (their OpenSSL thread state goes with them), then frees
 * what the family made. The ringcrypt context stays, reachable, until the
 * process ends: t_provider_free does not unload the provider, and unloading
 * it would unmap the module, whose algorithm tables are kept on purpose.
 */
static void close_all(void)
{
    rc_shutdown();
    while (nkept > 0)
        EVP_PKEY_free(kept[--nkept]);
    free_pairs(rsa_keys, ARRAY_LEN(rsa_keys));
    free_pairs(crt_faulty, ARRAY_LEN(crt_faulty));
    free_pairs(ec_keys, ARRAY_LEN(ec_keys));
    free_pairs(ec_peers, ARRAY_LEN(ec_peers));
    free_pairs(ed_keys, ARRAY_LEN(ed_keys));
    if (ref_prov != NULL)
        OSSL_PROVIDER_unload(ref_prov);
    OSSL_LIB_CTX_free(ref_ctx);
    ref_ctx = NULL;
    ref_prov = NULL;
}

/* k->ref, generated in the reference context, moved into ringcrypt's through PEM. */
static bool move_key(struct key_pair *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b != NULL && k->ref != NULL
              && PEM_write_bio_PrivateKey(b, k->ref, NULL, NULL, 0, NULL, NULL) == 1
              && (k->rc = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, rc_ctx, NULL)) != NULL;

    BIO_free(b);
    if (ok && !in_ringcrypt(k->rc)) {
        fprintf(stderr, "a decoded key does not live in %s\n", rc_provider_name());
        ok = false;
    }
    return ok;
}

static bool rsa_prepare(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rsa_keys[i].ref = EVP_PKEY_Q_keygen(ref_ctx, NULL, "RSA", (size_t)rsa_bits[i]);
        if (!move_key(&rsa_keys[i]))
            return false;
    }
    return true;
}

static bool rsa_all_keys(void)
{
    return rsa_prepare(ARRAY_LEN(rsa_bits));
}

/*
 * The key pair of crt_faulty: its rc key is ref's with dP - 2, imported into
 * ringcrypt's context. The fault is real: 2^dP and 2^(dP-2) differ mod p.
 */
static bool rsa_crt_fault_prepare(void)
{
    struct key_pair *k = &crt_faulty[0];
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *p = NULL, *dp = NULL;
    BIGNUM *bn = NULL, *prime = NULL, *two = NULL, *good = NULL, *bad = NULL;
    BN_CTX *bnc = BN_CTX_new();
    bool ok;

    k->ref = EVP_PKEY_Q_keygen(ref_ctx, NULL, "RSA", (size_t)2048);
    ok = bnc != NULL && (two = BN_new()) != NULL && BN_set_word(two, 2)
         && (good = BN_new()) != NULL && (bad = BN_new()) != NULL
         && k->ref != NULL && EVP_PKEY_todata(k->ref, EVP_PKEY_KEYPAIR, &p) == 1
         && (dp = OSSL_PARAM_locate(p, OSSL_PKEY_PARAM_RSA_EXPONENT1)) != NULL
         && OSSL_PARAM_get_BN(dp, &bn)
         && OSSL_PARAM_get_BN(OSSL_PARAM_locate(p, OSSL_PKEY_PARAM_RSA_FACTOR1), &prime)
         && BN_mod_exp(good, two, bn, prime, bnc) && BN_sub_word(bn, 2)
         && BN_mod_exp(bad, two, bn, prime, bnc) && BN_cmp(good, bad) != 0
         && OSSL_PARAM_set_BN(dp, bn)
         && (ctx = EVP_PKEY_CTX_new_from_name(rc_ctx, "RSA", NULL)) != NULL
         && EVP_PKEY_fromdata_init(ctx) == 1
         && EVP_PKEY_fromdata(ctx, &k->rc, EVP_PKEY_KEYPAIR, p) == 1 && in_ringcrypt(k->rc);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(p);
    BN_free(bn);
    BN_free(prime);
    BN_free(two);
    BN_free(good);
    BN_free(bad);
    BN_CTX_free(bnc);
    return ok;
}

static bool ec_prepare(void)
{
    for (size_t i = 0; i < ARRAY_LEN(curves); i++) {
        ec_keys[i].ref = EVP_PKEY_Q_keygen(ref_ctx, NULL, "EC", curves[i]);
        ec_peers[i].ref = EVP_PKEY_Q_keygen(ref_ctx, NULL, "EC", curves[i]);
        if (!move_key(&ec_keys[i]) || !move_key(&ec_peers[i]))
            return false;
    }
    return true;
}

/* The cases' offload expectations assume the scenario's threshold and AES-NI. */
static bool aead_prepare(void)
{
    struct rc_info info;

    if (!crypto_aead_aes256gcm_is_available()) {
        fprintf(stderr, "libsodium's AES-256-GCM is unavailable on this CPU: no reference\n");
        return false;
    }
    if (rc_info(&info) != 0 || info.min_offload_bytes != MIN_OFFLOAD) {
        fprintf(stderr, "the offload threshold is not %d\n", MIN_OFFLOAD);
        return false;
    }
    return true;
}

static int run_family(bool (*prepare)(void), const struct kat_case *cases, size_t n)
{
    if (open_contexts() && (prepare == NULL || prepare())) {
        run_table(cases, n);
    } else {
        CHECK(false, "set-up failed");
        t_print_errors("set-up");
    }
    close_all();
    return t_failures ? T_FAIL : T_PASS;
}

static int x25519(void) { return run_family(NULL, x25519_cases, ARRAY_LEN(x25519_cases)); }
static int ed25519(void) { return run_family(NULL, ed25519_cases, ARRAY_LEN(ed25519_cases)); }
static int aead(void) { return run_family(aead_prepare, aead_cases, ARRAY_LEN(aead_cases)); }
static int rsa(void) { return run_family(rsa_all_keys, rsa_cases, ARRAY_LEN(rsa_cases)); }
static int ec(void) { return run_family(ec_prepare, ec_cases, ARRAY_LEN(ec_cases)); }

static int rsa_crt_fault_check(void)
{
    return run_family(rsa_crt_fault_prepare, rsa_fault_cases, ARRAY_LEN(rsa_fault_cases));
}

#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
static bool message_prepare(void)
{
    ed_keys[0].ref = EVP_PKEY_Q_keygen(ref_ctx, NULL, "ED25519");
    return rsa_prepare(1) && ec_prepare() && move_key(&ed_keys[0]);
}

static int message_api(void)
{
    return run_family(message_prepare, message_cases, ARRAY_LEN(message_cases));
}
#else
static int message_api(void)
{
    fprintf(stderr, "%s has no message API (EVP_PKEY_sign_message_*, OpenSSL 3.4)\n",
            OPENSSL_VERSION_TEXT);
    return T_SKIP;
}
#endif

static const char *const threshold_16k[] = { "RINGCRYPT_MIN_OFFLOAD_BYTES=16384", NULL };

static const struct scenario scenarios[] = {
    { "x25519_vs_libsodium", x25519, NULL },
    { "ed25519_vs_libsodium", ed25519, NULL },
    { "aead_vs_libsodium", aead, threshold_16k },
    { "rsa_vs_default", rsa, NULL },
    { "ecdsa_ecdh_vs_default", ec, NULL },
    { "rsa_crt_fault", rsa_crt_fault_check, NULL },
    { "message_api_vs_default", message_api, NULL },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
