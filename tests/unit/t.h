/*
 * t.h — the unit-test harness: tests register themselves at start-up,
 * the runner (main.c) runs them all, or those whose name contains argv[1],
 * and prints "N passed, N failed".
 */
#ifndef EDGE_T_H
#define EDGE_T_H

#include <stdio.h>
#include <string.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	struct t_case *next;
};

void t_register(struct t_case *c);
void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
extern int t_failed_now;

#define TEST(nm)							\
	static void test_##nm(void);					\
	static struct t_case t_case_##nm = { #nm, test_##nm, NULL };	\
	__attribute__((constructor)) static void t_reg_##nm(void)	\
	{ t_register(&t_case_##nm); }					\
	static void test_##nm(void)

#define CHECK(cond) do { if (!(cond)) {					\
	t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); return; } } while (0)
#define CHECK_INT(a, b) do { long long t_a = (long long)(a), t_b = (long long)(b); \
	if (t_a != t_b) { t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
	    #a, t_a, #b, t_b); return; } } while (0)
#define CHECK_STR(a, b) do { const char *t_a = (a), *t_b = (b);		\
	if (t_a == NULL || t_b == NULL || strcmp(t_a, t_b) != 0) {	\
	t_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,	\
	    t_a ? t_a : "(null)", t_b ? t_b : "(null)"); return; } } while (0)
#define CHECK_MEM(a, b, n) do { if (memcmp((a), (b), (n)) != 0) {	\
	t_fail(__FILE__, __LINE__, "memory %s differs from %s", #a, #b); \
	return; } } while (0)

#endif
