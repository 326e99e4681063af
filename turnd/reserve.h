/*
 * reserve — port reservations (RFC 8656 §7.2, EVEN-PORT with the R bit):
 * an Allocate that asks for an even port with R set also binds port+1 and
 * gets a RESERVATION-TOKEN; a later Allocate presenting the token gets
 * that socket.  Unclaimed reservations are closed after 30 seconds.
 */
#ifndef TURND_RESERVE_H
#define TURND_RESERVE_H

#include "turnd.h"

#define RESERVE_TOKEN_LEN	8
#define RESERVE_LIFETIME_MS	30000

/* Keeps fd (bound to *bound) under a fresh token.  -1 on failure. */
int reserve_add(struct turnd *td, int fd, const union sockaddr_u *bound,
    uint8_t token[RESERVE_TOKEN_LEN]);
/* Claims a reservation: its socket, or -1 if the token is unknown. */
int reserve_take(struct turnd *td, const uint8_t *token,
    union sockaddr_u *bound);
void reserve_free_all(struct turnd *td);

#endif
