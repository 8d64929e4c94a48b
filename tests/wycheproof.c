/*
 * Wycheproof's vectors through the ringcrypt provider alone, with the EVP
 * API: every valid vector passes, every invalid one is rejected, acceptable
 * ones may go either way (but a success must give the vector's answer).
 * AEADs and AES-CBC run both directions (encryption must reproduce the
 * ciphertext and tag, decryption the message or fail); ECDH and X25519
 * derive; RSA PKCS#1 v1.5 and OAEP decrypt with the vectors' private keys
 * (since OpenSSL 3.2 a bad v1.5 padding decrypts to a message derived from key
 * and ciphertext, implicit rejection: such an answer counts as a rejection
 * only if it is byte for byte the default provider's of the same release;
 * with implicit-rejection=0, where the release has it, ringcrypt and the
 * default provider must both refuse); HKDF derives; HMAC tags are compared
 * at the vectors' tag size. Signature vectors are verified, and each valid
 * vector's message is signed too: RSA PKCS#1 v1.5 with the group's own
 * private key (found in the decryption files) must reproduce the vector's
 * signature; the Ed25519 files carry no private key, so a key of ours must
 * give the default provider's signature (both deterministic); RSA-PSS and
 * ECDSA (fresh key per group) signatures must verify, and not over another
 * message.
 *
 * Scenarios: the vectors with no ASYNC job (nothing may reach the runtime),
 * and with each file inside one ASYNC job on a core with
 * RINGCRYPT_MIN_OFFLOAD_BYTES=0, where every private-key call and every AEAD
 * data call must be submitted to the runtime. An error of the runtime is
 * never taken for a rejection. The JSON reader is checked first.
 *
 * A few vectors OpenSSL 3.0 itself gets wrong are listed below (deviations):
 * each is reported, and must come out the same on the default provider.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"

#define FILE_TIMEOUT_MS 300000
#define MAX_REPORTS 20 /* failures printed per file; every one is counted */
#define MAX_TAG 16     /* GCM and Poly1305 tags */

/* ---- vectors, outcomes, verdicts ----------------------------------------- */

enum outcome {
    ACCEPTED,   /* succeeded with the vector's answer */
    REJECTED,   /* refused */
    /*
     * RSA PKCS#1 v1.5 decryption since OpenSSL 3.2: succeeded with the message
     * the default provider derives from key and ciphertext (implicit rejection).
     */
    IMPLICIT,
    WRONG,      /* succeeded with another answer */
    MALFORMED,  /* the vector could not be read */
};

struct run {
    OSSL_LIB_CTX *libctx;    /* ringcrypt alone */
    OSSL_LIB_CTX *ref;       /* the default provider: reference signatures and decryptions */
    const char *dir;
    const char *file;
    long offloadable;        /* calls ringcrypt hands to the runtime inside a job */
    bool kernel;             /* the runtime uses the kernel's AF_ALG algorithms (in a VM) */
    long kernel_expected;    /* offloadable calls that fit the kernel's form */
    int reports;
};

/* What the tests of one group share. */
struct group {
    const struct json *json;
    size_t index;
    const char *md, *mgf_md;
    int padding;             /* RSA padding mode */
    int salt_len;
    const char *curve;       /* OpenSSL's name */
    EVP_CIPHER *cipher;
    bool aead;
    bool offloaded;          /* ringcrypt offloads this cipher's data calls */
    size_t tag_len;
    EVP_MAC *mac;
    EVP_KDF *kdf;
    EVP_PKEY *pub;           /* verifies the vectors' signatures */
    EVP_PKEY *priv;          /* decrypts the vectors' ciphertexts */
    EVP_PKEY *priv_ref;      /* the same key in the reference context */
    EVP_PKEY *signer;        /* signs the vectors' messages (NULL: no signing) */
    EVP_PKEY *signer_ref;    /* the same key in the reference context */
    EVP_PKEY *signer_pub;    /* checks signer's signatures (not owned) */
    enum { EXPECT_NOTHING, EXPECT_VECTOR, EXPECT_REFERENCE } expect;
};

struct check {
    const char *name;
    enum outcome (*fn)(struct run *r, const struct group *g, const struct json *t);
    /* The check computes an output: an invalid vector is rejected by differing from it. */
    bool wrong_rejects;
    /* Signing applies to valid vectors of groups with a key to sign with. */
    bool signs;
    /* The default provider must come to the same outcome. */
    bool like_reference;
};

struct tally {
    int total[JSON_NRESULTS], accepted[JSON_NRESULTS], rejected[JSON_NRESULTS];
    int implicit;            /* of the rejections, implicit ones */
    int deviations;          /* known OpenSSL 3.0 deviations (see below) */
};

static void report(struct run *r, const struct json *t, const char *check, const char *why)
{
    const char *comment = json_str(json_get(t, "comment"));
    long id = -1;

    t_failures++;
    if (r->reports++ >= MAX_REPORTS)
        return;
    json_int(json_get(t, "tcId"), &id);
    fprintf(stderr, "FAIL %s tcId %ld (%s) %s: %s\n", r->file, id,
            comment != NULL ? comment : "", check, why);
}

static const char *verdict(const struct check *c, enum json_result res, enum outcome o)
{
    if (o == MALFORMED)
        return "malformed vector";
    if (o == WRONG && !c->wrong_rejects)
        return "succeeded with a wrong result";
    if (res == JSON_VALID && o != ACCEPTED)
        return o == WRONG ? "valid vector gave another result" : "valid vector rejected";
    if (res == JSON_INVALID && o == ACCEPTED)
        return "invalid vector accepted";
    return NULL;
}

/* ---- reading vectors ------------------------------------------------------ */

static EVP_PKEY *der_public(OSSL_LIB_CTX *lib, const struct json_bytes *der)
{
    const unsigned char *p = der->p;
    EVP_PKEY *key = d2i_PUBKEY_ex(NULL, &p, (long)der->n, lib, NULL);

    /* Bytes after the structure make the encoding invalid. */
    if (key != NULL && p != der->p + der->n) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    return key;
}

static EVP_PKEY *der_member_public(OSSL_LIB_CTX *lib, const struct json *obj, const char *key)
{
    struct json_bytes der;
    EVP_PKEY *pkey;

    if (!json_hex_field(obj, key, &der))
        return NULL;
    pkey = der_public(lib, &der);
    free(der.p);
    return pkey;
}

static EVP_PKEY *der_member_private(OSSL_LIB_CTX *lib, const struct json *obj, const char *key)
{
    struct json_bytes der;
    const unsigned char *p;
    EVP_PKEY *pkey;

    if (!json_hex_field(obj, key, &der))
        return NULL;
    p = der.p;
    pkey = d2i_AutoPrivateKey_ex(NULL, &p, (long)der.n, lib, NULL);
    OPENSSL_cleanse(der.p, der.n);
    free(der.p);
    return pkey;
}

/* An EC private key from its big-endian scalar; ECDH needs no public point. */
static EVP_PKEY *ec_private(OSSL_LIB_CTX *lib, const char *curve, const struct json_bytes *d)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(d->p, (int)d->n, NULL);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(lib, "EC", NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY *key = NULL;

    if (bld == NULL || bn == NULL || ctx == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve, 0)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) <= 0)
        goto out;
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params);
out:
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    BN_clear_free(bn);
    OSSL_PARAM_BLD_free(bld);
    return key;
}

static struct json *load_vectors(const char *dir, const char *name)
{
    char err[512];
    struct json *root = json_load_vectors(dir, name, err, sizeof(err));

    CHECK(root != NULL, "%s", err);
    return root;
}

/* ---- symmetric: AEADs and AES-CBC ------------------------------------------ */

enum { S_KEY, S_IV, S_MSG, S_CT, S_AAD, S_TAG, S_FIELDS };

static const char *const sym_names[S_FIELDS] = { "key", "iv", "msg", "ct", "aad", "tag" };

/* IV length, key and IV, and for AEAD decryption the expected tag. */
static bool sym_init(EVP_CIPHER_CTX *c, const struct group *g, const struct json_bytes *f, int enc)
{
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    size_t ivlen = f[S_IV].n;

    if (f[S_KEY].n != (size_t)EVP_CIPHER_get_key_length(g->cipher)
        || (!g->aead && ivlen != (size_t)EVP_CIPHER_get_iv_length(g->cipher))
        || !EVP_CipherInit_ex2(c, g->cipher, NULL, NULL, enc, NULL))
        return false;
    if (g->aead) {
        p[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
        if (!EVP_CIPHER_CTX_set_params(c, p))
            return false;
    }
    if (!EVP_CipherInit_ex2(c, NULL, f[S_KEY].p, f[S_IV].p, enc, NULL))
        return false;
    if (!g->aead || enc)
        return true;
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, f[S_TAG].p, f[S_TAG].n);
    return EVP_CIPHER_CTX_set_params(c, p);
}

static bool get_tag(EVP_CIPHER_CTX *c, unsigned char *tag, size_t len)
{
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };

    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, len);
    return EVP_CIPHER_CTX_get_params(c, p);
}

/*
 * Whether the kernel takes a cipher data call (engine/kcipher.h): AEADs with
 * a 12-byte IV, a tag size the kernel has and a whole message in one call,
 * AES-CBC on whole blocks (with padding, a decryption's last block is not).
 */
static bool kernel_fits(const struct group *g, const struct json_bytes *f, int enc, size_t inl)
{
    size_t tag = g->tag_len;

    if (!g->aead)
        return inl % 16 == 0 && (enc || inl > 16);
    if (f[S_IV].n != 12 || f[S_AAD].n > 512 || f[S_AAD].n + inl + (enc ? 0 : tag) > 65536)
        return false;
    if (EVP_CIPHER_get_mode(g->cipher) == EVP_CIPH_GCM_MODE)
        return enc || tag == 4 || tag == 8 || (tag >= 12 && tag <= 16);
    return enc || tag == 16;
}

/* Encrypts msg (must give ct and tag) or decrypts ct (must give msg, or fail). */
static enum outcome sym(struct run *r, const struct group *g, const struct json *t, int enc)
{
    size_t nf = g->aead ? S_FIELDS : S_AAD;
    struct json_bytes f[S_FIELDS];
    const struct json_bytes *in, *want;
    EVP_CIPHER_CTX *c = NULL;
    unsigned char *out = NULL, tag[MAX_TAG];
    int n = 0, m = 0;
    enum outcome o = REJECTED;

    if (!json_hex_fields(t, sym_names, nf, f))
        return MALFORMED;
    in = &f[enc ? S_MSG : S_CT];
    want = &f[enc ? S_CT : S_MSG];
    c = EVP_CIPHER_CTX_new();
    out = malloc(in->n + EVP_MAX_BLOCK_LENGTH);
    if (c == NULL || out == NULL || !sym_init(c, g, f, enc))
        goto out;
    if (g->aead && f[S_AAD].n > 0 && !EVP_CipherUpdate(c, NULL, &n, f[S_AAD].p, (int)f[S_AAD].n))
        goto out;
    n = 0;
    if (in->n > 0) {
        r->offloadable += g->offloaded;
        r->kernel_expected += g->offloaded && r->kernel && kernel_fits(g, f, enc, in->n);
        if (!EVP_CipherUpdate(c, out, &n, in->p, (int)in->n))
            goto out;
    }
    if (!EVP_CipherFinal_ex(c, out + n, &m))
        goto out;
    if (g->aead && enc && (g->tag_len > sizeof(tag) || !get_tag(c, tag, g->tag_len)))
        goto out;
    o = json_bytes_eq(out, (size_t)(n + m), want)
                && (!g->aead || !enc || json_bytes_eq(tag, g->tag_len, &f[S_TAG]))
        ? ACCEPTED : WRONG;
out:
    free(out);
    EVP_CIPHER_CTX_free(c);
    json_free_fields(f, nf);
    return o;
}

static enum outcome sym_encrypt(struct run *r, const struct group *g, const struct json *t)
{
    return sym(r, g, t, 1);
}

static enum outcome sym_decrypt(struct run *r, const struct group *g, const struct json *t)
{
    return sym(r, g, t, 0);
}

/* ---- MAC and KDF ------------------------------------------------------------- */

static enum outcome hmac_tag(struct run *r, const struct group *g, const struct json *t)
{
    static const char *const names[] = { "key", "msg", "tag" };
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    unsigned char out[EVP_MAX_MD_SIZE];
    struct json_bytes f[3];
    EVP_MAC_CTX *ctx;
    size_t len = 0;
    enum outcome o = REJECTED;

    if (!json_hex_fields(t, names, 3, f))
        return MALFORMED;
    /* With the kernel's hmac(sha256), final is the one call that goes there. */
    if (r->kernel && f[1].n <= 65536) {
        r->offloadable++;
        r->kernel_expected++;
    }
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)g->md, 0);
    ctx = EVP_MAC_CTX_new(g->mac);
    if (ctx != NULL && EVP_MAC_init(ctx, f[0].p, f[0].n, p) && EVP_MAC_update(ctx, f[1].p, f[1].n)
        && EVP_MAC_final(ctx, out, &len, sizeof(out)))
        o = len >= g->tag_len && json_bytes_eq(out, g->tag_len, &f[2]) ? ACCEPTED : WRONG;
    EVP_MAC_CTX_free(ctx);
    json_free_fields(f, 3);
    return o;
}

static enum outcome hkdf(struct run *r, const struct group *g, const struct json *t)
{
    static const char *const names[] = { "ikm", "salt", "info", "okm" };
    struct json_bytes f[4];
    OSSL_PARAM p[5];
    EVP_KDF_CTX *ctx = NULL;
    unsigned char *out = NULL;
    long size;
    enum outcome o = REJECTED;

    (void)r;
    if (!json_hex_fields(t, names, 4, f))
        return MALFORMED;
    if (!json_int(json_get(t, "size"), &size) || size < 0) {
        o = MALFORMED;
        goto out;
    }
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)g->md, 0);
    p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, f[0].p, f[0].n);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, f[1].p, f[1].n);
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, f[2].p, f[2].n);
    p[4] = OSSL_PARAM_construct_end();
    ctx = EVP_KDF_CTX_new(g->kdf);
    out = malloc((size_t)size + 1);
    if (ctx != NULL && out != NULL && EVP_KDF_derive(ctx, out, (size_t)size, p) > 0)
        o = json_bytes_eq(out, (size_t)size, &f[3]) ? ACCEPTED : WRONG;
out:
    free(out);
    EVP_KDF_CTX_free(ctx);
    json_free_fields(f, 4);
    return o;
}

/* ---- key exchange ----------------------------------------------------------- */

/* The secret priv and peer agree on must be want. */
static enum outcome derive(struct run *r, EVP_PKEY *priv, EVP_PKEY *peer, const struct json_bytes *want)
{
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *out = NULL;
    size_t len = 0;
    enum outcome o = REJECTED;

    if (priv == NULL || peer == NULL)
        goto out;
    ctx = EVP_PKEY_CTX_new_from_pkey(r->libctx, priv, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, peer) <= 0
        || EVP_PKEY_derive(ctx, NULL, &len) <= 0 || (out = malloc(len)) == NULL)
        goto out;
    r->offloadable++;
    if (EVP_PKEY_derive(ctx, out, &len) > 0)
        o = json_bytes_eq(out, len, want) ? ACCEPTED : WRONG;
out:
    free(out);
    EVP_PKEY_CTX_free(ctx);
    return o;
}

enum { X_PUBLIC, X_PRIVATE, X_SHARED, X_FIELDS };

static const char *const exchange_names[X_FIELDS] = { "public", "private", "shared" };

static enum outcome x25519(struct run *r, const struct group *g, const struct json *t)
{
    struct json_bytes f[X_FIELDS];
    EVP_PKEY *priv, *peer;
    enum outcome o;

    (void)g;
    if (!json_hex_fields(t, exchange_names, X_FIELDS, f))
        return MALFORMED;
    priv = EVP_PKEY_new_raw_private_key_ex(r->libctx, "X25519", NULL, f[X_PRIVATE].p,
                                           f[X_PRIVATE].n);
    peer = EVP_PKEY_new_raw_public_key_ex(r->libctx, "X25519", NULL, f[X_PUBLIC].p,
                                          f[X_PUBLIC].n);
    o = derive(r, priv, peer, &f[X_SHARED]);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(peer);
    json_free_fields(f, X_FIELDS);
    return o;
}

/* The peer's key is a DER SubjectPublicKeyInfo, ours a big-endian scalar. */
static enum outcome ecdh(struct run *r, const struct group *g, const struct json *t)
{
    struct json_bytes f[X_FIELDS];
    EVP_PKEY *priv, *peer;
    enum outcome o;

    if (!json_hex_fields(t, exchange_names, X_FIELDS, f))
        return MALFORMED;
    priv = ec_private(r->libctx, g->curve, &f[X_PRIVATE]);
    peer = der_public(r->libctx, &f[X_PUBLIC]);
    o = priv == NULL ? MALFORMED : derive(r, priv, peer, &f[X_SHARED]);
    EVP_PKEY_free(priv);
    EVP_PKEY_free(peer);
    json_free_fields(f, X_FIELDS);
    return o;
}

/* ---- signatures -------------------------------------------------------------- */

/* A digest-sign or -verify context for key with the group's digest and padding. */
static EVP_MD_CTX *sig_ctx(OSSL_LIB_CTX *lib, const struct group *g, EVP_PKEY *key, bool sign)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok = m != NULL
              && (sign ? EVP_DigestSignInit_ex(m, &pctx, g->md, lib, NULL, key, NULL)
                       : EVP_DigestVerifyInit_ex(m, &pctx, g->md, lib, NULL, key, NULL)) > 0;

    if (ok && g->padding == RSA_PKCS1_PSS_PADDING)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, g->salt_len) > 0
             && EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, g->mgf_md, NULL) > 0;
    if (!ok) {
        EVP_MD_CTX_free(m);
        return NULL;
    }
    return m;
}

static bool verifies(OSSL_LIB_CTX *lib, const struct group *g, EVP_PKEY *key,
                     const struct json_bytes *sig, const struct json_bytes *msg)
{
    EVP_MD_CTX *m = sig_ctx(lib, g, key, false);
    bool ok = m != NULL && EVP_DigestVerify(m, sig->p, sig->n, msg->p, msg->n) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

/* msg signed with key into sig (malloc'ed); false if signing failed. */
static bool sign_msg(OSSL_LIB_CTX *lib, const struct group *g, EVP_PKEY *key,
                     const struct json_bytes *msg, struct json_bytes *sig)
{
    EVP_MD_CTX *m = sig_ctx(lib, g, key, true);

    sig->n = (size_t)EVP_PKEY_get_size(key);
    sig->p = m != NULL ? malloc(sig->n) : NULL;
    if (sig->p != NULL && EVP_DigestSign(m, sig->p, &sig->n, msg->p, msg->n) != 1) {
        free(sig->p);
        sig->p = NULL;
    }
    EVP_MD_CTX_free(m);
    return sig->p != NULL;
}

enum { G_MSG, G_SIG, G_FIELDS };

static const char *const sig_names[G_FIELDS] = { "msg", "sig" };

static enum outcome verify(struct run *r, const struct group *g, const struct json *t)
{
    struct json_bytes f[G_FIELDS];
    enum outcome o;

    if (!json_hex_fields(t, sig_names, G_FIELDS, f))
        return MALFORMED;
    o = verifies(r->libctx, g, g->pub, &f[G_SIG], &f[G_MSG]) ? ACCEPTED : REJECTED;
    json_free_fields(f, G_FIELDS);
    return o;
}

/* Is ours what the group expects: the vector's signature, or the reference's? */
static bool expected_signature(struct run *r, const struct group *g, const struct json_bytes *f,
                               const struct json_bytes *ours)
{
    struct json_bytes ref = { 0 };
    bool ok;

    if (g->expect == EXPECT_VECTOR)
        return json_bytes_eq(ours->p, ours->n, &f[G_SIG]);
    if (g->expect == EXPECT_NOTHING)
        return true;
    ok = sign_msg(r->ref, g, g->signer_ref, &f[G_MSG], &ref)
         && json_bytes_eq(ours->p, ours->n, &ref);
    free(ref.p);
    return ok;
}

/* Signs the vector's message: expected signature, valid for it, not for a longer message. */
static enum outcome sign(struct run *r, const struct group *g, const struct json *t)
{
    struct json_bytes f[G_FIELDS], ours = { 0 }, longer = { 0 };
    enum outcome o = REJECTED;

    if (!json_hex_fields(t, sig_names, G_FIELDS, f))
        return MALFORMED;
    r->offloadable++;
    if (!sign_msg(r->libctx, g, g->signer, &f[G_MSG], &ours))
        goto out;
    o = WRONG;
    longer.n = f[G_MSG].n + 1;
    longer.p = malloc(longer.n);
    if (longer.p == NULL)
        goto out;
    memcpy(longer.p, f[G_MSG].p, f[G_MSG].n);
    longer.p[f[G_MSG].n] = 0x5a;
    if (expected_signature(r, g, f, &ours) && verifies(r->libctx, g, g->signer_pub, &ours, &f[G_MSG])
        && !verifies(r->libctx, g, g->signer_pub, &ours, &longer))
        o = ACCEPTED;
out:
    free(longer.p);
    free(ours.p);
    json_free_fields(f, G_FIELDS);
    return o;
}

/* ---- RSA decryption ---------------------------------------------------------- */

static bool rsa_padding(EVP_PKEY_CTX *ctx, const struct group *g, const struct json_bytes *label)
{
    unsigned char *copy;

    if (EVP_PKEY_CTX_set_rsa_padding(ctx, g->padding) <= 0)
        return false;
    if (g->padding != RSA_PKCS1_OAEP_PADDING)
        return true;
    if (EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, g->md, NULL) <= 0
        || EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, g->mgf_md, NULL) <= 0)
        return false;
    if (label->n == 0)
        return true;
    /* On success the context owns the copy. */
    copy = OPENSSL_memdup(label->p, label->n);
    if (copy == NULL || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, (int)label->n) <= 0) {
        OPENSSL_free(copy);
        return false;
    }
    return true;
}

/* A context of lib that decrypts with key, the group's padding and params. */
static EVP_PKEY_CTX *rsa_decrypt_ctx(OSSL_LIB_CTX *lib, const struct group *g, EVP_PKEY *key,
                                     const struct json_bytes *label, const OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(lib, key, NULL);

    if (ctx != NULL && EVP_PKEY_decrypt_init_ex(ctx, params) > 0 && rsa_padding(ctx, g, label))
        return ctx;
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

/*
 * Whether the default provider decrypts ct to the same n bytes: the message
 * of an implicit rejection depends on nothing but the key and the ciphertext.
 */
static bool reference_decrypts_to(struct run *r, const struct group *g,
                                  const struct json_bytes *label, const struct json_bytes *ct,
                                  const unsigned char *ours, size_t n)
{
    EVP_PKEY_CTX *ctx = rsa_decrypt_ctx(r->ref, g, g->priv_ref, label, NULL);
    size_t len = (size_t)EVP_PKEY_get_size(g->priv_ref);
    unsigned char *out = malloc(len);
    bool ok = ctx != NULL && out != NULL && EVP_PKEY_decrypt(ctx, out, &len, ct->p, ct->n) > 0
              && len == n && memcmp(out, ours, n) == 0;

    free(out);
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/*
 * Decrypts the vector's ciphertext with params: the message, or a refusal,
 * or (PKCS#1 v1.5, params unset) the default provider's implicit rejection.
 */
static enum outcome decrypt(struct run *r, const struct group *g, const struct json *t,
                            const OSSL_PARAM *params)
{
    static const char *const names[] = { "msg", "ct" };
    struct json_bytes f[2], label = { 0 };
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *out = NULL;
    size_t len = (size_t)EVP_PKEY_get_size(g->priv);
    enum outcome o = REJECTED;

    if (!json_hex_fields(t, names, 2, f))
        return MALFORMED;
    if (json_get(t, "label") != NULL && !json_hex_field(t, "label", &label)) {
        o = MALFORMED;
        goto out;
    }
    ctx = rsa_decrypt_ctx(r->libctx, g, g->priv, &label, params);
    out = malloc(len);
    if (ctx == NULL || out == NULL)
        goto out;
    r->offloadable++;
    if (EVP_PKEY_decrypt(ctx, out, &len, f[1].p, f[1].n) <= 0)
        goto out;
    if (json_bytes_eq(out, len, &f[0]))
        o = ACCEPTED;
    else if (g->padding == RSA_PKCS1_PADDING && params == NULL
             && reference_decrypts_to(r, g, &label, &f[1], out, len))
        o = IMPLICIT;
    else
        o = WRONG;
out:
    free(out);
    free(label.p);
    EVP_PKEY_CTX_free(ctx);
    json_free_fields(f, 2);
    return o;
}

static enum outcome rsa_decrypt(struct run *r, const struct group *g, const struct json *t)
{
    return decrypt(r, g, t, NULL);
}

#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
/* PKCS#1 v1.5 with implicit rejection off (OpenSSL 3.2+): a bad padding must be refused. */
static enum outcome rsa_decrypt_explicit(struct run *r, const struct group *g,
                                         const struct json *t)
{
    unsigned int implicit = 0;
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION, &implicit),
        OSSL_PARAM_construct_end(),
    };

    return decrypt(r, g, t, params);
}
#endif

/* ---- groups ------------------------------------------------------------------- */

static const char *const offloaded_ciphers[] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305",
                                                  "AES-128-CBC", "AES-256-CBC" };

static bool cipher_group(struct run *r, struct group *g, const char *name, bool aead)
{
    long tag_bits = 0;

    g->aead = aead;
    g->cipher = EVP_CIPHER_fetch(r->libctx, name, NULL);
    for (size_t i = 0; i < sizeof(offloaded_ciphers) / sizeof(offloaded_ciphers[0]); i++)
        g->offloaded |= strcmp(name, offloaded_ciphers[i]) == 0;
    if (aead && (!json_int(json_get(g->json, "tagSize"), &tag_bits) || tag_bits <= 0
                 || tag_bits % 8 != 0 || tag_bits > 8 * MAX_TAG))
        return false;
    g->tag_len = (size_t)tag_bits / 8;
    return g->cipher != NULL;
}

static bool aes_group(struct run *r, struct group *g, const char *mode)
{
    char name[32];
    long bits;

    if (!json_int(json_get(g->json, "keySize"), &bits))
        return false;
    snprintf(name, sizeof(name), "AES-%ld-%s", bits, mode);
    return cipher_group(r, g, name, strcmp(mode, "GCM") == 0);
}

static bool gcm_group(struct run *r, struct group *g)
{
    return aes_group(r, g, "GCM");
}

static bool cbc_group(struct run *r, struct group *g)
{
    return aes_group(r, g, "CBC");
}

static bool chacha_group(struct run *r, struct group *g)
{
    return cipher_group(r, g, "ChaCha20-Poly1305", true);
}

static bool hmac_group(struct run *r, struct group *g)
{
    long bits;

    g->mac = EVP_MAC_fetch(r->libctx, "HMAC", NULL);
    if (!json_int(json_get(g->json, "tagSize"), &bits) || bits <= 0 || bits % 8 != 0
        || bits > 8 * EVP_MAX_MD_SIZE)
        return false;
    g->tag_len = (size_t)bits / 8;
    return g->mac != NULL;
}

static bool hkdf_group(struct run *r, struct group *g)
{
    g->kdf = EVP_KDF_fetch(r->libctx, "HKDF", NULL);
    return g->kdf != NULL;
}

static bool x25519_group(struct run *r, struct group *g)
{
    const char *curve = json_str(json_get(g->json, "curve"));

    (void)r;
    return curve != NULL && strcmp(curve, "curve25519") == 0;
}

static const char *ec_curve(const char *wycheproof_name)
{
    static const char *const names[][2] = { { "secp256r1", "P-256" }, { "secp384r1", "P-384" } };

    for (size_t i = 0; wycheproof_name != NULL && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(wycheproof_name, names[i][0]) == 0)
            return names[i][1];
    return NULL;
}

/* Public keys as DER SubjectPublicKeyInfo ("asn"), the only encoding read here. */
static bool ecdh_group(struct run *r, struct group *g)
{
    const char *encoding = json_str(json_get(g->json, "encoding"));

    (void)r;
    g->curve = ec_curve(json_str(json_get(g->json, "curve")));
    return g->curve != NULL && encoding != NULL && strcmp(encoding, "asn") == 0;
}

/* The group's public key and digest, as every signature file gives them. */
static bool sig_group(struct run *r, struct group *g)
{
    const char *sha = json_str(json_get(g->json, "sha"));

    if (sha != NULL)
        g->md = sha;
    g->pub = der_member_public(r->libctx, g->json, "publicKeyDer");
    g->signer_pub = g->pub;
    return g->pub != NULL;
}

/* The files carry no ECDSA private key: each group signs with a fresh one. */
static bool ecdsa_group(struct run *r, struct group *g)
{
    g->curve = ec_curve(json_str(json_get(json_get(g->json, "publicKey"), "curve")));
    if (!sig_group(r, g) || g->curve == NULL)
        return false;
    g->signer = EVP_PKEY_Q_keygen(r->libctx, NULL, "EC", g->curve);
    g->signer_pub = g->signer;
    return g->signer != NULL;
}

/* No Ed25519 private key either: ours, the same in both contexts, per group. */
static bool ed25519_group(struct run *r, struct group *g)
{
    unsigned char seed[32];

    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (unsigned char)(g->index * 37 + i);
    g->md = NULL;
    if (!sig_group(r, g))
        return false;
    g->signer = EVP_PKEY_new_raw_private_key_ex(r->libctx, "ED25519", NULL, seed, sizeof(seed));
    g->signer_ref = EVP_PKEY_new_raw_private_key_ex(r->ref, "ED25519", NULL, seed, sizeof(seed));
    g->signer_pub = g->signer;
    g->expect = EXPECT_REFERENCE;
    return g->signer != NULL && g->signer_ref != NULL;
}

/* The decryption files carry the private keys of some signature groups. */
static const char *const rsa_key_files[] = {
    "rsa_oaep_2048_sha256_mgf1sha256_test.json",
    "rsa_pkcs1_2048_test.json",
};

static EVP_PKEY *find_rsa_private(struct run *r, const char *modulus)
{
    EVP_PKEY *key = NULL;

    for (size_t i = 0; modulus != NULL && key == NULL && i < 2; i++) {
        struct json *root = load_vectors(r->dir, rsa_key_files[i]);
        const struct json *groups = json_get(root, "testGroups");

        for (size_t k = 0; key == NULL && k < json_count(groups); k++) {
            const struct json *grp = json_at(groups, k);
            const char *n = json_str(json_get(json_get(grp, "privateKey"), "modulus"));

            if (n != NULL && strcmp(n, modulus) == 0)
                key = der_member_private(r->libctx, grp, "privateKeyPkcs8");
        }
        json_free(root);
    }
    return key;
}

static bool rsa_sig_group(struct run *r, struct group *g, int padding)
{
    const char *modulus = json_str(json_get(json_get(g->json, "publicKey"), "modulus"));

    g->padding = padding;
    if (!sig_group(r, g))
        return false;
    g->signer = find_rsa_private(r, modulus);
    return true;
}

static bool rsa_pkcs1_sig_group(struct run *r, struct group *g)
{
    g->expect = EXPECT_VECTOR;
    return rsa_sig_group(r, g, RSA_PKCS1_PADDING);
}

static bool rsa_pss_group(struct run *r, struct group *g)
{
    long salt;

    g->mgf_md = json_str(json_get(g->json, "mgfSha"));
    if (!json_int(json_get(g->json, "sLen"), &salt) || g->mgf_md == NULL)
        return false;
    g->salt_len = (int)salt;
    return rsa_sig_group(r, g, RSA_PKCS1_PSS_PADDING);
}

static bool rsa_decrypt_group(struct run *r, struct group *g)
{
    const char *type = json_str(json_get(g->json, "type"));

    g->padding = RSA_PKCS1_PADDING;
    if (type != NULL && strcmp(type, "RsaesOaepDecrypt") == 0) {
        g->padding = RSA_PKCS1_OAEP_PADDING;
        g->md = json_str(json_get(g->json, "sha"));
        g->mgf_md = json_str(json_get(g->json, "mgfSha"));
        if (g->md == NULL || g->mgf_md == NULL)
            return false;
    }
    g->priv = der_member_private(r->libctx, g->json, "privateKeyPkcs8");
    g->priv_ref = der_member_private(r->ref, g->json, "privateKeyPkcs8");
    return g->priv != NULL && g->priv_ref != NULL;
}

static void group_free(struct group *g)
{
    EVP_CIPHER_free(g->cipher);
    EVP_MAC_free(g->mac);
    EVP_KDF_free(g->kdf);
    EVP_PKEY_free(g->pub);
    EVP_PKEY_free(g->priv);
    EVP_PKEY_free(g->priv_ref);
    EVP_PKEY_free(g->signer);
    EVP_PKEY_free(g->signer_ref);
}

/* ---- the files ---------------------------------------------------------------- */

static const struct check encrypt_check = { "encrypt", sym_encrypt, true, false, false };
static const struct check decrypt_check = { "decrypt", sym_decrypt, false, false, false };
static const struct check tag_check = { "tag", hmac_tag, true, false, false };
static const struct check hkdf_check = { "derive", hkdf, false, false, false };
static const struct check x25519_check = { "derive", x25519, false, false, false };
static const struct check ecdh_check = { "derive", ecdh, false, false, false };
static const struct check verify_check = { "verify", verify, false, false, false };
static const struct check sign_check = { "sign", sign, false, true, false };
static const struct check rsa_decrypt_check = { "decrypt", rsa_decrypt, false, false, false };
#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
static const struct check rsa_explicit_check = { "decrypt, implicit-rejection=0",
                                                 rsa_decrypt_explicit, false, false, true };
#define RSA_PKCS1_CHECKS { &rsa_decrypt_check, &rsa_explicit_check }
#else
#define RSA_PKCS1_CHECKS { &rsa_decrypt_check }
#endif

#define MAX_CHECKS 2

struct suite {
    const char *file;
    const char *md;          /* when the groups name none */
    bool (*init)(struct run *r, struct group *g);
    const struct check *checks[MAX_CHECKS + 1];
};

static const struct suite suites[] = {
    { "aes_gcm_test.json", NULL, gcm_group, { &encrypt_check, &decrypt_check } },
    { "chacha20_poly1305_test.json", NULL, chacha_group, { &encrypt_check, &decrypt_check } },
    { "aes_cbc_pkcs5_test.json", NULL, cbc_group, { &encrypt_check, &decrypt_check } },
    { "x25519_test.json", NULL, x25519_group, { &x25519_check } },
    { "ecdh_secp256r1_test.json", NULL, ecdh_group, { &ecdh_check } },
    { "ecdh_secp384r1_test.json", NULL, ecdh_group, { &ecdh_check } },
    { "ecdsa_secp256r1_sha256_test.json", NULL, ecdsa_group, { &verify_check, &sign_check } },
    { "ecdsa_secp384r1_sha384_test.json", NULL, ecdsa_group, { &verify_check, &sign_check } },
    { "ed25519_test.json", NULL, ed25519_group, { &verify_check, &sign_check } },
    { "rsa_signature_2048_sha256_test.json", NULL, rsa_pkcs1_sig_group,
      { &verify_check, &sign_check } },
    { "rsa_pss_2048_sha256_mgf1_32_test.json", NULL, rsa_pss_group,
      { &verify_check, &sign_check } },
    { "rsa_pkcs1_2048_test.json", NULL, rsa_decrypt_group, RSA_PKCS1_CHECKS },
    { "rsa_oaep_2048_sha256_mgf1sha256_test.json", NULL, rsa_decrypt_group,
      { &rsa_decrypt_check } },
    { "hkdf_sha256_test.json", "SHA256", hkdf_group, { &hkdf_check } },
    { "hmac_sha256_test.json", "SHA256", hmac_group, { &tag_check } },
    { NULL, NULL, NULL, { NULL } },
};

/* One file's vectors, run in one call (and so in one job). */
struct file_run {
    struct run *r;
    const struct suite *s;
    const struct json *root;
    struct tally tally[MAX_CHECKS];
};

/*
 * Vectors OpenSSL 3.0 itself gets wrong. Each time one comes out wrong, the
 * same check runs on the default provider, which must give the same outcome:
 * they then say nothing about ringcrypt.
 */
struct deviation {
    const char *file;
    long tc_id;
    const char *why;
};

#define LONG_IV "GCM takes IVs of at most 128 bytes, this one has 257"
#define NO_COFACTOR "its decoder takes explicit curve parameters without a cofactor"
#define COFACTOR_N "its decoder takes explicit curve parameters with cofactor n"

static const struct deviation deviations[] = {
    { "aes_gcm_test.json", 268, LONG_IV },
    { "aes_gcm_test.json", 272, LONG_IV },
    { "aes_gcm_test.json", 276, LONG_IV },
    { "ecdh_secp256r1_test.json", 359, NO_COFACTOR },
    { "ecdh_secp256r1_test.json", 361, COFACTOR_N },
    { "ecdh_secp384r1_test.json", 799, NO_COFACTOR },
    { "ecdh_secp384r1_test.json", 801, COFACTOR_N },
};

static const char *deviation(const char *file, long tc_id)
{
    for (size_t i = 0; i < sizeof(deviations) / sizeof(deviations[0]); i++)
        if (deviations[i].tc_id == tc_id && strcmp(deviations[i].file, file) == 0)
            return deviations[i].why;
    return NULL;
}

static void group_setup(struct group *g, const struct suite *s, const struct json *gj,
                        size_t index)
{
    *g = (struct group){ .json = gj, .index = index, .md = s->md, .salt_len = -1 };
}

/* The same check, group set up afresh, on the default provider. */
static enum outcome reference_outcome(const struct file_run *fr, const struct group *g,
                                      const struct check *c, const struct json *t)
{
    struct run ref = *fr->r;
    struct group rg;
    enum outcome o = MALFORMED;

    ref.libctx = fr->r->ref;
    group_setup(&rg, fr->s, g->json, g->index);
    if (fr->s->init(&ref, &rg))
        o = c->fn(&ref, &rg, t);
    group_free(&rg);
    t_drain_errors(false);
    return o;
}

static void count(struct tally *tl, const struct check *c, enum json_result res, enum outcome o)
{
    tl->total[res]++;
    if (o == ACCEPTED)
        tl->accepted[res]++;
    else if (o == REJECTED || o == IMPLICIT || (o == WRONG && c->wrong_rejects))
        tl->rejected[res]++;
    tl->implicit += o == IMPLICIT;
}

static void run_check(struct file_run *fr, const struct group *g, int ci, const struct json *t)
{
    const struct check *c = fr->s->checks[ci];
    struct run *r = fr->r;
    int res = json_result_of(t);
    const char *why, *known = NULL;
    long id = -1;
    enum outcome o;

    if (res < 0) {
        report(r, t, c->name, "unknown result");
        return;
    }
    if (c->signs && (res != JSON_VALID || g->signer == NULL))
        return;
    o = c->fn(r, g, t);
    why = verdict(c, (enum json_result)res, o);
    count(&fr->tally[ci], c, (enum json_result)res, o);
    if (why != NULL && json_int(json_get(t, "tcId"), &id))
        known = deviation(r->file, id);
    if (why != NULL && known == NULL)
        report(r, t, c->name, why);
    /* A refusal must come from the cryptography, never from the runtime. */
    if (t_drain_errors(why != NULL && known == NULL && r->reports <= MAX_REPORTS))
        report(r, t, c->name, "the runtime raised an error");
    if (c->like_reference && reference_outcome(fr, g, c, t) != o)
        report(r, t, c->name, "the default provider comes to another outcome");
    if (known == NULL)
        return;
    if (reference_outcome(fr, g, c, t) != o) {
        report(r, t, c->name, why);
        report(r, t, c->name, "and the default provider does otherwise");
        return;
    }
    fr->tally[ci].deviations++;
    printf("  known  %s tcId %ld %s: %s, as with OpenSSL's default provider: %s\n", r->file, id,
           c->name, why, known);
}

static void run_group(struct file_run *fr, const struct json *gj, size_t index)
{
    const struct json *tests = json_get(gj, "tests");
    struct group g;

    group_setup(&g, fr->s, gj, index);
    if (!fr->s->init(fr->r, &g)) {
        fprintf(stderr, "FAIL %s group %zu: cannot set it up\n", fr->r->file, index);
        t_print_errors(fr->r->file);
        t_failures++;
    } else {
        for (size_t i = 0; i < json_count(tests); i++)
            for (int c = 0; fr->s->checks[c] != NULL; c++)
                run_check(fr, &g, c, json_at(tests, i));
    }
    group_free(&g);
}

static int run_file(void *arg)
{
    struct file_run *fr = arg;
    const struct json *groups = json_get(fr->root, "testGroups");

    for (size_t i = 0; i < json_count(groups); i++)
        run_group(fr, json_at(groups, i), i);
    return 0;
}

/* The header's count of tests must be what the reader found. */
static void check_count(const struct suite *s, const struct json *root)
{
    size_t n;
    long want;

    CHECK(json_tests_counted(root, &n, &want), "%s: %zu tests read, header says %ld", s->file, n,
          want);
}

static void print_tallies(const struct file_run *fr, long offloadable, const struct rc_stats *d)
{
    for (int c = 0; fr->s->checks[c] != NULL; c++) {
        const struct tally *t = &fr->tally[c];
        char known[64] = "", implicit[64] = "";

        if (t->deviations > 0)
            snprintf(known, sizeof(known), ", %d known OpenSSL deviations", t->deviations);
        if (t->implicit > 0)
            snprintf(implicit, sizeof(implicit), " (%d implicitly, as the default provider)",
                     t->implicit);
        printf("  %-42s %-7s valid %d/%d, invalid rejected %d/%d%s, acceptable %d"
               " (accepted %d, rejected %d)%s\n",
               fr->s->file, fr->s->checks[c]->name, t->accepted[JSON_VALID],
               t->total[JSON_VALID], t->rejected[JSON_INVALID], t->total[JSON_INVALID], implicit,
               t->total[JSON_ACCEPTABLE], t->accepted[JSON_ACCEPTABLE],
               t->rejected[JSON_ACCEPTABLE], known);
    }
    printf("  %-42s offloadable calls %ld, submitted %llu, completed %llu, by the kernel %llu\n",
           fr->s->file, offloadable, (unsigned long long)d->submitted,
           (unsigned long long)d->completed, (unsigned long long)d->kernel_ops);
    fflush(stdout);
}

static void check_offloads(const struct run *r, int mode, const char *file, long offloadable,
                           const struct rc_stats *d)
{
    if (mode == T_NO_JOB) {
        CHECK(d->submitted == 0, "%s: %llu requests submitted outside any job", file,
              (unsigned long long)d->submitted);
        return;
    }
    /*
     * Exactly those: verification, key import, EC key generation, AAD, final
     * and what ringcrypt leaves alone (AES-192, HMAC, HKDF) stay
     * on the caller.
     */
    /* Without a core, the kernel's calls run on the caller's own ring: never submitted. */
    if (mode != T_CORE)
        offloadable -= r->kernel_expected;
    CHECK(d->submitted == (uint64_t)offloadable, "%s: %llu submitted for %ld offloadable calls",
          file, (unsigned long long)d->submitted, offloadable);
    CHECK(d->completed == d->submitted, "%s: %llu completed of %llu submitted", file,
          (unsigned long long)d->completed, (unsigned long long)d->submitted);
    CHECK(d->kernel_ops == (uint64_t)r->kernel_expected, "%s: %llu kernel operations, expected %ld",
          file, (unsigned long long)d->kernel_ops, r->kernel_expected);
}

static void run_suite(struct run *r, const struct suite *s, int mode)
{
    struct file_run fr = { .r = r, .s = s };
    struct rc_stats before, delta;
    struct json *root = load_vectors(r->dir, s->file);

    if (root == NULL)
        return;
    check_count(s, root);
    fr.root = root;
    r->file = s->file;
    r->offloadable = 0;
    r->kernel_expected = 0;
    r->reports = 0;
    rc_stats_total(&before);
    CHECK_EQ(t_run_job(mode, run_file, &fr, FILE_TIMEOUT_MS), 0);
    t_stats_since(&before, &delta);
    print_tallies(&fr, r->offloadable, &delta);
    if (r->reports > MAX_REPORTS)
        fprintf(stderr, "FAIL %s: %d more failures not shown\n", s->file, r->reports - MAX_REPORTS);
    if (t_provider_is_ours())
        check_offloads(r, mode, s->file, r->offloadable, &delta);
    json_free(root);
}

/* RC_WYCHEPROOF_FILES, a space-separated list of files, runs only those (the VM runs the kernel's). */
static bool chosen(const char *file)
{
    const char *only = getenv("RC_WYCHEPROOF_FILES");
    size_t n = strlen(file);

    for (const char *p = only; p != NULL && *p != '\0'; p += strcspn(p, " "), p += *p == ' ')
        if (strncmp(p, file, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return only == NULL || only[0] == '\0';
}

static int vectors(int mode)
{
    struct run r = { .dir = t_wycheproof_dir() };
    struct rc_info info;
    long offloadable = 0;

    r.libctx = t_provider_libctx();
    r.ref = t_reference_libctx();
    if (r.ref == NULL || r.dir == NULL || r.libctx == NULL) {
        t_failures++;
        goto out;
    }
    r.kernel = mode != T_NO_JOB && rc_info(&info) == 0 && strcmp(info.backend, "afalg") == 0;
    printf("  vectors from %s, %s%s\n", r.dir, t_job_mode_name(mode),
           r.kernel ? ", with the kernel's AF_ALG algorithms" : "");
    for (const struct suite *s = suites; s->file != NULL; s++) {
        if (!chosen(s->file))
            continue;
        run_suite(&r, s, mode);
        offloadable += r.offloadable;
    }
    /* Nothing else may have been left on the error queue. */
    CHECK(!t_drain_errors(true), "the runtime raised an error outside any vector");
    CHECK(offloadable > 0, "no offloadable call was made");
out:
    t_provider_free(r.ref);
    t_provider_free(r.libctx);
    return t_failures ? T_FAIL : T_PASS;
}

static int vectors_no_job(void)
{
    return vectors(T_NO_JOB);
}

static int vectors_core_jobs(void)
{
    return vectors(T_CORE);
}

/* Without a core: a worker runs the calls (or, with AF_ALG, drives the kernel from its ring). */
static int vectors_fd_jobs(void)
{
    return vectors(T_FD);
}

/* ---- the reader --------------------------------------------------------------- */

static const char *const bad_json[] = {
    "", "   ", "[", "]", "{", "}", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}",
    "{\"a\":1,\"a\":2}", "{1:2}", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10",
    "NaN", "Infinity", "1e999", "-1e999", "tru", "truex", "nul", "nulll", "[1] x", "[1]]",
    "'a'", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"",
    "\"\\ud800\\u0041\"", "\"\\ud800x\"", "\"a\tb\"", "\"a\nb\"", "\"\xff\"", "\"\xc0\xaf\"",
    "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\"", "\"\x80\"",
    "\xef\xbb\xbf{}",
};

static void reader_rejects(void)
{
    char err[160];

    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        struct json *v = json_parse(bad_json[i], strlen(bad_json[i]), err, sizeof(err));

        CHECK(v == NULL, "accepted <%s>", bad_json[i]);
        CHECK(v != NULL || strncmp(err, "line ", 5) == 0, "<%s>: no position in '%s'",
              bad_json[i], err);
        json_free(v);
    }
    /* A NUL byte is a control character even where strlen would stop. */
    CHECK(json_parse("\"a\0b\"", 5, err, sizeof(err)) == NULL, "accepted a raw NUL");
    CHECK(json_parse("[1,\n  x]", 8, err, sizeof(err)) == NULL
          && strncmp(err, "line 2, column 3:", 17) == 0, "position: '%s'", err);
}

/* depth brackets deep: accepted up to JSON_MAX_DEPTH. */
static void reader_nesting(int depth, bool ok)
{
    char *text = malloc(2 * (size_t)depth);
    struct json *v;

    if (text == NULL) {
        t_failures++;
        return;
    }
    memset(text, '[', (size_t)depth);
    memset(text + depth, ']', (size_t)depth);
    v = json_parse(text, 2 * (size_t)depth, NULL, 0);
    CHECK((v != NULL) == ok, "depth %d: %s", depth, v != NULL ? "accepted" : "rejected");
    json_free(v);
    free(text);
}

static void reader_values(void)
{
    static const char text[] =
        " {\"a\": [1, -2.5e-1, true, false, null, 0, 1E+2],\n"
        "  \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\xc3\xa9\", \"z\\u0000\": \"\\u0000\","
        "  \"h\": \"0aFf\", \"odd\": \"abc\", \"nothex\": \"0g\", \"e\": \"\", \"o\": {}} ";
    struct json *root = json_parse(text, sizeof(text) - 1, NULL, 0);
    const struct json *a = json_get(root, "a");
    unsigned char *hex;
    double d = 0;
    long l = 0;
    size_t n = 99;

    if (root == NULL || root->type != JSON_OBJECT || root->len != 8) {
        CHECK(false, "sample not read");
        json_free(root);
        return;
    }
    CHECK(json_count(a) == 7 && json_num(json_at(a, 1), &d) && d == -0.25, "numbers");
    CHECK(json_int(json_at(a, 6), &l) && l == 100 && !json_int(json_at(a, 1), &l), "integers");
    CHECK(json_at(a, 2)->boolean && json_at(a, 2)->type == JSON_BOOL
          && json_at(a, 4)->type == JSON_NULL && json_at(a, 7) == NULL, "literals");
    CHECK(json_get(root, "s") != NULL && json_get(root, "s")->len == 13
          && memcmp(json_str(json_get(root, "s")), "x\xc3\xa9\xf0\x9f\x98\x80\n\"\\/\xc3\xa9", 13) == 0,
          "escapes");
    CHECK(json_get(root, "z") == NULL && json_get(root, "z\\u0000") == NULL
          && root->key_lens[2] == 2 && json_get(root, "s")->string[13] == '\0', "NUL in keys");
    hex = json_hex(json_get(root, "h"), &n);
    CHECK(hex != NULL && n == 2 && hex[0] == 0x0a && hex[1] == 0xff, "hex");
    free(hex);
    hex = json_hex(json_get(root, "e"), &n);
    CHECK(hex != NULL && n == 0, "empty hex");
    free(hex);
    CHECK(json_hex(json_get(root, "odd"), &n) == NULL && json_hex(json_get(root, "nothex"), &n) == NULL
          && json_hex(json_at(a, 0), &n) == NULL, "bad hex accepted");
    CHECK(json_get(a, "a") == NULL && json_count(root) == 0 && json_str(json_at(a, 0)) == NULL
          && !json_num(json_get(root, "s"), &d) && json_count(json_get(root, "o")) == 0,
          "accessors on the wrong type");
    json_free(root);
}

static int json_reader(void)
{
    reader_values();
    reader_rejects();
    reader_nesting(JSON_MAX_DEPTH, true);
    reader_nesting(JSON_MAX_DEPTH + 1, false);
    return t_failures ? T_FAIL : T_PASS;
}

static const char *const offload_all[] = { "RINGCRYPT_MIN_OFFLOAD_BYTES=0", NULL };

static const struct scenario scenarios[] = {
    { "json_reader", json_reader, NULL },
    { "vectors_no_job", vectors_no_job, offload_all },
    { "vectors_core_jobs", vectors_core_jobs, offload_all },
    { "vectors_fd_jobs", vectors_fd_jobs, offload_all },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main(argc, argv, scenarios);
}
