/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine.h — the filter database: providers, sublayers, provider contexts and filters, the
 * WFP reference rules between them, filter weights and ordering, and the IKE/AuthIP
 * exemptions. Pure C: no D-Bus, no netlink, no I/O, so cmocka tests it without root.
 *
 * Every change happens inside an engine transaction: engine_begin(), any number of add and
 * delete calls, then engine_commit() or engine_abort(). The engine journals each change
 * (engine_changes()), which is what the compiler turns into one netlink batch and what the bus
 * layer turns into Changed signals. If the kernel refuses the batch, the caller aborts and the
 * database is exactly as before — the database and the kernel never disagree.
 *
 * The engine knows nothing of nftables: where an object's rules are in the kernel is the
 * compiler's own state (its layout), keyed by the filter's id and the sublayer's seq, which the
 * engine never gives twice.
 *
 * Errors: functions return 0 or a negative value: -ENOMEM and friends, or a WFP error as
 * wfp_ret(FWP_E_…) (see wfp.h). WFP errors also fill an EngineError with the message the
 * caller sees ("provider context 3f2c… is referenced by filter 17").
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bfe/bfe.h"
#include "guid.h"
#include "macro.h"
#include "object.h"
#include "wfp.h"

typedef struct Engine Engine;
typedef struct Provider Provider;
typedef struct Sublayer Sublayer;
typedef struct ProviderContext ProviderContext;
typedef struct Filter Filter;

#define ENGINE_ERROR_MAX 512

typedef struct EngineError {
        uint32_t code;                  /* FWP_E_…, 0 when none */
        char message[ENGINE_ERROR_MAX]; /* what was wrong, without the WFP name */
} EngineError;

/* Caps on what callers can create (STYLE §8). */
#define ENGINE_NAME_MAX 1024
#define ENGINE_DATA_MAX 65536
#define ENGINE_CONDITIONS_MAX 64
#define ENGINE_OBJECTS_MAX 1000000

/* ---- objects ------------------------------------------------------------------------------ */

typedef BfeBlob Blob;

/* The members all four kinds have, under the same names, declared once: engine.c does to every
 * kind alike what concerns them (head()). */
#define ENGINE_OBJECT_MEMBERS                                                                   \
        BfeGuid key;                                                                            \
        char *name;                                                                             \
        char *description;                                                                      \
        Blob provider_data;                                                                     \
        uint64_t session;               /* a dynamic session's: gone when it closes */          \
        uint32_t flags;                                                                         \
        unsigned n_pins;                /* enumerations listing it (engine_pin()) */            \
        bool builtin;                   /* the engine's own: fwpmu.h's built-in objects */      \
        bool dynamic;                   /* added by a dynamic session (session) */              \
        bool retired                    /* deleted, kept until the last pin goes */

struct Provider {
        ENGINE_OBJECT_MEMBERS;
        unsigned n_refs;                /* sublayers, contexts and filters naming it */
        Provider *prev, *next;
};

/* The engine's index of a list of filters in evaluation order (filter-order.c): the filters that start
 * its stretches (FilterMark), in order, so a new filter's place is found in O(log n). The engine's
 * own: the list is what the others walk. */
typedef struct FilterMark {
        Filter *filter;
        uint32_t n;                     /* filters in its stretch: it and those up to the next mark */
} FilterMark;

typedef struct FilterOrder {
        FilterMark *marks;
        uint32_t n_marks, n_alloc;
        uint32_t n_front;               /* filters before the first mark */
} FilterOrder;

struct Sublayer {
        ENGINE_OBJECT_MEMBERS;
        Engine *engine;                 /* its engine: sublayer_is_universal() */
        Provider *provider;
        uint16_t weight;
        bool live;                      /* in the database (false once deleted, until freed) */
        uint64_t seq;                   /* order of addition: ties of weight */
        unsigned n_refs;                /* filters in it */
        /* The filters of each layer in this sublayer, in evaluation order. */
        Filter *filters_head[_WFP_LAYER_MAX], *filters_tail[_WFP_LAYER_MAX];
        /* The boot-time filters (FWPM_FILTER_FLAG_BOOTTIME) of each layer in this sublayer, in
         * evaluation order: stored and in the boot file, never in the running table or Explain. */
        Filter *boot_head[_WFP_LAYER_MAX], *boot_tail[_WFP_LAYER_MAX];
        FilterOrder order[_WFP_LAYER_MAX], boot_order[_WFP_LAYER_MAX]; /* of each list above */
        Sublayer *prev, *next;          /* engine list, highest weight first */
};

struct ProviderContext {
        ENGINE_OBJECT_MEMBERS;
        uint64_t id;
        Provider *provider;
        uint32_t type;
        Blob data;
        uint32_t policy_flags;          /* quick-mode contexts: IPSEC_POLICY_FLAG_* (ipsec.c) */
        unsigned n_refs;                /* filters referencing it */
        ProviderContext *prev, *next;
};

typedef enum WeightKind {
        WEIGHT_AUTO,                    /* FWP_EMPTY */
        WEIGHT_RANGE,                   /* FWP_UINT8 0–15 */
        WEIGHT_EXPLICIT,                /* FWP_UINT64 */
} WeightKind;

/*
 * A condition. Ordered fields (protocol, ports, addresses) hold an interval [lo, hi] of
 * big-endian bytes, whatever the match type said: equal 500 is [500, 500], a prefix is
 * [network, broadcast], greater 1000 is [1001, 65535]. That one shape serves the weights,
 * the compiler (cmp, prefix mask, range, or a set for ORed ones) and explain.
 */
#define CONDITION_VALUE_MAX 16
#define CONDITION_TEXT_MAX 96           /* a value rendered as text (condition_text()); the longest is an IPv6 range */

typedef struct Condition {
        char *text;                     /* the value as given, when rendering the value does not give it back
                                         * (condition_keep_text()); else NULL */
        uint8_t field;                  /* WfpField */
        uint8_t match;                  /* WfpMatch */
        bool negate;                    /* NOT_EQUAL, FLAGS_NONE_SET */
        uint8_t form;                   /* with no text: the form the value was given in (condition-text.c) */
        uint8_t len;                    /* bytes used in lo/hi */
        uint8_t flags;                  /* FLAGS: WFP_CONDITION_FLAG_* bits */
        uint8_t lo[CONDITION_VALUE_MAX];/* ordered fields: from; interface: the name; uid: host-order u32 */
        uint8_t hi[CONDITION_VALUE_MAX];/* ordered fields: to (inclusive) */
} Condition;

_Static_assert(_WFP_LAYER_MAX <= UINT8_MAX && WEIGHT_EXPLICIT <= UINT8_MAX && ENGINE_CONDITIONS_MAX + 8 <= UINT8_MAX,
               "Filter's layer, weight kind and number of conditions are bytes");
_Static_assert(_WFP_FIELD_MAX <= UINT8_MAX && _WFP_MATCH_MAX <= UINT8_MAX, "Condition's field and match are bytes");

struct Filter {
        ENGINE_OBJECT_MEMBERS;
        /* the small members first, in the common members' tail padding */
        bool engine_owned;              /* an IKE/AuthIP exemption bfed added itself */
        bool live;                      /* in the database (false once deleted, until freed) */
        uint8_t n_conditions;           /* at most ENGINE_CONDITIONS_MAX (+ an exemption's) */
        uint8_t layer;                  /* WfpLayer */
        uint8_t weight_kind;            /* WeightKind */
        uint32_t action;                /* a callout's callout is its layer's: filter_callout_key() */
        uint32_t alloc_size;            /* the engine's own: the bytes of its allocation (object_alloc()) */
        uint64_t id;                    /* given in order of addition: the tie-breaker of equal weights */
        Provider *provider;
        Sublayer *sublayer;
        uint64_t weight;                /* range or explicit value as given */
        uint64_t effective_weight;
        ProviderContext *context;
        uint64_t raw_context;           /* rawContext: what an IPsec callout reads (ipsec.c) */
        Filter *prev, *next;            /* engine list, all filters */
        Filter *lprev, *lnext;          /* the sublayer's per-layer evaluation order */
        Condition conditions[];         /* n_conditions, in the filter's own allocation */
};

/* A boot-time filter: enforced from boot until bfed runs (the boot file), then stored only; it is
 * in its sublayer's boot_head list, not in filters_head. */
static inline bool filter_is_boottime(const Filter *f) {
        return f->flags & WFP_FILTER_FLAG_BOOTTIME;
}

/* ---- what callers pass in ------------------------------------------------------------------ */

/*
 * An object to add is its public libbfe struct (object.h): the key (all zero: generate one),
 * name, description, flags, provider key (zero: none), provider data, and the kind's own
 * fields. Fields the engine fills in (ids, the effective weight, …) are ignored. For a filter,
 * the layer is a WFP name or GUID, a zero sublayer key means the universal sublayer, and an
 * action of 0 means permit.
 */
typedef BfeProvider ProviderSpec;
typedef BfeSublayer SublayerSpec;
typedef BfeProviderContext ProviderContextSpec;
typedef BfeFilter FilterSpec;
typedef BfeCondition ConditionSpec;     /* field: WFP name (without FWPM_CONDITION_) or GUID;
                                         * match: FWP_MATCH_TYPE; value: text parsed by the
                                         * field's type */

/* ---- the journal ------------------------------------------------------------------------- */

typedef enum ChangeType {
        CHANGE_ADD = 1,                 /* FWPM_CHANGE_ADD */
        CHANGE_DELETE = 2,              /* FWPM_CHANGE_DELETE */
} ChangeType;

typedef struct Change {
        ChangeType type;
        ObjectKind kind;
        void *object;                   /* Provider *, Sublayer *, ProviderContext *, Filter * */
} Change;


/* ---- the engine --------------------------------------------------------------------------- */

int engine_new(Engine **ret);
Engine *engine_free(Engine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

/* Who makes the changes of a transaction: its session, and whether that session is dynamic
 * (its objects die with it). Session 0 is the session-less caller. */
typedef struct EngineCaller {
        uint64_t session;
        bool dynamic;
} EngineCaller;

int engine_begin(Engine *e);                                   /* as session 0, not dynamic */
int engine_begin_as(Engine *e, const EngineCaller *caller);
/* The following changes of the open transaction are @caller's (a group commit: several
 * callers' single-call changes in one transaction). */
void engine_set_caller(Engine *e, const EngineCaller *caller);
/* A point in the open transaction to roll back to, for a call that makes several changes and
 * must make all or none of them. */
size_t engine_savepoint(const Engine *e);
void engine_rollback_to(Engine *e, size_t savepoint);
/* Deletes every object a dynamic session added (filters first), in the open transaction. */
int engine_delete_session_objects(Engine *e, uint64_t session);
bool engine_in_transaction(const Engine *e);
const Change *engine_changes(const Engine *e, size_t *ret_n);
void engine_commit(Engine *e);
void engine_abort(Engine *e);

int engine_add_provider(Engine *e, const ProviderSpec *spec, EngineError *err, Provider **ret);
int engine_delete_provider(Engine *e, const BfeGuid *key, EngineError *err);
Provider *engine_get_provider(const Engine *e, const BfeGuid *key);
Provider *engine_providers(const Engine *e);

int engine_add_provider_context(Engine *e, const ProviderContextSpec *spec, EngineError *err, ProviderContext **ret);
int engine_delete_provider_context(Engine *e, const BfeGuid *key, EngineError *err);
ProviderContext *engine_get_provider_context(const Engine *e, const BfeGuid *key);
ProviderContext *engine_provider_contexts(const Engine *e);

int engine_add_filter(Engine *e, const FilterSpec *spec, EngineError *err, Filter **ret);
/* The same, with @condition_texts NULL or, per condition, NULL or the text to keep and
 * enumerate instead of its value: the state file gives an ALE_USER_ID condition's uid as the
 * value (a restart must not need NSS) and here the user name the caller gave. ALE_USER_ID
 * only. */
int engine_add_filter_texts(Engine *e, const FilterSpec *spec, const char *const *condition_texts, EngineError *err,
                            Filter **ret);
int engine_delete_filter_by_key(Engine *e, const BfeGuid *key, EngineError *err);
int engine_delete_filter_by_id(Engine *e, uint64_t id, EngineError *err);
Filter *engine_get_filter_by_key(const Engine *e, const BfeGuid *key);
Filter *engine_get_filter_by_id(const Engine *e, uint64_t id);
Filter *engine_filters(const Engine *e);       /* in order of addition */
size_t engine_n_filters(const Engine *e);

int engine_add_sublayer(Engine *e, const SublayerSpec *spec, EngineError *err, Sublayer **ret);
int engine_delete_sublayer(Engine *e, const BfeGuid *key, EngineError *err);
Sublayer *engine_sublayers(const Engine *e);   /* highest weight first */
Sublayer *engine_get_sublayer(const Engine *e, const BfeGuid *key);
Sublayer *engine_universal_sublayer(const Engine *e);
bool sublayer_is_universal(const Sublayer *s);

/* The filters of one layer across all sublayers, in evaluation order, for enumeration. */
size_t engine_layer_filters(const Engine *e, WfpLayer layer, Filter **buf, size_t n);

bool engine_exemptions_active(const Engine *e);

/*
 * Enumerations are snapshots: an object an enumeration lists stays readable until the
 * enumeration lets go of it, even if it is deleted meanwhile (it then leaves every list and
 * lookup, and is freed with its last pin). A pin also holds what the object references (a
 * filter its sublayer, provider and context), so a pinned object never points at freed memory.
 */
void engine_pin(Engine *e, ObjectKind kind, void *object);
void engine_unpin(Engine *e, ObjectKind kind, void *object);

/* The four kinds alike (object-ops.c), @spec and views being the kind's public struct. A
 * missing object is the kind's WFP *_NOT_FOUND error. */
int engine_add_object(Engine *e, ObjectKind kind, const void *spec, EngineError *err, void **ret);
int engine_delete_object(Engine *e, ObjectKind kind, const BfeKey *key, EngineError *err);
int engine_get_object(const Engine *e, ObjectKind kind, const BfeKey *key, EngineError *err, void **ret);
/* By runtime id: filters and provider contexts (-EINVAL for the other kinds). */
int engine_get_object_by_id(const Engine *e, ObjectKind kind, uint64_t id, EngineError *err, void **ret);
int engine_delete_object_by_id(Engine *e, ObjectKind kind, uint64_t id, EngineError *err);
const BfeKey *engine_object_key(ObjectKind kind, const void *object);
uint64_t engine_object_id(ObjectKind kind, const void *object);  /* contexts and filters; 0 */
/* Room for a filter view's conditions and their value texts (unused for the other kinds). */
typedef struct ConditionViews {
        BfeCondition conditions[ENGINE_CONDITIONS_MAX];
        char texts[ENGINE_CONDITIONS_MAX][CONDITION_TEXT_MAX];
} ConditionViews;
/* The view of an object: @ret is its kind's public struct, for replies and the state file.
 * Strings and blobs point into the object (valid while it is) or into @buf (a filter's
 * conditions and their texts: valid while @buf is). */
void engine_object_view(ObjectKind kind, const void *object, ConditionViews *buf, void *ret);

/* ---- explain: the decision for one packet, without sending it ------------------------------ */

typedef struct Packet {
        bool has[_WFP_FIELD_MAX];
        uint8_t len[_WFP_FIELD_MAX];
        uint8_t value[_WFP_FIELD_MAX][CONDITION_VALUE_MAX];
        uint32_t flags;                 /* WFP_CONDITION_FLAG_* */
        bool local_system;              /* BFED_LOCAL_SYSTEM */
        bool locally_initiated;         /* BFED_LOCALLY_INITIATED */
} Packet;

/* Sets one field from text (the names of the condition fields, plus FLAGS as a list and the
 * two bfed fields as true/false). Values parse as in conditions, for @layer's family. */
int packet_set(Packet *p, WfpLayer layer, const char *field, const char *value, EngineError *err);

/* What a sublayer did with a packet: libbfe's BfeExplainOutcome, whose names are in wfp.h. */
typedef enum Outcome {
        OUTCOME_NO_MATCH = BFE_EXPLAIN_OUTCOME_NO_MATCH,
        OUTCOME_BLOCK = BFE_EXPLAIN_OUTCOME_BLOCK,
        OUTCOME_HARD_PERMIT = BFE_EXPLAIN_OUTCOME_HARD_PERMIT,
        OUTCOME_SOFT_PERMIT = BFE_EXPLAIN_OUTCOME_SOFT_PERMIT,
        OUTCOME_REQUIRE_IPSEC = BFE_EXPLAIN_OUTCOME_REQUIRE_IPSEC,      /* a require-IPsec callout dropped a plain packet */
        OUTCOME_NOT_EVALUATED = BFE_EXPLAIN_OUTCOME_NOT_EVALUATED,      /* an earlier sublayer's block or hard permit ended the layer */
        _OUTCOME_MAX,
} Outcome;

static inline const char *outcome_to_string(Outcome o) {
        return wfp_outcome_name((int) o);
}

typedef struct ExplainStep {
        const Sublayer *sublayer;
        const Filter *filter;           /* the filter that decided in this sublayer, or NULL */
        Outcome outcome;
} ExplainStep;

typedef struct Explanation {
        bool permit;
        const Filter *decided_by;       /* NULL: nothing matched, the default permit applies */
        ExplainStep *steps;             /* one per sublayer, in evaluation order */
        size_t n_steps;
} Explanation;

/* ---- IPsec contexts (ipsec.c) ------------------------------------------------------------ */

/* A provider context's policy flags, checked against its type. */
int ipsec_context_check(uint32_t type, uint32_t policy_flags, EngineError *err);
/* A filter's provider context and rawContext, checked against its layer, action and callout. */
int ipsec_filter_check(const Filter *f, EngineError *err);
/* Whether a terminating IPsec callout lets a plain (unsecured) packet through, as permitted:
 * the clear-text fallback of its rawContext. */
bool filter_callout_passes_clear(const Filter *f);
/* A callout filter's callout: its layer's (filter_check() takes no other); zero for the others. */
BfeGuid filter_callout_key(const Filter *f);

/* Walks @layer exactly as the compiled chains do: sublayers by weight, filters by
 * effective weight, first match per sublayer; block and hard permit end the layer. */
int engine_explain(const Engine *e, WfpLayer layer, const Packet *p, Explanation *ret);
void explanation_done(Explanation *x);
bool filter_matches(const Filter *f, const Packet *p);

/* ---- weights ----------------------------------------------------------------------------- */

uint64_t filter_auto_weight(const Condition *c, size_t n);
int filter_compare(const Filter *a, const Filter *b); /* < 0 when a is evaluated before b */

/* ---- conditions -------------------------------------------------------------------------- */

#define WFP_CONDITION_FLAG_IS_LOOPBACK 0x1u
#define WFP_CONDITION_FLAG_IS_IPSEC_SECURED 0x2u

int condition_parse(WfpLayer layer, const ConditionSpec *spec, EngineError *err, Condition *ret);
void condition_done(Condition *c);
/* A condition's value as given (condition-text.c): its own text, or its value rendered into @buf in
 * the form it was given in. */
const char *condition_text(const Condition *c, char buf[static CONDITION_TEXT_MAX]);
/* Remembers @text as @c's value as given: as a form of @c's parsed value when one renders exactly
 * @text, else as a copy. 0 or -ENOMEM. */
int condition_keep_text(Condition *c, const char *text);
bool condition_field_is_ordered(WfpField f);   /* protocol, ports, addresses: intervals */
bool condition_field_is_address(WfpField f);   /* local, remote, source, destination */
int conditions_check_layer(WfpLayer layer, const Condition *c, size_t n, EngineError *err);
/* The filter reads the packet as it comes in (local address = destination): its layer's way, or
 * at ALE_FLOW_ESTABLISHED its DIRECTION condition's. */
bool filter_is_inbound(const Filter *f);
/* An NL_ADDRESS_TYPE (1-4 or its name) as the kernel's route type (RTN_*); -EINVAL, -ERANGE. */
int address_type_parse(const char *s, uint32_t *ret);
int destination_address_type_parse(const char *s, uint32_t *ret); /* NlatUnicast is RTN_UNICAST */
bool condition_is_single(const Condition *c);  /* lo == hi */
int condition_prefix_len(const Condition *c);  /* the prefix [lo, hi] is, or -1 */
/* Checks a filter's conditions as a whole: runs of ORed conditions must be combinable. */
int conditions_check_groups(const Condition *c, size_t n, EngineError *err);
/* The values an ORed run of conditions on one field with a negation among them excludes, as
 * sorted disjoint intervals in @ret (room for @n + 1); returns their number (0: it matches all). */
size_t conditions_or_excluded(const Condition *c, size_t n, Condition *ret);

/* ---- filter enumeration templates (template.c) ------------------------------------------------ */

typedef enum FilterEnumType {
        FILTER_ENUM_FULLY_CONTAINED = 0,        /* FWP_FILTER_ENUM_FULLY_CONTAINED */
        FILTER_ENUM_OVERLAPPING = 1,            /* FWP_FILTER_ENUM_OVERLAPPING */
        _FILTER_ENUM_TYPE_MAX,
} FilterEnumType;

bool filter_template_matches(const Filter *f, const Condition *t, size_t n, FilterEnumType type);
/* What @f lets through on IP_PROTOCOL or a port, as sorted disjoint [from, to] integer pairs; their
 * number, or -E2BIG beyond @max (FILTER_RANGES_MAX is always enough). */
#define FILTER_RANGES_MAX (2 * ENGINE_CONDITIONS_MAX + 8)
int filter_field_ranges(const Filter *f, WfpField field, uint32_t (*ret)[2], size_t max);
/* Whether @v is in one of the @n ranges filter_field_ranges() gave. */
bool ranges_contain(const uint32_t (*r)[2], int n, uint32_t v);
bool condition_field_is_port(WfpField f);       /* IP_LOCAL_PORT, IP_REMOTE_PORT */
/* In WFP, IP_LOCAL_PORT and IP_REMOTE_PORT are ICMP_TYPE and ICMP_CODE: whether @f's port
 * conditions mean them too, because it has some and its protocols let ICMP (ICMPv6 at the v6
 * layers) through, or are too many to tell (doc/org.bfed.Engine1.md "ICMP"). */
bool filter_ports_typed(const Filter *f);
int template_conditions_parse(WfpLayer layer, const ConditionSpec *specs, size_t n, EngineError *err,
                              Condition *ret);

/* Sets err and returns wfp_ret(code). */
int engine_error(EngineError *err, uint32_t code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
