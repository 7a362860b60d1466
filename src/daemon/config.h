/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* config.h — bfed.conf: an ini file with an [Engine] section (conf/bfed.conf documents every key). */
#pragma once

#include "bfed-build.h"
#include "compile.h"

#define BFED_DEFAULT_CONFIG BFED_SYSCONFDIR "/bfed.conf"

/* Firewalld=: whether bfed opens the exempted traffic in firewalld (firewalld.h). */
typedef enum FirewalldMode {
        FIREWALLD_AUTO,                 /* when firewalld runs */
        FIREWALLD_YES,                  /* the same, and firewalld not running is a problem */
        FIREWALLD_NO,                   /* never: firewalld is the admin's alone */
} FirewalldMode;

typedef struct Config {
        NftConfig nft;                  /* TableOwner= is NFT_TABLE_F_OWNER in nft.table_flags */
        bool keep_table;                /* KeepTable: leave the table in the kernel on a clean stop */
        uint64_t max_txn_usec;          /* MaxTransactionSec: a write transaction held longer is aborted */
        uint64_t max_read_txn_usec;     /* MaxReadTransactionSec: the same for a read-only one */
        uint64_t bus_timeout_usec;      /* BusTimeoutSec: how long bfed tries to get a lost bus back */
        char state_dir[4096];           /* StateDirectory: where persistent objects are kept */
        char private_socket[108];       /* PrivateSocket: root's socket (bus-private.h); "": none */
        FirewalldMode firewalld;        /* Firewalld: auto, yes or no */
        bool obstacle_analysis;         /* ObstacleAnalysis: read the other tables (obstacle-watch.c) */
        int log_level;                  /* LogLevel: a syslog level; -1: not set (info, or the command line's) */
} Config;

#define CONFIG_FILE_MAX (1 << 20)

/* The drop-ins: the files PATH.d/NAME.conf, read after PATH in the order of their names, each over the last. */
#define CONFIG_DROPINS_MAX 128

void config_init(Config *c);
/* @path, then its drop-ins. A missing file or directory is fine (defaults); a bad key or value
 * is an error naming file and line, and so is a file that is not a regular file (opened without
 * blocking). Logs its errors. @c is changed only on success. */
int config_load(Config *c, const char *path, bool must_exist);
/* Parses @data over @c (changed only on success), without logging: errors go to *ret_error as
 * "NAME:LINE: what". The fuzzer's entry point. */
int config_load_buffer(Config *c, const char *name, const void *data, size_t size, char **ret_error);
