/*
 * shell_secret.h -- the secrets inside one argument that holds a shell
 * command (`sh -c 'CMD'`, `bash -c "..."`), as recorded argv shows it.
 *
 * `mida run` records argv (core/argv.h), where a secret option's value
 * (`--token X`) and a secret header's (`-H "Authorization: Bearer X"`)
 * are hidden when each is an argument of its own. A shell command given
 * as one argument holds the same words, which the shell splits only
 * later; this module finds their values in such a text, by the same name
 * rule (mida__secret_name, core/redact.h):
 *
 *   - an option: a word that starts with '-', whose name looks like a
 *     secret's, followed by white space: its value is the next word (up
 *     to white space or one of ;&| that no backslash escapes: "P\ W" is
 *     one word), or the inside of the quotes that the next word starts
 *     with;
 *   - a header: a word "NAME:" (not a URL's "NAME://"), white space
 *     optional: its value runs to the closing quote when the word follows
 *     a quote ("Authorization: Bearer X"), else to the end of the word.
 *
 *   - a field of form data after an '&' ("user=a&password=x", as curl
 *     -d sends it), whose name looks like a secret's: its value, to the
 *     next '&', quote or the end of the word;
 *   - a JSON member whose name looks like a secret's, "NAME": VALUE (or
 *     with single quotes): its value, to its closing quote, or up to a
 *     ',', '}' or ']' when it is not a string;
 *   - after a word that names a program of core/credentials.h ("curl",
 *     "/usr/bin/mysql", "docker" then "login"), the value of its secret
 *     options, as mida__credentials_option reads them ("-su alice:***",
 *     "--user=alice:***", "-p***", "sshpass -p ***"): those of every
 *     such program named before them in the same command (`sudo curl
 *     ...`, `sshpass -p *** mysql -p***`; a ;&|( or a new line outside
 *     quotes ends a command), and its secret word (htpasswd's password
 *     after -b, aws's value after "aws_secret_access_key"), counted
 *     among the words after it as the shell splits them, a quoted one
 *     whole.
 *
 * A word starts at the start of the text, or after white space, one of
 * ;&|(, a quote or an '='. Quotes are not paired: a word that merely
 * follows a closing quote is read as if it began a quoted one, which
 * hides more, never less. key=value words are core/conninfo.h's.
 */
#ifndef MIDA_CORE_SHELL_SECRET_H
#define MIDA_CORE_SHELL_SECRET_H

#include <stddef.h>

/* Finds the next secret value (above) of text at or after *from (0 to
 * start): sets *off and *len (never empty), moves *from past it and
 * returns 1; returns 0 when none is left. No allocation. */
int mida__shell_next_secret(const char *text, size_t *from, size_t *off,
                            size_t *len);

#endif /* MIDA_CORE_SHELL_SECRET_H */
