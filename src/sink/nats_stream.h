/*
 * nats_stream.h -- the name of the JetStream stream that captures a
 * subject of the nats sink (nats.c), and the name a mida before 2026-12
 * gave it.
 *
 * Both sides of a NATS broker (the shippers' sink and `mida ingest`) make
 * sure a stream captures the subject of their URL, and find it by name:
 * the name must be a function of the subject alone, and two subjects must
 * never share one (a stream created for one would not capture the other:
 * its producers got "No responders" and its consumers could not join).
 *
 * A stream name may hold letters, digits, '-' and '_' safely (no '.', '*'
 * or '>': it is a token of JetStream's API subjects; it is a directory
 * name on the server's disk, so at most 255 bytes). The mapping:
 *
 *   - a subject of at most 200 characters, each a letter, a digit, '-' or
 *     '_': "MIDA_" and the subject, as before ("mida" -> "MIDA_mida");
 *   - any other subject: "MIDA-", the subject with each other character
 *     written '_' (its first 200 characters), '-', and 16 hexadecimal
 *     digits of the 64-bit FNV-1a hash of the whole subject
 *     ("a.b" -> "MIDA-a_b-<hash>").
 *
 * The first form is one-to-one; the second starts "MIDA-", which the
 * first never does; two subjects of the second form share a name only if
 * their first 200 characters read the same once written so and their
 * 64-bit hashes are equal (about one chance in 2^64 for a pair). The
 * previous mapping wrote the other characters '_' in the first form too
 * (so "a.b" and "a_b" were both "MIDA_a_b") and cut the subject at 200
 * characters: mida__nats_legacy_stream_name gives that name, so that
 * nats.c can keep using a stream it made for the same subject
 * (docs/multinode.md, "NATS stream names").
 */
#ifndef MIDA_SINK_NATS_STREAM_H
#define MIDA_SINK_NATS_STREAM_H

#include <stddef.h>

/* Longest name either function writes, with its terminating NUL. */
#define MIDA_NATS_STREAM_NAME_MAX 224

/* Writes the stream name of subject (NUL-terminated, any bytes) into out,
 * of outlen bytes (at least MIDA_NATS_STREAM_NAME_MAX, else cut).
 * Pure; thread-safe. */
void mida__nats_stream_name(const char *subject, char *out, size_t outlen);

/* Writes the name that mida gave subject's stream before this mapping
 * (every character but letters, digits, '-' and '_' written '_', the
 * subject cut at 200 characters). Pure; thread-safe. */
void mida__nats_legacy_stream_name(const char *subject, char *out,
                                   size_t outlen);

/* 1 when the subject pattern of a stream (NATS's wildcards: '*' one
 * token, '>' the rest) captures the literal subject, else 0: the stream
 * that nats.c finds by name must capture its subject, or its producers
 * would get "No responders" and its consumers could not join it. Pure. */
int mida__nats_subject_matches(const char *pattern, const char *subject);

#endif /* MIDA_SINK_NATS_STREAM_H */
