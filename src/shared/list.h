/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* list.h — intrusive doubly linked lists through an object's own prev/next fields. */
#pragma once

#include <stddef.h>

/* @o becomes the first of the list at @head. */
#define LIST_PREPEND(head, o)                                   \
        do {                                                    \
                (o)->prev = NULL;                               \
                (o)->next = (head);                             \
                if (head)                                       \
                        (head)->prev = (o);                     \
                (head) = (o);                                   \
        } while (0)

/* @o becomes the last of the list at @head, whose last is @tail. */
#define LIST_APPEND(head, tail, o)                              \
        do {                                                    \
                (o)->next = NULL;                               \
                (o)->prev = (tail);                             \
                if (tail)                                       \
                        (tail)->next = (o);                     \
                else                                            \
                        (head) = (o);                           \
                (tail) = (o);                                   \
        } while (0)

/* Takes @o out of the list at @head; its prev and next are NULL afterwards. */
#define LIST_REMOVE(head, o)                                    \
        do {                                                    \
                if ((o)->prev)                                  \
                        (o)->prev->next = (o)->next;            \
                else                                            \
                        (head) = (o)->next;                     \
                if ((o)->next)                                  \
                        (o)->next->prev = (o)->prev;            \
                (o)->prev = (o)->next = NULL;                   \
        } while (0)

/* The same for a list with a tail. */
#define LIST_REMOVE_TAIL(head, tail, o)                         \
        do {                                                    \
                if ((o)->next)                                  \
                        (o)->next->prev = (o)->prev;            \
                else                                            \
                        (tail) = (o)->prev;                     \
                LIST_REMOVE(head, o);                           \
        } while (0)
