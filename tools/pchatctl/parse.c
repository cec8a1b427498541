/* parse.c — checks of what operators type: names, texts, SIP URIs, domains, URLs, switches,
 * dates and numbers. Each check answers with what is wrong, so the caller can say it. */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const privacy_names[3] = { "open", "closed", "secret" };
const char *const type_names[2] = { "normal", "auditorium" };
const char *const room_invitation_names[2] = { "inherit", "off" };
const char *const role_names[3] = { "member", "manager", "presenter" };

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return true;
    return false;
}

const char *check_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "a name cannot be empty";
    if (n > CTL_MAX_NAME)
        return "a name is at most 256 bytes long";
    if (has_control(s))
        return "a name cannot hold control characters (tabs, new lines)";
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
        return "a name cannot start or end with a space";
    return NULL;
}

const char *check_text(const char *s)
{
    if (strlen(s) > CTL_MAX_TEXT)
        return "a text is at most 4096 bytes long";
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') || *s == 0x7F)
            return "a text cannot hold control characters other than tab and new line";
    return NULL;
}

/* Letters, digits, '-' and '.', no empty label: a DNS name as SIP domains are written. */
static bool is_domain(const char *s, size_t n)
{
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(isalnum(ch) || ch == '-' || ch == '.'))
            return false;
        if (ch == '.' && s[i + 1] == '.')
            return false;
    }
    return true;
}

static void lower_copy(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
}

const char *parse_user_uri(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (strncasecmp(s, "sip:", 4) != 0)
        return "a user is written sip:name@domain (e.g. sip:alice@example.com)";
    if (n >= outlen || n > 256)
        return "a user URI is at most 256 bytes long";
    const char *at = strchr(s + 4, '@');
    if (!at || at == s + 4 || strchr(at + 1, '@'))
        return "a user is written sip:name@domain (e.g. sip:alice@example.com)";
    for (const char *p = s + 4; p < at; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch == 0x7F || strchr(",;<>\"'\\:/?", ch))
            return "the name part of a user URI cannot hold spaces or any of , ; < > \" ' \\ : / ?";
    }
    if (!is_domain(at + 1, strlen(at + 1)))
        return "the domain of a user URI must be letters, digits, '-' and '.' (e.g. example.com)";
    lower_copy(out, s, n);
    return NULL;
}

const char *parse_domain(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n >= outlen || !is_domain(s, n))
        return "a domain is letters, digits, '-' and '.' (e.g. example.com)";
    lower_copy(out, s, n);
    return NULL;
}

const char *check_url(const char *s)
{
    size_t n = strlen(s);
    size_t scheme = strncasecmp(s, "https://", 8) == 0 ? 8 : strncasecmp(s, "http://", 7) == 0 ? 7 : 0;
    if (!scheme)
        return "only http:// and https:// URLs are allowed";
    if (n > 2048)
        return "a URL is at most 2048 bytes long";
    if (n == scheme || s[scheme] == '/')
        return "the URL names no host";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F)
            return "a URL cannot hold spaces or control characters";
    return NULL;
}

int parse_onoff(const char *s)
{
    static const char *const on[] = { "on", "true", "yes", "1", "enabled" };
    static const char *const off[] = { "off", "false", "no", "0", "disabled" };
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        if (strcasecmp(s, on[i]) == 0)
            return 1;
        if (strcasecmp(s, off[i]) == 0)
            return 0;
    }
    return -1;
}

int parse_word(const char *s, const char *const *words, int n)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(s, words[i]) == 0)
            return i;
    return -1;
}

bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

const char *parse_date(const char *s, char *out, size_t outlen)
{
    static const char form[] = "a date is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] "
                               "(e.g. 2024-03-01 or 2024-03-01T09:30:00Z)";
    size_t n = strlen(s);
    if (n < 10 || n > 40 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return form;
    int year = num(s, 4), month = num(s + 5, 2), day = num(s + 8, 2);
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1])
        return "the date does not exist (year 1970-9999, month 1-12, a day of that month)";
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return "the date does not exist (February 29th of a year that is not a leap year)";
    const char *p = s + 10;
    char time_part[32] = "00:00:00";
    char zone[8] = "Z";
    if (*p) {
        if ((*p != 'T' && *p != 't' && *p != ' ') || !digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2))
            return form;
        int hh = num(p + 1, 2), mm = num(p + 4, 2), ss = 0;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2))
                return form;
            ss = num(p + 1, 2);
            p += 3;
            if (*p == '.') {   /* fractions of a second are accepted and dropped */
                p++;
                if (!isdigit((unsigned char)*p))
                    return form;
                while (isdigit((unsigned char)*p))
                    p++;
            }
        }
        if (hh > 23 || mm > 59 || ss > 59)
            return "the time does not exist (hours 0-23, minutes and seconds 0-59)";
        snprintf(time_part, sizeof time_part, "%02d:%02d:%02d", hh, mm, ss);
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            if (!digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2) || num(p + 1, 2) > 14 ||
                num(p + 4, 2) > 59)
                return form;
            snprintf(zone, sizeof zone, "%c%.2s:%.2s", p[0], p + 1, p + 4);
            p += 6;
        }
        if (*p)
            return form;
    }
    if (strcmp(zone, "+00:00") == 0 || strcmp(zone, "-00:00") == 0)
        snprintf(zone, sizeof zone, "Z");
    snprintf(out, outlen, "%04d-%02d-%02dT%s%s", year, month, day, time_part, zone);
    return NULL;
}
