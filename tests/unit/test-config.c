/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-config.c — bfed.conf: the parser (whole lines, all or nothing), a safe open (a FIFO
 * does not hang it, a link is followed, anything else that is not a regular file is refused),
 * the drop-ins (PATH.d/NAME.conf in name order, all or nothing) and LogLevel=. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "macro.h"

static char tmp[64];

static int setup(void **state) {
        strcpy(tmp, "/tmp/test-config-XXXXXX");
        assert_non_null(mkdtemp(tmp));
        log_set_max_level(LOG_EMERG); /* the refusals below are expected */
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmp);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static void write_file(const char *path, const char *data, size_t n) {
        FILE *fp = fopen(path, "we");

        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, n, fp), n);
        assert_int_equal(fclose(fp), 0);
}

static void test_buffer(void **state) {
        static const char text[] = "# comment\n[Engine]\n  Table = ikefw  \nPriority=-50\nChunkSize=16\n"
                                   "SocketMark=0x10\nKeepTable=yes\nFirewalld=no\nObstacleAnalysis=no\n"
                                   "StateDirectory=/srv/bfed";
        _cleanup_(freep) char *error = NULL;
        Config c;

        config_init(&c);
        assert_int_equal(config_load_buffer(&c, "mem", text, strlen(text), &error), 0);
        assert_null(error);
        assert_string_equal(c.nft.table, "ikefw");
        assert_int_equal(c.nft.priority, -50);
        assert_int_equal(c.nft.chunk_size, 16);
        assert_true(c.nft.has_socket_mark);
        assert_int_equal(c.nft.socket_mark, 0x10);
        assert_true(c.keep_table);
        assert_int_equal(c.firewalld, FIREWALLD_NO);
        assert_false(c.obstacle_analysis);
        assert_string_equal(c.state_dir, "/srv/bfed"); /* the last line needs no newline */
}

/* A failed parse changes nothing, and names the line. */
static void test_all_or_nothing(void **state) {
        static const struct {
                const char *text;
                size_t size;
                const char *error;
        } cases[] = {
                { "[Engine]\nTable=abc\nPriority=bogus\n", 0, "mem:3: Priority=bogus: the priority is a number" },
                /* P+2 (ALE_FLOW_ESTABLISHED) would be the filter chains' 0 */
                { "[Engine]\nPriority=-2\n", 0, "mem:2: Priority=-2: the priority is a number from -199 to -3" },
                { "[Engine]\nTable=abc\nColour=blue\n", 0, "mem:3: Colour=blue: unknown key" },
                { "[Engine]\nFirewalld=maybe\n", 0, "mem:2: Firewalld=maybe: expected auto, yes or no" },
                { "Table=abc\n", 0, "mem:1: key outside the [Engine] section" },
                { "[Engine\n", 0, "mem:1: malformed section header" },
                { "[Other]\n", 0, "mem:1: unknown section [Other]" },
                { "[Engine]\nTable\n", 0, "mem:2: expected Key=Value" },
                { "[Engine]\nTable=ab\0c\n", 20, "mem:2: the line contains a NUL byte" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *error = NULL;
                Config c, before;

                config_init(&c);
                before = c;
                assert_int_equal(config_load_buffer(&c, "mem", cases[i].text,
                                                    cases[i].size ?: strlen(cases[i].text), &error), -EINVAL);
                assert_non_null(error);
                if (strncmp(error, cases[i].error, strlen(cases[i].error)) != 0)
                        fail_msg("error '%s', expected '%s'", error, cases[i].error);
                assert_memory_equal(&c, &before, sizeof(c));
        }
}

/* A long line is one line: a comment of exactly the length the old fgets() buffer split at
 * must not turn its tail into a key. */
static void test_long_comment(void **state) {
        char path[128], text[2048];
        Config c;

        snprintf(path, sizeof(path), "%s/bfed.conf", tmp);
        strcpy(text, "[Engine]\n#");
        memset(text + 10, 'x', 1022);
        strcpy(text + 1032, "Table=evil\n");
        write_file(path, text, strlen(text));
        config_init(&c);
        assert_int_equal(config_load(&c, path, true), 0);
        assert_string_equal(c.nft.table, "bfed");
}

static void on_alarm(int sig) {
        static const char msg[] = "test-config: timed out: opening the configuration file blocked\n";
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(1);
}

static void test_not_regular(void **state) {
        char path[128], target[128];
        Config c;

        config_init(&c);
        signal(SIGALRM, on_alarm);

        /* a FIFO: refused at once, not waited on */
        snprintf(path, sizeof(path), "%s/fifo.conf", tmp);
        assert_int_equal(mkfifo(path, 0600), 0);
        alarm(10);
        assert_int_equal(config_load(&c, path, true), -EINVAL);
        alarm(0);

        /* a directory */
        snprintf(path, sizeof(path), "%s/dir.conf", tmp);
        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(config_load(&c, path, true), -EINVAL);

        /* a symbolic link to a regular file is followed */
        snprintf(target, sizeof(target), "%s/real.conf", tmp);
        snprintf(path, sizeof(path), "%s/link.conf", tmp);
        write_file(target, "[Engine]\nTable=linked\n", 22);
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(config_load(&c, path, true), 0);
        assert_string_equal(c.nft.table, "linked");

        /* missing: the defaults, unless the file was asked for */
        snprintf(path, sizeof(path), "%s/none.conf", tmp);
        assert_int_equal(config_load(&c, path, false), 0);
        assert_int_equal(config_load(&c, path, true), -ENOENT);
}

static void write_str(const char *dir, const char *name, const char *text) {
        char path[192];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        write_file(path, text, strlen(text));
}

static void test_dropins(void **state) {
        char path[128], dir[160];
        Config c;

        snprintf(path, sizeof(path), "%s/bfed.conf", tmp);
        snprintf(dir, sizeof(dir), "%s.d", path);
        write_str(tmp, "bfed.conf", "[Engine]\nTable=main\nPriority=-20\n");
        assert_int_equal(mkdir(dir, 0700), 0);
        /* in the order of their names, each over the last; others and hidden ones are not read */
        write_str(dir, "20-b.conf", "[Engine]\nTable=b\n");
        write_str(dir, "10-a.conf", "[Engine]\nTable=a\nLogLevel=debug\nSocketMark=0x10\n");
        write_str(dir, ".hidden.conf", "[Engine]\nKeepTable=yes\n");
        write_str(dir, "40-not.conf.bak", "[Engine]\nTable=bak\n");
        config_init(&c);
        assert_int_equal(config_load(&c, path, true), 0);
        assert_string_equal(c.nft.table, "b");
        assert_int_equal(c.nft.priority, -20);
        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_true(c.nft.has_socket_mark);
        assert_int_equal(c.nft.socket_mark, 0x10);
        assert_false(c.keep_table);

        /* a bad drop-in: an error, and nothing of any file is taken */
        write_str(dir, "50-bad.conf", "[Engine]\nTable=bad\nLogLevel=loud\n");
        config_init(&c);
        assert_int_equal(config_load(&c, path, true), -EINVAL);
        assert_string_equal(c.nft.table, "bfed");
        assert_int_equal(c.log_level, -1);

        /* drop-ins without the file */
        snprintf(path, sizeof(path), "%s/none.conf", tmp);
        snprintf(dir, sizeof(dir), "%s.d", path);
        assert_int_equal(mkdir(dir, 0700), 0);
        write_str(dir, "a.conf", "[Engine]\nLogLevel=3\n");
        config_init(&c);
        assert_int_equal(config_load(&c, path, false), 0);
        assert_int_equal(c.log_level, LOG_ERR);
        write_str(dir, "a.conf", "[Engine]\nLogLevel=\n");
        assert_int_equal(config_load(&c, path, false), 0);
        assert_int_equal(c.log_level, -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_buffer),
                cmocka_unit_test(test_all_or_nothing),
                cmocka_unit_test_setup_teardown(test_long_comment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
