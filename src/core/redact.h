/*
 * redact.h -- which names hold secrets, and hiding their values.
 *
 * mida records what programs are given (a command's argv, a task's
 * arguments as `used`) and prints URLs in messages. A password or token
 * among them must not reach the store, a terminal or another user's `ps`.
 * This module decides, by one rule, whether a name looks like it holds a
 * secret; url.c, the argv recorder of `mida run` and the session's `used`
 * filter all ask it.
 *
 * The rule works on the words of a name (split at anything that is not a
 * letter or digit, and where a lower-case letter meets an upper-case one:
 * "apiKey" is "api key", "DB_PASSWORD" is "db password"): a name is secret
 * when one of its words is password, passwd, passphrase, pass, pwd, secret,
 * secrets, token, credential(s), auth, authorization, cookie, apikey or
 * bearer (curl's --oauth2-bearer), or when two adjacent words are api
 * key, access key, private key or session key, or when a word holds
 * "passw" or "passphrase" ("sslpassword"). So
 * "hf_token", "--db-password" and "AWS_SECRET_ACCESS_KEY" are secret;
 * "max_tokens", "tokenizer", "author" and "keys" are not.
 */
#ifndef MIDA_CORE_REDACT_H
#define MIDA_CORE_REDACT_H

#include "core/buf.h"

#include <stddef.h>

/* What a secret value is replaced with. */
#define MIDA_REDACTED "***"

/* The bytes of an option's or a header's name, as the rules that find
 * secret values in text read one (core/argv.c, core/shell_secret.c). */
#define MIDA_NAME_CHARS                                                        \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

/* Whether the n bytes at name look like the name of a secret (above). */
int mida__secret_name(const char *name, size_t n);

/* The length of the name of a header at text, "NAME:" (not a URL's
 * "NAME://"), when that name looks like a secret's ("Authorization:",
 * "X-Api-Key:"); 0 when there is none. One rule for an argument's
 * header (core/argv.c) and a shell command's (core/shell_secret.c). */
size_t mida__secret_header_name(const char *text);

/* Whether the n bytes at name, an option's name with its dashes or any
 * other name, look like a secret's: mida__secret_name, or the whole name
 * is the option -pw or --pw (PuTTY's plink and pscp take a password so;
 * "pw" inside a longer name is none). An option named for a credential
 * file ("--credentials-file", "--credential-file-override") takes a path:
 * it is none. */
int mida__secret_option(const char *name, size_t n);

/* Whether text[0..n) holds, in any case, one of the three-letter stems
 * that every secret word and "key" begin with (pas, pwd, sec, tok, cre,
 * aut, coo, key, bea). A name without one is never secret, and a JSON text
 * without one has no secret member: one cheap pass that lets most `used`
 * values through untouched (the shipper asks it of every record). */
int mida__has_secret_stem(const char *text, size_t n);

/* How many members of the JSON value text[0..len) have a secret name
 * (mida__secret_name of the key as written), at any depth, in objects and
 * in the objects inside arrays; -1 when the text is not one JSON value.
 * No allocation. */
int mida__json_secret_count(const char *text, size_t len);

/* Appends the JSON value text[0..len) to out with the value of every
 * member counted by mida__json_secret_count replaced by the string "***"
 * (whatever its type: a nested object goes whole). Returns MIDA_OK,
 * MIDA_EJSON (out then holds a part) or the buffer's error. */
int mida__json_redact(const char *text, size_t len, mida__buf *out);

#endif /* MIDA_CORE_REDACT_H */
