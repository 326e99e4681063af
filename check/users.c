/*
 * users — the daemons' users.  See users.h.
 */
#include "users.h"

#include <stdio.h>

#include "report.h"

int
users_ident(const struct site *s, enum daemon_id d, struct ident *id)
{
	char err[128];

	return ident_lookup(s->d[d].user, id, err, sizeof(err));
}

void
users_check(const struct site *s)
{
	for (int i = 0; i < D_COUNT; i++) {
		const struct daemon_conf *d = &s->d[i];
		struct ident id;

		if (!d->loaded || d->user[0] == '\0')
			continue;
		if (users_ident(s, i, &id) == 0)
			report(V_OK, NULL, "user: %s runs as %s (uid %u)", d->name,
			    id.name, (unsigned)id.uid);
		else
			report(V_FAIL, "systemd-sysusers (edge-common's sysusers.d makes "
			    "the users), or set user = in the config",
			    "user: %s runs as %s, which does not exist", d->name, d->user);
	}
}
