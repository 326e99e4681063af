/*
 * mucconf — [muc].  See mucconf.h.
 */
#include "mucconf.h"

#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "jid.h"

static int
size_key(struct conf_table *t, const char *key, uint64_t lo, uint64_t hi,
    size_t *out, struct conf_err *e)
{
	uint64_t v = *out;

	if (conf_size_range(t, key, lo, hi, &v, e) == -1)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int
admins_key(struct muc_config *m, struct conf_table *t, struct conf_err *e)
{
	struct jid j;

	if (conf_strarr(t, "admins", &m->admins, &m->nadmins, e) == -1)
		return -1;
	for (size_t i = 0; i < m->nadmins; i++) {
		if (jid_parse(m->admins[i], &j) == -1 || j.local[0] == '\0' ||
		    j.resource[0] != '\0') {
			conf_errf(e, t, "admins", "\"%s\" is not a bare JID",
			    m->admins[i]);
			return -1;
		}
	}
	return 0;
}

static int
create_key(struct muc_config *m, struct conf_table *t, struct conf_err *e)
{
	const char *s = NULL;

	if (conf_str(t, "create", &s, e) == -1)
		return -1;
	if (s == NULL || strcmp(s, "local") == 0)
		m->create = MUC_CREATE_LOCAL;
	else if (strcmp(s, "admins") == 0)
		m->create = MUC_CREATE_ADMINS;
	else if (strcmp(s, "anyone") == 0)
		m->create = MUC_CREATE_ANYONE;
	else {
		conf_errf(e, t, "create", "must be \"local\", \"admins\" or \"anyone\"");
		return -1;
	}
	return 0;
}

int
muc_config_load(struct muc_config *m, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	long long rooms = 10000, per_creator = 100, occ = 500, defmax = 500,
	    hist = 100, per_session = 100, rate = 5, burst = 20,
	    apage = 50, amaxpage = 250, amax = 0;
	char dom[JID_PART_MAX + 1];
	int rc;

	memset(m, 0, sizeof(*m));
	m->enabled = true;
	m->default_persistent = true;
	m->default_archive = true;
	m->history_bytes = 1024 * 1024;
	m->max_subject = 1024;
	m->max_name = 256;
	m->max_description = 1024;
	m->max_password = 256;
	m->max_nick = 128;
	m->max_presence = 16 * 1024;
	m->max_room_vcard = 128 * 1024;
	t = conf_table(root, "muc", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_bool(t, "enabled", &m->enabled, e) == -1 ||
	    conf_str(t, "service_jid", &m->service_jid, e) == -1 ||
	    create_key(m, t, e) == -1 || admins_key(m, t, e) == -1 ||
	    conf_int(t, "max_rooms", 1, 10000000, &rooms, e) == -1 ||
	    conf_int(t, "max_rooms_per_creator", 1, 100000, &per_creator, e) == -1 ||
	    conf_int(t, "max_occupants", 1, 100000, &occ, e) == -1 ||
	    conf_int(t, "default_max_users", 1, 100000, &defmax, e) == -1 ||
	    conf_int(t, "history", 0, 1000, &hist, e) == -1 ||
	    size_key(t, "history_bytes", 0, 64 * 1024 * 1024, &m->history_bytes, e) == -1 ||
	    size_key(t, "max_subject", 1, 65536, &m->max_subject, e) == -1 ||
	    size_key(t, "max_name", 1, 4096, &m->max_name, e) == -1 ||
	    size_key(t, "max_description", 1, 65536, &m->max_description, e) == -1 ||
	    size_key(t, "max_password", 1, 1024, &m->max_password, e) == -1 ||
	    size_key(t, "max_nick", 1, JID_PART_MAX, &m->max_nick, e) == -1 ||
	    size_key(t, "max_presence", 1024, 1024 * 1024, &m->max_presence, e) == -1 ||
	    size_key(t, "max_room_vcard", 1024, 16 * 1024 * 1024, &m->max_room_vcard, e) == -1 ||
	    conf_int(t, "max_rooms_per_session", 1, 10000, &per_session, e) == -1 ||
	    conf_int(t, "message_rate", 0, 100000, &rate, e) == -1 ||
	    conf_int(t, "message_burst", 1, 100000, &burst, e) == -1 ||
	    conf_bool(t, "default_persistent", &m->default_persistent, e) == -1 ||
	    conf_bool(t, "default_public", &m->default_public, e) == -1 ||
	    conf_bool(t, "default_moderated", &m->default_moderated, e) == -1 ||
	    conf_bool(t, "default_members_only", &m->default_members_only, e) == -1 ||
	    conf_bool(t, "default_whois_anyone", &m->default_whois_anyone, e) == -1 ||
	    conf_bool(t, "default_archive", &m->default_archive, e) == -1 ||
	    conf_int(t, "archive_page", 1, 10000, &apage, e) == -1 ||
	    conf_int(t, "archive_max_page", 1, 10000, &amaxpage, e) == -1 ||
	    conf_int(t, "archive_max_messages", 0, 1000000000000LL, &amax, e) == -1 ||
	    conf_duration_range(t, "archive_max_age", 0, 100ULL * 365 * 86400,
	    &m->archive_max_age, e) == -1))
		return -1;
	if (apage > amaxpage) {
		conf_errf(e, t, "archive_page", "must not exceed archive_max_page");
		return -1;
	}
	if (defmax > occ) {
		conf_errf(e, t, "default_max_users", "must not exceed max_occupants");
		return -1;
	}
	if (m->service_jid && (jid_domain_prep(m->service_jid, dom) == -1 ||
	    strcmp(dom, m->service_jid) != 0)) {
		conf_errf(e, t, "service_jid", "must be a normalised domain");
		return -1;
	}
	m->max_rooms = (unsigned)rooms;
	m->max_rooms_per_creator = (unsigned)per_creator;
	m->max_occupants = (unsigned)occ;
	m->default_max_users = (unsigned)defmax;
	m->history = (unsigned)hist;
	m->max_rooms_per_session = (unsigned)per_session;
	m->message_rate = (unsigned)rate;
	m->message_burst = (unsigned)burst;
	m->archive_page = (unsigned)apage;
	m->archive_max_page = (unsigned)amaxpage;
	m->archive_max_messages = (unsigned long long)amax;
	return 0;
}
