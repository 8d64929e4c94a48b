/*
 * The command line of ringcrypt-echo, ringcrypt-load and ringcrypt-bench:
 * long options only; --help prints the usage to stdout and exits 0;
 * --version prints "NAME VERSION" and exits 0; anything wrong names the
 * option and the reason on stderr, then the usage, and exits 2.
 */
#ifndef RC_APPS_CLI_H
#define RC_APPS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* The values of --help and --version: above every character an application uses. */
enum { CLI_HELP = 0x100, CLI_VERSION };

/* Every application's table of long options ends with these, then a zero entry. */
#define CLI_STANDARD_OPTIONS \
    { "help", no_argument, NULL, CLI_HELP }, { "version", no_argument, NULL, CLI_VERSION }

/* What parsing decided: run, or exit with the status (after --help or --version, or an error). */
enum { CLI_RUN = -1, CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 2 };

struct cli {
    const char *name;               /* the program, in messages and for --version */
    void (*usage)(FILE *out);
    const struct option *longs;
    int argc;
    char **argv;
    int at;                         /* argv's index of the option being handled */
    int index;                      /* its entry in longs */
    int status;                     /* once cli_next has returned -1: CLI_RUN or the exit status */
};

/*
 * The next option's val, its value (if any) in optarg; -1 when the options
 * are over, with c->status CLI_RUN, or the exit status after --help,
 * --version or an error reported here (an unknown option, a missing value,
 * an argument that is no option).
 */
int cli_next(struct cli *c);

/*
 * Reports what is wrong with option (NULL: the one being handled, with its
 * value if it has one) on stderr, then the usage. Returns CLI_EXIT_USAGE.
 */
int cli_bad(struct cli *c, const char *option, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The current option's value as a number, a whole number, or one of n names: false once reported. */
bool cli_number(struct cli *c, double lo, double hi, double *out);
bool cli_count(struct cli *c, unsigned int lo, unsigned int hi, unsigned int *out);
bool cli_choice(struct cli *c, const char *const *names, unsigned int n, unsigned int *out);

/*
 * The current option's value as a colon-separated list of TLS groups
 * (SSL_CTX_set1_groups_list's syntax), every one known to this OpenSSL:
 * false once the first unknown one is reported.
 */
bool cli_groups(struct cli *c);

#endif
