/* Unit tests for common/tlsticket.c: the ticket key file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "tlsticket.h"

static char path[] = "/tmp/edge-tlsticket-XXXXXX";

static void
write_keys(const char *text, mode_t mode)
{
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
clean(void)
{
	unlink(path);
	strcpy(path + strlen(path) - 6, "XXXXXX");
}

#define HEX80 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
	"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
	"00112233445566778899aabbccddeeff"

TEST(tlsticket_file)
{
	struct tlsticket_keys *t;
	char err[256];

	write_keys("# newest first\n" HEX80 "\n\n" HEX80 "  \n", 0600);
	CHECK((t = tlsticket_load(path, err, sizeof(err))) != NULL);
	tlsticket_free(t);
	clean();
	/* readable by others: refused, as every secret file */
	write_keys(HEX80 "\n", 0644);
	CHECK(tlsticket_load(path, err, sizeof(err)) == NULL);
	clean();
	write_keys(HEX80 "0\n", 0600);		/* 161 digits */
	CHECK(tlsticket_load(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not 160 hex digits") != NULL);
	clean();
	write_keys("zz" HEX80 "\n", 0600);
	CHECK(tlsticket_load(path, err, sizeof(err)) == NULL);
	clean();
	write_keys("# nothing\n", 0600);
	CHECK(tlsticket_load(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no key") != NULL);
	clean();
	write_keys(HEX80 "\n" HEX80 "\n" HEX80 "\n" HEX80 "\n" HEX80 "\n" HEX80 "\n"
	    HEX80 "\n" HEX80 "\n" HEX80 "\n", 0600);	/* 9 > TLS_TICKET_KEYS_MAX */
	CHECK(tlsticket_load(path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "too many keys") != NULL);
	clean();
	CHECK(tlsticket_load("/nonexistent/tickets", err, sizeof(err)) == NULL);
}
