/*
 * last — Last Activity (XEP-0012): of a contact (when its last session
 * ended, with the status of its unavailable presence; only for those
 * subscribed to its presence) and of the server (uptime).
 */
#ifndef XMPP_LAST_H
#define XMPP_LAST_H

#endif
