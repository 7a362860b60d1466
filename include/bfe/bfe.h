/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe.h — libbfe, the C client library of the bfed filtering engine.
 *
 * The calls mirror the Windows Fwpm* management API (FwpmEngineOpen0, FwpmFilterAdd0, …) and
 * talk to bfed over D-Bus (org.bfed.Engine1 on the system bus, or on the bus given to
 * bfe_engine_open()). Without a session every call is its own implicit transaction on the
 * daemon's side; with one (bfe_engine_open_session()) calls may be grouped in transactions.
 *
 * Conventions
 *
 *   - Functions return int: 0 (or a positive value where documented) on success, a negative
 *     value on failure. ret_* out-parameters come last and are written only on success.
 *   - Failures are either a negative errno (-ENOMEM, -EINVAL for bad arguments, -EACCES when
 *     the daemon refuses an unprivileged caller, -ECONNREFUSED/-ENOENT/-EHOSTUNREACH… when the
 *     daemon cannot be reached, …) or a WFP error. A WFP error FWP_E_xxx (0x8032xxxx) is
 *     returned as -(BFE_WFP_ERRNO_BASE + (code & 0xFFFF)): use bfe_wfp_code_from_ret() to get
 *     the code back and bfe_wfp_error_name() for its name.
 *   - After every call that takes an engine, bfe_engine_last_error() describes the outcome of
 *     that call: the WFP code and name, the D-Bus error name and the daemon's message text
 *     (which, for WFP errors, begins with the WFP name and code:
 *     "FWP_E_IN_USE (0x8032000A): provider context … is referenced by filter 17").
 *   - Everything returned is owned by the caller and released with the matching *_free()
 *     function. All free functions accept NULL.
 *   - Keys: a zero key (all 16 bytes 0) means "not set": on add, the engine generates the
 *     object's key; for references (provider, sublayer, context, callout) nothing is sent.
 *   - A BfeEngine is not thread-safe: use one per thread, or lock around it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- keys ---------------------------------------------------------------------------------- */

/**
 * struct BfeKey - a GUID naming an object.
 * @b: the 16 bytes in the order of the canonical text form
 *     ("00112233-4455-6677-8899-aabbccddeeff" is b[0] = 0x00 … b[15] = 0xff).
 */
typedef struct BfeKey {
        uint8_t b[16];
} BfeKey;

/* Characters needed by bfe_key_to_string(), including the terminating NUL. */
#define BFE_KEY_STRING_MAX 37

/**
 * bfe_key_from_string() - parse a GUID, with or without braces, in any case.
 * @s: the text
 * @ret: the key
 *
 * Return: 0, or -EINVAL if @s is not a GUID.
 */
int bfe_key_from_string(const char *s, BfeKey *ret);

/**
 * bfe_key_to_string() - format a key in lower case, without braces.
 * @k: the key
 * @buf: at least BFE_KEY_STRING_MAX bytes
 *
 * Return: @buf.
 */
char *bfe_key_to_string(const BfeKey *k, char *buf);

/* True if @k is NULL or all zero. */
bool bfe_key_is_null(const BfeKey *k);

/* ---- errors -------------------------------------------------------------------------------- */

#define BFE_WFP_ERRNO_BASE 0x10000

/**
 * bfe_wfp_code_from_ret() - the WFP error code behind a negative return value.
 * @r: a value returned by a libbfe function
 *
 * Return: the code (0x8032xxxx), or 0 if @r is not a WFP error.
 */
uint32_t bfe_wfp_code_from_ret(int r);

/**
 * bfe_wfp_error_name() - the name of a WFP error code.
 * @code: 0x8032xxxx
 *
 * Return: "FWP_E_IN_USE" etc., or NULL for codes libbfe does not know.
 */
const char *bfe_wfp_error_name(uint32_t code);

/**
 * struct BfeError - what went wrong in the last call on an engine.
 * @error: the value the call returned (0 after a successful call)
 * @wfp_code: the WFP error code (0x8032xxxx), or 0 if it was not a WFP error
 * @wfp_name: the WFP error name ("FWP_E_IN_USE"), or NULL
 * @bus_name: the D-Bus error name ("org.bfed.Error.InUse"), or NULL for local failures
 * @message: human-readable text: the daemon's message if it sent one, else a description of
 *           @error; "" after a successful call. Never NULL.
 *
 * The strings belong to the engine and stay valid until the next call on it.
 */
typedef struct BfeError {
        int error;
        uint32_t wfp_code;
        const char *wfp_name;
        const char *bus_name;
        const char *message;
} BfeError;

/* ---- the engine handle --------------------------------------------------------------------- */

typedef struct BfeEngine BfeEngine;

/**
 * bfe_engine_open() - connect to bfed, without a session (see bfe_engine_open_session()).
 * @bus_address: a D-Bus address ("unix:path=/run/dbus/system_bus_socket"), or NULL for the
 *               system bus (DBUS_SYSTEM_BUS_ADDRESS overrides its default address)
 * @ret: the engine handle, released with bfe_engine_close()
 *
 * Connects and pings the engine object, so a daemon that is not running is reported here
 * rather than at the first call. With a NULL @bus_address, a process running as root first
 * tries bfed's private socket (/run/bfed/private, PrivateSocket= in bfed.conf; the environment
 * variable BFE_PRIVATE_SOCKET names another, or, set empty, none): the same interface without
 * dbus-daemon in between. Where it cannot connect, it uses the system bus.
 *
 * Return: 0, or a negative errno: connection failures (-ENOENT, -ECONNREFUSED, …),
 * -EHOSTUNREACH / -ENXIO if nobody owns org.bfed.Engine1, -ENOMEM.
 */
int bfe_engine_open(const char *bus_address, BfeEngine **ret);

/* Whether @e talks to bfed over its private socket rather than a bus (false for NULL). */
bool bfe_engine_is_private(const BfeEngine *e);

/* Disconnects and frees @e. Return: NULL. */
BfeEngine *bfe_engine_close(BfeEngine *e);

/**
 * bfe_engine_last_error() - the outcome of the last call made on @e.
 * @e: the engine
 *
 * Return: a pointer into @e, valid until the next call on @e.
 */
const BfeError *bfe_engine_last_error(const BfeEngine *e);

/* Engine properties. bfe_engine_get_version() and _get_table() return a malloc()ed string. */
int bfe_engine_get_exemptions_active(BfeEngine *e, bool *ret);
int bfe_engine_get_version(BfeEngine *e, char **ret);
int bfe_engine_get_table(BfeEngine *e, char **ret);                  /* nftables table name */
int bfe_engine_get_filter_count(BfeEngine *e, uint32_t *ret);        /* incl. engine-owned */

/**
 * struct BfeObstacle - something outside bfed's table that may drop the traffic the IKE/AuthIP
 * exemptions let through (in nftables an accept in bfed's table does not stop another table).
 * @table: another nftables table as "family name" ("inet filter", "ip filter"), or "firewalld"
 *         for something firewalld refused
 * @chain: that table's base chain; for "firewalld", the zone ("" for firewalld as a whole)
 * @what: what drops. From bfe_engine_get_exemption_obstacles(): which datagrams it drops for
 *        certain ("drops …") and which it may drop ("may drop …", depending on what bfed cannot
 *        know: addresses, interfaces, marks), then the rule: "may drop IPv4 UDP 500/4500 inbound
 *        new flows: policy drop"; or firewalld's refusal. From bfe_explain(): the rule alone
 * @certain: bfe_explain() only: it drops the explained packet whatever its unknown fields
 */
typedef struct BfeObstacle {
        char *table;
        char *chain;
        char *what;
        bool certain;
} BfeObstacle;

/**
 * bfe_engine_get_exemption_obstacles() - the ExemptionObstacles property.
 * @e: the engine
 * @ret: the obstacles, released with bfe_obstacle_array_free(); NULL when there are none
 * @ret_n: how many
 *
 * What bfed found in the other nftables tables, and what firewalld refused; it matters while
 * the exemptions are active. Return: 0 or a negative errno.
 */
int bfe_engine_get_exemption_obstacles(BfeEngine *e, BfeObstacle **ret, size_t *ret_n);
/* Frees @n obstacles and the array. */
void bfe_obstacle_array_free(BfeObstacle *a, size_t n);
/* A chain of another table that dropped exempted IKE datagrams, as bfed saw them go (the
 * ExemptedDrops property, an extension). table and chain "" stand for every chain beyond the 64
 * that bfed counts one by one. */
typedef struct BfeExemptedDrops {
        char *table;                    /* "inet filter": family and name */
        char *chain;
        uint64_t count;
} BfeExemptedDrops;

/* The chains in the order of their first drop, *@ret_n of them; free with bfe_exempted_drops_free(). */
int bfe_engine_get_exempted_drops(BfeEngine *e, BfeExemptedDrops **ret, size_t *ret_n);
void bfe_exempted_drops_free(BfeExemptedDrops *drops, size_t n);

/* ---- objects ------------------------------------------------------------------------------- */

/* WFP flag values (FWPM_*_FLAG_*). */
#define BFE_FLAG_PERSISTENT                         0x1u
#define BFE_FILTER_FLAG_BOOTTIME                    0x2u
#define BFE_FILTER_FLAG_HAS_PROVIDER_CONTEXT        0x4u
#define BFE_FILTER_FLAG_CLEAR_ACTION_RIGHT          0x8u
#define BFE_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED 0x10u
#define BFE_FILTER_FLAG_DISABLED                    0x20u

/* FWP_ACTION_TYPE values. */
#define BFE_ACTION_BLOCK                0x1001u
#define BFE_ACTION_PERMIT               0x1002u
#define BFE_ACTION_CALLOUT_TERMINATING  0x5003u

/* FWPM_PROVIDER_CONTEXT_TYPE values. */
#define BFE_CONTEXT_IPSEC_KEYING              0u
#define BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT    1u
#define BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL       2u
#define BFE_CONTEXT_IPSEC_AUTHIP_QM_TRANSPORT 3u
#define BFE_CONTEXT_IPSEC_AUTHIP_QM_TUNNEL    4u
#define BFE_CONTEXT_IPSEC_IKE_MM              5u
#define BFE_CONTEXT_IPSEC_AUTHIP_MM           6u
#define BFE_CONTEXT_CLASSIFY_OPTIONS          7u
#define BFE_CONTEXT_GENERAL                   8u
#define BFE_CONTEXT_IPSEC_IKEV2_QM_TUNNEL     9u
#define BFE_CONTEXT_IPSEC_IKEV2_MM            10u
#define BFE_CONTEXT_IPSEC_DOSP                11u
#define BFE_CONTEXT_IPSEC_IKEV2_QM_TRANSPORT  12u

/* IPSEC_POLICY_FLAG values: a quick-mode context's policy flags (BfeProviderContext.policy_flags).
 * The tunnel ones (CLEAR_DF_ON_TUNNEL and from ENABLE_V6_IN_V4_TUNNELING on) are for tunnel
 * contexts only. */
#define BFE_IPSEC_POLICY_FLAG_ND_SECURE                         0x2u
#define BFE_IPSEC_POLICY_FLAG_ND_BOUNDARY                       0x4u
#define BFE_IPSEC_POLICY_FLAG_CLEAR_DF_ON_TUNNEL                0x8u
#define BFE_IPSEC_POLICY_FLAG_NAT_ENCAP_ALLOW_PEER_BEHIND_NAT   0x10u
#define BFE_IPSEC_POLICY_FLAG_NAT_ENCAP_ALLOW_GENERAL_NAT_TRAVERSAL 0x20u
#define BFE_IPSEC_POLICY_FLAG_DONT_NEGOTIATE_SECOND_LIFETIME    0x40u
#define BFE_IPSEC_POLICY_FLAG_DONT_NEGOTIATE_BYTE_LIFETIME      0x80u
#define BFE_IPSEC_POLICY_FLAG_ENABLE_V6_IN_V4_TUNNELING         0x100u
#define BFE_IPSEC_POLICY_FLAG_ENABLE_SERVER_ADDR_ASSIGNMENT     0x200u
#define BFE_IPSEC_POLICY_FLAG_TUNNEL_ALLOW_OUTBOUND_CLEAR_CONNECTION 0x400u
#define BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ALREADY_SECURE_CONNECTION 0x800u
#define BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ICMPV6              0x1000u

/* Filter contexts (BfeFilter.raw_context) the IPsec transport callouts read (fwpmu.h). */
#define BFE_CONTEXT_IPSEC_INBOUND_PASSTHRU                      0x1u
#define BFE_CONTEXT_IPSEC_INBOUND_PERSIST_CONNECTION_SECURITY   0x2u
#define BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER           0x1u
#define BFE_CONTEXT_IPSEC_OUTBOUND_SUPPRESS_NEGOTIATION         0x2u

/* FWP_MATCH_TYPE values most used in conditions. */
#define BFE_MATCH_EQUAL     0u
#define BFE_MATCH_RANGE     5u
#define BFE_MATCH_NOT_EQUAL 10u

/* An opaque byte string (FWP_BYTE_BLOB). size 0 = not set. */
typedef struct BfeBlob {
        uint8_t *data;
        size_t size;
} BfeBlob;

/*
 * In all object structs: fields marked "out" are filled in by get/enum and ignored on add;
 * on add, NULL strings, zero keys, zero flags and empty blobs are not sent (engine default).
 * name is required on add.
 */

typedef struct BfeProvider {
        BfeKey key;
        char *name;
        char *description;
        uint32_t flags;
        BfeBlob provider_data;
} BfeProvider;

typedef struct BfeSublayer {
        BfeKey key;
        char *name;
        char *description;
        uint32_t flags;
        BfeKey provider_key;
        BfeBlob provider_data;
        uint16_t weight;                /* higher is evaluated first; always sent */
} BfeSublayer;

typedef struct BfeProviderContext {
        BfeKey key;
        char *name;
        char *description;
        uint32_t flags;
        BfeKey provider_key;
        BfeBlob provider_data;
        uint32_t type;                  /* BFE_CONTEXT_*; always sent */
        BfeBlob data;                   /* the opaque policy */
        uint32_t policy_flags;          /* quick-mode contexts: BFE_IPSEC_POLICY_FLAG_* */
        uint64_t id;                    /* out */
} BfeProviderContext;

/**
 * struct BfeCondition - one filter condition.
 * @field: the WFP condition name without FWPM_CONDITION_ ("IP_PROTOCOL"), or its GUID
 * @match: FWP_MATCH_TYPE (BFE_MATCH_EQUAL, …)
 * @value: text parsed by the daemon for the field's type: "udp", "500", "500-510",
 *         "192.0.2.0/24", "2001:db8::/32", "eth0", a user name or uid
 */
typedef struct BfeCondition {
        char *field;
        uint32_t match;
        char *value;
} BfeCondition;

typedef enum BfeWeightKind {
        BFE_WEIGHT_AUTO = 0,            /* FWP_EMPTY: the engine computes it */
        BFE_WEIGHT_RANGE = 1,           /* FWP_UINT8 0–15: a weight range */
        BFE_WEIGHT_EXPLICIT = 2,        /* FWP_UINT64 */
} BfeWeightKind;

/**
 * struct BfeFilter - a filter (FWPM_FILTER0).
 * @key: the filter key; zero on add = generated
 * @name: display name (required on add)
 * @description: optional
 * @flags: BFE_FLAG_PERSISTENT, BFE_FILTER_FLAG_CLEAR_ACTION_RIGHT, …
 * @provider_key: owning provider, or zero
 * @provider_data: opaque provider data
 * @layer: layer name without FWPM_LAYER_ ("IKEEXT_V4") or its GUID; out: the name
 * @layer_key: out: the layer's GUID
 * @sublayer_key: the sublayer; zero = FWPM_SUBLAYER_UNIVERSAL
 * @weight_kind: how @weight is to be read
 * @weight: the range (0–15) or the explicit weight; ignored for BFE_WEIGHT_AUTO
 * @effective_weight: out: the weight the engine uses
 * @action: BFE_ACTION_*; 0 on add = not sent (daemon default)
 * @callout_key: for BFE_ACTION_CALLOUT_TERMINATING: the callout, or zero
 * @provider_context_key: the referenced provider context, or zero
 * @conditions: @n_conditions conditions, all ANDed except consecutive ones on one field (ORed)
 * @n_conditions: number of @conditions
 * @id: out: the runtime filter id
 * @engine_owned: out: true for the filters bfed adds itself (IKE/AuthIP exemptions)
 */
typedef struct BfeFilter {
        BfeKey key;
        char *name;
        char *description;
        uint32_t flags;
        BfeKey provider_key;
        BfeBlob provider_data;
        char *layer;
        BfeKey layer_key;
        BfeKey sublayer_key;
        BfeWeightKind weight_kind;
        uint64_t weight;
        uint64_t effective_weight;
        uint32_t action;
        BfeKey callout_key;
        BfeKey provider_context_key;
        uint64_t raw_context;           /* WFP's rawContext, when there is no provider context */
        BfeCondition *conditions;
        size_t n_conditions;
        uint64_t id;
        bool engine_owned;
} BfeFilter;

/* Enumeration templates: NULL/zero fields match anything. */
typedef struct BfeProviderContextTemplate {
        BfeKey provider_key;
        bool match_type;                /* only contexts of @type */
        uint32_t type;
} BfeProviderContextTemplate;

typedef struct BfeFilterTemplate {
        const char *layer;
        BfeKey provider_key;
        BfeKey sublayer_key;
} BfeFilterTemplate;

/*
 * Add / delete / get / enumerate. add writes the key the engine used (and, for contexts and
 * filters, the id) to the optional ret_ pointers. get returns one object, enum an array of
 * *ret_n objects (possibly zero, with *ret_array NULL). A template may be NULL for "all".
 * Missing objects fail with the WFP *_NOT_FOUND error of their kind.
 *
 * enum lists every matching object, at any database size: it pages through them itself
 * (see "paged enumeration" below), 1,000 a call, and destroys its handle before it returns,
 * also when it fails. The list is a snapshot taken when it starts.
 */
int bfe_provider_add(BfeEngine *e, const BfeProvider *p, BfeKey *ret_key);
int bfe_provider_delete(BfeEngine *e, const BfeKey *key);
int bfe_provider_get(BfeEngine *e, const BfeKey *key, BfeProvider **ret);
int bfe_provider_enum(BfeEngine *e, BfeProvider **ret_array, size_t *ret_n);

int bfe_sublayer_add(BfeEngine *e, const BfeSublayer *s, BfeKey *ret_key);
int bfe_sublayer_delete(BfeEngine *e, const BfeKey *key);
int bfe_sublayer_get(BfeEngine *e, const BfeKey *key, BfeSublayer **ret);
int bfe_sublayer_enum(BfeEngine *e, BfeSublayer **ret_array, size_t *ret_n);

int bfe_provider_context_add(BfeEngine *e, const BfeProviderContext *c, BfeKey *ret_key, uint64_t *ret_id);
int bfe_provider_context_delete(BfeEngine *e, const BfeKey *key);
int bfe_provider_context_get(BfeEngine *e, const BfeKey *key, BfeProviderContext **ret);
int bfe_provider_context_enum(BfeEngine *e, const BfeProviderContextTemplate *t,
                              BfeProviderContext **ret_array, size_t *ret_n);

int bfe_filter_add(BfeEngine *e, const BfeFilter *f, BfeKey *ret_key, uint64_t *ret_id);
/**
 * bfe_filter_add_many() - adds @n filters in one call (AddFilters), all or none.
 * @ret_ids: optional: room for @n ids, filled in order on success
 *
 * Outside a transaction the filters reach the kernel as one batch. A refusal changes nothing;
 * its message names the filter's index ("filters[3]: …"). At most 100,000 per call.
 * Return: 0 or a negative errno / WFP error as for bfe_filter_add().
 */
int bfe_filter_add_many(BfeEngine *e, const BfeFilter *filters, size_t n, uint64_t *ret_ids);
int bfe_filter_delete_by_key(BfeEngine *e, const BfeKey *key);
int bfe_filter_delete_by_id(BfeEngine *e, uint64_t id);
int bfe_filter_get_by_key(BfeEngine *e, const BfeKey *key, BfeFilter **ret);
int bfe_filter_get_by_id(BfeEngine *e, uint64_t id, BfeFilter **ret);
int bfe_filter_enum(BfeEngine *e, const BfeFilterTemplate *t, BfeFilter **ret_array, size_t *ret_n);

/* Free one returned object, or an enumerated array of @n objects. Return: NULL. */
BfeProvider *bfe_provider_free(BfeProvider *p);
BfeProvider *bfe_provider_array_free(BfeProvider *a, size_t n);
BfeSublayer *bfe_sublayer_free(BfeSublayer *s);
BfeSublayer *bfe_sublayer_array_free(BfeSublayer *a, size_t n);
BfeProviderContext *bfe_provider_context_free(BfeProviderContext *c);
BfeProviderContext *bfe_provider_context_array_free(BfeProviderContext *a, size_t n);
BfeFilter *bfe_filter_free(BfeFilter *f);
BfeFilter *bfe_filter_array_free(BfeFilter *a, size_t n);

/* ---- paged enumeration --------------------------------------------------------------------- */

/*
 * WFP's enumeration handles (FwpmFilterCreateEnumHandle0, FwpmFilterEnum0,
 * FwpmFilterDestroyEnumHandle0 and their siblings for the other kinds), for callers that want
 * to process a large database a page at a time instead of holding all of it.
 *
 * Creating a handle takes a snapshot of the matching objects, in enumeration order: objects
 * deleted afterwards are still listed, objects added afterwards are not. A handle belongs to
 * the engine's bus connection (with a session, to the session's) and dies with it, on
 * bfe_enum_handle_destroy(), or after 60 s without use; a connection holds at most 16
 * handles and a user 64 (FWP_E_OUT_OF_BOUNDS beyond). A handle that is unknown, destroyed,
 * expired, another connection's or of another kind is FWP_E_INVALID_ENUMERATOR.
 */
typedef uint64_t BfeEnumHandle;

/**
 * bfe_filter_create_enum_handle() - snapshot the filters that match @t
 *                                   (FwpmFilterCreateEnumHandle0).
 * @e: the engine
 * @t: the template, as for bfe_filter_enum(); NULL for all filters
 * @ret: the handle, for bfe_filter_enum_page(); release it with bfe_enum_handle_destroy()
 *
 * bfe_provider_create_enum_handle(), bfe_sublayer_create_enum_handle() (all objects of the
 * kind) and bfe_provider_context_create_enum_handle() (with its template) do the same for
 * their kinds.
 *
 * Return: 0; -EINVAL for a NULL @e or @ret; FWP_E_LAYER_NOT_FOUND for an unknown template
 * layer; FWP_E_OUT_OF_BOUNDS when the connection or the user holds too many handles; a bus
 * error.
 */
int bfe_filter_create_enum_handle(BfeEngine *e, const BfeFilterTemplate *t, BfeEnumHandle *ret);
int bfe_provider_create_enum_handle(BfeEngine *e, BfeEnumHandle *ret);
int bfe_sublayer_create_enum_handle(BfeEngine *e, BfeEnumHandle *ret);
int bfe_provider_context_create_enum_handle(BfeEngine *e, const BfeProviderContextTemplate *t,
                                            BfeEnumHandle *ret);

/**
 * bfe_filter_enum_page() - the next filters of an enumeration (FwpmFilterEnum0).
 * @e: the engine whose connection created @h
 * @h: a filter enumeration handle
 * @n: the most filters to return
 * @ret_array: the filters, released with bfe_filter_array_free(); NULL when there are none
 * @ret_n: how many: @n, or fewer only when the enumeration is complete (0 once it was)
 *
 * bfed answers at most 10,000 objects and about 4 MiB in one reply, and says whether more
 * remain; this call asks again until it has @n objects or none remain, so a short page
 * always means the end. bfe_provider_enum_page(), bfe_sublayer_enum_page() and
 * bfe_provider_context_enum_page() do the same for their kinds.
 *
 * Return: 0; -EINVAL for a NULL @e, @ret_array or @ret_n; FWP_E_INVALID_ENUMERATOR (see
 * above); -EBADMSG for a reply that cannot be read or paged with; a bus error. On failure
 * nothing is returned, and the enumeration may have moved on by the objects read.
 */
int bfe_filter_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeFilter **ret_array, size_t *ret_n);
int bfe_provider_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeProvider **ret_array, size_t *ret_n);
int bfe_sublayer_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeSublayer **ret_array, size_t *ret_n);
int bfe_provider_context_enum_page(BfeEngine *e, BfeEnumHandle h, size_t n, BfeProviderContext **ret_array,
                                   size_t *ret_n);

/**
 * bfe_enum_handle_destroy() - release an enumeration handle of any kind
 *                             (Fwpm*DestroyEnumHandle0).
 * @e: the engine whose connection created @h
 * @h: the handle
 *
 * Return: 0; -EINVAL for a NULL @e; FWP_E_INVALID_ENUMERATOR (see above); a bus error.
 */
int bfe_enum_handle_destroy(BfeEngine *e, BfeEnumHandle h);

/* ---- explain ------------------------------------------------------------------------------- */

/**
 * struct BfeExplainField - one field of the packet to explain.
 * @name: the field: IP_PROTOCOL, IP_LOCAL_PORT, IP_REMOTE_PORT, IP_LOCAL_ADDRESS,
 *        IP_REMOTE_ADDRESS, IP_LOCAL_INTERFACE, FLAGS, ALE_USER_ID, BFED_LOCAL_SYSTEM or
 *        BFED_LOCALLY_INITIATED
 * @value: its value as text: "udp" or "17", "500", "192.0.2.1", "eth0", "loopback,ipsec-secured"
 *         (FLAGS, may be empty), a uid or user name, "true"/"false"
 *
 * The daemon validates both: an unknown @name is org.freedesktop.DBus.Error.InvalidArgs
 * (-EINVAL), a bad @value FWP_E_TYPE_MISMATCH. Fields left out are not known to the engine.
 */
typedef struct BfeExplainField {
        const char *name;
        const char *value;
} BfeExplainField;

typedef enum BfeExplainVerdict {
        BFE_EXPLAIN_VERDICT_UNKNOWN = 0,        /* a verdict this libbfe does not know */
        BFE_EXPLAIN_VERDICT_PERMIT,
        BFE_EXPLAIN_VERDICT_BLOCK,
} BfeExplainVerdict;

/* What a sublayer did with the packet. */
typedef enum BfeExplainOutcome {
        BFE_EXPLAIN_OUTCOME_UNKNOWN = 0,        /* an outcome this libbfe does not know */
        BFE_EXPLAIN_OUTCOME_BLOCK,              /* "block": a block filter matched; final */
        BFE_EXPLAIN_OUTCOME_HARD_PERMIT,        /* "hard-permit": ends the layer, permitted */
        BFE_EXPLAIN_OUTCOME_SOFT_PERMIT,        /* "soft-permit": lower sublayers may still block */
        BFE_EXPLAIN_OUTCOME_REQUIRE_IPSEC,      /* "require-ipsec": a require-IPsec callout
                                                 * dropped the packet, which was not secured */
        BFE_EXPLAIN_OUTCOME_NO_MATCH,           /* "no-match": no filter of it matched */
        BFE_EXPLAIN_OUTCOME_NOT_EVALUATED,      /* "not-evaluated": a higher sublayer's block or
                                                 * hard permit already ended the layer */
} BfeExplainOutcome;

/**
 * struct BfeExplainStep - what one sublayer did.
 * @sublayer_key: the sublayer
 * @sublayer_name: its display name
 * @filter_id: the filter that matched in it, or 0
 * @filter_name: that filter's name ("" when @filter_id is 0)
 * @outcome: the outcome, BFE_EXPLAIN_OUTCOME_UNKNOWN for a name this libbfe does not know
 * @outcome_name: the outcome as the daemon named it ("soft-permit")
 */
typedef struct BfeExplainStep {
        BfeKey sublayer_key;
        char *sublayer_name;
        uint64_t filter_id;
        char *filter_name;
        BfeExplainOutcome outcome;
        char *outcome_name;
} BfeExplainStep;

/**
 * struct BfeExplainResult - the engine's decision for one packet at one layer.
 * @verdict: permit or block
 * @verdict_name: the verdict as the daemon named it ("permit", "block")
 * @filter_id: the filter that decided, or 0 when none matched and the default permit applies
 * @trace: one step per sublayer, in evaluation order (highest sublayer weight first)
 * @n_trace: number of @trace steps
 * @obstacles: for a packet bfed permits that is a datagram the exemptions cover (UDP 500, 4500):
 *             the base chains of other nftables tables that drop it (@certain) or may drop it
 *             nevertheless; NULL when none does (or the daemon is older)
 * @n_obstacles: number of @obstacles
 */
typedef struct BfeExplainResult {
        BfeExplainVerdict verdict;
        char *verdict_name;
        uint64_t filter_id;
        BfeExplainStep *trace;
        size_t n_trace;
        BfeObstacle *obstacles;
        size_t n_obstacles;
} BfeExplainResult;

/**
 * bfe_explain() - ask the engine what it would do with a packet, without sending one.
 * @e: the engine
 * @layer: a layer that is compiled to nftables, by name without FWPM_LAYER_
 *         (INBOUND_TRANSPORT_V4, OUTBOUND_TRANSPORT_V6, ALE_AUTH_RECV_ACCEPT_V4,
 *         ALE_AUTH_CONNECT_V6, ...)
 * @fields: the packet, @n_fields fields (each name at most once); may be NULL if @n_fields is 0
 * @n_fields: number of @fields
 * @ret: the decision, released with bfe_explain_result_free()
 *
 * Calls Explain on org.bfed.Engine1. The engine computes the decision from the same filter
 * order that it compiles into nftables. Needs no privilege.
 *
 * Return: 0; -EINVAL for a NULL @layer, a field with a NULL name or value, or a field the
 * daemon does not know; a WFP error such as FWP_E_LAYER_NOT_FOUND or FWP_E_TYPE_MISMATCH;
 * -EBADMSG if the reply cannot be read.
 */
int bfe_explain(BfeEngine *e, const char *layer, const BfeExplainField *fields, size_t n_fields,
                BfeExplainResult **ret);

/* Frees a result of bfe_explain(). Return: NULL. */
BfeExplainResult *bfe_explain_result_free(BfeExplainResult *r);

/* ---- sessions and transactions ------------------------------------------------------------ */

/*
 * A session is what FwpmEngineOpen0() opens with an FWPM_SESSION0: bfe_engine_open_session()
 * connects to bfed and calls OpenSession; every object call on the returned engine then goes
 * to the session object (/org/bfed/Engine1/session/N) instead of the engine object. The session
 * belongs to the engine's bus connection: it closes on bfe_session_close() or
 * bfe_engine_close(), and when the process dies (the connection goes away). Closing aborts
 * the session's open transaction and, for a dynamic session, deletes every object it added.
 *
 * An engine opened with bfe_engine_open() has no session: each call is its own implicit
 * transaction, and the transaction calls below fail with -EINVAL.
 */

/* FWPM_SESSION_FLAG_DYNAMIC: the session's objects are deleted when it closes. */
#define BFE_SESSION_FLAG_DYNAMIC 0x1u

/* For txn_wait_timeout_msec: wait for the transaction lock without a limit. */
#define BFE_INFINITE 0xFFFFFFFFu

/**
 * struct BfeSessionOptions - the session to open (FWPM_SESSION0).
 * @name: display name, or NULL
 * @description: or NULL
 * @flags: BFE_SESSION_FLAG_DYNAMIC or 0
 * @txn_wait_timeout_msec: how long a write of this session waits while another session holds
 *                         a write transaction before failing with FWP_E_TIMEOUT; 0 = the
 *                         engine's default (15 s); BFE_INFINITE = no limit
 */
typedef struct BfeSessionOptions {
        const char *name;
        const char *description;
        uint32_t flags;
        uint32_t txn_wait_timeout_msec;
} BfeSessionOptions;

/**
 * bfe_engine_open_session() - connect to bfed and open a session (FwpmEngineOpen0).
 * @bus_address: as for bfe_engine_open()
 * @options: the session; NULL = a non-dynamic session with the engine's defaults
 * @ret: the engine handle, bound to the session; released with bfe_engine_close()
 *
 * Each call opens its own bus connection, so the session lives exactly as long as the
 * handle (or the process). Method calls on the handle wait for the daemon up to the session's
 * txn_wait_timeout_msec plus 25 s (without a limit for BFE_INFINITE), since a write may wait
 * for another session's transaction.
 *
 * Return: 0, or the errors of bfe_engine_open(), or the daemon's refusal of OpenSession
 * (-EACCES for an unprivileged caller, -EINVAL for options it does not accept).
 */
int bfe_engine_open_session(const char *bus_address, const BfeSessionOptions *options,
                            BfeEngine **ret);

/* The session's object path, or NULL if @e has no (open) session. Valid until it closes. */
const char *bfe_engine_get_session_path(const BfeEngine *e);

/**
 * bfe_session_close() - close the session of @e now (Close on org.bfed.Session1).
 * @e: an engine opened with bfe_engine_open_session()
 *
 * Synchronous: when it returns, an open transaction has been aborted and a dynamic session's
 * objects are deleted. Afterwards object and transaction calls on @e fail with -ENOTCONN;
 * change subscriptions and bfe_engine_wait() keep working. bfe_engine_close() closes an open
 * session itself (ignoring errors); call this one to see them.
 *
 * Return: 0; -EINVAL if @e has no session; -ENOTCONN if it is already closed; a bus error.
 */
int bfe_session_close(BfeEngine *e);

/* FWPM_TXN_READ_ONLY: a transaction that only reads (writes fail with FWP_E_INCOMPATIBLE_TXN). */
#define BFE_TXN_READ_ONLY 0x1u

/**
 * bfe_transaction_begin() - begin a transaction in the session (FwpmTransactionBegin0).
 * @e: an engine with a session
 * @flags: 0 (read/write) or BFE_TXN_READ_ONLY
 *
 * Until commit the session's changes are not applied: they go to the kernel in one netlink
 * batch at commit, and their Changed signals after it. A failed call inside the transaction
 * does not doom it. One write transaction at a time engine-wide: other sessions' writes wait
 * (up to their txn_wait_timeout_msec, then FWP_E_TIMEOUT).
 *
 * Return: 0; -EINVAL without a session; -ENOTCONN after bfe_session_close();
 * FWP_E_TXN_IN_PROGRESS if one is already open; FWP_E_TIMEOUT.
 */
int bfe_transaction_begin(BfeEngine *e, uint32_t flags);

/*
 * bfe_transaction_commit() / _abort(): end the session's transaction (FwpmTransactionCommit0 /
 * FwpmTransactionAbort0). Commit applies everything or, if the kernel refuses the batch,
 * nothing (the database is as before the transaction and the error says why). Both fail with
 * FWP_E_NO_TXN_IN_PROGRESS without an open transaction, and with FWP_E_TXN_ABORTED if the
 * engine aborted it for being held too long.
 */
int bfe_transaction_commit(BfeEngine *e);
int bfe_transaction_abort(BfeEngine *e);

/* ---- change notifications ------------------------------------------------------------------ */

/* The kind of object a change is about. */
typedef enum BfeObjectKind {
        BFE_OBJECT_UNKNOWN = 0,                 /* a kind this libbfe does not know */
        BFE_OBJECT_PROVIDER = 1,                /* "provider" */
        BFE_OBJECT_SUBLAYER = 2,                /* "sublayer" */
        BFE_OBJECT_PROVIDER_CONTEXT = 3,        /* "providercontext" */
        BFE_OBJECT_FILTER = 4,                  /* "filter" */
} BfeObjectKind;

/* FWPM_CHANGE_TYPE values. */
#define BFE_CHANGE_ADD    1u
#define BFE_CHANGE_DELETE 2u

/**
 * struct BfeChange - one Changed signal (FWPM_FILTER_CHANGE0 and its siblings).
 * @kind: the object kind
 * @kind_name: the kind as the daemon named it ("filter")
 * @change_type: BFE_CHANGE_ADD, BFE_CHANGE_DELETE (or a newer value, passed on as is)
 * @key: the object's key
 * @id: the filter or provider context id; 0 for the kinds without one
 */
typedef struct BfeChange {
        BfeObjectKind kind;
        const char *kind_name;
        uint32_t change_type;
        BfeKey key;
        uint64_t id;
} BfeChange;

/* Bit of BfeChangeSubscription.kinds for one kind. */
#define BFE_OBJECT_KIND_MASK(kind) (1u << (kind))

/* FWPM_SUBSCRIPTION_FLAG_* values. */
#define BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD    0x1u
#define BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE 0x2u

/**
 * struct BfeChangeSubscription - which changes to deliver.
 * @kinds: BFE_OBJECT_KIND_MASK() bits of the kinds wanted; 0 = every kind (also unknown ones)
 * @flags: BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD / _ON_DELETE; 0 = both (and newer change types)
 */
typedef struct BfeChangeSubscription {
        uint32_t kinds;
        uint32_t flags;
} BfeChangeSubscription;

/* Called for each change; @change is valid only during the call. */
typedef void (*BfeChangeCallback)(BfeEngine *e, const BfeChange *change, void *userdata);

typedef struct BfeSubscription BfeSubscription;

/**
 * bfe_subscribe_changes() - deliver the engine's Changed signals to @callback
 *                           (Fwpm*SubscribeChanges0).
 * @e: the engine (with or without a session)
 * @subscription: what to deliver; NULL = everything
 * @callback: called from bfe_engine_process() / bfe_engine_wait() only, never from inside
 *            another libbfe call
 * @userdata: passed to @callback
 * @ret: optional: the subscription, for bfe_unsubscribe_changes(); it is owned by @e and
 *       freed with it otherwise
 *
 * The match is installed on the bus before this returns, so every change the engine makes
 * afterwards is delivered. Unlike WFP, bfed signals every change, including those made
 * through @e itself. The daemon emits them after the kernel applied the change (after the
 * commit for a transaction's changes), a signal carrying the changes of a commit; @callback
 * runs once per change, in order. It may end its own subscription: the rest of that signal's
 * changes then go to no one. Signals are accepted only from the owner of org.bfed.Engine1,
 * and keep arriving across a restart of bfed.
 *
 * Return: 0; -EINVAL; a bus error.
 */
int bfe_subscribe_changes(BfeEngine *e, const BfeChangeSubscription *subscription,
                          BfeChangeCallback callback, void *userdata, BfeSubscription **ret);

/* Stops a subscription and frees it. Return: NULL. */
BfeSubscription *bfe_unsubscribe_changes(BfeSubscription *s);

/* ---- net events ---------------------------------------------------------------------------- */

/**
 * struct BfeNetEventTemplate - which drops a net event subscription gets (FWPM_NET_EVENT_SUBSCRIPTION0's
 * template, as far as bfed has one); each member that is set must match.
 * @filter_id: only this filter's drops; 0 = any
 * @layer: only drops at this layer (its name, "INBOUND_TRANSPORT_V4", or GUID); NULL = any
 * @ip_version: 4 or 6; 0 = any
 */
typedef struct BfeNetEventTemplate {
        uint64_t filter_id;
        const char *layer;
        uint8_t ip_version;
} BfeNetEventTemplate;

/**
 * struct BfeNetEvent - one packet a filter of bfed's dropped (FWPM_NET_EVENT_CLASSIFY_DROP0 with
 * FWPM_NET_EVENT_HEADER0's fields); the strings are valid during the callback only.
 * @time_usec: when the kernel dropped it (or, without its time stamp, when bfed read it): µs since
 *             the epoch, CLOCK_REALTIME
 * @filter_id: the filter that dropped it (a block filter, or a "require IPsec" callout)
 * @layer: the filter's layer, "INBOUND_TRANSPORT_V4"
 * @inbound: the direction: true on the way in
 * @ip_version: 4 or 6
 * @protocol: the IP protocol (17 UDP, 6 TCP, …)
 * @local_address, @remote_address: the addresses as text, local and remote as the layer sees them
 * @local_port, @remote_port: the ports; 0 for a protocol without them
 * @suppressed: drops this subscription was not told of since its previous event: beyond its rate
 *              (BFE_NET_EVENT_RATE a second), or lost before bfed read them
 */
typedef struct BfeNetEvent {
        uint64_t time_usec;
        uint64_t filter_id;
        const char *layer;
        bool inbound;
        uint8_t ip_version;
        uint8_t protocol;
        const char *local_address, *remote_address;
        uint16_t local_port, remote_port;
        uint64_t suppressed;
} BfeNetEvent;

/* The most events a subscription gets in a second. */
#define BFE_NET_EVENT_RATE 100

/* Called for each event; @ev is valid only during the call. */
typedef void (*BfeNetEventCallback)(BfeEngine *e, const BfeNetEvent *ev, void *userdata);

typedef struct BfeNetEventSubscription BfeNetEventSubscription;

/**
 * bfe_net_events_subscribe() - deliver the drops of bfed's filters to @callback
 *                              (FwpmNetEventSubscribe0).
 * @e: the engine (the subscription is on the engine object, with or without a session)
 * @template: which drops; NULL = all
 * @callback: called from bfe_engine_process() / bfe_engine_wait() only
 * @userdata: passed to @callback
 * @ret: optional: the subscription, for bfe_net_events_unsubscribe(); it is owned by @e and ends
 *       with it otherwise
 *
 * Needs root or CAP_NET_ADMIN. While anyone subscribes, bfed's rules that drop log what they
 * drop (an nflog statement each); without subscribers they do not, and cost nothing more. The
 * events of a subscription come to its connection alone, at most BFE_NET_EVENT_RATE a second.
 *
 * Return: 0; -EACCES for an unprivileged caller; FWP_E_OUT_OF_BOUNDS beyond 8 subscriptions
 * of a connection (64 in all); FWP_E_LAYER_NOT_FOUND; FWP_E_NEVER_MATCH for a template no drop
 * can match; FWP_E_NET_EVENTS_DISABLED when bfed cannot log (its nflog group is taken, or the
 * kernel refuses the log statements).
 */
int bfe_net_events_subscribe(BfeEngine *e, const BfeNetEventTemplate *template, BfeNetEventCallback callback,
                             void *userdata, BfeNetEventSubscription **ret);

/* Ends the subscription (FwpmNetEventUnsubscribe0) and frees it; NULL is fine. Return: 0, or the
 * daemon's error (the subscription is freed all the same). */
int bfe_net_events_unsubscribe(BfeNetEventSubscription *s);

/*
 * Running the connection. Signals are read while libbfe waits for replies but dispatched only
 * here. To integrate into a poll() loop: poll bfe_engine_get_fd() for bfe_engine_get_events(),
 * then call bfe_engine_process(). Or block in bfe_engine_wait().
 */
int bfe_engine_get_fd(BfeEngine *e);
int bfe_engine_get_events(BfeEngine *e);        /* POLLIN, plus POLLOUT while output is queued */

/**
 * bfe_engine_process() - dispatch everything already received, without blocking.
 * Return: the number of messages processed (>= 0); -ECONNRESET etc. when the bus connection
 * is gone.
 */
int bfe_engine_process(BfeEngine *e);

/**
 * bfe_engine_wait() - wait up to @timeout_usec (UINT64_MAX = forever) for something to arrive,
 *                     and dispatch it.
 * Return: > 0 if messages were processed, 0 on timeout, -EINTR if a signal interrupted the
 * wait, or a negative errno when the connection is gone.
 */
int bfe_engine_wait(BfeEngine *e, uint64_t timeout_usec);

/* ---- asynchronous calls (pipelining) ------------------------------------------------------ */

/*
 * Without waiting for the reply, an asynchronous call queues its D-Bus call on the engine's
 * connection (to the session object if the engine has a session, with the same timeout as the
 * synchronous calls) and returns. Many calls may be in flight at once, each still one D-Bus
 * call: the daemon reads them back to back, and may apply them to the kernel together,
 * instead of one round trip after the other.
 *
 * Keep at most a few dozen in flight (bfed-bench uses 64): dbus-daemon allows a connection
 * only max_replies_per_connection calls awaiting a reply (128 by default on the system bus)
 * and refuses the ones beyond at once, with org.freedesktop.DBus.Error.LimitsExceeded
 * (-ENOBUFS in the callback; those callbacks run before the earlier calls' callbacks).
 *
 * The callback runs exactly once for every call that was sent (the function returned 0):
 *   - from bfe_engine_process() / bfe_engine_wait(), never from inside the function that sent
 *     the call, nor from other libbfe calls. bfed answers a connection's changes in the order
 *     they came, so the callbacks run in the order of the calls. A synchronous call made while
 *     asynchronous ones are in flight works; replies read while it waited are kept for the
 *     next bfe_engine_process() / bfe_engine_wait(), which dispatches them without blocking;
 *   - with r = 0 on success; with r < 0 and @error on failure: the same values and BfeError
 *     (WFP code and name, bus error name, the daemon's message) the synchronous call would
 *     have returned. @error is valid only during the callback; on success it is NULL. If the
 *     connection is lost first, r is -ECONNRESET (the daemon may or may not have carried the
 *     call out); if no reply comes within the timeout, -ETIMEDOUT;
 *   - with r = -ECANCELED, from bfe_engine_close(), for the calls still in flight when the
 *     engine is closed (their replies are not waited for; the daemon may or may not have
 *     carried them out). New asynchronous calls from such a callback fail with -ECANCELED.
 * A callback may make libbfe calls on @e, synchronous or asynchronous, but must not close it.
 * Asynchronous calls do not change bfe_engine_last_error() when they complete; the function
 * that sends one sets it like any other call (to its own failure, if it returns < 0).
 */

/**
 * BfeFilterAddCallback - the outcome of bfe_filter_add_async().
 * @e: the engine
 * @r: 0, or the negative value bfe_filter_add() would have returned
 * @key: on success the filter's key (valid during the callback), else NULL
 * @id: on success the filter's runtime id, else 0
 * @error: on failure what went wrong (valid during the callback), else NULL
 * @userdata: as given to bfe_filter_add_async()
 */
typedef void (*BfeFilterAddCallback)(BfeEngine *e, int r, const BfeKey *key, uint64_t id,
                                     const BfeError *error, void *userdata);

/* The outcome of an asynchronous call that returns nothing; @r and @error as above. */
typedef void (*BfeCallCallback)(BfeEngine *e, int r, const BfeError *error, void *userdata);

/**
 * bfe_filter_add_async() - bfe_filter_add() without waiting for the reply.
 * @e: the engine
 * @f: the filter, as for bfe_filter_add(); encoded before this returns, so it may be freed
 *     or reused at once
 * @callback: called once with the outcome (see above)
 * @userdata: passed to @callback
 *
 * Return: 0 if the call was sent; a negative errno if it could not be (-EINVAL for a NULL
 * @f or @callback, -EINVAL or -ERANGE for a filter that cannot be encoded, -ENOTCONN after
 * bfe_session_close() or when the connection is gone, -ENOMEM, …); then @callback is never
 * called.
 */
int bfe_filter_add_async(BfeEngine *e, const BfeFilter *f, BfeFilterAddCallback callback,
                         void *userdata);

/**
 * bfe_filter_add_many_async() - bfe_filter_add_many() without waiting for the reply.
 * @ret_ids: optional: room for @n ids, filled in order before @callback runs with success; it
 *           must stay valid until then
 *
 * Several such calls in flight let a provider encode the next filters while bfed reads the last
 * ones. Returns and calls @callback as bfe_filter_add_async() does.
 */
int bfe_filter_add_many_async(BfeEngine *e, const BfeFilter *filters, size_t n, uint64_t *ret_ids,
                              BfeCallCallback callback, void *userdata);

/* bfe_filter_delete_by_id() without waiting for the reply; returns as bfe_filter_add_async(). */
int bfe_filter_delete_by_id_async(BfeEngine *e, uint64_t id, BfeCallCallback callback,
                                  void *userdata);

/* The number of asynchronous calls sent on @e whose callback has not run yet (0 for NULL). */
unsigned bfe_engine_pending_calls(BfeEngine *e);

#ifdef __cplusplus
}
#endif
