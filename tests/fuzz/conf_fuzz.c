/* libFuzzer target: the config parser on arbitrary text. */
#include "conf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct conf_err e;
	struct conf_doc *d;
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	d = conf_parse_string("fuzz.toml", text, 0, &e);
	if (d != NULL) {
		(void)conf_check_unused(d->root, &e);
		conf_free(d);
	}
	free(text);
	return 0;
}
