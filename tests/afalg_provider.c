/*
 * The ringcrypt provider's kernel (AF_ALG) forms against OpenSSL's default
 * provider, on EVP call sequences that do not fit the kernel's one call per
 * message: AAD after data, re-inits that keep the key or IV, a tag or key
 * changed mid-message, TLS IV controls, dup mid-message, several updates,
 * another message after final with no new IV, messages around the kernel's
 * 64 KiB limit, forged tags, bad CBC padding, HMAC for TLS's constant-time
 * record MAC. Runs only inside the VM
 * (tools/vm), where AF_ALG must exist: its absence is a failure, not a skip.
 *
 * Each case's calls run three times: with the default provider in a library
 * context of its own (the reference), then with ringcrypt inside an ASYNC job
 * on a core and in fd mode (no core: the kernel form runs on the caller's
 * thread). Everything a caller can see (return values, lengths, ciphertext,
 * plaintext, tags, MACs, IVs read back) is noted in order, and ringcrypt's
 * notes must equal the reference's. Where the outcome itself is the point
 * (a forged tag, bad padding), it is checked too.
 *
 * Each case also says whether the kernel takes part, as engine/kcipher.h and
 * engine/kdigest.h say it must: the kernel counts a refused tag as its
 * operation; a message whose IV the TLS controls made, a CBC decryption of
 * one padded block (that block is the default provider's), a digest over
 * more than 64 KiB and an HMAC told TLS's data size (constant time) never
 * reach it.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <string.h>

#include "harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define JOB_TIMEOUT_MS 20000
#define MAX_NOTES 32
#define NOTE_MAX 512 /* the longest output noted: 16 blocks of CBC */
#define TAG 16
#define MSG 64
#define TLS_HEADER 13 /* also TLS 1.2's AEAD AAD */
#define BIG 70000     /* past the kernel's 64 KiB */

/* ---- what a caller sees ------------------------------------------------------------ */

struct note {
    const char *what;
    bool is_int;
    long long value;
    size_t len;
    unsigned char bytes[NOTE_MAX];
};

struct tcase;

/* One run of a case: the provider it uses and what it saw. */
struct run {
    OSSL_LIB_CTX *lib;
    const struct tcase *c;
    int nnotes;
    struct note notes[MAX_NOTES];
};

enum kernel { KERNEL, NO_KERNEL };

struct tcase {
    const char *name;
    int (*fn)(void *run);
    enum kernel kernel;
    const char *alg;
    size_t sizes[3]; /* digests: the update lengths; CBC padding: the blocks */
};

/* The default provider: the reference, and the maker of ciphertexts to decrypt. */
static OSSL_LIB_CTX *def_lib;

static const unsigned char key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const unsigned char iv[16] = { 9, 8, 7 };
static const unsigned char aad[TLS_HEADER] = { 0x17, 3, 3 };
static unsigned char pt[NOTE_MAX];
static unsigned char big[BIG];

static struct note *next_note(struct run *r, const char *what)
{
    struct note *n;

    if (r->nnotes == MAX_NOTES) {
        CHECK(false, "%s: more than %d notes", r->c->name, MAX_NOTES);
        return NULL;
    }
    n = &r->notes[r->nnotes++];
    memset(n, 0, sizeof(*n));
    n->what = what;
    return n;
}

static void note(struct run *r, const char *what, const void *bytes, size_t len)
{
    struct note *n = next_note(r, what);

    if (n == NULL)
        return;
    CHECK(len <= NOTE_MAX, "%s: %s is %zu bytes", r->c->name, what, len);
    n->len = len <= NOTE_MAX ? len : NOTE_MAX;
    memcpy(n->bytes, bytes, n->len);
}

static void note_int(struct run *r, const char *what, long long value)
{
    struct note *n = next_note(r, what);

    if (n == NULL)
        return;
    n->is_int = true;
    n->value = value;
}

static const char *show(const struct note *n, char *buf, size_t size)
{
    size_t used = 0;

    if (n->is_int) {
        snprintf(buf, size, "%lld", n->value);
        return buf;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < n->len && used + 3 < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%02x", n->bytes[i]);
    return n->len == 0 ? "(none)" : buf;
}

static bool same_note(const struct note *a, const struct note *b)
{
    return strcmp(a->what, b->what) == 0 && a->is_int == b->is_int && a->value == b->value
           && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static void compare(const struct run *ref, const struct run *got, const char *mode)
{
    static char a[2 * NOTE_MAX + 1], b[2 * NOTE_MAX + 1];

    CHECK(ref->nnotes == got->nnotes, "%s (%s): %d notes, the default provider's %d",
          got->c->name, mode, got->nnotes, ref->nnotes);
    for (int i = 0; i < ref->nnotes && i < got->nnotes; i++) {
        const struct note *x = &ref->notes[i], *y = &got->notes[i];

        CHECK(same_note(x, y), "%s (%s): %s = %s, the default provider's %s = %s", got->c->name,
              mode, y->what, show(y, b, sizeof(b)), x->what, show(x, a, sizeof(a)));
    }
}

/* ---- helpers ----------------------------------------------------------------------- */

/* The default provider's AEAD encryption of pt[0..len) with aad, for decryption cases. */
static bool seal(const char *alg, size_t len, unsigned char *ct, unsigned char *tag)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(def_lib, alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c != NULL && x != NULL && EVP_EncryptInit_ex(x, c, NULL, key, iv)
              && EVP_EncryptUpdate(x, NULL, &n, aad, sizeof(aad))
              && EVP_EncryptUpdate(x, ct, &n, pt, (int)len) && EVP_EncryptFinal_ex(x, ct + n, &f)
              && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG, tag);

    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return ok;
}

/* ---- AEADs ------------------------------------------------------------------------- */

/* GCM forbids AAD after data, ChaCha20-Poly1305 takes it: either way as the default provider. */
static int aead_aad_after_data(void *p)
{
    struct run *r = p;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[MSG + TAG], tag[TAG] = { 0 };
    int n = 0, f = 0, rc;

    if (c == NULL || x == NULL)
        goto out;
    note_int(r, "init", EVP_EncryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "data", EVP_EncryptUpdate(x, out, &n, pt, MSG));
    note(r, "ct", out, (size_t)n);
    note_int(r, "aad after data", EVP_EncryptUpdate(x, NULL, &f, aad, sizeof(aad)));
    rc = EVP_EncryptFinal_ex(x, out, &f);
    note_int(r, "final", rc);
    note_int(r, "final length", f);
    if (rc == 1) {
        note_int(r, "get tag", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG, tag));
        note(r, "tag", tag, TAG);
    }
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL ? 0 : -1;
}

/*
 * Decryption with the tag set before the data and, when after_data, another
 * (wrong) one set after it: final must check the last. forged flips the first.
 */
static int aead_decrypt(struct run *r, bool forged, bool after_data, int updates)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char ct[MSG], tag[TAG], bad[TAG], out[MSG + TAG];
    int n = 0, total = 0, f = 0, rc = 0, piece = MSG / updates;

    if (c == NULL || x == NULL || !seal(r->c->alg, MSG, ct, tag))
        goto out;
    memcpy(bad, tag, TAG);
    bad[0] ^= 1;
    note_int(r, "init", EVP_DecryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "set tag", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG, forged ? bad : tag));
    note_int(r, "aad", EVP_DecryptUpdate(x, NULL, &n, aad, sizeof(aad)));
    for (int i = 0; i < updates; i++) {
        note_int(r, "data", EVP_DecryptUpdate(x, out + total, &n, ct + i * piece, piece));
        total += n;
    }
    /* EVP hands plaintext out before final: the same, and final alone decides. */
    note(r, "plaintext", out, (size_t)total);
    if (after_data)
        note_int(r, "set wrong tag", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG, bad));
    rc = EVP_DecryptFinal_ex(x, out + total, &f);
    note_int(r, "final", rc);
    note_int(r, "final length", f);
    if (forged || after_data)
        CHECK(rc == 0 && f == 0, "%s: a wrong tag accepted (final %d, %d bytes)", r->c->name, rc, f);
    else
        CHECK(rc == 1 && total == MSG && memcmp(out, pt, MSG) == 0, "%s: final %d, %d bytes",
              r->c->name, rc, total);
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL ? 0 : -1;
}

static int aead_tag_after_data(void *p)
{
    return aead_decrypt(p, false, true, 1);
}

static int aead_forged_tag(void *p)
{
    return aead_decrypt(p, true, false, 1);
}

/* The first update goes to the kernel as a whole message, which its tag refutes. */
static int aead_two_updates(void *p)
{
    return aead_decrypt(p, false, false, 2);
}

/*
 * Another message after final, with no new IV: a nonce used twice. GCM
 * refuses it; ChaCha20-Poly1305 starts over on OpenSSL 3.0 and refuses since
 * 4.0. Once a message is refused, what its final says is not compared: the
 * default provider's tag there covers a message it refused.
 */
static int aead_after_final(void *p)
{
    struct run *r = p;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[MSG], tag[TAG];
    int n = 0, f = 0;

    if (c == NULL || x == NULL)
        goto out;
    note_int(r, "init", EVP_EncryptInit_ex(x, c, NULL, key, iv));
    for (int message = 0; message < 2; message++) {
        int took_aad, took_data;

        n = f = 0;
        memset(out, 0, sizeof(out));
        memset(tag, 0, sizeof(tag));
        took_aad = EVP_EncryptUpdate(x, NULL, &n, aad, sizeof(aad));
        note_int(r, "aad", took_aad);
        took_data = EVP_EncryptUpdate(x, out, &n, pt + message * MSG, MSG);
        note_int(r, "data", took_data);
        note(r, "ct", out, (size_t)n);
        if (!took_aad || !took_data)
            break;
        note_int(r, "final", EVP_EncryptFinal_ex(x, out, &f));
        note_int(r, "get tag", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG, tag));
        note(r, "tag", tag, TAG);
    }
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL ? 0 : -1;
}

/* TLS 1.2's GCM IV: the fixed part set after init, the rest generated per record. */
static int gcm_tls_iv(void *p)
{
    static const unsigned char fixed[12] = { 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5, 6, 7, 8 };
    struct run *r = p;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[MSG], tag[TAG], gen[12], now[12];
    int n = 0, f = 0;

    if (c == NULL || x == NULL)
        goto out;
    note_int(r, "init", EVP_EncryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "iv fixed", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IV_FIXED, -1, (void *)fixed));
    for (int record = 0; record < 2; record++) {
        memset(gen, 0, sizeof(gen));
        memset(tag, 0, sizeof(tag));
        memset(now, 0, sizeof(now));
        note_int(r, "iv gen", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_IV_GEN, sizeof(gen), gen));
        note(r, "generated iv", gen, sizeof(gen));
        note_int(r, "get iv", EVP_CIPHER_CTX_get_updated_iv(x, now, sizeof(now)));
        note(r, "iv", now, sizeof(now));
        note_int(r, "aad", EVP_EncryptUpdate(x, NULL, &n, aad, sizeof(aad)));
        note_int(r, "data", EVP_EncryptUpdate(x, out, &n, pt, MSG));
        note(r, "ct", out, (size_t)n);
        note_int(r, "final", EVP_EncryptFinal_ex(x, out, &f));
        note_int(r, "get tag", EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG, tag));
        note(r, "tag", tag, TAG);
    }
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL ? 0 : -1;
}

/* ---- any of the three ciphers ------------------------------------------------------ */

/* A copy made mid-message, after the kernel took the first update; both go on alike. */
static int dup_mid_message(void *p)
{
    struct run *r = p;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new(), *y = EVP_CIPHER_CTX_new(), *ctx[2] = { y, x };
    static const char *const names[2][3] = { { "copy: data", "copy: ct", "copy: tag" },
                                             { "original: data", "original: ct", "original: tag" } };
    unsigned char first[MSG], out[MSG + 2 * TAG], tag[TAG];
    int n = 0, m = 0, f = 0;
    bool aead;

    if (c == NULL || x == NULL || y == NULL)
        goto out;
    aead = EVP_CIPHER_get_mode(c) != EVP_CIPH_CBC_MODE;
    note_int(r, "init", EVP_EncryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "data", EVP_EncryptUpdate(x, first, &n, pt, MSG));
    note(r, "ct", first, (size_t)n);
    note_int(r, "copy", EVP_CIPHER_CTX_copy(y, x));
    for (int i = 0; i < 2; i++) {
        m = f = 0;
        memset(tag, 0, sizeof(tag));
        note_int(r, names[i][0], EVP_EncryptUpdate(ctx[i], out, &m, pt + MSG, 48));
        note_int(r, "final", EVP_EncryptFinal_ex(ctx[i], out + m, &f));
        note(r, names[i][1], out, (size_t)(m + f));
        if (aead) {
            note_int(r, "get tag", EVP_CIPHER_CTX_ctrl(ctx[i], EVP_CTRL_AEAD_GET_TAG, TAG, tag));
            note(r, names[i][2], tag, TAG);
        }
    }
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_CTX_free(y);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL && y != NULL ? 0 : -1;
}

/* ---- AES-CBC ----------------------------------------------------------------------- */

/* A re-init without an IV starts again from init's IV, which the IV params still give. */
static int cbc_reinit_without_iv(void *p)
{
    struct run *r = p;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[MSG], v[16];
    int n = 0;

    if (c == NULL || x == NULL)
        goto out;
    note_int(r, "init", EVP_EncryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "padding off", EVP_CIPHER_CTX_set_padding(x, 0));
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            note_int(r, "re-init", EVP_EncryptInit_ex(x, NULL, NULL, NULL, NULL));
        note_int(r, "data", EVP_EncryptUpdate(x, out, &n, pt, MSG));
        note(r, "ct", out, (size_t)n);
        note_int(r, "get original iv", EVP_CIPHER_CTX_get_original_iv(x, v, sizeof(v)));
        note(r, "original iv", v, sizeof(v));
        note_int(r, "get updated iv", EVP_CIPHER_CTX_get_updated_iv(x, v, sizeof(v)));
        note(r, "updated iv", v, sizeof(v));
    }
    note_int(r, "final", EVP_EncryptFinal_ex(x, out, &n));
    note_int(r, "final length", n);
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return c != NULL && x != NULL ? 0 : -1;
}

/* The default provider's encryption of len bytes of msg, in a context of its own: -1 or the length. */
static int cbc_seal(const char *alg, const unsigned char *msg, size_t len, bool pad, unsigned char *ct)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(def_lib, alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c != NULL && x != NULL && EVP_EncryptInit_ex(x, c, NULL, key, iv)
              && EVP_CIPHER_CTX_set_padding(x, pad) && EVP_EncryptUpdate(x, ct, &n, msg, (int)len)
              && EVP_EncryptFinal_ex(x, ct + n, &f);

    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return ok ? n + f : -1;
}

/*
 * Decryption of sizes[0] bytes with padding: the kernel takes all but the
 * last block, final strips the padding (a whole block of it when sizes[0]
 * is a multiple of 16).
 */
static int cbc_decrypt_padded(void *p)
{
    struct run *r = p;
    int len = (int)r->c->sizes[0], ctlen = (len / 16 + 1) * 16, n = 0, m = 0, rc;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char ct[MSG + 16], out[MSG + 16];
    bool made = c != NULL && x != NULL && cbc_seal(r->c->alg, pt, (size_t)len, true, ct) == ctlen;

    if (!made)
        goto out;
    note_int(r, "init", EVP_DecryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "data", EVP_DecryptUpdate(x, out, &n, ct, ctlen));
    note(r, "plaintext", out, (size_t)n);
    rc = EVP_DecryptFinal_ex(x, out + n, &m);
    note_int(r, "final", rc);
    note(r, "last plaintext", out + n, (size_t)m);
    CHECK(rc == 1 && n + m == len && memcmp(out, pt, (size_t)len) == 0, "%s: final %d, %d bytes",
          r->c->name, rc, n + m);
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return made ? 0 : -1;
}

/* sizes[0] blocks whose last ends in padding 04 07 04 04: final must refuse them. */
static int cbc_bad_padding(void *p)
{
    struct run *r = p;
    size_t len = r->c->sizes[0] * 16;
    EVP_CIPHER *c = EVP_CIPHER_fetch(r->lib, r->c->alg, NULL);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char msg[NOTE_MAX], ct[NOTE_MAX], out[NOTE_MAX];
    int n = 0, m = 0, rc;
    bool made;

    memcpy(msg, pt, len);
    memcpy(msg + len - 4, "\x04\x07\x04\x04", 4);
    made = c != NULL && x != NULL && cbc_seal(r->c->alg, msg, len, false, ct) == (int)len;
    if (!made)
        goto out;
    note_int(r, "init", EVP_DecryptInit_ex(x, c, NULL, key, iv));
    note_int(r, "data", EVP_DecryptUpdate(x, out, &n, ct, (int)len));
    note(r, "plaintext", out, (size_t)n);
    rc = EVP_DecryptFinal_ex(x, out + n, &m);
    note_int(r, "final", rc);
    note_int(r, "final length", m);
    CHECK(rc == 0 && m == 0, "%s: bad padding accepted (final %d, %d bytes)", r->c->name, rc, m);
out:
    EVP_CIPHER_CTX_free(x);
    EVP_CIPHER_free(c);
    return made ? 0 : -1;
}

/* ---- HMAC -------------------------------------------------------------------------- */

/* One MAC of msg with key and the digest, in two updates. */
static int mac_once(struct run *r, const char *digest, const unsigned char *msg, size_t len)
{
    EVP_MAC *m = EVP_MAC_fetch(r->lib, "HMAC", NULL);
    EVP_MAC_CTX *x = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                            OSSL_PARAM_construct_end() };
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t ol = 0;

    if (x == NULL) {
        EVP_MAC_free(m);
        return -1;
    }
    note_int(r, "init", EVP_MAC_init(x, key, sizeof(key), params));
    note_int(r, "update", EVP_MAC_update(x, msg, len / 3));
    note_int(r, "update", EVP_MAC_update(x, msg + len / 3, len - len / 3));
    note_int(r, "final", EVP_MAC_final(x, out, &ol, sizeof(out)));
    note(r, "mac", out, ol);
    EVP_MAC_CTX_free(x);
    EVP_MAC_free(m);
    return 0;
}

static int hmac(void *p)
{
    struct run *r = p;

    return mac_once(r, r->c->alg, pt, 300);
}

/* A re-init without a key keeps it, and the digest named then waits for the next key. */
static int hmac_reinit_new_digest(void *p)
{
    struct run *r = p;
    EVP_MAC *m = EVP_MAC_fetch(r->lib, "HMAC", NULL);
    EVP_MAC_CTX *x = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM d256[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                          OSSL_PARAM_construct_end() };
    OSSL_PARAM d384[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA384", 0),
                          OSSL_PARAM_construct_end() };
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t ol = 0;

    if (x == NULL) {
        EVP_MAC_free(m);
        return -1;
    }
    note_int(r, "init", EVP_MAC_init(x, key, sizeof(key), d256));
    note_int(r, "update", EVP_MAC_update(x, pt, 100));
    note_int(r, "final", EVP_MAC_final(x, out, &ol, sizeof(out)));
    note(r, "mac", out, ol);
    note_int(r, "re-init", EVP_MAC_init(x, NULL, 0, d384));
    note_int(r, "size", (long long)EVP_MAC_CTX_get_mac_size(x));
    note_int(r, "update", EVP_MAC_update(x, pt, 100));
    ol = 0;
    note_int(r, "final", EVP_MAC_final(x, out, &ol, sizeof(out)));
    note(r, "mac", out, ol);
    EVP_MAC_CTX_free(x);
    EVP_MAC_free(m);
    return 0;
}

/* A key set through set_params mid-message starts a new message. */
static int hmac_key_mid_message(void *p)
{
    struct run *r = p;
    EVP_MAC *m = EVP_MAC_fetch(r->lib, "HMAC", NULL);
    EVP_MAC_CTX *x = m != NULL ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM d256[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                          OSSL_PARAM_construct_end() };
    OSSL_PARAM k2[] = { OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)iv, 16),
                        OSSL_PARAM_construct_end() };
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t ol = 0;

    if (x == NULL) {
        EVP_MAC_free(m);
        return -1;
    }
    note_int(r, "init", EVP_MAC_init(x, key, sizeof(key), d256));
    note_int(r, "update", EVP_MAC_update(x, pt, 100));
    note_int(r, "new key", EVP_MAC_CTX_set_params(x, k2));
    note_int(r, "update", EVP_MAC_update(x, pt + 100, 50));
    note_int(r, "final", EVP_MAC_final(x, out, &ol, sizeof(out)));
    note(r, "mac", out, ol);
    EVP_MAC_CTX_free(x);
    EVP_MAC_free(m);
    return 0;
}

/*
 * libssl's MAC of a received CBC record: the data size with MAC and padding
 * given (after init, as libssl does, or in init's params), then the header
 * and the record. Only the default provider's constant-time code may do it.
 */
static int hmac_tls_data_size(void *p)
{
    struct run *r = p;
    size_t data = 100, whole = data + 32 + 12; /* the record, its MAC and 12 bytes of padding */
    EVP_MAC *m = EVP_MAC_fetch(r->lib, "HMAC", NULL);
    unsigned char out[EVP_MAX_MD_SIZE];

    if (m == NULL)
        return -1;
    for (int in_init = 0; in_init < 2; in_init++) {
        EVP_MAC_CTX *x = EVP_MAC_CTX_new(m);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
            OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, &whole),
            OSSL_PARAM_construct_end(),
        };
        size_t ol = 0;

        if (x == NULL) {
            EVP_MAC_free(m);
            return -1;
        }
        if (in_init) {
            note_int(r, "init with data size", EVP_MAC_init(x, key, sizeof(key), params));
        } else {
            params[1] = OSSL_PARAM_construct_end();
            note_int(r, "init", EVP_MAC_init(x, key, sizeof(key), params));
            params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_TLS_DATA_SIZE, &whole);
            note_int(r, "set data size", EVP_MAC_CTX_set_params(x, params));
        }
        note_int(r, "header", EVP_MAC_update(x, aad, sizeof(aad)));
        note_int(r, "record", EVP_MAC_update(x, pt, data));
        note_int(r, "final", EVP_MAC_final(x, out, &ol, sizeof(out)));
        note(r, "mac", out, ol);
        EVP_MAC_CTX_free(x);
    }
    EVP_MAC_free(m);
    return 0;
}

/* ---- digests ----------------------------------------------------------------------- */

/* The digest of big's first bytes, given in updates of sizes[] (0 ends them). */
static int digest(void *p)
{
    struct run *r = p;
    EVP_MD *md = EVP_MD_fetch(r->lib, r->c->alg, NULL);
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int ol = 0;
    size_t done = 0;

    if (md == NULL || x == NULL) {
        EVP_MD_CTX_free(x);
        EVP_MD_free(md);
        return -1;
    }
    note_int(r, "init", EVP_DigestInit_ex(x, md, NULL));
    for (size_t i = 0; i < ARRAY_LEN(r->c->sizes) && r->c->sizes[i] > 0; i++) {
        note_int(r, "update", EVP_DigestUpdate(x, big + done, r->c->sizes[i]));
        done += r->c->sizes[i];
    }
    note_int(r, "final", EVP_DigestFinal_ex(x, out, &ol));
    note(r, "digest", out, ol);
    EVP_MD_CTX_free(x);
    EVP_MD_free(md);
    return 0;
}

/* ---- running cases ----------------------------------------------------------------- */

static const struct tcase aead_cases[] = {
    { "gcm_aad_after_data", aead_aad_after_data, KERNEL, "AES-128-GCM", { 0 } },
    { "chacha_aad_after_data", aead_aad_after_data, KERNEL, "ChaCha20-Poly1305", { 0 } },
    { "gcm_tag_set_after_data", aead_tag_after_data, KERNEL, "AES-128-GCM", { 0 } },
    { "gcm_forged_tag", aead_forged_tag, KERNEL, "AES-128-GCM", { 0 } },
    { "chacha_forged_tag", aead_forged_tag, KERNEL, "ChaCha20-Poly1305", { 0 } },
    { "gcm_two_updates", aead_two_updates, KERNEL, "AES-128-GCM", { 0 } },
    { "gcm_message_after_final", aead_after_final, KERNEL, "AES-128-GCM", { 0 } },
    { "chacha_message_after_final", aead_after_final, KERNEL, "ChaCha20-Poly1305", { 0 } },
    { "gcm_tls_iv_fixed_and_gen", gcm_tls_iv, NO_KERNEL, "AES-128-GCM", { 0 } },
    { "gcm_dup_mid_message", dup_mid_message, KERNEL, "AES-256-GCM", { 0 } },
    { "chacha_dup_mid_message", dup_mid_message, KERNEL, "ChaCha20-Poly1305", { 0 } },
};

static const struct tcase cbc_cases[] = {
    { "cbc_reinit_without_iv", cbc_reinit_without_iv, KERNEL, "AES-128-CBC", { 0 } },
    { "cbc_dup_mid_message", dup_mid_message, KERNEL, "AES-256-CBC", { 0 } },
    { "cbc_decrypt_padded", cbc_decrypt_padded, KERNEL, "AES-128-CBC", { 40 } },
    { "cbc_decrypt_padding_one_block", cbc_decrypt_padded, KERNEL, "AES-128-CBC", { 48 } },
    { "cbc_bad_padding_one_block", cbc_bad_padding, NO_KERNEL, "AES-128-CBC", { 1 } },
    { "cbc_bad_padding_many_blocks", cbc_bad_padding, KERNEL, "AES-128-CBC", { 16 } },
};

static const struct tcase mac_cases[] = {
    { "hmac_sha256", hmac, KERNEL, "SHA256", { 0 } },
    { "hmac_sha384", hmac, KERNEL, "SHA384", { 0 } },
    { "hmac_reinit_null_key_new_digest", hmac_reinit_new_digest, KERNEL, NULL, { 0 } },
    { "hmac_key_set_mid_message", hmac_key_mid_message, KERNEL, NULL, { 0 } },
    { "hmac_tls_data_size", hmac_tls_data_size, NO_KERNEL, NULL, { 0 } },
};

static const struct tcase digest_cases[] = {
    { "sha256_over_64k_in_pieces", digest, NO_KERNEL, "SHA2-256", { 60000, 6000, 4000 } },
    { "sha256_exactly_64k", digest, KERNEL, "SHA2-256", { 65536 } },
    { "sha256_exactly_64k_in_pieces", digest, KERNEL, "SHA2-256", { 32768, 32768 } },
    { "sha384", digest, KERNEL, "SHA2-384", { 1000, 24 } },
    { "sha512", digest, KERNEL, "SHA2-512", { 1000, 24 } },
};

static const char *const kernel_algs[] = {
    "gcm(aes)", "rfc7539(chacha20,poly1305)", "cbc(aes)", "sha256", "sha384", "sha512",
    "hmac(sha256)", "hmac(sha384)",
};

/* The reference and the two runs are big: kept off the jobs' small stacks. */
static struct run ref, got;

static void run_case(const struct tcase *c, OSSL_LIB_CTX *rc_lib)
{
    static const int modes[] = { T_CORE, T_FD };
    unsigned long long kernel[ARRAY_LEN(modes)];

    ref = (struct run){ .lib = def_lib, .c = c };
    CHECK(c->fn(&ref) == 0, "%s: the default provider's run could not start", c->name);
    ERR_clear_error();
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        const char *mode = t_job_mode_name(modes[i]);
        struct rc_stats before, d;
        int rc;

        got = (struct run){ .lib = rc_lib, .c = c };
        rc_stats_total(&before);
        rc = t_run_job(modes[i], c->fn, &got, JOB_TIMEOUT_MS);
        t_stats_since(&before, &d);
        CHECK(rc == 0, "%s (%s): job returned %d", c->name, mode, rc);
        ERR_clear_error();
        compare(&ref, &got, mode);
        kernel[i] = (unsigned long long)d.kernel_ops;
        if (c->kernel == KERNEL)
            CHECK(d.kernel_ops > 0, "%s (%s): the kernel did nothing", c->name, mode);
        else
            CHECK(d.kernel_ops == 0, "%s (%s): %llu kernel operations, none expected", c->name,
                  mode, kernel[i]);
    }
    printf("    %-34s kernel ops: core %llu, fd %llu\n", c->name, kernel[0], kernel[1]);
}

static int run_cases(const struct tcase *cases, size_t n)
{
    OSSL_LIB_CTX *rc_lib = t_provider_libctx();
    OSSL_PROVIDER *dflt = NULL;
    struct rc_info info;

    def_lib = OSSL_LIB_CTX_new();
    if (def_lib != NULL)
        dflt = OSSL_PROVIDER_load(def_lib, "default");
    if (rc_lib == NULL || dflt == NULL) {
        t_print_errors("provider");
        t_provider_free(rc_lib);
        OSSL_LIB_CTX_free(def_lib);
        return T_FAIL;
    }
    CHECK_EQ(rc_info(&info), 0);
    CHECK(strcmp(info.backend, "afalg") == 0, "backend '%s'", info.backend);
    /* A case that quietly stayed in software would prove nothing. */
    for (size_t i = 0; i < ARRAY_LEN(kernel_algs); i++)
        CHECK(rc_kernel_uses(kernel_algs[i]) == 1, "the runtime does not use %s", kernel_algs[i]);
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (unsigned char)(i * 7 + 0x42);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 13 + i / 251);
    if (t_failures == 0)
        for (size_t i = 0; i < n; i++)
            run_case(&cases[i], rc_lib);
    t_provider_free(rc_lib);
    /* The context would not drop the reference the load took. */
    OSSL_PROVIDER_unload(dflt);
    OSSL_LIB_CTX_free(def_lib);
    return t_failures == 0 ? T_PASS : T_FAIL;
}

static int aead(void)
{
    return run_cases(aead_cases, ARRAY_LEN(aead_cases));
}

static int cbc(void)
{
    return run_cases(cbc_cases, ARRAY_LEN(cbc_cases));
}

static int mac(void)
{
    return run_cases(mac_cases, ARRAY_LEN(mac_cases));
}

static int digests(void)
{
    return run_cases(digest_cases, ARRAY_LEN(digest_cases));
}

static const char *const afalg[] = { "RINGCRYPT_BACKEND=afalg", NULL };

static const struct scenario scenarios[] = {
    { "aead", aead, afalg },
    { "cbc", cbc, afalg },
    { "mac", mac, afalg },
    { "digests", digests, afalg },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    return t_main_afalg(argc, argv, scenarios);
}
