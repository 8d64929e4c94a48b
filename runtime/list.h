/* Intrusive doubly linked list with a sentinel head; a node knows whether it is linked. */
#ifndef RC_LIST_H
#define RC_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define rc_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct rc_link {
    struct rc_link *prev, *next;
};

static inline void rc_list_init(struct rc_link *head)
{
    head->prev = head->next = head;
}

static inline bool rc_list_empty(const struct rc_link *head)
{
    return head->next == head;
}

static inline bool rc_list_linked(const struct rc_link *node)
{
    return node->next != NULL;
}

static inline void rc_list_append(struct rc_link *head, struct rc_link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void rc_list_remove(struct rc_link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = NULL;
}

static inline struct rc_link *rc_list_first(const struct rc_link *head)
{
    return rc_list_empty(head) ? NULL : head->next;
}

#endif
