/*
 * register — In-Band Registration (XEP-0077): creating an account before
 * authentication where [registration] allows it (enabled, from the
 * allowed networks, with a password of at least min_password_entropy
 * bits), changing the password and removing the account from a session
 * (removal: core/db/accountrm.c).
 *
 * The rules both ways in share (in-band here, the web pages through
 * regweb.c) are below; they are private to this folder.
 */
#ifndef XMPP_REGISTER_H
#define XMPP_REGISTER_H

#include <stdbool.h>

#include "jid.h"

struct sockaddr;

#define REG_PASSWORD_MAX 1023	/* bytes */

enum reg_check { REG_FIELDS_OK, REG_MISSING, REG_BAD_USER, REG_RESERVED, REG_WEAK };

/* Whether open registration ([registration] enabled, allow_from) admits sa. */
bool reg_open_to(const struct sockaddr *sa);
/* Username and password of a submission: the prepared localpart into
 * local when REG_FIELDS_OK; is_new: a new account (reserved names). */
enum reg_check reg_check_fields(const char *user, const char *password,
    char local[JID_PART_MAX + 1], bool is_new);
/* A question challenge's answer (captcha_check's match). */
bool reg_question_match(const char *answer, unsigned question);
/* A new account of host: the welcome message, the watchers' notices. */
void reg_announce(const char *host, const char *local, const char *ip);

#endif
