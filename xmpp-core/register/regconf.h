/*
 * regconf — the [registration] table: who may register, the captcha,
 * the rules of a public host (reserved names, throttle, welcome
 * message, watchers).  Parsed by config_load of register_module (a new
 * struct on every SIGHUP); reg_cfg() is the current one.
 */
#ifndef XMPP_REGCONF_H
#define XMPP_REGCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "captcha.h"

struct addr_cidr;
struct conf_err;
struct conf_table;

enum reg_captcha { CAPTCHA_OFF, CAPTCHA_IMAGE, CAPTCHA_QUESTION };

struct reg_question {
	char *text;
	char **answers;
	size_t nanswers;
};

struct reg_config {
	bool enabled;
	struct addr_cidr *allow;
	size_t nallow;
	unsigned min_password_entropy;

	enum reg_captcha captcha;
	struct captcha_limits limits;
	struct reg_question *questions;
	size_t nquestions;
	bool have_key;
	uint8_t key[CAPTCHA_KEY_LEN];

	char **reserved;	/* nameprepped localparts */
	size_t nreserved;

	unsigned throttle_ip, throttle_subnet;	/* accounts per period, 0: off */
	unsigned prefix4, prefix6;		/* the subnet */
	uint64_t throttle_period_ms;

	char *welcome_subject, *welcome_body;	/* NULL: none */
	char **watchers;			/* bare JIDs */
	size_t nwatchers;

	unsigned invite_ttl_s;			/* xmppctl invite's default */
	char *invite_url;			/* landing page base, NULL: none */
	char *captcha_url;			/* web listener's /captcha/ base, NULL: cid only */
};

int regconf_load(struct conf_table *root, void **cfg, struct conf_err *e);
void regconf_free(void *cfg);
const struct reg_config *reg_cfg(void);

/* Whether local (nameprepped) is reserved. */
bool regconf_reserved(const struct reg_config *c, const char *local);

#endif
