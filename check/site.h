/*
 * site — what edge-check knows about this host: every daemon's
 * configuration that is present, reduced to the facts the checks need
 * (listeners, certificates, secrets, names, users, the database).
 *
 * turnd, upload-gw, portmap and dumbclient-redirect are read by their own
 * loaders (linked from their folders: the same defaults, the same secret
 * file rules).  xmpp-core's loader needs the whole server, so its file is
 * read here with common/conf, key by key; `xmpp-core -t` (syntax.c) has
 * judged the whole file first.
 */
#ifndef CHECK_SITE_H
#define CHECK_SITE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "conf.h"

enum daemon_id {
	D_XMPP,
	D_TURND,
	D_UPLOAD,
	D_PORTMAP,
	D_REDIRECT,
	D_COUNT,
};

/* What a listener serves, in the terms of DNS records and clients. */
enum svc {
	SVC_C2S,		/* STARTTLS, _xmpp-client._tcp */
	SVC_C2S_TLS,		/* direct TLS, _xmpps-client._tcp */
	SVC_S2S,
	SVC_S2S_TLS,
	SVC_TURN_UDP,		/* _stun._udp, _turn._udp */
	SVC_TURN_TCP,		/* _turn._tcp */
	SVC_TURN_TLS,		/* _stuns._tcp, _turns._tcp */
	SVC_HTTP,		/* xmpp-core [web] */
	SVC_UPLOAD,		/* upload-gw */
	SVC_PROXY65,
	SVC_CONTROL,		/* xmpp-core's control socket */
};

struct listener {
	enum svc svc;
	enum daemon_id daemon;
	const char *key;		/* the config key it came from */
	struct edge_addr a;
};

#define SITE_MAX_LISTEN 128
#define SITE_MAX_NAMES 64
#define SITE_MAX_HOSTS 16
#define SITE_MAX_EXTDISCO 64
#define SITE_MAX_FWD 64
#define SITE_MAX_FWD_ADDRS 4
#define NAME_MAX_LEN 256

/* A name clients or servers look up, and what the certificate must cover. */
struct sitename {
	char name[NAME_MAX_LEN];
	const char *what;		/* "MUC service", "upload URL" ... */
	bool xmpp;			/* an XMPP domain (s2s reaches it) */
	bool web;			/* an HTTP host (nginx may hold its own cert) */
};

struct extdisco {
	char type[8];			/* stun, stuns, turn, turns */
	char host[NAME_MAX_LEN];
	int port;
	bool tcp;
};

/* A portmap forward, reduced to what DNS checks follow. */
struct fwd {
	char name[65];
	bool tcp, udp;
	struct sockaddr_storage listen[SITE_MAX_FWD_ADDRS];
	size_t nlisten;			/* 0: any address of this host */
	int port_min, port_max;
	struct sockaddr_storage to[2];
	size_t nto;
	int to_port;			/* 0: keep the port */
};

struct daemon_conf {
	const char *name;		/* "xmpp-core" */
	char path[4096];
	bool present;			/* the file exists and is checked */
	bool loaded;			/* its loader (below) accepted it */
	char err[640];			/* else why not */
	char user[64];			/* who the daemon runs as */
};

struct site {
	struct daemon_conf d[D_COUNT];

	/* xmpp-core */
	struct conf_doc *xdoc;
	const char *hosts[SITE_MAX_HOSTS];
	size_t nhosts;
	const char *x_cert, *x_key;
	char *conninfo;			/* with password_file's password */
	const char *control_socket;
	bool s2s;
	const char *upload_secret_file;	/* [upload] secret_file */
	const char *turn_secret_file;	/* [extdisco] secret_file */
	struct extdisco ext[SITE_MAX_EXTDISCO];
	size_t next;
	const char *proxy_host;		/* advertised proxy65 host */
	int proxy_port;

	/* turnd */
	const char *t_cert, *t_key;
	char **t_secrets;
	size_t nt_secrets;
	const char *t_secret_files[16];	/* for the "same file" message */
	size_t nt_secret_files;
	const char *t_realm;
	bool t_tcp;

	/* upload-gw */
	char *u_secret;
	size_t u_secret_len;
	char u_secret_file[4096];	/* "" when inline */

	/* portmap */
	struct fwd fwd[SITE_MAX_FWD];
	size_t nfwd;

	/* dumbclient-redirect */
	char *r_domain;
	struct sockaddr_storage r_listen[16];
	size_t nr_listen;

	struct sitename names[SITE_MAX_NAMES];
	size_t nnames;
	struct listener ls[SITE_MAX_LISTEN];
	size_t nls;

	void *priv[D_COUNT];		/* the loaders' structs, for site_free */
};

extern const char *const site_daemons[D_COUNT];

/*
 * Finds dir/<daemon>.toml for each daemon in want (a bit per daemon_id),
 * and loads those present.  A daemon whose file its loader refused stays
 * present but not loaded, with the loader's message in err (syntax.c
 * reports it when the daemon's own -t does not).
 */
void site_load(struct site *s, const char *dir, unsigned want);
void site_free(struct site *s);

const char *svc_name(enum svc v);

#endif
