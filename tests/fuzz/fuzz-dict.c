/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-dict.c — libFuzzer target: the a{sv} dictionaries callers send (object_read(), the
 * daemon's strict reader and libbfe's lenient one) and what the engine makes of them.
 *
 * The input is a little program that builds an AddFilter-like message: byte 0 picks the
 * object kind, then each entry takes a byte for its key (a known key or fuzz text) and one for
 * its value's type, then the value's bytes. The message is read back strictly (borrowing its
 * strings, as the daemon does) and leniently (copying, as libbfe does), and whatever the
 * strict reader accepts goes to the engine in a transaction, which is then aborted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "engine.h"
#include "macro.h"
#include "object-bus.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Input {
        const uint8_t *p;
        size_t n;
} Input;

static uint8_t take_byte(Input *in) {
        uint8_t b = 0;

        if (in->n > 0) {
                b = in->p[0];
                in->p++;
                in->n--;
        }
        return b;
}

/* A NUL-free text of up to the next byte's value in length (sd-bus checks UTF-8 itself). */
static char *take_text(Input *in) {
        size_t len = take_byte(in), k = 0;
        char *s = malloc(len + 1);

        if (!s)
                return NULL;
        while (k < len && in->n > 0) {
                uint8_t b = take_byte(in);

                if (b)
                        s[k++] = (char) b;
        }
        s[k] = 0;
        return s;
}

static const char *const keys[] = {
        "Key", "Name", "Description", "Flags", "ProviderKey", "ProviderData", "Weight", "Type", "Data",
        "Layer", "SubLayer", "Action", "CalloutKey", "ProviderContextKey", "Conditions", "Id", "EngineOwned",
};

static const char *const texts[] = {
        "", "8a2c7e01-3b0d-4f25-9a6e-0c5d1e2f3a4b", "IKEEXT_V4", "INBOUND_TRANSPORT_V6", "udp", "500",
        "192.0.2.0/24", "2001:db8::/32", "7000-7010", "eebecc03-ced4-4380-819a-2734397b2b74",
        "IP_PROTOCOL", "IP_LOCAL_PORT", "IP_REMOTE_ADDRESS", "FLAGS", "ALE_USER_ID", "loopback",
};

static int append_value(sd_bus_message *m, Input *in) {
        _cleanup_(freep) char *s = NULL;
        uint8_t type = take_byte(in) % 9;
        int r;

        switch (type) {
        case 0:                         /* s: fuzz text or a useful one */
                if (take_byte(in) & 1)
                        return sd_bus_message_append(m, "v", "s", texts[take_byte(in) % ELEMENTSOF(texts)]);
                s = take_text(in);
                return s ? sd_bus_message_append(m, "v", "s", s) : -ENOMEM;
        case 1:
                return sd_bus_message_append(m, "v", "u", (uint32_t) take_byte(in) << 24 | take_byte(in));
        case 2:
                return sd_bus_message_append(m, "v", "q", (uint16_t) (take_byte(in) << 8 | take_byte(in)));
        case 3:
                return sd_bus_message_append(m, "v", "y", take_byte(in));
        case 4:
                return sd_bus_message_append(m, "v", "t", (uint64_t) take_byte(in) << 56 | take_byte(in));
        case 5:
                return sd_bus_message_append(m, "v", "b", take_byte(in) & 1);
        case 6: {                       /* ay */
                size_t len = take_byte(in);

                len = len < in->n ? len : in->n;
                r = sd_bus_message_open_container(m, 'v', "ay");
                if (r >= 0)
                        r = sd_bus_message_append_array(m, 'y', in->p, len);
                in->p += len;
                in->n -= len;
                return r < 0 ? r : sd_bus_message_close_container(m);
        }
        case 7: {                       /* a(sus): conditions */
                unsigned n = take_byte(in) % 8;

                r = sd_bus_message_open_container(m, 'v', "a(sus)");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "(sus)");
                for (unsigned i = 0; r >= 0 && i < n; i++) {
                        const char *field = texts[10 + take_byte(in) % 6];
                        uint32_t match = take_byte(in) % 14;
                        _cleanup_(freep) char *v = take_text(in);

                        r = v ? sd_bus_message_append(m, "(sus)", field, match, v) : -ENOMEM;
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r < 0 ? r : sd_bus_message_close_container(m);
        }
        default:                        /* a type no key takes */
                return sd_bus_message_append(m, "v", "d", (double) take_byte(in));
        }
}

/* sd-bus makes messages only on a started bus: one end of a socketpair, never read, will do. */
static sd_bus *message_factory(void) {
        sd_bus *bus = NULL;
        int fds[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, fds[0], fds[0]) < 0 || sd_bus_start(bus) < 0)
                abort();
        return bus;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static sd_bus *bus;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        Input in = { .p = data, .n = size };
        ObjectKind kind = (ObjectKind) (take_byte(&in) % _OBJECT_KIND_MAX);
        const ObjectInfo *o = object_info(kind);
        AnyObject strict = {}, lenient = {};
        _cleanup_(freep) char *why = NULL;
        unsigned entries = 0;
        int r;

        if (!bus)
                bus = message_factory();
        if (sd_bus_message_new_method_call(bus, &m, "org.bfed.Engine1", "/org/bfed/Engine1", "org.bfed.Engine1",
                                           "AddFilter") < 0)
                abort();
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        while (r >= 0 && in.n > 0 && entries++ < 64) {
                uint8_t k = take_byte(&in);
                _cleanup_(freep) char *key = NULL;

                if (k >= ELEMENTSOF(keys) && !(key = take_text(&in)))
                        break;
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", key ?: keys[k]);
                if (r >= 0)
                        r = append_value(m, &in);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r < 0)
                return 0;       /* what sd-bus will not build, no caller can send */
        if (sd_bus_message_close_container(m) < 0 || sd_bus_message_seal(m, 1, 0) < 0)
                return 0;

        /* the daemon's reader: strict, strings borrowed from the message */
        r = object_read(m, o, &strict, OBJECT_READ_STRICT | OBJECT_READ_BORROW, NULL, &why);
        if (r == -EINVAL && why && !utf8_is_valid(why))
                abort();        /* it becomes an InvalidArgs message */
        if (r > 0) {
                _cleanup_(engine_freep) Engine *e = NULL;
                EngineError err = {};
                void *obj;

                if (engine_new(&e) < 0 || engine_begin(e) < 0)
                        abort();
                r = engine_add_object(e, kind, &strict, &err, &obj);
                if (r < 0 && wfp_code_from_ret(r) != 0 && !utf8_is_valid(err.message))
                        abort();
                engine_abort(e);
        }
        object_done_borrowed(o, &strict);

        /* libbfe's reader: lenient, strings copied */
        if (sd_bus_message_rewind(m, true) < 0)
                abort();
        (void) object_read(m, o, &lenient, 0, NULL, NULL);
        object_done(o, &lenient);
        return 0;
}
