/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vici-message.c — vici's message encoding: read into a ViciMessage, written by a ViciBuilder.
 *
 * A message is a flat run of elements: a type byte; a name (8-bit length, then the bytes) for
 * SECTION_START, KEY_VALUE and LIST_START; a value (16-bit big-endian length, then the bytes)
 * for KEY_VALUE and LIST_ITEM. Reading takes two passes over the bytes: the first checks the
 * structure and counts the nodes and the bytes of their names and values, the second fills
 * arrays of exactly that size. Node 0 is the root section; every node knows where the nodes
 * after it in its parent start, so walking siblings skips whole subtrees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vici.h"

typedef struct Node {
        uint8_t type;           /* ViciElement: SECTION_START, KEY_VALUE, LIST_START, LIST_ITEM */
        uint32_t name;          /* offset of its NUL-terminated name in strings */
        uint32_t value;         /* offset of its NUL-terminated value in strings */
        uint32_t value_size;
        uint32_t next;          /* the node after this one's subtree */
        uint32_t parent;        /* the section or list it is in (the root: itself) */
} Node;

struct ViciMessage {
        Node *nodes;
        uint32_t n_nodes;
        char *strings;
};

/* One element as read: where its name and value are in the input. */
typedef struct Element {
        uint8_t type;
        const uint8_t *name;
        size_t name_len;
        const uint8_t *value;
        size_t value_size;
} Element;

static int fail(ViciError *e, size_t offset, const char *reason) {
        if (e)
                *e = (ViciError) { .offset = offset, .reason = reason };
        return -EBADMSG;
}

static bool type_has_name(uint8_t t) {
        return t == VICI_SECTION_START || t == VICI_KEY_VALUE || t == VICI_LIST_START;
}

static bool type_has_value(uint8_t t) {
        return t == VICI_KEY_VALUE || t == VICI_LIST_ITEM;
}

/* Reads the element at *@o and moves *@o past it. */
static int read_element(const uint8_t *d, size_t size, size_t *o, Element *ret, ViciError *err) {
        size_t start = *o, p = start + 1;
        Element el = { .type = d[start] };

        if (el.type < VICI_SECTION_START || el.type > VICI_LIST_END)
                return fail(err, start, "unknown element type");
        if (type_has_name(el.type)) {
                if (p >= size)
                        return fail(err, p, "name length cut short");
                el.name_len = d[p++];
                if (el.name_len > size - p)
                        return fail(err, p, "name cut short");
                el.name = d + p;
                if (memchr(el.name, 0, el.name_len))
                        return fail(err, p, "NUL byte in a name");
                p += el.name_len;
        }
        if (type_has_value(el.type)) {
                if (size - p < 2)
                        return fail(err, p, "value length cut short");
                el.value_size = (size_t) d[p] << 8 | d[p + 1];
                p += 2;
                if (el.value_size > size - p)
                        return fail(err, p, "value cut short");
                el.value = d + p;
                p += el.value_size;
        }
        *o = p;
        *ret = el;
        return 0;
}

/* The first pass: the structure is sound; the nodes and the string bytes they need. */
static int check_structure(const uint8_t *d, size_t size, uint32_t *ret_nodes, size_t *ret_strings,
                           ViciError *err) {
        size_t o = 0, strings = 1, nodes = 1;  /* the root, with its empty name */
        unsigned depth = 0;
        bool in_list = false;
        int r;

        while (o < size) {
                size_t at = o;
                Element el = {};

                r = read_element(d, size, &o, &el, err);
                if (r < 0)
                        return r;
                if (in_list && el.type != VICI_LIST_ITEM && el.type != VICI_LIST_END)
                        return fail(err, at, el.type == VICI_LIST_START ? "list inside a list" :
                                             el.type == VICI_KEY_VALUE ? "key/value inside a list" :
                                                                          "section element inside a list");
                switch ((ViciElement) el.type) {
                case VICI_SECTION_START:
                        if (depth >= VICI_DEPTH_MAX)
                                return fail(err, at, "sections nested too deep");
                        depth++;
                        break;
                case VICI_SECTION_END:
                        if (depth == 0)
                                return fail(err, at, "section end without a section");
                        depth--;
                        break;
                case VICI_LIST_START:
                        in_list = true;
                        break;
                case VICI_LIST_END:
                        if (!in_list)
                                return fail(err, at, "list end outside a list");
                        in_list = false;
                        break;
                case VICI_LIST_ITEM:
                        if (!in_list)
                                return fail(err, at, "list item outside a list");
                        break;
                case VICI_KEY_VALUE:
                        break;
                }
                if (el.type == VICI_SECTION_END || el.type == VICI_LIST_END)
                        continue;
                if (nodes >= VICI_ELEMENTS_MAX)
                        return -E2BIG;
                nodes++;
                strings += el.name_len + 1 + (type_has_value(el.type) ? el.value_size + 1 : 0);
        }
        if (in_list)
                return fail(err, size, "list not closed");
        if (depth > 0)
                return fail(err, size, "section not closed");
        *ret_nodes = (uint32_t) nodes;
        *ret_strings = strings;
        return 0;
}

static uint32_t put_string(char *strings, size_t *used, const uint8_t *s, size_t n) {
        uint32_t at = (uint32_t) *used;

        if (n > 0)
                memcpy(strings + at, s, n);
        strings[at + n] = 0;
        *used += n + 1;
        return at;
}

int vici_message_parse(const void *data, size_t size, ViciMessage **ret, ViciError *ret_error) {
        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
        uint32_t open[VICI_DEPTH_MAX + 2], list = 0, n_nodes, k = 1;
        size_t n_strings, used = 0, o = 0;
        unsigned depth = 0;
        int r;

        if (size > UINT32_MAX / 2)
                return -E2BIG;
        r = check_structure(data, size, &n_nodes, &n_strings, ret_error);
        if (r < 0)
                return r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->nodes = calloc(n_nodes, sizeof(Node));
        m->strings = malloc(n_strings);
        if (!m->nodes || !m->strings)
                return -ENOMEM;
        m->n_nodes = n_nodes;
        m->nodes[0] = (Node) { .type = VICI_SECTION_START, .name = put_string(m->strings, &used, NULL, 0),
                               .next = n_nodes };
        open[0] = 0;

        /* the second pass: the structure is known to be sound */
        while (o < size) {
                Element el = {};

                (void) read_element(data, size, &o, &el, NULL);
                if (el.type == VICI_SECTION_END) {
                        m->nodes[open[depth--]].next = k;
                        continue;
                }
                if (el.type == VICI_LIST_END) {
                        m->nodes[list].next = k;
                        continue;
                }
                m->nodes[k] = (Node) { .type = el.type, .next = k + 1,
                                       .parent = el.type == VICI_LIST_ITEM ? list : open[depth],
                                       .name = put_string(m->strings, &used, el.name, el.name_len) };
                if (type_has_value(el.type)) {
                        m->nodes[k].value = put_string(m->strings, &used, el.value, el.value_size);
                        m->nodes[k].value_size = (uint32_t) el.value_size;
                }
                if (el.type == VICI_SECTION_START)
                        open[++depth] = k;
                else if (el.type == VICI_LIST_START)
                        list = k;
                k++;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

ViciMessage *vici_message_free(ViciMessage *m) {
        if (!m)
                return NULL;
        free(m->nodes);
        free(m->strings);
        free(m);
        return NULL;
}

static const Node *node_get(const ViciMessage *m, ViciNode node) {
        return m && node < m->n_nodes ? &m->nodes[node] : NULL;
}

ViciElement vici_node_type(const ViciMessage *m, ViciNode node) {
        const Node *n = node_get(m, node);

        return n ? (ViciElement) n->type : 0;
}

const char *vici_node_name(const ViciMessage *m, ViciNode node) {
        const Node *n = node_get(m, node);

        return n ? m->strings + n->name : NULL;
}

const char *vici_node_value(const ViciMessage *m, ViciNode node, size_t *ret_size) {
        const Node *n = node_get(m, node);

        if (!n || !type_has_value(n->type))
                return NULL;
        if (ret_size)
                *ret_size = n->value_size;
        return m->strings + n->value;
}

const char *vici_node_str(const ViciMessage *m, ViciNode node) {
        size_t size;
        const char *v = vici_node_value(m, node, &size);

        return v && strlen(v) == size ? v : NULL;
}

ViciNode vici_first(const ViciMessage *m, ViciNode parent) {
        const Node *n = node_get(m, parent);

        if (!n || (n->type != VICI_SECTION_START && n->type != VICI_LIST_START) || n->next == parent + 1)
                return VICI_NONE;
        return parent + 1;
}

ViciNode vici_next(const ViciMessage *m, ViciNode node) {
        const Node *n = node_get(m, node);

        if (!n || node == VICI_ROOT)
                return VICI_NONE;
        return n->next < m->nodes[n->parent].next ? n->next : VICI_NONE;
}

ViciNode vici_find(const ViciMessage *m, ViciNode parent, ViciElement type, const char *name) {
        VICI_FOREACH(i, m, parent)
                if (m->nodes[i].type == type && streq(m->strings + m->nodes[i].name, name))
                        return i;
        return VICI_NONE;
}

const char *vici_find_str(const ViciMessage *m, ViciNode parent, const char *name) {
        ViciNode n = vici_find(m, parent, VICI_KEY_VALUE, name);

        return n == VICI_NONE ? NULL : vici_node_str(m, n);
}

/* ---- writing ------------------------------------------------------------------------------- */

void vici_builder_done(ViciBuilder *b) {
        b->data = mfree(b->data);
        *b = VICI_BUILDER_INIT;
}

static int builder_fail(ViciBuilder *b, int r) {
        if (b->error == 0)
                b->error = r;
        return b->error;
}

static int builder_put(ViciBuilder *b, const void *p, size_t n) {
        if (n == 0)
                return 0;
        if (b->size + n > b->alloc) {
                size_t a = b->alloc ? b->alloc : 256;
                uint8_t *x;

                while (a < b->size + n)
                        a *= 2;
                x = realloc(b->data, a);
                if (!x)
                        return builder_fail(b, -ENOMEM);
                b->data = x;
                b->alloc = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        return 0;
}

/* An element: its type, then its name and its value where the type has them. */
static int builder_element(ViciBuilder *b, ViciElement type, const char *name, const void *value, size_t size) {
        size_t name_len = name ? strlen(name) : 0;
        uint8_t t = type, len8 = (uint8_t) name_len, len16[2] = { (uint8_t) (size >> 8), (uint8_t) size };

        if (b->error)
                return b->error;
        if (name_len > VICI_NAME_MAX || size > VICI_VALUE_MAX || b->size > VICI_SEGMENT_MAX)
                return builder_fail(b, -EINVAL);
        (void) builder_put(b, &t, 1);
        if (type_has_name(type)) {
                (void) builder_put(b, &len8, 1);
                (void) builder_put(b, name, name_len);
        }
        if (type_has_value(type)) {
                (void) builder_put(b, len16, 2);
                (void) builder_put(b, value, size);
        }
        return b->error;
}

int vici_builder_section(ViciBuilder *b, const char *name) {
        if (b->in_list || b->depth >= VICI_DEPTH_MAX)
                return builder_fail(b, -EINVAL);
        b->depth++;
        return builder_element(b, VICI_SECTION_START, name, NULL, 0);
}

int vici_builder_section_end(ViciBuilder *b) {
        if (b->in_list || b->depth == 0)
                return builder_fail(b, -EINVAL);
        b->depth--;
        return builder_element(b, VICI_SECTION_END, NULL, NULL, 0);
}

int vici_builder_kv(ViciBuilder *b, const char *name, const void *value, size_t size) {
        if (b->in_list)
                return builder_fail(b, -EINVAL);
        return builder_element(b, VICI_KEY_VALUE, name, value, size);
}

int vici_builder_kv_str(ViciBuilder *b, const char *name, const char *value) {
        return vici_builder_kv(b, name, value, strlen(value));
}

int vici_builder_list(ViciBuilder *b, const char *name) {
        if (b->in_list)
                return builder_fail(b, -EINVAL);
        b->in_list = true;
        return builder_element(b, VICI_LIST_START, name, NULL, 0);
}

int vici_builder_item(ViciBuilder *b, const void *value, size_t size) {
        if (!b->in_list)
                return builder_fail(b, -EINVAL);
        return builder_element(b, VICI_LIST_ITEM, NULL, value, size);
}

int vici_builder_list_end(ViciBuilder *b) {
        if (!b->in_list)
                return builder_fail(b, -EINVAL);
        b->in_list = false;
        return builder_element(b, VICI_LIST_END, NULL, NULL, 0);
}

int vici_builder_copy(ViciBuilder *b, const ViciMessage *m, ViciNode parent) {
        VICI_FOREACH(i, m, parent) {
                const Node *n = &m->nodes[i];
                const char *name = m->strings + n->name;

                switch ((ViciElement) n->type) {
                case VICI_SECTION_START:
                        (void) vici_builder_section(b, name);
                        (void) vici_builder_copy(b, m, i);
                        (void) vici_builder_section_end(b);
                        break;
                case VICI_LIST_START:
                        (void) vici_builder_list(b, name);
                        (void) vici_builder_copy(b, m, i);
                        (void) vici_builder_list_end(b);
                        break;
                case VICI_KEY_VALUE:
                        (void) vici_builder_kv(b, name, m->strings + n->value, n->value_size);
                        break;
                case VICI_LIST_ITEM:
                        (void) vici_builder_item(b, m->strings + n->value, n->value_size);
                        break;
                case VICI_SECTION_END:
                case VICI_LIST_END:
                        break;
                }
        }
        return b->error;
}

int vici_builder_finish(ViciBuilder *b, uint8_t **ret, size_t *ret_size) {
        int r = b->error;

        if (r == 0 && (b->depth > 0 || b->in_list))
                r = -EBADMSG;
        if (r == 0) {
                *ret = TAKE_PTR(b->data);
                *ret_size = b->size;
        }
        vici_builder_done(b);
        return r;
}
