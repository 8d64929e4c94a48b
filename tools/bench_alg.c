#include "bench_alg.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cert.h"

/* ENCAPS: a KEM, whose --op may also be DECAPS; KEYGEN: any key type without a param. */
enum kind { SIGN, DERIVE, AEAD, ENCAPS, DECAPS, KEYGEN };

struct bench_alg {
    const char *name;
    enum kind kind;
    const char *keytype;     /* EVP_PKEY_Q_keygen's type, or the cipher's name */
    const char *param;       /* RSA bits or EC group; signatures without one sign whole messages */
    size_t size;             /* AEAD: bytes per operation */
};

static const struct bench_alg fixed[] = {
    { "rsa2048", SIGN, "RSA", "2048", 0 },
    { "rsa3072", SIGN, "RSA", "3072", 0 },
    { "rsa4096", SIGN, "RSA", "4096", 0 },
    { "ecdsap256", SIGN, "EC", "P-256", 0 },
    { "ecdsap384", SIGN, "EC", "P-384", 0 },
    { "ed25519", SIGN, "ED25519", NULL, 0 },
    { "x25519", DERIVE, "X25519", NULL, 0 },
    { "ecdhp256", DERIVE, "EC", "P-256", 0 },
    { "mlkem512", ENCAPS, "ML-KEM-512", NULL, 0 },
    { "mlkem768", ENCAPS, "ML-KEM-768", NULL, 0 },
    { "mlkem1024", ENCAPS, "ML-KEM-1024", NULL, 0 },
    { "x25519mlkem768", ENCAPS, "X25519MLKEM768", NULL, 0 },
    { "x448mlkem1024", ENCAPS, "X448MLKEM1024", NULL, 0 },
    { "secp256r1mlkem768", ENCAPS, "SecP256r1MLKEM768", NULL, 0 },
    { "secp384r1mlkem1024", ENCAPS, "SecP384r1MLKEM1024", NULL, 0 },
};

static const struct {
    const char *prefix, *cipher;
} aeads[] = {
    { "aes128gcm-", "AES-128-GCM" },
    { "aes256gcm-", "AES-256-GCM" },
    { "chacha-", "ChaCha20-Poly1305" },
};

/*
 * The ML-DSA and SLH-DSA signatures are apps/cert.c's key types, by the same
 * names: those whose OpenSSL type fixed[] does not measure with a size (RSA,
 * EC).
 */
static const char *cert_sign_type(unsigned int i)
{
    const char *alg = cert_key_alg(cert_key_types[i]);

    for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
        if (strcmp(fixed[k].keytype, alg) == 0)
            return NULL;
    return alg;
}

/* Parsed AEAD names and other --op choices live here: one alg per process is all the bench needs. */
static struct bench_alg parsed;

const char *bench_alg_names(void)
{
    static char names[1024];
    size_t len = 0;

    if (names[0] != '\0')
        return names;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s|", fixed[i].name);
    for (unsigned int i = 0; i < cert_n_key_types && len < sizeof(names); i++)
        if (cert_sign_type(i) != NULL)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s|", cert_key_types[i]);
    if (len >= sizeof(names))
        return names;
    snprintf(names + len, sizeof(names) - len,
             "aes128gcm-SIZE|aes256gcm-SIZE|chacha-SIZE (SIZE: bytes, or with k)");
    return names;
}

static const char *const op_names[] = {
    [SIGN] = "sign", [DERIVE] = "derive", [AEAD] = "seal",
    [ENCAPS] = "encaps", [DECAPS] = "decaps", [KEYGEN] = "keygen",
};

const char *bench_alg_op_name(const struct bench_alg *alg)
{
    return op_names[alg->kind];
}

const char *bench_alg_ops(const struct bench_alg *alg)
{
    if (alg->kind == ENCAPS)
        return "encaps, decaps, keygen";
    return alg->kind != AEAD && alg->param == NULL ? "keygen" : "none";
}

const struct bench_alg *bench_alg_op(const struct bench_alg *alg, const char *op)
{
    enum kind kind = ENCAPS;

    while (kind <= KEYGEN && strcmp(op, op_names[kind]) != 0)
        kind++;
    if (kind > KEYGEN || (kind != KEYGEN && alg->kind != ENCAPS)
        || (kind == KEYGEN && strcmp(bench_alg_ops(alg), "none") == 0))
        return NULL;
    parsed = *alg;
    parsed.kind = kind;
    return &parsed;
}

bool bench_alg_supported(const struct bench_alg *alg, OSSL_LIB_CTX *libctx)
{
    EVP_KEYMGMT *km;

    if (alg->kind == AEAD)
        return true;
    km = EVP_KEYMGMT_fetch(libctx, alg->keytype, NULL);
    EVP_KEYMGMT_free(km);
    return km != NULL;
}

const char *bench_alg_type(const struct bench_alg *alg)
{
    return alg->keytype;
}

const struct bench_alg *bench_alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (strcasecmp(name, fixed[i].name) == 0)
            return &fixed[i];
    for (unsigned int i = 0; i < cert_n_key_types; i++) {
        if (strcasecmp(name, cert_key_types[i]) == 0 && cert_sign_type(i) != NULL) {
            parsed = (struct bench_alg){ cert_key_types[i], SIGN, cert_sign_type(i), NULL, 0 };
            return &parsed;
        }
    }
    for (size_t i = 0; i < sizeof(aeads) / sizeof(aeads[0]); i++) {
        size_t plen = strlen(aeads[i].prefix);
        char *end;
        unsigned long v;

        if (strncasecmp(name, aeads[i].prefix, plen) != 0)
            continue;
        v = strtoul(name + plen, &end, 10);
        if (v > (1UL << 24))
            return NULL;
        if (*end == 'k' || *end == 'K') {
            v *= 1024;
            end++;
        }
        if (*end != '\0' || v == 0 || v > (1UL << 24))
            return NULL;
        parsed = (struct bench_alg){ name, AEAD, aeads[i].cipher, NULL, v };
        return &parsed;
    }
    return NULL;
}

struct bench_keys {
    const struct bench_alg *alg;
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *key, *peer;
    EVP_CIPHER *cipher;
};

static EVP_PKEY *keygen(const struct bench_alg *alg, OSSL_LIB_CTX *libctx)
{
    if (alg->param == NULL)
        return EVP_PKEY_Q_keygen(libctx, NULL, alg->keytype);
    if (strcmp(alg->keytype, "RSA") == 0)
        return EVP_PKEY_Q_keygen(libctx, NULL, "RSA", (size_t)atoi(alg->param));
    return EVP_PKEY_Q_keygen(libctx, NULL, alg->keytype, alg->param);
}

struct bench_keys *bench_keys_new(const struct bench_alg *alg, OSSL_LIB_CTX *libctx)
{
    struct bench_keys *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return NULL;
    k->alg = alg;
    k->libctx = libctx;
    if (alg->kind == AEAD)
        k->cipher = EVP_CIPHER_fetch(libctx, alg->keytype, NULL);
    else
        k->key = keygen(alg, libctx);
    if (alg->kind == DERIVE)
        k->peer = keygen(alg, libctx);
    if ((alg->kind == AEAD && k->cipher == NULL) || (alg->kind != AEAD && k->key == NULL)
        || (alg->kind == DERIVE && k->peer == NULL)) {
        bench_keys_free(k);
        return NULL;
    }
    return k;
}

void bench_keys_free(struct bench_keys *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->key);
    EVP_PKEY_free(k->peer);
    EVP_CIPHER_free(k->cipher);
    free(k);
}

struct bench_state {
    struct bench_keys *keys;
    EVP_PKEY_CTX *pctx;
    EVP_MD_CTX *mctx;                /* Ed25519, ML-DSA, SLH-DSA: whole messages, as TLS signs them */
    EVP_CIPHER_CTX *cctx;
    unsigned char *in, *out;
    size_t outsize;
    unsigned char *ct;               /* KEM: the ciphertext encapsulated, or to decapsulate */
    size_t ctlen;
};

static const unsigned char digest[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const unsigned char aead_key[32] = { 7 }, iv[12] = { 9 };

static int encapsulate(struct bench_state *st)
{
    size_t ctlen = st->ctlen, len = st->outsize;

    return EVP_PKEY_encapsulate(st->pctx, st->ct, &ctlen, st->out, &len) > 0;
}

static int state_init(struct bench_state *st)
{
    struct bench_keys *k = st->keys;

    switch (k->alg->kind) {
    case SIGN:
        st->outsize = (size_t)EVP_PKEY_get_size(k->key);
        if (k->alg->param == NULL) {
            st->mctx = EVP_MD_CTX_new();
            return st->mctx != NULL;
        }
        st->pctx = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->key, NULL);
        return st->pctx != NULL && EVP_PKEY_sign_init(st->pctx) > 0
               && EVP_PKEY_CTX_set_signature_md(st->pctx, EVP_sha256()) > 0;
    case DERIVE:
        st->outsize = 128;
        st->pctx = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->key, NULL);
        return st->pctx != NULL && EVP_PKEY_derive_init(st->pctx) > 0
               && EVP_PKEY_derive_set_peer(st->pctx, k->peer) > 0;
    case AEAD:
        st->outsize = k->alg->size + 16;
        st->in = calloc(1, k->alg->size);
        st->cctx = EVP_CIPHER_CTX_new();
        return st->in != NULL && st->cctx != NULL
               && EVP_EncryptInit_ex2(st->cctx, k->cipher, aead_key, iv, NULL) > 0;
    case ENCAPS:
    case DECAPS:
        st->pctx = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->key, NULL);
        if (st->pctx == NULL || EVP_PKEY_encapsulate_init(st->pctx, NULL) <= 0
            || EVP_PKEY_encapsulate(st->pctx, NULL, &st->ctlen, NULL, &st->outsize) <= 0
            || (st->ct = malloc(st->ctlen)) == NULL || (st->out = malloc(st->outsize)) == NULL)
            return 0;
        /* Decapsulation needs a ciphertext of this key: one, made here, serves every operation. */
        return k->alg->kind == ENCAPS
               || (encapsulate(st) && EVP_PKEY_decapsulate_init(st->pctx, NULL) > 0);
    case KEYGEN:
        st->outsize = 1;
        st->pctx = EVP_PKEY_CTX_new_from_name(k->libctx, k->alg->keytype, NULL);
        return st->pctx != NULL && EVP_PKEY_keygen_init(st->pctx) > 0;
    }
    return 0;
}

struct bench_state *bench_state_new(struct bench_keys *keys)
{
    struct bench_state *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    st->keys = keys;
    if (!state_init(st) || (st->out == NULL && (st->out = malloc(st->outsize)) == NULL)) {
        bench_state_free(st);
        return NULL;
    }
    return st;
}

void bench_state_free(struct bench_state *st)
{
    if (st == NULL)
        return;
    EVP_PKEY_CTX_free(st->pctx);
    EVP_MD_CTX_free(st->mctx);
    EVP_CIPHER_CTX_free(st->cctx);
    free(st->in);
    free(st->out);
    free(st->ct);
    free(st);
}

static int seal(struct bench_state *st)
{
    int n = 0, f = 0;

    return EVP_EncryptInit_ex2(st->cctx, NULL, NULL, iv, NULL) > 0
           && EVP_EncryptUpdate(st->cctx, st->out, &n, st->in, (int)st->keys->alg->size) > 0
           && EVP_EncryptFinal_ex(st->cctx, st->out + n, &f) > 0
           && EVP_CIPHER_CTX_ctrl(st->cctx, EVP_CTRL_AEAD_GET_TAG, 16, st->out + n + f) > 0;
}

static int keygen_op(struct bench_state *st)
{
    EVP_PKEY *key = NULL;
    int ok = EVP_PKEY_keygen(st->pctx, &key) > 0;

    EVP_PKEY_free(key);
    return ok;
}

int bench_op(struct bench_state *st)
{
    size_t len = st->outsize;

    if (st->mctx != NULL)
        return EVP_DigestSignInit_ex(st->mctx, NULL, NULL, st->keys->libctx, NULL, st->keys->key,
                                     NULL) > 0
               && EVP_DigestSign(st->mctx, st->out, &len, digest, sizeof(digest)) > 0;
    switch (st->keys->alg->kind) {
    case SIGN:
        return EVP_PKEY_sign(st->pctx, st->out, &len, digest, sizeof(digest)) > 0;
    case DERIVE:
        return EVP_PKEY_derive(st->pctx, st->out, &len) > 0;
    case AEAD:
        return seal(st);
    case ENCAPS:
        return encapsulate(st);
    case DECAPS:
        return EVP_PKEY_decapsulate(st->pctx, st->out, &len, st->ct, st->ctlen) > 0;
    case KEYGEN:
        return keygen_op(st);
    }
    return 0;
}
