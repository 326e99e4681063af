/*
 * config — parsing, validation and the reference-counted current
 * configuration.  See config.h.
 *
 * Filer compatibility notes: Filer decodes config.toml into a Go struct
 * with BurntSushi/toml, which matches keys case-insensitively, so
 * "storeDir", "StoreDir" and "storedir" are one key (CONF_KEYS_NOCASE).
 * Filer's keys are ListenPort, UnixSocket, Secret, StoreDir, UploadSubDir
 * and LogLevel (its config.example.toml has all but UnixSocket); every
 * one is understood here.
 * Filer's "listenport" is a Go listen address ("127.0.0.1:5050",
 * "[::]:5050", ":5050"), or a socket path when UnixSocket = true.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct upload_config *config_cur;

int
upload_config_prefix(const char *subdir, char **out)
{
	/* path.Join("/", subdir): clean, then one trailing slash. */
	size_t n = strlen(subdir), o = 0;
	const char *p = subdir;
	char *buf;

	if ((buf = malloc(n + 3)) == NULL)
		return -1;
	buf[o++] = '/';
	while (*p) {
		const char *s;
		size_t l;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		l = (size_t)(p - s);
		if (l == 0)
			break;
		if ((l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) {
			free(buf);
			return -1;
		}
		for (size_t i = 0; i < l; i++) {
			unsigned char c = (unsigned char)s[i];

			/* Only what needs no percent-encoding in a URL path. */
			if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
			    !(c >= '0' && c <= '9') && !strchr("-._~", c)) {
				free(buf);
				return -1;
			}
		}
		memcpy(buf + o, s, l);
		o += l;
		buf[o++] = '/';
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
}

void
upload_config_free(struct upload_config *c)
{
	if (c == NULL)
		return;
	if (c->store_fd >= 0)
		close(c->store_fd);
	conf_secret_free(c->secret);
	free(c->store_dir);
	free(c->prefix);
	free(c->user);
	free(c);
}

void
upload_config_install(struct upload_config *c)
{
	struct upload_config *old;

	pthread_mutex_lock(&config_lock);
	old = config_cur;
	config_cur = c;
	pthread_mutex_unlock(&config_lock);
	upload_config_put(old);
}

struct upload_config *
upload_config_current(void)
{
	struct upload_config *c;

	pthread_mutex_lock(&config_lock);
	c = config_cur;
	if (c != NULL)
		c->refs++;
	pthread_mutex_unlock(&config_lock);
	return c;
}

void
upload_config_put(struct upload_config *c)
{
	int refs;

	if (c == NULL)
		return;
	pthread_mutex_lock(&config_lock);
	refs = --c->refs;
	pthread_mutex_unlock(&config_lock);
	if (refs == 0)
		upload_config_free(c);
}

/* A required key that is absent has no line: "file: key: message". */
static void
missing(struct conf_err *e, struct conf_table *t, const char *key,
    const char *msg)
{
	snprintf(e->msg, sizeof(e->msg), "%s: %s: %s", t->file, key, msg);
}

static int
add_listen(struct upload_config *c, struct conf_table *t, const char *key,
    const char *s, struct conf_err *e)
{
	char err[256];
	const char *port;

	/*
	 * Go resolves "localhost:5050"; we refuse DNS at start-up but keep
	 * this common Filer spelling working as both loopback addresses.
	 */
	if (strncmp(s, "localhost:", 10) == 0) {
		char a4[32], a6[32];

		port = s + 10;
		snprintf(a4, sizeof(a4), "127.0.0.1:%s", port);
		snprintf(a6, sizeof(a6), "[::1]:%s", port);
		if (strlen(port) > 5)
			goto bad_port;
		if (add_listen(c, t, key, a4, e) < 0)
			return -1;
		return add_listen(c, t, key, a6, e);
	}
	if (c->nlisten == UPLOAD_MAX_LISTEN) {
		conf_errf(e, t, key, "at most %d listen addresses", UPLOAD_MAX_LISTEN);
		return -1;
	}
	if (addr_parse(s, -1, &c->listen[c->nlisten], err, sizeof(err)) < 0) {
		conf_errf(e, t, key, "%s", err);
		return -1;
	}
	c->nlisten++;
	return 0;
bad_port:
	conf_errf(e, t, key, "\"%s\": bad port", s);
	return -1;
}

static int
parse_listen(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	struct conf_value *lp;
	char *const *arr;
	size_t n;
	bool unix_sock = false;
	int rc;

	if (conf_bool(t, "UnixSocket", &unix_sock, e) < 0)
		return -1;
	lp = conf_lookup(t, "listenport");
	rc = conf_strarr(t, "listen", &arr, &n, e);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		/* edge's own key wins; listenport is then only documentation. */
		if (n == 0) {
			conf_errf(e, t, "listen", "must name at least one address");
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (add_listen(c, t, "listen", arr[i], e) < 0)
				return -1;
		return 0;
	}
	if (lp == NULL) {
		if (add_listen(c, t, "listen", "127.0.0.1:5050", e) < 0 ||
		    add_listen(c, t, "listen", "[::1]:5050", e) < 0)
			return -1;
		return 0;
	}
	if (lp->type == CONF_INT) {
		char buf[32];

		if (unix_sock) {
			conf_errf(e, t, "listenport", "must be a socket path when UnixSocket = true");
			return -1;
		}
		if (lp->u.i < 1 || lp->u.i > 65535) {
			conf_errf(e, t, "listenport", "port out of range");
			return -1;
		}
		snprintf(buf, sizeof(buf), ":%lld", lp->u.i);
		return add_listen(c, t, "listenport", buf, e);
	}
	if (lp->type != CONF_STRING || lp->u.s[0] == '\0') {
		conf_errf(e, t, "listenport", "expected an address string");
		return -1;
	}
	if (unix_sock) {
		char path[PATH_MAX + 8], cwd[PATH_MAX];

		if (lp->u.s[0] == '/')
			snprintf(path, sizeof(path), "unix:%s", lp->u.s);
		else if (getcwd(cwd, sizeof(cwd)) != NULL)
			snprintf(path, sizeof(path), "unix:%s/%s", cwd, lp->u.s);
		else {
			conf_errf(e, t, "listenport", "getcwd: %s", strerror(errno));
			return -1;
		}
		return add_listen(c, t, "listenport", path, e);
	}
	return add_listen(c, t, "listenport", lp->u.s, e);
}

static int
parse_secret(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	const char *s = NULL, *file = NULL;
	int rs, rf;

	if ((rs = conf_str(t, "secret", &s, e)) < 0 ||
	    (rf = conf_str(t, "secret_file", &file, e)) < 0)
		return -1;
	if (rs == 1 && rf == 1) {
		conf_errf(e, t, "secret_file", "give either secret or secret_file, not both");
		return -1;
	}
	if (rf == 1) {
		if (conf_read_secret_file(file, &c->secret, e) < 0) {
			char why[sizeof(e->msg)];

			memcpy(why, e->msg, sizeof(why));
			conf_errf(e, t, "secret_file", "%s", why);
			return -1;
		}
	} else if (rs == 1) {
		if ((c->secret = strdup(s)) == NULL)
			goto oom;
	} else {
		missing(e, t, "secret", "required (or secret_file)");
		return -1;
	}
	c->secret_len = strlen(c->secret);
	if (c->secret_len == 0) {
		conf_errf(e, t, rf == 1 ? "secret_file" : "secret", "must not be empty");
		return -1;
	}
	return 0;
oom:
	conf_errf(e, t, "secret", "out of memory");
	return -1;
}

static int
parse_store(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	const char *s = NULL, *sub = "";
	int rc;

	if ((rc = conf_str(t, "storeDir", &s, e)) < 0)
		return -1;
	if (rc == 0) {
		missing(e, t, "storeDir", "required");
		return -1;
	}
	if (s[0] == '\0') {
		conf_errf(e, t, "storeDir", "must not be empty");
		return -1;
	}
	if ((c->store_dir = strdup(s)) == NULL) {
		conf_errf(e, t, "storeDir", "out of memory");
		return -1;
	}
	if (conf_str(t, "uploadSubDir", &sub, e) < 0)
		return -1;
	if (upload_config_prefix(sub, &c->prefix) < 0) {
		conf_errf(e, t, "uploadSubDir",
		    "\"%s\": use plain path segments (letters, digits, - . _ ~)", sub);
		return -1;
	}
	c->prefix_len = strlen(c->prefix);
	return 0;
}

static int
get_uint(struct conf_table *t, const char *key, long long min, long long max,
    unsigned *out, struct conf_err *e)
{
	long long v;
	int rc = conf_int(t, key, min, max, &v, e);

	if (rc == 1)
		*out = (unsigned)v;
	return rc < 0 ? -1 : 0;
}

static int
get_secs(struct conf_table *t, const char *key, uint64_t min, uint64_t max,
    unsigned *out, struct conf_err *e)
{
	uint64_t v;
	int rc = conf_duration_range(t, key, min, max, &v, e);

	if (rc == 1)
		*out = (unsigned)v;
	return rc < 0 ? -1 : 0;
}

bool
upload_config_exposed(const struct upload_config *c)
{
	for (size_t i = 0; i < c->nlisten; i++) {
		const struct edge_addr *a = &c->listen[i];
		const uint8_t *b6 = a->u.sin6.sin6_addr.s6_addr;

		if (a->family == AF_UNIX)
			continue;
		if (a->family == AF_INET && !a->dualstack &&
		    ntohl(a->u.sin.sin_addr.s_addr) >> 24 == 127)
			continue;
		if (a->family == AF_INET6 && !a->dualstack &&
		    (IN6_IS_ADDR_LOOPBACK(&a->u.sin6.sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&a->u.sin6.sin6_addr) && b6[12] == 127)))
			continue;
		return true;
	}
	return false;
}

/* The peers not counted against max_connections_per_ip: the proxy. */
static int
parse_exempt(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	static const char *const defaults[] = { "127.0.0.1", "::1" };
	const char *const *v = defaults;
	char *const *arr;
	size_t n = 2;
	int rc;

	if ((rc = conf_strarr(t, "per_ip_exempt", &arr, &n, e)) < 0)
		return -1;
	if (rc == 1)
		v = (const char *const *)arr;
	else
		n = 2;
	if (n > UPLOAD_MAX_EXEMPT) {
		conf_errf(e, t, "per_ip_exempt", "at most %d entries", UPLOAD_MAX_EXEMPT);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (addr_cidr_parse(v[i], &c->exempt[i]) < 0) {
			conf_errf(e, t, "per_ip_exempt", "\"%s\": expected an address "
			    "or a prefix like \"192.0.2.0/24\"", v[i]);
			return -1;
		}
	c->nexempt = n;
	return 0;
}

static int
parse_timeouts(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	uint64_t v;
	int rc;

	if (get_secs(t, "connection_timeout", 1, 86400, &c->connection_timeout, e) < 0 ||
	    get_secs(t, "shutdown_timeout", 0, 9, &c->shutdown_timeout, e) < 0 ||
	    (rc = conf_duration_range(t, "header_timeout", 1, 3600, &v, e)) < 0)
		return -1;
	if (rc == 0) {
		c->header_timeout = c->connection_timeout < UPLOAD_HEADER_TIMEOUT ?
		    c->connection_timeout : UPLOAD_HEADER_TIMEOUT;
		return 0;
	}
	if (v > c->connection_timeout) {
		conf_errf(e, t, "header_timeout", "must not exceed connection_timeout "
		    "(%us)", c->connection_timeout);
		return -1;
	}
	c->header_timeout = (unsigned)v;
	return 0;
}

static int
parse_limits(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	uint64_t mem = c->connection_memory;
	const char *mode = NULL;
	int rc;

	/* 0: a thread per connection (see http.c); N: a pool of N threads. */
	c->threads = 0;
	/*
	 * Behind nginx on loopback every peer is the proxy, and a per-client
	 * limit would be a global one; anywhere else clients connect
	 * directly and one of them must not take every connection.
	 */
	c->max_connections_per_ip = upload_config_exposed(c) ?
	    UPLOAD_PER_IP_EXPOSED : 0;
	if (get_uint(t, "max_connections", 1, 1000000, &c->max_connections, e) < 0 ||
	    get_uint(t, "max_connections_per_ip", 0, 1000000,
	    &c->max_connections_per_ip, e) < 0 ||
	    get_uint(t, "threads", 0, 256, &c->threads, e) < 0 ||
	    parse_timeouts(c, t, e) < 0 || parse_exempt(c, t, e) < 0)
		return -1;
	if ((rc = conf_size(t, "connection_memory", &mem, e)) < 0)
		return -1;
	if (rc == 1 && (mem < 16384 || mem > 16u << 20)) {
		conf_errf(e, t, "connection_memory", "must be between 16K and 16M");
		return -1;
	}
	c->connection_memory = (size_t)mem;
	if ((rc = conf_str(t, "socket_mode", &mode, e)) < 0)
		return -1;
	if (rc == 1) {
		char *end;
		long m = strtol(mode, &end, 8);

		if (*mode == '\0' || *end != '\0' || m < 0 || m > 0777) {
			conf_errf(e, t, "socket_mode", "expected an octal mode like \"0660\"");
			return -1;
		}
		c->socket_mode = (int)m;
	}
	return 0;
}

/*
 * log_level (edge's names) or Filer's logLevel, whose "info", "warn" and
 * "error" mean what they mean to Filer; Filer falls back to "warn" on
 * anything else, a configuration check here says what is wrong instead.
 */
static int
parse_log_level(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	const char *lvl = NULL, *filer = NULL;
	int rl, rf;

	if ((rl = conf_str(t, "log_level", &lvl, e)) < 0 ||
	    (rf = conf_str(t, "logLevel", &filer, e)) < 0)
		return -1;
	if (rl == 1 && rf == 1) {
		conf_errf(e, t, "logLevel", "give either log_level or logLevel, not both");
		return -1;
	}
	if (rl == 1 && log_level_parse(lvl, &c->log_level) < 0) {
		conf_errf(e, t, "log_level",
		    "\"%s\": expected error, warn, notice, info or debug", lvl);
		return -1;
	}
	if (rf == 1) {
		if (strcmp(filer, "error") == 0)
			c->log_level = LOG_LVL_ERR;
		else if (strcmp(filer, "warn") == 0)
			c->log_level = LOG_LVL_WARN;
		else if (strcmp(filer, "info") == 0)
			c->log_level = LOG_LVL_INFO;
		else {
			conf_errf(e, t, "logLevel",
			    "\"%s\": expected \"info\", \"warn\" or \"error\"", filer);
			return -1;
		}
	}
	return 0;
}

static int
parse_extras(struct upload_config *c, struct conf_table *t, struct conf_err *e)
{
	const char *user = NULL;
	int rc;

	if (conf_size(t, "max_file_size", &c->max_file_size, e) < 0 ||
	    conf_duration(t, "expire_after", &c->expire_after, e) < 0 ||
	    conf_duration(t, "expire_interval", &c->expire_interval, e) < 0 ||
	    conf_bool(t, "fsync", &c->fsync, e) < 0)
		return -1;
	if (c->expire_interval < 1 || c->expire_interval > 7 * 86400) {
		conf_errf(e, t, "expire_interval", "must be between 1s and 7d");
		return -1;
	}
	if ((rc = conf_str(t, "user", &user, e)) < 0)
		return -1;
	if (rc == 1 && user[0] != '\0' && (c->user = strdup(user)) == NULL) {
		conf_errf(e, t, "user", "out of memory");
		return -1;
	}
	return parse_log_level(c, t, e);
}

struct upload_config *
upload_config_load(const char *path, struct conf_err *e)
{
	struct upload_config *c;
	struct conf_doc *doc;

	if ((doc = conf_parse_file(path, CONF_KEYS_NOCASE, e)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", path);
		conf_free(doc);
		return NULL;
	}
	c->refs = 1;
	c->store_fd = -1;
	c->socket_mode = 0666;
	c->max_file_size = 100ULL << 20;
	c->expire_interval = 3600;
	c->fsync = true;
	c->log_level = LOG_LVL_INFO;
	c->max_connections = 1024;
	c->connection_timeout = 60;
	c->shutdown_timeout = 5;
	c->connection_memory = 256 * 1024;
	if (parse_listen(c, doc->root, e) < 0 || parse_secret(c, doc->root, e) < 0 ||
	    parse_store(c, doc->root, e) < 0 || parse_extras(c, doc->root, e) < 0 ||
	    parse_limits(c, doc->root, e) < 0 ||
	    metrics_conf_load(doc->root, &c->metrics, e) < 0 ||
	    conf_check_unused(doc->root, e) < 0)
		goto fail;
	conf_free(doc);
	return c;
fail:
	conf_free(doc);
	upload_config_free(c);
	return NULL;
}
