/*
 * path — request path decoding and validation.  See path.h.
 */
#include "path.h"

#include <string.h>

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Checks one decoded segment [s, s+len). */
static enum path_result
check_segment(const char *s, size_t len, int depth)
{
	if (len == 0)
		return PATH_BAD;
	if (len > PATH_MAX_SEGMENT || depth > PATH_MAX_DEPTH)
		return PATH_BAD;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return PATH_BAD;
	for (size_t i = 0; i < len; i++) {
		/* A separator elsewhere (Windows, some proxies' normalisers). */
		if (s[i] == '\\')
			return PATH_BAD;
		/*
		 * Still an escape after the one decoding ("%252e" came in):
		 * whatever decodes it again would read another name.
		 */
		if (s[i] == '%' && i + 2 < len &&
		    hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0)
			return PATH_BAD;
	}
	/* Hidden names: upload-gw's own (PATH_TMPDIR) and anyone's dotfiles. */
	if (s[0] == '.')
		return PATH_HIDDEN;
	return PATH_OK;
}

enum path_result
upload_path_parse(const char *raw, const char *prefix, char *out, size_t outlen)
{
	size_t pl = strlen(prefix), o = 0, seg = 0;
	int depth = 1;
	enum path_result r;
	const char *p;

	if (outlen < PATH_MAX_LEN + 1 || strncmp(raw, prefix, pl) != 0)
		return PATH_NOT_FOUND;
	p = raw + pl;
	if (*p == '\0')
		return PATH_DIRECTORY;
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			return PATH_BAD;
		if (c == '/') {
			if (p[1] == '\0') {
				/* "dir/": names a directory, never a file. */
				r = check_segment(out + seg, o - seg, depth);
				return r == PATH_OK ? PATH_DIRECTORY : r;
			}
			if ((r = check_segment(out + seg, o - seg, depth)) != PATH_OK)
				return r;
			depth++;
			if (o >= PATH_MAX_LEN)
				return PATH_TOO_LONG;
			out[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			int hi = hexval((unsigned char)p[1]), lo;

			if (hi < 0 || (lo = hexval((unsigned char)p[2])) < 0)
				return PATH_BAD;
			c = (unsigned char)(hi << 4 | lo);
			p += 2;
			/* An encoded '/' would let one URL name two paths. */
			if (c == 0 || c == '/' || c < 0x20 || c == 0x7f)
				return PATH_BAD;
		}
		if (o >= PATH_MAX_LEN)
			return PATH_TOO_LONG;
		out[o++] = (char)c;
	}
	if ((r = check_segment(out + seg, o - seg, depth)) != PATH_OK)
		return r;
	out[o] = '\0';
	return PATH_OK;
}

const char *
upload_path_basename(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

void
upload_path_for_log(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (outlen == 0)
		return;
	for (; *s && o + 5 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (*s && o + 3 < outlen) {
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o] = '\0';
}
