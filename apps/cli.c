#include "cli.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ringcrypt.h"

int cli_next(struct cli *c)
{
    int ch;

    /* '+': no permutation, so c->at is where the option starts; ':': a missing value is told apart. */
    opterr = 0;
    c->at = optind;
    c->index = -1;
    ch = getopt_long(c->argc, c->argv, "+:", c->longs, &c->index);
    switch (ch) {
    case -1:
        c->status = optind < c->argc ? cli_bad(c, c->argv[optind], "unexpected argument") : CLI_RUN;
        return -1;
    case CLI_HELP:
        c->usage(stdout);
        c->status = CLI_EXIT_OK;
        return -1;
    case CLI_VERSION:
        printf("%s %s\n", c->name, RINGCRYPT_VERSION_STRING);
        c->status = CLI_EXIT_OK;
        return -1;
    case ':':
        cli_bad(c, c->argv[c->at], "needs a value");
        return -1;
    case '?':
        /* A known long option given a value it does not take has its val in optopt. */
        if (optopt != 0 && strncmp(c->argv[c->at], "--", 2) == 0)
            cli_bad(c, c->argv[c->at], "takes no value");
        else
            cli_bad(c, c->argv[c->at], "unknown or ambiguous option");
        return -1;
    default:
        return ch;
    }
}

int cli_bad(struct cli *c, const char *option, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", c->name);
    if (option != NULL)
        fprintf(stderr, "%s: ", option);
    else if (optarg != NULL)
        fprintf(stderr, "--%s %s: ", c->longs[c->index].name, optarg);
    else
        fprintf(stderr, "--%s: ", c->longs[c->index].name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->usage(stderr);
    c->status = CLI_EXIT_USAGE;
    return CLI_EXIT_USAGE;
}

static bool parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && *out >= lo && *out <= hi;
}

bool cli_number(struct cli *c, double lo, double hi, double *out)
{
    if (parse_number(optarg, lo, hi, out))
        return true;
    cli_bad(c, NULL, "not a number from %g to %g", lo, hi);
    return false;
}

bool cli_count(struct cli *c, unsigned int lo, unsigned int hi, unsigned int *out)
{
    double v;

    if (parse_number(optarg, lo, hi, &v) && v == (double)(unsigned int)v) {
        *out = (unsigned int)v;
        return true;
    }
    cli_bad(c, NULL, "not a whole number from %u to %u", lo, hi);
    return false;
}

bool cli_choice(struct cli *c, const char *const *names, unsigned int n, unsigned int *out)
{
    char list[512] = "";
    size_t len = 0;

    for (unsigned int i = 0; i < n; i++) {
        if (strcmp(optarg, names[i]) == 0) {
            *out = i;
            return true;
        }
        if (len < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i > 0 ? ", " : "", names[i]);
    }
    cli_bad(c, NULL, "not one of %s", list);
    return false;
}

bool cli_groups(struct cli *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    char one[128] = "";
    bool ok = ctx != NULL && SSL_CTX_set1_groups_list(ctx, optarg) == 1;

    /* Which one is wrong: each name alone. */
    for (const char *p = optarg; ctx != NULL && !ok && *p != '\0';) {
        size_t len = strcspn(p, ":");

        snprintf(one, sizeof(one), "%.*s", (int)len, p);
        if (len > 0 && SSL_CTX_set1_groups_list(ctx, one) != 1)
            break;
        p += len + (p[len] == ':');
        one[0] = '\0';
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    if (ok)
        return true;
    if (one[0] != '\0')
        cli_bad(c, NULL, "OpenSSL %s has no TLS group %s (openssl list -tls-groups)",
                OpenSSL_version(OPENSSL_VERSION_STRING), one);
    else
        cli_bad(c, NULL, "not a list of TLS groups (name:name:...)");
    return false;
}
