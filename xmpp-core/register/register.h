/*
 * register — In-Band Registration (XEP-0077): creating an account before
 * authentication where [registration] allows it (enabled, from the
 * allowed networks, with a password of at least min_password_entropy
 * bits), changing the password and removing the account from a session
 * (removal: core/db/accountrm.c).
 */
#ifndef XMPP_REGISTER_H
#define XMPP_REGISTER_H

#endif
