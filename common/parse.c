/*
 * parse.c - strict parsers for numbers, sizes and CPU counts.
 *
 * strtol() alone accepts "12abc", " 12", "" and silently saturates on
 * overflow; these reject all of that, so a typo is an error rather than a
 * surprising limit.  Each returns 0, or -1 with errno set: EINVAL for
 * malformed text, ERANGE for a value out of range.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]) && s[0] != '-') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

/* "500M" -> 524288000: suffixes are powers of 1024, as in docker. */
int parse_size(const char *s, long long *out)
{
	static const struct {
		char suffix;
		int shift;
	} units[] = {{'b', 0}, {'k', 10}, {'m', 20}, {'g', 30}};
	unsigned long long v, mult = 1;
	char *end;

	if (!isdigit((unsigned char)s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	if (*end != '\0') {
		size_t i = 0;

		while (i < sizeof(units) / sizeof(units[0]) &&
		       units[i].suffix != tolower((unsigned char)*end))
			i++;
		if (i == sizeof(units) / sizeof(units[0]) || end[1] != '\0') {
			errno = EINVAL;
			return -1;
		}
		mult = 1ULL << units[i].shift;
	}
	if (v == 0 || v > (unsigned long long)LLONG_MAX / mult) {
		errno = ERANGE;
		return -1;
	}
	*out = (long long)(v * mult);
	return 0;
}

/*
 * "1.5" -> quota 150000 for a period of 100000: CPU time is a quota of
 * microseconds per period, so a fraction of a CPU is exact with two decimals
 * and needs no floating point.
 */
int parse_cpus(const char *s, long period_us, long *quota_us)
{
	long whole = 0, hundredths = 0;
	const char *p = s;
	int digits = 0;

	if (!isdigit((unsigned char)*p)) {
		errno = EINVAL;
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > 1024) {
			errno = ERANGE;
			return -1;
		}
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			if (digits == 2) {
				errno = EINVAL;
				return -1;
			}
			hundredths = hundredths * 10 + (*p - '0');
		}
		if (digits == 0) {
			errno = EINVAL;
			return -1;
		}
		if (digits == 1)
			hundredths *= 10;
	}
	if (*p != '\0') {
		errno = EINVAL;
		return -1;
	}
	if ((whole == 0 && hundredths == 0) ||
	    whole * 100 + hundredths > 102400) {
		errno = ERANGE;
		return -1;
	}
	*quota_us = (whole * 100 + hundredths) * (period_us / 100);
	return 0;
}

const char *format_size(long long bytes, char *buf, size_t size)
{
	static const char units[] = "GMK";

	for (int i = 0; units[i] != '\0'; i++) {
		long long unit = 1LL << (10 * (3 - i));

		if (bytes % unit == 0) {
			snprintf(buf, size, "%lld%c", bytes / unit, units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%lld", bytes);
	return buf;
}

int has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += len)
		if ((p == list || isspace((unsigned char)p[-1])) &&
		    (p[len] == '\0' || isspace((unsigned char)p[len])))
			return 1;
	return 0;
}
