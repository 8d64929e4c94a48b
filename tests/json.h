/*
 * A small, strict JSON reader (RFC 8259) for the test vectors: a whole text
 * becomes a tree, or nothing. Refused: trailing commas, leading zeros, bare
 * words, control characters and bad escapes in strings, lone surrogates,
 * invalid UTF-8, numbers beyond double's range, duplicate keys, nesting
 * deeper than JSON_MAX_DEPTH, anything but white space after the value.
 */
#ifndef RC_TEST_JSON_H
#define RC_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_MAX_DEPTH 64

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
    enum json_type type;
    bool boolean;
    double number;
    char *string;        /* UTF-8, NUL-terminated; \u0000 may put NULs inside: see len */
    size_t len;          /* a string's bytes; an array's or object's members */
    struct json *items;  /* an array's elements or an object's values, in order */
    char **keys;         /* an object's keys (NUL-terminated), parallel to items */
    size_t *key_lens;
};

/*
 * Parses text[0..len). NULL on any error, with "line L, column C: reason" in
 * err (errsize bytes). The tree is the caller's to json_free.
 */
struct json *json_parse(const char *text, size_t len, char *err, size_t errsize);

/* Reads and parses a whole file; errors as json_parse (with the file's name). */
struct json *json_load(const char *path, char *err, size_t errsize);

void json_free(struct json *v);

/* An object's member; NULL if v is not an object or has no such key. */
const struct json *json_get(const struct json *v, const char *key);

/* An array's length; 0 if v is not an array. */
size_t json_count(const struct json *v);

/* An array's element i; NULL if v is not an array or i is out of range. */
const struct json *json_at(const struct json *v, size_t i);

/* A string's text; NULL if v is not a string. */
const char *json_str(const struct json *v);

/* A number's value; false if v is not a number. */
bool json_num(const struct json *v, double *out);

/* A number that is a whole value exactly representable in a long; false otherwise. */
bool json_int(const struct json *v, long *out);

/*
 * Decodes a string of hex digits (either case, even length). Returns a
 * malloc'ed buffer of *len bytes (never NULL on success, even when empty),
 * or NULL if v is not such a string or memory ran out.
 */
unsigned char *json_hex(const struct json *v, size_t *len);

/* Bytes decoded from a hex member. */
struct json_bytes {
    unsigned char *p;
    size_t n;
};

/* Decodes the hex members names[0..n) of obj into f: all of them (true) or none. */
bool json_hex_fields(const struct json *obj, const char *const *names, size_t n,
                     struct json_bytes *f);
void json_free_fields(struct json_bytes *f, size_t n);

/* Decodes obj's hex member key into b: false (b->p NULL) if it is not such a string. */
bool json_hex_field(const struct json *obj, const char *key, struct json_bytes *b);

/* Whether a[0..n) is b, byte for byte. */
bool json_bytes_eq(const unsigned char *a, size_t n, const struct json_bytes *b);

/* ---- Wycheproof's files -------------------------------------------------- */

/* A vector's "result". */
enum json_result { JSON_VALID, JSON_INVALID, JSON_ACCEPTABLE, JSON_NRESULTS };

extern const char *const json_result_names[JSON_NRESULTS];

/* Vector t's result; -1 if it has none of those. */
int json_result_of(const struct json *t);

/* Loads dir/name; errors as json_load. */
struct json *json_load_vectors(const char *dir, const char *name, char *err, size_t errsize);

/*
 * Counts the tests of root's testGroups into *n: true if the header's
 * numberOfTests says as many (and some).
 */
bool json_tests_counted(const struct json *root, size_t *n, long *header);

#endif
