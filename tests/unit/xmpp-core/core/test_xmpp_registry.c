/* Unit tests for xmpp-core/core/registry.c: the start-up check of the
 * module tables (every conflict is an error naming both modules) and the
 * IQ lookup, on the shipped list of modules.c plus one test module. */
#include <string.h>

#include "t.h"
#include "registry.h"
#include "server.h"
#include "xml.h"

static bool
never(struct iq_req *r)
{
	(void)r;
	return false;
}

static bool
never_result(struct c2s *c, struct xml_node *n, const struct jid *to)
{
	(void)c, (void)n, (void)to;
	return false;
}

static void
no_el(struct c2s *c, struct xml_node *n)
{
	(void)c, (void)n;
}

static int
no_conf(struct conf_table *root, void **cfg, struct conf_err *e)
{
	(void)root, (void)cfg, (void)e;
	return 0;
}

static struct module extra;
static struct module *list[REGISTRY_MAX];
static char err[256];

/* The shipped modules followed by extra (unless it is all zero). */
static int
check_with(const struct module *m, bool migrations)
{
	size_t n = registry_nmodules;

	memcpy(list, registry_modules, n * sizeof(list[0]));
	extra = *m;
	if (extra.name)
		list[n++] = &extra;
	err[0] = '\0';
	return registry_check_modules(list, n, migrations, err, sizeof(err));
}

static bool
says(const char *a, const char *b)
{
	return strstr(err, a) != NULL && (b == NULL || strstr(err, b) != NULL);
}

TEST(xmpp_registry_shipped)
{
	struct module none = { 0 };

	CHECK_INT(check_with(&none, true), 0);
	registry_reset();
	/* the shipped list itself, as the server checks it */
	CHECK_INT(registry_check(err, sizeof(err)), 0);
	CHECK_INT(registry_check(err, sizeof(err)), 0);	/* once is enough */
	registry_reset();
}

TEST(xmpp_registry_iq_conflicts)
{
	static const struct iq_handler carbons[] = {
		{ "enable", "urn:xmpp:carbons:2", IQ_SELF, never }, { NULL, NULL, 0, NULL } };
	static const struct iq_handler other_scope[] = {
		{ "enable", "urn:xmpp:carbons:2", IQ_ACCOUNT, never }, { NULL, NULL, 0, NULL } };
	static const struct iq_handler any_push[] = {
		{ IQ_ANY, "urn:xmpp:push:0", IQ_NOTO, never }, { NULL, NULL, 0, NULL } };
	static const struct iq_handler in_blocking[] = {
		{ "frob", "urn:xmpp:blocking", IQ_NOTO, never }, { NULL, NULL, 0, NULL } };
	static const struct iq_handler twice[] = {
		{ "x", "urn:example:t", IQ_NOTO, never },
		{ IQ_ANY, "urn:example:t", IQ_SELF | IQ_NOTO, never }, { NULL, NULL, 0, NULL } };
	static const struct iq_handler noscope[] = {
		{ "x", "urn:example:t", 0, never }, { NULL, NULL, 0, NULL } };
	struct module m = { .name = "tester", .folder = "tests" };

	m.iqs = carbons;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("carbons", "tester"));
	CHECK(says("urn:xmpp:carbons:2", NULL));
	m.iqs = other_scope;
	CHECK_INT(check_with(&m, false), 0);
	m.iqs = any_push;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("push", "tester"));
	m.iqs = in_blocking;		/* blocking claims its whole namespace */
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("blocking", "tester"));
	m.iqs = twice;			/* a module against itself */
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("tester and tester", NULL));
	m.iqs = noscope;
	CHECK_INT(check_with(&m, false), -1);
	registry_reset();
}

TEST(xmpp_registry_other_conflicts)
{
	static const char *const feat[] = { "urn:xmpp:carbons:2", NULL };
	static const char *const acct[] = { "http://jabber.org/protocol/disco#items", NULL };
	static const struct stream_element sm[] = {
		{ "urn:xmpp:sm:3", ELEM_BOUND, no_el, NULL }, { NULL, 0, NULL, NULL } };
	static const struct stream_element sm_preauth[] = {
		{ "urn:xmpp:sm:3", 0x80, no_el, NULL }, { NULL, 0, NULL, NULL } };
	static const struct iq_result_handler caps[] = {
		{ "caps_x", never_result }, { NULL, NULL } };
	static const struct iq_result_handler cap[] = {
		{ "cap", never_result }, { NULL, NULL } };
	static const char *const mig[] = { "999_nothing", NULL };
	static const char *const stolen[] = { "020_mam", NULL };
	struct module m = { .name = "tester", .folder = "tests" };

	m.server_features = feat;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("carbons", "tester"));
	m.server_features = NULL;
	m.account_features = acct;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("core", "disco#items"));
	m.account_features = NULL;
	m.elements = sm;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("sm", "tester"));
	m.elements = sm_preauth;	/* another stream state: no conflict */
	CHECK_INT(check_with(&m, false), 0);
	m.elements = NULL;
	m.iq_results = caps;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("caps", "tester"));
	m.iq_results = cap;		/* a prefix of caps_ */
	CHECK_INT(check_with(&m, false), -1);
	m.iq_results = NULL;
	m.config_load = no_conf;	/* without config_free */
	CHECK_INT(check_with(&m, false), -1);
	m.config_load = NULL;
	m.name = "carbons";
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("two modules named carbons", NULL));
	m.name = "tester";
	m.migrations = mig;
	CHECK_INT(check_with(&m, true), -1);
	CHECK(says("999_nothing", "not built in"));
	m.migrations = stolen;		/* mam's, from another folder */
	CHECK_INT(check_with(&m, true), -1);
	CHECK(says("020_mam", NULL));
	registry_reset();
}

static int
no_cmd(struct ctl_req *req, const char *args)
{
	(void)req, (void)args;
	return 0;
}

TEST(xmpp_registry_commands)
{
	static const struct ctl_command mine[] = {
		{ "frob", "frob X", "frobs", no_cmd }, { NULL, NULL, NULL, NULL } };
	static const struct ctl_command rooms[] = {
		{ "rooms", "rooms", "again", no_cmd }, { NULL, NULL, NULL, NULL } };
	static const struct ctl_command core[] = {
		{ "sessions", "sessions", "mine", no_cmd }, { NULL, NULL, NULL, NULL } };
	static const struct ctl_command twice[] = {
		{ "frob", "frob", "one", no_cmd }, { "frob", "frob", "two", no_cmd },
		{ NULL, NULL, NULL, NULL } };
	static const struct ctl_command spaced[] = {
		{ "fr ob", "fr ob", "x", no_cmd }, { NULL, NULL, NULL, NULL } };
	static const struct ctl_command nohelp[] = {
		{ "frob", "frob", NULL, no_cmd }, { NULL, NULL, NULL, NULL } };
	struct module m = { .name = "tester", .folder = "tests" };

	m.commands = mine;
	CHECK_INT(check_with(&m, false), 0);
	CHECK(registry_command("frob") == &mine[0]);
	CHECK(registry_command("rooms") != NULL);	/* muc's */
	CHECK(registry_command("fro") == NULL);
	m.commands = rooms;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("muc and tester", "rooms"));
	m.commands = core;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("sessions", "core's own"));
	m.commands = twice;
	CHECK_INT(check_with(&m, false), -1);
	CHECK(says("tester and tester", "frob"));
	m.commands = spaced;
	CHECK_INT(check_with(&m, false), -1);
	m.commands = nohelp;
	CHECK_INT(check_with(&m, false), -1);
	registry_reset();
}

TEST(xmpp_registry_migrations_owned)
{
	size_t n = 0;

	/* without the core module, 001_init belongs to nobody */
	for (size_t k = 0; k < registry_nmodules; k++)
		if (strcmp(registry_modules[k]->name, "core") != 0)
			list[n++] = registry_modules[k];
	CHECK_INT(registry_check_modules(list, n, true, err, sizeof(err)), -1);
	CHECK(says("001_init", "no module"));
	registry_reset();
}

TEST(xmpp_registry_iq_lookup)
{
	struct xml_node *q;
	const struct iq_handler *h;

	CHECK_INT(registry_check(err, sizeof(err)), 0);
	q = xml_new("blocklist", "urn:xmpp:blocking");
	CHECK((h = registry_iq(q, IQ_SELF)) != NULL);
	CHECK(h && strcmp(h->ns, "urn:xmpp:blocking") == 0);
	CHECK(registry_iq(q, IQ_ACCOUNT) == NULL);
	xml_free(q);
	q = xml_new("frobnicate", "urn:xmpp:push:0");	/* push answers bad-request */
	CHECK((h = registry_iq(q, IQ_NOTO)) != NULL);
	CHECK(h && strcmp(h->name, IQ_ANY) == 0);
	xml_free(q);
	q = xml_new("enable", "urn:xmpp:carbons:2");
	CHECK(registry_iq(q, IQ_SERVER) != NULL);
	CHECK(registry_iq(q, IQ_ACCOUNT) == NULL);
	CHECK(registry_iq(q, IQ_PREAUTH) == NULL);
	xml_free(q);
	q = xml_new("query", "jabber:iq:register");
	CHECK(registry_iq(q, IQ_PREAUTH) != NULL);
	xml_free(q);
	q = xml_new("query", "urn:example:nobody");
	CHECK(registry_iq(q, IQ_NOTO) == NULL);
	xml_free(q);
	CHECK(registry_iq_result("caps_123") != NULL);
	CHECK(registry_iq_result("push-9") != NULL);
	CHECK(registry_iq_result("purple") == NULL);
	CHECK(registry_element("urn:xmpp:sm:3", ELEM_BOUND) != NULL);
	CHECK(registry_element("urn:xmpp:sm:3", 0x80) == NULL);
	registry_reset();
}
