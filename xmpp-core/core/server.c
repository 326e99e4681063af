/*
 * server — the one instance of the process-wide state.  See server.h.
 */
#include "server.h"

struct server srv;
