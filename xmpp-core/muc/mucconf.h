/*
 * mucconf — the [muc] table: whether conference.<host> runs, who may
 * create rooms, the defaults of a new room (the reference host's:
 * non-public, open, 500 occupants at most) and the limits that bound what
 * a peer can make the service hold.  Loaded with the rest of the file,
 * swapped on SIGHUP; documented in deploy/XMPP-CORE.md.
 */
#ifndef XMPP_MUCCONF_H
#define XMPP_MUCCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

struct conf_table;
struct conf_err;

enum muc_create { MUC_CREATE_LOCAL, MUC_CREATE_ADMINS, MUC_CREATE_ANYONE };

struct muc_config {
	bool enabled;			/* run conference.<host> */
	const char *service_jid;	/* NULL: conference.<host> */
	enum muc_create create;
	char *const *admins;		/* bare JIDs: may create with "admins" */
	size_t nadmins;
	unsigned max_rooms;		/* rooms in memory, all hosts */
	unsigned max_rooms_per_creator;	/* rooms one bare JID owns at once */
	unsigned max_occupants;		/* ceiling of a room's max users */
	unsigned default_max_users;
	unsigned history;		/* messages kept per room (and sent on join) */
	size_t history_bytes;		/* serialised bytes kept per room */
	size_t max_subject;		/* bytes of a subject */
	size_t max_name;		/* bytes of a room name */
	size_t max_description;		/* bytes of a description */
	size_t max_password;		/* bytes of a room password */
	size_t max_nick;		/* bytes of a nickname */
	size_t max_presence;		/* serialised bytes of an occupant's presence */
	size_t max_room_vcard;		/* serialised bytes of a room's vCard */
	unsigned max_rooms_per_session;	/* rooms one session may be in */
	unsigned message_rate;		/* messages per second per occupant, 0: off */
	unsigned message_burst;		/* ... allowed in a burst */
	/* room archives (XEP-0313 on the room JID, mucmam.c) */
	unsigned archive_page;		/* results per page without <max/> */
	unsigned archive_max_page;	/* <max/> above it is capped; ids at most */
	unsigned long long archive_max_messages;	/* per room, 0: no cap */
	uint64_t archive_max_age;	/* seconds a message is kept, 0: forever */
	/* new rooms */
	bool default_persistent;
	bool default_public;
	bool default_moderated;
	bool default_members_only;
	bool default_whois_anyone;	/* non-anonymous */
	bool default_archive;		/* archived (`mam`) */
};

int muc_config_load(struct muc_config *m, struct conf_table *root,
    struct conf_err *e);

extern struct module muc_module;
#define muc_cfg() ((const struct muc_config *)module_cfg(&muc_module))

#endif
