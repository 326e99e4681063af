/*
 * message — <message/> delivery to local accounts (RFC 6121 §8.5): to
 * full and bare JIDs by type, with priorities, carbon copies for the
 * other resources (carbons.c); chat/normal messages for an account
 * without an available resource go to offline storage (offline.c).  It
 * is the last handler of EV_MESSAGE_IN: the archive and blocking run
 * before it.
 */
#ifndef XMPP_MESSAGE_H
#define XMPP_MESSAGE_H

#endif
