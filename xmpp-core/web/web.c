/*
 * web — the module behind the HTTP listener (issue 15).  Its [web] table
 * (webconf.c), the listener's lifecycle (http.c), stats.  WebSocket
 * sessions are c2s sessions (wsxmpp.c): they reach the IM modules
 * through the core like any other, so this module has no hooks.
 *
 * The listeners are bound at open (before privileges are dropped) from
 * the configuration of that moment; a reload takes new URLs, proxies and
 * ping times, but not new listen addresses (a restart does).
 */
#include "web.h"

#include <stdlib.h>

#include "bosh.h"
#include "buf.h"
#include "http.h"
#include "log.h"
#include "webconf.h"
#include "wsxmpp.h"

static const struct web_config disabled;

const struct web_config *
web_cfg(void)
{
	const struct web_config *cf = module_cfg(&web_module);

	return cf ? cf : &disabled;
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct web_config))) == NULL)
		return -1;
	if (web_config_load(*cfg, root, e) == -1) {
		web_config_free(*cfg);	/* what was read before the error */
		return -1;
	}
	return 0;
}

static void
config_free(void *cfg)
{
	if (cfg)
		web_config_free(cfg);
	free(cfg);
}

static int
web_open(char *err, size_t errlen)
{
	const struct web_config *cf = web_cfg();

	if (!cf->enabled)
		return 0;
	return web_http_open(cf, err, errlen);
}

static void
web_reload(void)
{
	if (web_cfg()->enabled)
		log_info("web: configuration reloaded (listen addresses need a restart)");
}

static void
stats(struct buf *b)
{
	buf_printf(b, "web_requests\t%zu\nweb_websockets\t%zu\nweb_bosh_sessions\t%zu\n",
	    web_http_requests(), wsxmpp_count(), bosh_count());
}

struct module web_module = {
	.name = "web",
	.folder = "web",
	.config_load = config_load,
	.config_free = config_free,
	.open = web_open,
	.reload = web_reload,
	.shutdown = web_http_quiesce,
	.stop = web_http_close,
	.stats = stats,
};
