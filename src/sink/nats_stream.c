/*
 * nats_stream.c -- the name of the JetStream stream of a NATS subject
 * (nats_stream.h says the mapping and why it is one-to-one).
 */
#include "sink/nats_stream.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Characters of the subject kept in a name; the previous mapping cut the
 * subject here too. */
#define KEPT_CHARS 200

/* A character a stream name holds as it is. */
static int name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Writes prefix, then the first KEPT_CHARS characters of subject with each
 * one a name does not hold written '_'. */
static void write_kept(const char *prefix, const char *subject, char *out,
                       size_t outlen) {
  snprintf(out, outlen, "%s%.*s", prefix, KEPT_CHARS, subject);
  size_t start = strlen(prefix);
  if (strlen(out) < start) /* out too short for even the prefix */
    return;
  for (char *p = out + start; *p != '\0'; p++)
    if (!name_char(*p))
      *p = '_';
}

void mida__nats_legacy_stream_name(const char *subject, char *out,
                                   size_t outlen) {
  write_kept("MIDA_", subject, out, outlen);
}

void mida__nats_stream_name(const char *subject, char *out, size_t outlen) {
  size_t len = strlen(subject);
  int as_is = len <= KEPT_CHARS;
  for (size_t i = 0; as_is && i < len; i++)
    as_is = name_char(subject[i]);
  if (as_is) {
    /* The name the previous mapping gave it too: its streams stay. */
    snprintf(out, outlen, "MIDA_%s", subject);
    return;
  }
  /* 64-bit FNV-1a of every byte of the subject: the characters written
   * '_', and those past KEPT_CHARS, still tell two subjects apart. */
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)subject[i];
    h *= 0x100000001b3u;
  }
  char kept[MIDA_NATS_STREAM_NAME_MAX];
  write_kept("MIDA-", subject, kept, sizeof kept);
  snprintf(out, outlen, "%s-%016llx", kept, (unsigned long long)h);
}

int mida__nats_subject_matches(const char *pattern, const char *subject) {
  const char *p = pattern, *s = subject;
  for (;;) {
    size_t plen = strcspn(p, "."), slen = strcspn(s, ".");
    if (plen == 1 && p[0] == '>')
      return *s != '\0'; /* the rest: at least one token */
    int same = (plen == 1 && p[0] == '*' && slen > 0) ||
               (plen == slen && memcmp(p, s, plen) == 0);
    if (!same)
      return 0;
    p += plen;
    s += slen;
    if (*p == '\0' || *s == '\0')
      return *p == '\0' && *s == '\0';
    p++; /* the dots */
    s++;
  }
}
