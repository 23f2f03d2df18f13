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
 *     to white space or one of ;&|), or the inside of the quotes that the
 *     next word starts with;
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
 *   - after a word that names a program of mida__credentials_tool
 *     ("curl", "/usr/bin/mysql"), the value of its secret options, as
 *     mida__credentials_option reads them ("-su alice:***",
 *     "--user=alice:***", "-p***", "sshpass -p ***"): those of every
 *     such program named before them (`sudo curl ...`, `sshpass -p ***
 *     mysql -p***`).
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

/* What the value of a program's option holds, as mida hides it. */
enum mida__secret_value {
  MIDA_VALUE_PLAIN = 0,     /* nothing secret */
  MIDA_VALUE_USER_PASSWORD, /* "USER:PASSWORD": what follows the ':';
                               all of "KEY:", an API key as the user */
  MIDA_VALUE_PASSWORD,      /* all of it */
  MIDA_VALUE_HEADER         /* "NAME: VALUE": VALUE when NAME is secret */
};

/* The programs whose options take secrets under names that do not look
 * like a secret's (curl's -u, mysql's -p), as bits of a set: the one
 * that the n bytes at word name, as a command or by its path ("curl",
 * "/usr/bin/mysql"), or 0 when it is none of them: curl, wget, mysql and
 * mariadb with their tools ("mysqldump", "mariadb-dump"), sshpass and
 * redis-cli. core/argv.c asks it of each argument, the finder above of
 * each word, and reads the options after them with the programs of all
 * the words before: `sudo curl -o /tmp/mysql -u ...` still runs curl. */
unsigned mida__credentials_tool(const char *word, size_t n);

/* What the value of the option word (its n bytes) of one of the programs
 * in tools holds: of a short option alone or last in a cluster of ones
 * that take no value ("-u", "-su" for -s -u), or, for a program with
 * USER:PASSWORD options, of --user and --proxy-user. Sets *value to
 * where the value starts in word when it is attached ("-sualice:pw",
 * "--user=alice:pw", "-pPW"), else to n: the value is then the next
 * word. mysql's -p takes its value attached only ("-p DB" names a
 * database). */
enum mida__secret_value mida__credentials_option(unsigned tools,
                                                 const char *word, size_t n,
                                                 size_t *value);

#endif /* MIDA_CORE_SHELL_SECRET_H */
