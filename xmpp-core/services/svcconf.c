/*
 * svcconf — [upload] and [extdisco].  See svcconf.h.
 */
#include "svcconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "jid.h"

static int
load_upload(struct svc_config *s, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	const char *url = NULL, *secret_file = NULL, *mac = NULL;
	char dom[JID_PART_MAX + 1];
	size_t n;
	int rc;

	t = conf_table(root, "upload", e, &rc);
	if (rc <= 0)
		return rc;
	s->upload_max = 100 * 1024 * 1024;
	if (conf_str(t, "service", &s->upload_service, e) == -1 ||
	    conf_str(t, "url", &url, e) == -1 ||
	    conf_str(t, "secret_file", &secret_file, e) == -1 ||
	    conf_str(t, "mac", &mac, e) == -1 ||
	    conf_size(t, "max_file_size", &s->upload_max, e) == -1)
		return -1;
	if (s->upload_service && (jid_domain_prep(s->upload_service, dom) == -1 ||
	    strcmp(dom, s->upload_service) != 0)) {
		conf_errf(e, t, "service", "not a normalised domain \"%s\"", s->upload_service);
		return -1;
	}
	if (url == NULL || (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0) || strpbrk(url, " \"'<>?#") != NULL) {
		conf_errf(e, t, "url", "required: the public http(s) base URL of upload-gw's "
		    "uploadSubDir, e.g. \"https://upload.example.org/upload/\"");
		return -1;
	}
	if (secret_file == NULL) {
		conf_errf(e, t, "secret_file", "required (upload-gw's shared secret)");
		return -1;
	}
	if (mac && strcmp(mac, "v") != 0 && strcmp(mac, "v2") != 0) {
		conf_errf(e, t, "mac", "must be \"v\" or \"v2\"");
		return -1;
	}
	if (s->upload_max == 0) {
		conf_errf(e, t, "max_file_size", "must be positive");
		return -1;
	}
	s->upload_v2 = mac && strcmp(mac, "v2") == 0;
	n = strlen(url);
	if ((s->upload_url = malloc(n + 2)) == NULL)
		return -1;
	snprintf(s->upload_url, n + 2, "%s%s", url, url[n - 1] == '/' ? "" : "/");
	if (conf_read_secret_file(secret_file, &s->upload_secret, e) == -1)
		return -1;
	if (s->upload_secret[0] == '\0') {
		conf_errf(e, t, "secret_file", "the secret is empty");
		return -1;
	}
	s->upload = true;
	return 0;
}

static bool
one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

static int
load_extdisco(struct svc_config *s, struct conf_table *root, struct conf_err *e)
{
	static const char *const types[] = { "stun", "stuns", "turn", "turns", NULL };
	static const char *const transports[] = { "udp", "tcp", NULL };
	struct conf_table *t, *const *sv;
	const char *secret_file = NULL;
	size_t n = 0;
	long long port;
	int rc;

	s->turn_ttl = 86400;
	t = conf_table(root, "extdisco", e, &rc);
	if (rc <= 0)
		return rc;
	if (conf_str(t, "secret_file", &secret_file, e) == -1 ||
	    conf_duration(t, "ttl", &s->turn_ttl, e) == -1 ||
	    conf_tables(t, "service", &sv, &n, e) == -1)
		return -1;
	if (s->turn_ttl < 60 || s->turn_ttl > 30 * 86400) {
		conf_errf(e, t, "ttl", "must be between 1 minute and 30 days");
		return -1;
	}
	if (n > 64) {
		conf_errf(e, t, "service", "at most 64 services");
		return -1;
	}
	if (n && (s->services = calloc(n, sizeof(*s->services))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct extdisco_service *x = &s->services[i];

		if (conf_str(sv[i], "type", &x->type, e) == -1 ||
		    conf_str(sv[i], "host", &x->host, e) == -1 ||
		    conf_str(sv[i], "transport", &x->transport, e) == -1 ||
		    conf_str(sv[i], "name", &x->name, e) == -1)
			return -1;
		if (x->type == NULL || !one_of(x->type, types)) {
			conf_errf(e, sv[i], "type", "one of stun, stuns, turn, turns");
			return -1;
		}
		if (x->host == NULL || x->host[0] == '\0' || strlen(x->host) > 253 ||
		    x->host[strspn(x->host, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")] != '\0') {
			conf_errf(e, sv[i], "host", "required: a host name or address");
			return -1;
		}
		if (x->transport && !one_of(x->transport, transports)) {
			conf_errf(e, sv[i], "transport", "\"udp\" or \"tcp\"");
			return -1;
		}
		port = x->type[strlen(x->type) - 1] == 's' ? 5349 : 3478;
		if (conf_int(sv[i], "port", 1, 65535, &port, e) == -1)
			return -1;
		x->port = (unsigned)port;
		/* TURN relays need credentials; STUN binding does not */
		x->restricted = strncmp(x->type, "turn", 4) == 0;
		if (conf_bool(sv[i], "restricted", &x->restricted, e) == -1)
			return -1;
		if (x->restricted && secret_file == NULL) {
			conf_errf(e, t, "secret_file", "required for restricted services "
			    "(turnd's REST secret)");
			return -1;
		}
	}
	s->nservices = n;
	if (secret_file) {
		if (conf_read_secret_file(secret_file, &s->turn_secret, e) == -1)
			return -1;
		if (s->turn_secret[0] == '\0') {
			conf_errf(e, t, "secret_file", "the secret is empty");
			return -1;
		}
	}
	return 0;
}

int
svc_config_load(struct svc_config *s, struct conf_table *root,
    struct conf_err *e)
{
	if (load_upload(s, root, e) == -1 ||
	    load_extdisco(s, root, e) == -1)
		return -1;
	return 0;
}

void
svc_config_free(struct svc_config *s)
{
	conf_secret_free(s->upload_secret);
	conf_secret_free(s->turn_secret);
	free(s->upload_url);
	free(s->services);
	memset(s, 0, sizeof(*s));
}

/* Each module keeps the part of a struct svc_config that is its own. */
static int
module_load(int (*load)(struct svc_config *, struct conf_table *, struct conf_err *),
    struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct svc_config *s = calloc(1, sizeof(*s));

	if ((*cfg = s) == NULL)
		return -1;
	return load(s, root, e);
}

int
upload_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	return module_load(load_upload, root, cfg, e);
}

int
extdisco_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	return module_load(load_extdisco, root, cfg, e);
}

void
svc_module_config_free(void *cfg)
{
	svc_config_free(cfg);
	free(cfg);
}
