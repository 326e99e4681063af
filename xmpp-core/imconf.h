/*
 * imconf — configuration of the session features of issue 6: [csi]
 * (XEP-0352) and [sm] (XEP-0198).  Loaded as part of xmpp_config, so
 * SIGHUP swaps it with the rest; documented in deploy/XMPP-CORE.md.
 */
#ifndef XMPP_IMCONF_H
#define XMPP_IMCONF_H

#include <stdint.h>

struct conf_table;
struct conf_err;

struct im_config {
	/* [csi] */
	unsigned csi_max_queue;		/* stanzas held back per session */
	/* [sm] */
	uint64_t sm_resume_timeout_ms;	/* 0: resumption not offered */
	unsigned sm_max_unacked;	/* unacked stanzas before cut-off */
	unsigned sm_request_every;	/* server <r/> after that many */
};

/* Reads [csi] and [sm] from root into m; 0, or -1 with the message in e. */
int im_config_load(struct im_config *m, struct conf_table *root,
    struct conf_err *e);

#endif
