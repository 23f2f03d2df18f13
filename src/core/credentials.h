/*
 * credentials.h -- the secrets that programs take under option names that
 * do not look like a secret's, and where they stand on a command line.
 *
 * A secret option's value (`--token X`) is hidden by its name
 * (mida__secret_name, core/redact.h). Some programs take a password
 * under a name that says nothing: curl's -u USER:PASSWORD and -E
 * FILE:PASSWORD, mysql's -pPW, ldapsearch's -w PW, smbclient's -U
 * USER%PW, openssl's -k PW, `docker login -p PW`, or as a word with no
 * option at all: `htpasswd -b FILE USER PASSWORD`, `aws configure set
 * aws_secret_access_key VALUE`, unixODBC's `isql DSN USER PASSWORD`. Any
 * program's --creds, --src-creds and --dest-creds (podman, buildah,
 * skopeo, crictl) take USER:PASSWORD. A table in credentials.c names these
 * programs (by their name or its start, "mysqldump" for mysql's family),
 * their option letters that take no value (so that "-su" reads as -s
 * -u), the secret options with what their value holds, and, for a
 * program such as docker, the subcommand after which they count.
 *
 * core/argv.c feeds each argument of a command line to
 * mida__credentials_word; core/shell_secret.c the words of a shell
 * command's text. Both read the options of every program named before
 * (`sudo curl ...`, `sshpass -p PW mysql -pPW`).
 */
#ifndef MIDA_CORE_CREDENTIALS_H
#define MIDA_CORE_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

/* What the value of a program's option holds, as mida hides it. */
enum mida__secret_value {
  MIDA_VALUE_PLAIN = 0,     /* nothing secret */
  MIDA_VALUE_USER_PASSWORD, /* "USER:PASSWORD": what follows the first
                               ':'; all of "KEY:", an API key as the user */
  MIDA_VALUE_USER_COMMA,    /* "USER,PASSWORD" (lftp -u), as above */
  MIDA_VALUE_USER_PERCENT,  /* "[DOMAIN/]USER%PASSWORD" (samba's -U) */
  MIDA_VALUE_FILE_PASSWORD, /* "FILE:PASSWORD" (curl -E): what follows the
                               last ':' */
  MIDA_VALUE_PASSWORD,      /* all of it */
  MIDA_VALUE_HEADER         /* "NAME: VALUE": VALUE when NAME is secret */
};

/* Where a command line stands, word after word; all zero to start. */
struct mida__credentials {
  uint32_t named;   /* programs (bit k: the table's k-th) whose options
                       count from here on */
  uint32_t waiting; /* programs named whose subcommand ("login") has not
                       come yet */
  enum mida__secret_value next; /* the next word's: the value of the
                                   option before */
  unsigned char positional;     /* 1 + the table index of the last program
                                   named that takes a secret as a word
                                   (htpasswd, aws, isql); 0: none */
  unsigned char words;          /* its words since, options' aside */
  unsigned char batch;          /* htpasswd: -b, password on the line;
                                   isql: always */
  unsigned char fewer;          /* htpasswd: -n, no file before the user */
  unsigned char skip;           /* the next word is an option's value */
  unsigned char after_name;     /* the word before was named like a
                                   secret (aws: "aws_secret_access_key") */
  unsigned char by_position;    /* the last secret found was a word's */
  unsigned char ends;           /* 1 + the table index of the last program
                                   named whose options end at its command
                                   (sshpass, redis-cli); 0: none */
  unsigned char value_next;     /* the next word may be the value of that
                                   program's option before it */
};

/* Reads the next word of a command line (the n bytes at word) into c:
 * returns what it holds (MIDA_VALUE_PLAIN: nothing secret) and sets
 * *value to where that value starts in word: 0 when the word is the
 * value of the option before it or a secret word of its own, past the
 * option ("-sualice:pw", "--cert=f:pw", "-pPW") when the value is
 * attached. mida__credentials_secret then tells its secret part. */
enum mida__secret_value mida__credentials_word(struct mida__credentials *c,
                                               const char *word, size_t n,
                                               size_t *value);

/* Reads into c where the options of sshpass and redis-cli end: at the
 * first word after them that is neither an option nor an option's value,
 * the command they run or send (`sshpass -p PW ssh -p 22 h`: ssh's -p
 * is a port); that program's options count no more after it. Called for
 * each word of a command before mida__credentials_name;
 * mida__credentials_word calls both. */
void mida__credentials_command(struct mida__credentials *c,
                               const char *word, size_t n);

/* Reads into c only the program or subcommand that the word names, if
 * any ("curl", "/usr/bin/mysql", docker's "login"); returns 1 when it
 * names a program that takes a secret as a word (htpasswd, aws). */
int mida__credentials_name(struct mida__credentials *c, const char *word,
                           size_t n);

/* What the value of the option word (its n bytes) of one of the programs
 * in named (struct mida__credentials) holds: of a short option alone or
 * last in a cluster of ones that take no value ("-u", "-su" for -s -u),
 * or of a long one of the table ("--user", "--cert"), or of a whole
 * word of one dash or two that the table names ("-key", "--key=PW" of
 * openssl ca), or of any program's --creds, --src-creds or
 * --dest-creds. Sets *value to where the value starts in word when it
 * is attached ("-sualice:pw", "--user=alice:pw", "-pPW"), else to n:
 * the value is then the next word. mysql's -p takes its value attached
 * only ("-p DB" names a database), openssl's -k apart or after an '='
 * ("-kfile" is another option). Sets *also to what the next word holds
 * when it is a value too, besides the one attached: isql's "-PASS" is
 * Sybase's -P with the password "ASS" or Firebird's -pass before its
 * password (MIDA_VALUE_PLAIN: it is not). */
enum mida__secret_value mida__credentials_option(
    uint32_t named, const char *word, size_t n, size_t *value,
    enum mida__secret_value *also);

/* Where the secret starts in the n bytes at value, a value of kind: past
 * the user name or the file (the whole "KEY:" of an API key), past a
 * secret header's name, or 0 for a password; n when it holds none. */
size_t mida__credentials_secret(enum mida__secret_value kind,
                                const char *value, size_t n);

#endif /* MIDA_CORE_CREDENTIALS_H */
