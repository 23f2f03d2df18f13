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
 * secrets, token, credential(s), auth, authorization, cookie or apikey, or
 * when two adjacent words are api key, access key, private key or session
 * key, or when a word holds "passw" or "passphrase" ("sslpassword"). So
 * "hf_token", "--db-password" and "AWS_SECRET_ACCESS_KEY" are secret;
 * "max_tokens", "tokenizer", "author" and "keys" are not.
 */
#ifndef MIDA_CORE_REDACT_H
#define MIDA_CORE_REDACT_H

#include <stddef.h>

/* What a secret value is replaced with. */
#define MIDA_REDACTED "***"

/* Whether the n bytes at name look like the name of a secret (above). */
int mida__secret_name(const char *name, size_t n);

#endif /* MIDA_CORE_REDACT_H */
