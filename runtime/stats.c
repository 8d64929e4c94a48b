#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "counting.h"

__thread struct rc_counters *rc_tls_counters;
struct rc_counters rc_detached_counters;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rc_link registry = { &registry, &registry };
static struct rc_counters retired;

static const struct {
    const char *name;
    size_t offset;
} fields[RC_ST_COUNT] = {
    [RC_ST_SUBMITTED] = { "submitted", offsetof(struct rc_stats, submitted) },
    [RC_ST_COMPLETED] = { "completed", offsetof(struct rc_stats, completed) },
    [RC_ST_PAUSED] = { "paused", offsetof(struct rc_stats, paused) },
    [RC_ST_RESUMED] = { "resumed", offsetof(struct rc_stats, resumed) },
    [RC_ST_CALLBACKS] = { "callbacks", offsetof(struct rc_stats, callbacks) },
    [RC_ST_FD_WAKES] = { "fd_wakes", offsetof(struct rc_stats, fd_wakes) },
    [RC_ST_EAGAIN] = { "eagain", offsetof(struct rc_stats, eagain) },
    [RC_ST_ERRORS] = { "errors", offsetof(struct rc_stats, errors) },
    [RC_ST_TIMEOUTS] = { "timeouts", offsetof(struct rc_stats, timeouts) },
    [RC_ST_INLINE] = { "inline", offsetof(struct rc_stats, inline_ops) },
    [RC_ST_KERNEL] = { "kernel", offsetof(struct rc_stats, kernel_ops) },
    [RC_ST_KERNEL_WAITS] = { "kernel_waits", offsetof(struct rc_stats, kernel_waits) },
};

static void add_into(uint64_t *acc, const struct rc_counters *c)
{
    for (int i = 0; i < RC_ST_COUNT; i++)
        acc[i] += atomic_load_explicit(&c->v[i], memory_order_relaxed);
}

void rc_stats_register(struct rc_counters *c)
{
    pthread_mutex_lock(&registry_lock);
    rc_list_append(&registry, &c->link);
    pthread_mutex_unlock(&registry_lock);
}

void rc_stats_retire(struct rc_counters *c)
{
    pthread_mutex_lock(&registry_lock);
    rc_list_remove(&c->link);
    for (int i = 0; i < RC_ST_COUNT; i++)
        atomic_fetch_add_explicit(&retired.v[i],
                                  atomic_load_explicit(&c->v[i], memory_order_relaxed),
                                  memory_order_relaxed);
    pthread_mutex_unlock(&registry_lock);
}

static void to_stats(const uint64_t *acc, struct rc_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < RC_ST_COUNT; i++)
        memcpy((char *)out + fields[i].offset, &acc[i], sizeof(uint64_t));
}

void rc_counters_export(const struct rc_counters *c, struct rc_stats *out)
{
    uint64_t acc[RC_ST_COUNT] = { 0 };

    add_into(acc, c);
    to_stats(acc, out);
}

static void totals(uint64_t *acc)
{
    pthread_mutex_lock(&registry_lock);
    for (struct rc_link *l = registry.next; l != &registry; l = l->next)
        add_into(acc, rc_container_of(l, struct rc_counters, link));
    add_into(acc, &retired);
    pthread_mutex_unlock(&registry_lock);
    add_into(acc, &rc_detached_counters);
}

void rc_count_inline(void)
{
    rc_stat_inc(RC_ST_INLINE);
}

void rc_stats_total(struct rc_stats *out)
{
    uint64_t acc[RC_ST_COUNT] = { 0 };

    totals(acc);
    to_stats(acc, out);
}

int rc_stats_write_json(const char *path)
{
    uint64_t acc[RC_ST_COUNT] = { 0 };
    char line[1024];
    size_t used;
    ssize_t n;
    int fd, rc = 0;

    totals(acc);
    used = (size_t)snprintf(line, sizeof(line), "{\"pid\":%ld", (long)getpid());
    for (int i = 0; i < RC_ST_COUNT; i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, ",\"%s\":%llu",
                                 fields[i].name, (unsigned long long)acc[i]);
    used += (size_t)snprintf(line + used, sizeof(line) - used, "}\n");

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    /* One write with O_APPEND keeps lines from concurrent processes whole. */
    n = write(fd, line, used);
    if (n != (ssize_t)used)
        rc = n < 0 ? -errno : -EIO;
    close(fd);
    return rc;
}

void rc_stats_reset_after_fork(void)
{
    pthread_mutex_init(&registry_lock, NULL);
    rc_list_init(&registry);
    memset(&retired, 0, sizeof(retired));
    memset(&rc_detached_counters, 0, sizeof(rc_detached_counters));
    rc_tls_counters = NULL;
}
