/*
 * config — upload-gw's configuration: Prosody Filer's config.toml keys
 * (listenport, UnixSocket, secret, storeDir, uploadSubDir, logLevel; matched
 * case-insensitively as Go's TOML decoder does) plus edge's extras.
 *
 * A parsed configuration is immutable and reference-counted: request
 * threads hold a reference for the life of a request, SIGHUP parses a new
 * one and swaps it in (upload_config_current / upload_config_put), so a reload never
 * pulls a secret or a store directory from under a running upload.
 */
#ifndef UPLOAD_CONFIG_H
#define UPLOAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"

#define UPLOAD_DEFAULT_CONF "/etc/edge/upload-gw.toml"
#define UPLOAD_MAX_LISTEN 16
#define UPLOAD_MAX_EXEMPT 64
/* Defaults: per-client connections when not on loopback only; seconds. */
#define UPLOAD_PER_IP_EXPOSED 32
#define UPLOAD_HEADER_TIMEOUT 10

struct upload_config {
	int refs;			/* guarded by the config lock */
	int store_fd;			/* O_PATH of store_dir once opened, or -1 */

	struct edge_addr listen[UPLOAD_MAX_LISTEN];
	size_t nlisten;
	int socket_mode;		/* mode of unix listening sockets */

	char *secret;			/* never logged */
	size_t secret_len;
	char *store_dir;
	char *prefix;			/* "/upload/" form of uploadSubDir, or "/" */
	size_t prefix_len;

	uint64_t max_file_size;		/* bytes; 0 = no limit */
	uint64_t expire_after;		/* seconds; 0 = never */
	uint64_t expire_interval;	/* seconds between sweeps */
	bool fsync;			/* fsync file and directory before 201 */

	char *user;
	enum log_level log_level;

	/* Fixed for the life of the process (listeners are not rebuilt). */
	unsigned max_connections;
	unsigned max_connections_per_ip;	/* 0: no limit */
	struct addr_cidr exempt[UPLOAD_MAX_EXEMPT];	/* not counted */
	size_t nexempt;
	unsigned header_timeout;	/* seconds to complete request headers */
	unsigned connection_timeout;	/* seconds of inactivity */
	unsigned shutdown_timeout;	/* seconds to let requests finish */
	unsigned threads;		/* 0: one per connection; N: pool */
	size_t connection_memory;	/* per-connection buffer pool, bytes */
	struct metrics_conf metrics;	/* [metrics] (stats.c) */
};

/*
 * Parses and validates path (reading secret_file too).  NULL with
 * "file:line: key: message" in *e on any error.
 */
struct upload_config *upload_config_load(const char *path, struct conf_err *e);
void upload_config_free(struct upload_config *c);

/* Installs c as the current configuration (takes the caller's reference). */
void upload_config_install(struct upload_config *c);
/* A new reference to the current configuration; release with upload_config_put. */
struct upload_config *upload_config_current(void);
void upload_config_put(struct upload_config *c);

/* True unless every listener is a loopback address or a unix socket. */
bool upload_config_exposed(const struct upload_config *c);

/* Normalizes uploadSubDir as Filer does (path.Join("/", dir) + "/"). */
int upload_config_prefix(const char *subdir, char **out);

#endif
