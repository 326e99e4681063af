/*
 * mime — content types by file extension, as Prosody Filer sees them.
 *
 * Filer takes the type from Go's mime.TypeByExtension: Go's built-in
 * table, then the host's shared-mime-info, with "; charset=utf-8" added
 * to text/ types (".txt" is "text/plain; charset=utf-8").  The table here
 * reproduces that for the files people send over XMPP.  The same type is
 * used to answer GET, and upload_mime_is_inline decides which types a browser may
 * render in place; everything else is served as an attachment so the
 * upload host never runs a stranger's HTML, SVG or script.
 */
#ifndef UPLOAD_MIME_H
#define UPLOAD_MIME_H

#include <stdbool.h>

/* Type for the name's extension (case-insensitive), or NULL if unknown. */
const char *upload_mime_by_name(const char *name);

/* True for types safe to display inline (images but SVG, audio, video, text). */
bool upload_mime_is_inline(const char *type);

#endif
