/* libFuzzer target: address parsing and formatting. */
#include "addr.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct edge_addr a;
	char err[256], buf[ADDR_STRLEN];
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(s, 5050, &a, err, sizeof(err)) == 0)
		addr_format(&a, buf, sizeof(buf));
	free(s);
	return 0;
}
