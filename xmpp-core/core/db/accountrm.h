/*
 * accountrm — removing an account from a running server, one sequence for
 * both ways in: in-band (XEP-0077 <remove/>, register.c) and the admin's
 * `xmppctl deluser` (control.c).  The roster is loaded first (its rows go
 * with the account), the rows are deleted, then every contact loses both
 * directions of its subscription (roster pushes and 'unsubscribe' /
 * 'unsubscribed' to its online resources, as a roster removal does), the
 * push registrations in memory go, and the account's live sessions end
 * with <not-authorized/> "account removed" (XEP-0077 §3.2).
 */
#ifndef XMPP_ACCOUNTRM_H
#define XMPP_ACCOUNTRM_H

struct user;

/* result: 1 removed, 0 no such account, -1 failure (err set). */
typedef void accountrm_cb(void *arg, int result, const char *err);

/*
 * Removes u's account (u is held meanwhile).  cb runs after the contacts
 * were told and before the sessions end, so a session that asked can get
 * its answer and close its own stream first.  0, or -1 when nothing could
 * be started (cb is not called then).
 */
int accountrm_start(struct user *u, accountrm_cb *cb, void *arg);

#endif
