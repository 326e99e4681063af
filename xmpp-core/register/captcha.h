/*
 * captcha — the challenges of public registration (XEP-0158): a picture
 * of six letters drawn by xmpp-core itself (our bitmap font, warped,
 * rotated, crossed by lines and noise so that OCR fails; png.c encodes
 * it) or, for people who cannot see it, a question from the
 * configuration.
 *
 * A challenge has a random id (the form's `challenge`), belongs to the
 * address that asked for it, works once and expires.  Its text is
 * HMAC-SHA256(key, "text:" id) mapped onto CAPTCHA_ALPHABET, its
 * distortions come from HMAC(key, "draw:" id): the image of one id is
 * the same whenever it is fetched (no averaging over reloads), and
 * nothing of the answer is kept but the key.  The key is random per
 * process unless captcha_set_key() gives one (`captcha_key_file`, which
 * is how the integration tests know the answers).
 *
 * captcha_png() is the interface for the web listener (the image's
 * http URL and the /register page): README.md lists this header.
 */
#ifndef XMPP_CAPTCHA_H
#define XMPP_CAPTCHA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct sockaddr;

#define CAPTCHA_ALPHABET "ACDEFHJKMNPRTUVWXY3479"
#define CAPTCHA_TEXT_LEN 6
#define CAPTCHA_ID_LEN	 32		/* hex characters */
#define CAPTCHA_CID_LEN	 (5 + 40 + 13)	/* sha1+HEX@bob.xmpp.org */
#define CAPTCHA_W	 240
#define CAPTCHA_H	 90
#define CAPTCHA_KEY_LEN	 32

struct captcha_limits {
	unsigned per_minute;	/* challenges per address per minute */
	unsigned ttl_s;		/* how long an answer is accepted */
	bool question;		/* a question instead of a picture */
	size_t nquestions;	/* >0 when question */
};

enum captcha_rc {
	CAPTCHA_OK,
	CAPTCHA_WRONG,		/* the answer is not the text */
	CAPTCHA_UNKNOWN,	/* never issued, expired, or answered before */
	CAPTCHA_LIMITED,	/* this address asked too often */
	CAPTCHA_FULL,		/* too many challenges pending */
	CAPTCHA_NOMEM,
};

/* The key of every later challenge; without a call, a random one. */
void captcha_set_key(const uint8_t key[CAPTCHA_KEY_LEN]);

/* A new challenge for peer: its id (NUL-ended) and, for a picture, the
 * XEP-0231 cid of its PNG; question: which question (0..nquestions-1). */
enum captcha_rc captcha_new(const struct sockaddr *peer, const struct captcha_limits *l,
    char id[CAPTCHA_ID_LEN + 1], char cid[CAPTCHA_CID_LEN + 1], unsigned *question);

/* Checks and consumes the challenge id (whatever the answer: a wrong
 * guess costs a new challenge).  A picture's answer is compared without
 * case and blanks; a question's through match(answer, question). */
enum captcha_rc captcha_check(const char *id, const char *answer,
    bool (*match)(const char *answer, unsigned question));

/* The PNG of a pending picture challenge, by id or by cid: 0, or -1
 * when there is none (unknown, expired, answered) or memory ran out. */
int captcha_png(const char *id, struct buf *out);
int captcha_png_cid(const char *cid, struct buf *out);

/* Forgets every challenge (shutdown, tests). */
void captcha_clear(void);

/* The pieces, for the unit tests: the text of an id under the current
 * key, and the picture of a text drawn with a seed (CAPTCHA_W x
 * CAPTCHA_H bytes); plain: the letters alone, straight, black on white
 * (the OCR test's control, never served). */
void captcha_text(const char *id, char text[CAPTCHA_TEXT_LEN + 1]);
void captcha_draw(const char *text, const uint8_t seed[32], bool plain, uint8_t *pix);

#endif
