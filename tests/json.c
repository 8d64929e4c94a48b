/*
 * The strict JSON reader of json.h: recursive descent over the whole text,
 * each container's members in one growing array, every error reported with
 * its line and column.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    char *err;
    size_t errsize;
    bool failed;
};

/* Records the first error only: the innermost one says what went wrong. */
__attribute__((format(printf, 2, 3))) static bool fail(struct parser *p, const char *fmt, ...)
{
    size_t line = 1, col = 1, n;
    va_list ap;

    if (p->failed)
        return false;
    p->failed = true;
    if (p->err == NULL || p->errsize == 0)
        return false;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    n = (size_t)snprintf(p->err, p->errsize, "line %zu, column %zu: ", line, col);
    if (n < p->errsize) {
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errsize - n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'
                               || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static int peek(const struct parser *p)
{
    return p->pos < p->len ? p->s[p->pos] : -1;
}

static bool parse_value(struct parser *p, struct json *out);

/* ---- literals and numbers ------------------------------------------------ */

static bool parse_word(struct parser *p, const char *word)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character '%c'", p->s[p->pos]);
    p->pos += n;
    return true;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool digits(struct parser *p, const char *what)
{
    if (!is_digit(peek(p)))
        return fail(p, "a digit must follow %s", what);
    while (is_digit(peek(p)))
        p->pos++;
    return true;
}

static bool parse_number(struct parser *p, struct json *out)
{
    size_t start = p->pos;
    char *copy;

    if (peek(p) == '-')
        p->pos++;
    if (peek(p) == '0') {
        p->pos++;
        if (is_digit(peek(p)))
            return fail(p, "leading zero in a number");
    } else if (!digits(p, "the sign")) {
        return false;
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!digits(p, "the decimal point"))
            return false;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-')
            p->pos++;
        if (!digits(p, "the exponent"))
            return false;
    }
    /* strtod wants a terminated string; the grammar was checked above. */
    copy = strndup((const char *)p->s + start, p->pos - start);
    if (copy == NULL)
        return fail(p, "out of memory");
    out->type = JSON_NUMBER;
    out->number = strtod(copy, NULL);
    free(copy);
    if (isinf(out->number)) {
        p->pos = start;
        return fail(p, "number out of range");
    }
    return true;
}

/* ---- strings -------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        lo = s[0] == 0xe0 ? 0xa0 : lo;    /* overlong */
        hi = s[0] == 0xed ? 0x9f : hi;    /* surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        lo = s[0] == 0xf0 ? 0x90 : lo;    /* overlong */
        hi = s[0] == 0xf4 ? 0x8f : hi;    /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits of a \u escape whose 'u' is at pos. */
static bool read_u4(struct parser *p, uint32_t *out)
{
    *out = 0;
    p->pos++;
    for (int i = 0; i < 4; i++, p->pos++) {
        int d = hex_digit(peek(p));

        if (d < 0)
            return fail(p, "\\u needs four hex digits");
        *out = *out << 4 | (uint32_t)d;
    }
    return true;
}

/* A \u escape (pos at the 'u'), surrogate pairs joined; lone surrogates refused. */
static bool read_unicode(struct parser *p, uint32_t *cp)
{
    uint32_t low;

    if (!read_u4(p, cp))
        return false;
    if (*cp >= 0xdc00 && *cp <= 0xdfff)
        return fail(p, "low surrogate without a high one");
    if (*cp < 0xd800 || *cp > 0xdbff)
        return true;
    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
        return fail(p, "high surrogate without a low one");
    p->pos++;
    if (!read_u4(p, &low))
        return false;
    if (low < 0xdc00 || low > 0xdfff)
        return fail(p, "high surrogate without a low one");
    *cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
    return true;
}

/* One escape (pos at the backslash), written to out; returns the bytes written or 0. */
static size_t read_escape(struct parser *p, char *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *at;
    uint32_t cp;

    p->pos++;
    if (peek(p) == 'u')
        return read_unicode(p, &cp) ? put_utf8(out, cp) : 0;
    at = peek(p) > 0 ? strchr(from, peek(p)) : NULL;
    if (at == NULL) {
        fail(p, "bad escape");
        return 0;
    }
    *out = to[at - from];
    p->pos++;
    return 1;
}

/* The raw length up to the closing quote: the decoded text is never longer. */
static bool raw_extent(struct parser *p, size_t *raw)
{
    size_t i = p->pos;

    while (i < p->len && p->s[i] != '"')
        i += p->s[i] == '\\' ? 2 : 1;
    if (i >= p->len)
        return fail(p, "unterminated string");
    *raw = i - p->pos;
    return true;
}

/* A string (pos at the opening quote) into a new buffer. */
static bool parse_string(struct parser *p, char **str, size_t *len)
{
    size_t raw = 0, n = 0;
    char *buf;

    p->pos++;
    if (!raw_extent(p, &raw))
        return false;
    buf = malloc(raw + 1);
    if (buf == NULL)
        return fail(p, "out of memory");
    while (peek(p) != '"') {
        const unsigned char c = p->s[p->pos];
        size_t k;

        if (c < 0x20) {
            fail(p, "control character in a string");
            goto bad;
        }
        if (c == '\\') {
            k = read_escape(p, buf + n);
            if (k == 0)
                goto bad;
            n += k;
            continue;
        }
        k = c < 0x80 ? 1 : utf8_seq(p->s + p->pos, p->len - p->pos);
        if (k == 0) {
            fail(p, "invalid UTF-8");
            goto bad;
        }
        memcpy(buf + n, p->s + p->pos, k);
        n += k;
        p->pos += k;
    }
    p->pos++;
    buf[n] = '\0';
    *str = buf;
    *len = n;
    return true;
bad:
    free(buf);
    return false;
}

/* ---- containers ----------------------------------------------------------- */

static void free_contents(struct json *v)
{
    for (size_t i = 0; v->items != NULL && i < v->len; i++)
        free_contents(&v->items[i]);
    for (size_t i = 0; v->keys != NULL && i < v->len; i++)
        free(v->keys[i]);
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->string);
}

/* Room for one more member (with a key slot for objects). */
static bool grow(struct parser *p, struct json *v, size_t *cap)
{
    size_t ncap = *cap == 0 ? 8 : *cap * 2;
    struct json *items;

    if (v->len < *cap)
        return true;
    items = realloc(v->items, ncap * sizeof(*items));
    if (items == NULL)
        return fail(p, "out of memory");
    v->items = items;
    if (v->type == JSON_OBJECT) {
        char **keys = realloc(v->keys, ncap * sizeof(*keys));
        size_t *lens;

        if (keys == NULL)
            return fail(p, "out of memory");
        v->keys = keys;
        lens = realloc(v->key_lens, ncap * sizeof(*lens));
        if (lens == NULL)
            return fail(p, "out of memory");
        v->key_lens = lens;
    }
    *cap = ncap;
    return true;
}

static bool has_key(const struct json *obj, const char *key, size_t len)
{
    for (size_t i = 0; i < obj->len; i++)
        if (obj->key_lens[i] == len && memcmp(obj->keys[i], key, len) == 0)
            return true;
    return false;
}

/* An object's "key": part, the key stored at obj->keys[obj->len]. */
static bool parse_key(struct parser *p, struct json *obj)
{
    size_t at = p->pos, len;
    char *key;

    if (peek(p) != '"')
        return fail(p, "expected a string key");
    if (!parse_string(p, &key, &len))
        return false;
    if (has_key(obj, key, len)) {
        free(key);
        p->pos = at;
        return fail(p, "duplicate key");
    }
    obj->keys[obj->len] = key;
    obj->key_lens[obj->len] = len;
    skip_ws(p);
    if (peek(p) != ':') {
        free(key);
        return fail(p, "expected ':'");
    }
    p->pos++;
    return true;
}

/* An array or object (pos at its opening bracket); close is ']' or '}'. */
static bool parse_container(struct parser *p, struct json *v, int close)
{
    size_t cap = 0;

    p->pos++;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        return true;
    }
    for (;;) {
        skip_ws(p);
        if (!grow(p, v, &cap))
            return false;
        if (v->type == JSON_OBJECT && !parse_key(p, v))
            return false;
        memset(&v->items[v->len], 0, sizeof(v->items[0]));
        if (!parse_value(p, &v->items[v->len])) {
            /* The failed member is complete enough to free (its key too). */
            v->len++;
            return false;
        }
        v->len++;
        skip_ws(p);
        if (peek(p) == close) {
            p->pos++;
            return true;
        }
        if (peek(p) != ',')
            return fail(p, "expected ',' or '%c'", close);
        p->pos++;
    }
}

static bool parse_value(struct parser *p, struct json *out)
{
    bool ok;

    skip_ws(p);
    switch (peek(p)) {
    case -1:
        return fail(p, "unexpected end of input");
    case '{':
    case '[':
        if (++p->depth > JSON_MAX_DEPTH)
            return fail(p, "nested deeper than %d", JSON_MAX_DEPTH);
        out->type = peek(p) == '{' ? JSON_OBJECT : JSON_ARRAY;
        ok = parse_container(p, out, out->type == JSON_OBJECT ? '}' : ']');
        p->depth--;
        return ok;
    case '"':
        out->type = JSON_STRING;
        return parse_string(p, &out->string, &out->len);
    case 't':
        out->type = JSON_BOOL;
        out->boolean = true;
        return parse_word(p, "true");
    case 'f':
        out->type = JSON_BOOL;
        return parse_word(p, "false");
    case 'n':
        out->type = JSON_NULL;
        return parse_word(p, "null");
    default:
        if (peek(p) == '-' || is_digit(peek(p)))
            return parse_number(p, out);
        return fail(p, "unexpected character '%c'", peek(p));
    }
}

/* ---- entry points --------------------------------------------------------- */

struct json *json_parse(const char *text, size_t len, char *err, size_t errsize)
{
    struct parser p = { .s = (const unsigned char *)text, .len = len, .err = err,
                        .errsize = errsize };
    struct json *root = calloc(1, sizeof(*root));

    if (err != NULL && errsize > 0)
        err[0] = '\0';
    if (root == NULL) {
        fail(&p, "out of memory");
        return NULL;
    }
    if (parse_value(&p, root)) {
        skip_ws(&p);
        if (p.pos == p.len)
            return root;
        fail(&p, "trailing characters after the value");
    }
    json_free(root);
    return NULL;
}

struct json *json_load(const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    struct json *root = NULL;
    char *text = NULL, inner[256];
    long size;

    if (f == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errsize, "%s: cannot tell its size", path);
        goto out;
    }
    text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errsize, "%s: cannot read it", path);
        goto out;
    }
    root = json_parse(text, (size_t)size, inner, sizeof(inner));
    if (root == NULL)
        snprintf(err, errsize, "%s: %s", path, inner);
out:
    free(text);
    fclose(f);
    return root;
}

void json_free(struct json *v)
{
    if (v == NULL)
        return;
    free_contents(v);
    free(v);
}

const struct json *json_get(const struct json *v, const char *key)
{
    size_t len = strlen(key);

    if (v == NULL || v->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (v->key_lens[i] == len && memcmp(v->keys[i], key, len) == 0)
            return &v->items[i];
    return NULL;
}

size_t json_count(const struct json *v)
{
    return v != NULL && v->type == JSON_ARRAY ? v->len : 0;
}

const struct json *json_at(const struct json *v, size_t i)
{
    return i < json_count(v) ? &v->items[i] : NULL;
}

const char *json_str(const struct json *v)
{
    return v != NULL && v->type == JSON_STRING ? v->string : NULL;
}

bool json_num(const struct json *v, double *out)
{
    if (v == NULL || v->type != JSON_NUMBER)
        return false;
    *out = v->number;
    return true;
}

bool json_int(const struct json *v, long *out)
{
    double d;

    /* Beyond 2^53 a double no longer tells neighbouring integers apart. */
    if (!json_num(v, &d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return false;
    *out = (long)d;
    return true;
}

unsigned char *json_hex(const struct json *v, size_t *len)
{
    const char *s = json_str(v);
    unsigned char *buf;

    if (s == NULL || v->len % 2 != 0)
        return NULL;
    buf = malloc(v->len / 2 + 1);
    if (buf == NULL)
        return NULL;
    for (size_t i = 0; i < v->len / 2; i++) {
        int hi = hex_digit((unsigned char)s[2 * i]), lo = hex_digit((unsigned char)s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(buf);
            return NULL;
        }
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = v->len / 2;
    return buf;
}

void json_free_fields(struct json_bytes *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].p);
        f[i].p = NULL;
    }
}

bool json_hex_fields(const struct json *obj, const char *const *names, size_t n,
                     struct json_bytes *f)
{
    for (size_t i = 0; i < n; i++) {
        f[i].p = json_hex(json_get(obj, names[i]), &f[i].n);
        if (f[i].p == NULL) {
            json_free_fields(f, i);
            return false;
        }
    }
    return true;
}

bool json_hex_field(const struct json *obj, const char *key, struct json_bytes *b)
{
    b->p = json_hex(json_get(obj, key), &b->n);
    return b->p != NULL;
}

bool json_bytes_eq(const unsigned char *a, size_t n, const struct json_bytes *b)
{
    return n == b->n && memcmp(a, b->p, n) == 0;
}

const char *const json_result_names[JSON_NRESULTS] = { "valid", "invalid", "acceptable" };

int json_result_of(const struct json *t)
{
    const char *s = json_str(json_get(t, "result"));

    for (int i = 0; s != NULL && i < JSON_NRESULTS; i++)
        if (strcmp(s, json_result_names[i]) == 0)
            return i;
    return -1;
}

struct json *json_load_vectors(const char *dir, const char *name, char *err, size_t errsize)
{
    char path[4400];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return json_load(path, err, errsize);
}

bool json_tests_counted(const struct json *root, size_t *n, long *header)
{
    const struct json *groups = json_get(root, "testGroups");

    *n = 0;
    *header = -1;
    for (size_t i = 0; i < json_count(groups); i++)
        *n += json_count(json_get(json_at(groups, i), "tests"));
    return json_int(json_get(root, "numberOfTests"), header) && *header > 0
           && (size_t)*header == *n;
}
