/*
 * credentials.c -- the table of programs whose options or words take
 * secrets under names that do not look like a secret's, and the reading
 * of a command line against it (see credentials.h).
 */
#include "core/credentials.h"

#include "core/redact.h"

#include <ctype.h>
#include <string.h>

/* How a program takes the value of its short secret options. */
enum attach {
  ATTACHED_OR_NEXT = 0, /* "-pPW" or "-p PW", last in a cluster too */
  ATTACHED_ONLY         /* "-pPW" only: mysql's "-p DB" names a database */
};

/* A program whose options or words take secrets. */
struct secret_tool {
  const char *name;       /* the program's name, or its names' start */
  int prefix;             /* whether a name that goes on in letters, '-'
                             or '_' is it too ("mysqldump") */
  const char *subcommand; /* the word after which its options count
                             (docker's "login"), or NULL: from the name */
  const char *flags;      /* letters of its options that take no value,
                             which may come first in a cluster */
  /* Its secret options, "NAME=KIND" separated by spaces: a letter ("u")
   * or a long option ("--cert"), and what its value holds: U for
   * USER:PASSWORD, C for USER,PASSWORD, S for USER%PASSWORD, F for
   * FILE:PASSWORD, P for a password, H for a header. */
  const char *options;
  enum attach attach; /* how its short options' values come */
  /* htpasswd: after the option letter batch, its word number batch_word
   * (of those that are no option nor an option's value) is a password;
   * one fewer after the letter fewer (no file); the letters of valued
   * take a value. */
  char batch;
  unsigned char batch_word;
  char fewer;
  const char *valued;
  int after_secret_name; /* aws: a word after a word named like a
                            secret ("aws_secret_access_key") is one */
  int always_positional; /* isql: its word number batch_word is a
                            password with no batch letter, and its
                            options (all with their value attached) may
                            come among its words */
  /* Its options named by a whole word, "NAME=KIND" as options' with NAME
   * of one dash (openssl ca's "-key=P"): written with one dash or two,
   * the value the next word or after an '=' ("-key PW", "--key PW",
   * "-key=PW", "--key=PW": OpenSSL's parser takes all four). A word
   * that a letter of options reads too with its value attached (isql's
   * "-PASS": Sybase's -P with the password "ASS", or Firebird's -pass
   * before its password) has both values hidden. */
  const char *dash_options;
  int dash_any_case; /* isql: Firebird's options are matched case aside
                        ("-PASSWORD", "-Pas") */
  /* isql: the first letters of the options that only the programs of
   * its other dialects take (Sybase/FreeTDS -U -P -S, Firebird -u(ser)
   * -p(assword)); once one comes, no word is a password by its place. */
  const char *other_dialect;
  /* sshpass, redis-cli: their options end at the first word that is none
   * nor an option's value: the command they run or send, whose words are
   * not theirs. These are the letters of their short options that take
   * a value apart; "*" when any option may (redis-cli's long ones do,
   * "--pattern P"), so that a plain word right after an option never
   * ends them. NULL: options may come anywhere ("curl URL -u U:P"). */
  const char *ends_at_command;
};

/* The options of mysql's family that take no value in each of its
 * programs (-B, -s, -v, ...): "-Bsp" is -B -s -p. */
#define MYSQL_FLAGS "ABCcEfHNnqstVvX"

/* The registry logins of docker and its kin: -p PW after "login" (in
 * `docker run -p 80:80` it publishes a port). */
#define LOGIN_TOOL(tool)                                                       \
  {.name = tool, .subcommand = "login", .flags = "", .options = "p=P"}

/* samba's clients: -U [DOMAIN/]USER%PASSWORD, --user=... */
#define SAMBA_TOOL(tool)                                                       \
  {.name = tool, .flags = "N", .options = "U=S --user=S"}

/* Bit k of a set of programs (struct mida__credentials) is tools[k]; the
 * first name that matches a word is its program. */
static const struct secret_tool tools[] = {
    /* curl's letters of no value are tool_getparam.c's ARG_NONE and
     * ARG_BOOL ones; -b is its --cookie, -E its --cert FILE:PASSWORD. */
    {.name = "curl",
     .flags = "0123469#aBfgGhiIjJklLMnNOpqRsSvVZ",
     .options = "u=U U=U b=P H=H E=F --user=U --proxy-user=U --cert=F "
                "--proxy-cert=F"},
    {.name = "wget",
     .flags = "",
     .options = "u=U U=U --user=U --proxy-user=U"},
    {.name = "mysql",
     .prefix = 1,
     .flags = MYSQL_FLAGS,
     .options = "p=P",
     .attach = ATTACHED_ONLY},
    {.name = "mariadb",
     .prefix = 1,
     .flags = MYSQL_FLAGS,
     .options = "p=P",
     .attach = ATTACHED_ONLY},
    {.name = "sshpass", .flags = "hVv", .options = "p=P",
     .ends_at_command = "fdpP"},
    {.name = "redis-cli", .flags = "", .options = "a=P",
     .ends_at_command = "*"},
    LOGIN_TOOL("docker"),
    LOGIN_TOOL("podman"),
    LOGIN_TOOL("buildah"),
    LOGIN_TOOL("skopeo"),
    LOGIN_TOOL("nerdctl"),
    /* OpenLDAP's tools bind with -w PW; ldappasswd sets -s NEW over -a
     * OLD too. */
    {.name = "ldappasswd", .flags = "AnSvWxZ", .options = "a=P s=P w=P"},
    {.name = "ldap", .prefix = 1, .flags = "AcLMnrtuvWxZ", .options = "w=P"},
    {.name = "mongo", .prefix = 1, .flags = "", .options = "p=P"},
    {.name = "sqlcmd", .flags = "", .options = "P=P"},
    {.name = "bcp", .flags = "", .options = "P=P"},
    {.name = "lftp", .flags = "d", .options = "u=C"},
    SAMBA_TOOL("smbclient"),
    SAMBA_TOOL("rpcclient"),
    SAMBA_TOOL("smbcacls"),
    SAMBA_TOOL("smbcquotas"),
    SAMBA_TOOL("smbtree"),
    SAMBA_TOOL("samba-tool"),
    SAMBA_TOOL("net"),
    /* enc's -k PASSPHRASE and -K KEY (hex), a word of their own: "-kfile"
     * is another option; -pass, -passin and -passout are named like
     * secrets. */
    {.name = "openssl", .flags = "", .options = "",
     .dash_options = "-k=P -K=P"},
    /* ca's -key PW is the CA key's password (req's -key names a file). */
    {.name = "openssl", .subcommand = "ca", .flags = "", .options = "",
     .dash_options = "-key=P"},
    {.name = "htpasswd",
     .flags = "",
     .options = "",
     .batch = 'b',
     .batch_word = 3,
     .fewer = 'n',
     .valued = "Cr"},
    {.name = "aws",
     .subcommand = "configure",
     .flags = "",
     .options = "",
     .after_secret_name = 1},
    /* unixODBC's `isql DSN [USER [PASSWORD]] [-v -b -w -dX -mN ...]`:
     * the third plain word is the password (iusql is its Unicode twin).
     * Sybase's and FreeTDS's isql take -U USER -P PW (or -PPW), and
     * Firebird's -user USER -password PW, abbreviated down to -p and in
     * any case ("-PAS PW"): no unixODBC option begins so, and once one
     * comes the words are no longer unixODBC's. */
    {.name = "isql", .flags = "", .options = "P=P", .batch_word = 3,
     .valued = "", .always_positional = 1,
     .dash_options = "-p=P -pa=P -pas=P -pass=P -passw=P -passwo=P "
                     "-passwor=P -password=P",
     .dash_any_case = 1,
     .other_dialect = "PSUpu"},
    {.name = "iusql", .flags = "", .options = "", .batch_word = 3,
     .valued = "", .always_positional = 1},
};

#define TOOL_COUNT (sizeof tools / sizeof tools[0])

_Static_assert(TOOL_COUNT <= 32, "a program is a bit of a uint32_t");

/* The index in tools, from from on, of the next program that the n
 * bytes at word name, as a command or by its path ("curl",
 * "/usr/bin/mysql"), or -1. A program may have several (openssl, and
 * openssl's ca). */
static int tool_named(const char *word, size_t n, size_t from) {
  const char *base = word;
  for (size_t k = 0; k < n; k++)
    if (word[k] == '/')
      base = word + k + 1;
  size_t b = n - (size_t)(base - word);
  for (size_t k = from; k < TOOL_COUNT; k++) {
    size_t len = strlen(tools[k].name);
    if (b >= len && strncmp(base, tools[k].name, len) == 0 &&
        (b == len || (tools[k].prefix &&
                      strspn(base + len, "abcdefghijklmnopqrstuvwxyz-_") ==
                          b - len)))
      return (int)k;
  }
  return -1;
}

static int letter_in(char c, const char *letters) {
  return c != '\0' && strchr(letters, c) != NULL;
}

/* Whether the len bytes at a and at b are the same, case aside when
 * any_case. */
static int same_name(const char *a, const char *b, size_t len, int any_case) {
  for (size_t k = 0; k < len; k++)
    if (a[k] != b[k] &&
        !(any_case && tolower((unsigned char)a[k]) ==
                          tolower((unsigned char)b[k])))
      return 0;
  return 1;
}

/* What the value of the option name (len bytes: "u", "--user") holds,
 * by the options of a table entry; case aside when any_case. */
static enum mida__secret_value option_kind(const char *options,
                                           const char *name, size_t len,
                                           int any_case) {
  const char *t = options;
  while (*(t += strspn(t, " ")) != '\0') {
    size_t tn = strcspn(t, "= ");
    if (t[tn] != '=')
      break;
    if (tn == len && same_name(t, name, len, any_case)) {
      switch (t[tn + 1]) {
      case 'U':
        return MIDA_VALUE_USER_PASSWORD;
      case 'C':
        return MIDA_VALUE_USER_COMMA;
      case 'S':
        return MIDA_VALUE_USER_PERCENT;
      case 'F':
        return MIDA_VALUE_FILE_PASSWORD;
      case 'P':
        return MIDA_VALUE_PASSWORD;
      case 'H':
        return MIDA_VALUE_HEADER;
      default:
        return MIDA_VALUE_PLAIN;
      }
    }
    t += tn + 1;
    t += strcspn(t, " ");
  }
  return MIDA_VALUE_PLAIN;
}

/* What the option word (n bytes) holds as one of tool's dash_options
 * ("-key", "--key", "-key=PW", "--key=PW"); sets *value past its '=',
 * else to n (the value is the next word). */
static enum mida__secret_value dash_option(const struct secret_tool *tool,
                                           const char *word, size_t n,
                                           size_t *value) {
  *value = n;
  if (tool->dash_options == NULL || n < 2 || word[0] != '-')
    return MIDA_VALUE_PLAIN;
  size_t from = word[1] == '-'; /* "--key" is read as "-key" */
  const char *eq = memchr(word, '=', n);
  size_t end = eq != NULL ? (size_t)(eq - word) : n;
  enum mida__secret_value kind = option_kind(
      tool->dash_options, word + from, end - from, tool->dash_any_case);
  if (kind != MIDA_VALUE_PLAIN && eq != NULL)
    *value = end + 1;
  return kind;
}

/* What the option word (n bytes) holds as a letter of tool's options,
 * alone or last in a cluster, or as one of its long options; *value as
 * mida__credentials_option's. */
static enum mida__secret_value letter_option(const struct secret_tool *tool,
                                             const char *word, size_t n,
                                             size_t *value) {
  *value = n;
  if (n < 2 || word[0] != '-')
    return MIDA_VALUE_PLAIN;
  if (word[1] == '-') {
    const char *eq = memchr(word, '=', n);
    size_t name = eq != NULL ? (size_t)(eq - word) : n;
    enum mida__secret_value kind = option_kind(tool->options, word, name, 0);
    if (kind != MIDA_VALUE_PLAIN && eq != NULL)
      *value = name + 1;
    return kind;
  }
  size_t k = 1;
  while (k < n && letter_in(word[k], tool->flags))
    k++;
  if (k == n)
    return MIDA_VALUE_PLAIN;
  enum mida__secret_value kind = option_kind(tool->options, word + k, 1, 0);
  if (kind == MIDA_VALUE_PLAIN)
    return MIDA_VALUE_PLAIN;
  if (k + 1 < n)
    *value = k + 1;
  else if (kind == MIDA_VALUE_PASSWORD && tool->attach == ATTACHED_ONLY)
    return MIDA_VALUE_PLAIN;
  return kind;
}

/* mida__credentials_option for the one program tool. A whole word of
 * its dash_options comes before a letter's reading, unless the letter's
 * holds its value attached and the word's is the next word: both are
 * then values (isql's "-PASS"), *also the next word's. */
static enum mida__secret_value tool_option(const struct secret_tool *tool,
                                           const char *word, size_t n,
                                           size_t *value,
                                           enum mida__secret_value *also) {
  size_t dash_at, letter_at;
  enum mida__secret_value dash = dash_option(tool, word, n, &dash_at);
  enum mida__secret_value letter = letter_option(tool, word, n, &letter_at);
  *also = MIDA_VALUE_PLAIN;
  if (dash != MIDA_VALUE_PLAIN && letter != MIDA_VALUE_PLAIN &&
      letter_at < n && dash_at == n) {
    *value = letter_at;
    *also = dash;
    return letter;
  }
  *value = dash != MIDA_VALUE_PLAIN ? dash_at : letter_at;
  return dash != MIDA_VALUE_PLAIN ? dash : letter;
}

/* The long options of any program that take "USER[:PASSWORD]" under a
 * name that is not a secret's: podman's, buildah's, skopeo's and
 * crictl's --creds (pull, push, build, login, search, inspect, ...),
 * skopeo's --src-creds and --dest-creds (copy, sync). "--credentials"
 * is named like a secret and hidden whole; "--credentials-file" and
 * gcloud's "--cred-file" name a file, no secret. */
static const char *const creds_options[] = {"--creds", "--src-creds",
                                            "--dest-creds"};

/* What the value of word, one of creds_options alone or with "=VALUE",
 * holds (MIDA_VALUE_USER_PASSWORD, *value set as
 * mida__credentials_option's), or MIDA_VALUE_PLAIN. */
static enum mida__secret_value creds_option(const char *word, size_t n,
                                            size_t *value) {
  const char *eq = memchr(word, '=', n);
  size_t name = eq != NULL ? (size_t)(eq - word) : n;
  for (size_t k = 0; k < sizeof creds_options / sizeof creds_options[0];
       k++)
    if (strlen(creds_options[k]) == name &&
        strncmp(word, creds_options[k], name) == 0) {
      *value = eq != NULL ? name + 1 : n;
      return MIDA_VALUE_USER_PASSWORD;
    }
  return MIDA_VALUE_PLAIN;
}

enum mida__secret_value mida__credentials_option(
    uint32_t named, const char *word, size_t n, size_t *value,
    enum mida__secret_value *also) {
  *value = n;
  *also = MIDA_VALUE_PLAIN;
  enum mida__secret_value creds = creds_option(word, n, value);
  if (creds != MIDA_VALUE_PLAIN)
    return creds;
  for (size_t k = 0; k < TOOL_COUNT; k++) {
    enum mida__secret_value kind =
        (named >> k) & 1u ? tool_option(&tools[k], word, n, value, also)
                          : MIDA_VALUE_PLAIN;
    if (kind != MIDA_VALUE_PLAIN)
      return kind;
  }
  *value = n;
  return MIDA_VALUE_PLAIN;
}

int mida__credentials_name(struct mida__credentials *c, const char *word,
                           size_t n) {
  for (size_t k = 0; c->waiting != 0 && k < TOOL_COUNT; k++)
    if ((c->waiting >> k) & 1u && strlen(tools[k].subcommand) == n &&
        strncmp(word, tools[k].subcommand, n) == 0) {
      c->waiting &= ~(1u << k);
      c->named |= 1u << k;
    }
  int k = tool_named(word, n, 0);
  if (k < 0)
    return 0;
  for (int m = k; m >= 0; m = tool_named(word, n, (size_t)m + 1)) {
    if (tools[m].subcommand != NULL) { /* named again: `docker run` */
      c->named &= ~(1u << m);
      c->waiting |= 1u << m;
    } else {
      c->named |= 1u << m;
    }
  }
  if ((tools[k].batch_word == 0 && !tools[k].after_secret_name) ||
      c->words > 0) /* a word of the one before: `htpasswd -b f aws PW` */
    return 0;
  c->positional = (unsigned char)(k + 1);
  c->words = c->fewer = c->skip = c->after_name = 0;
  c->batch = (unsigned char)tools[k].always_positional;
  return 1;
}

/* Whether word is a secret by its place among the words of the last
 * program named that takes one so (struct mida__credentials). */
static int secret_word(struct mida__credentials *c, const char *word,
                       size_t n) {
  if (c->positional == 0 || !((c->named >> (c->positional - 1)) & 1u))
    return 0;
  const struct secret_tool *tool = &tools[c->positional - 1];
  int option = n > 1 && word[0] == '-';
  if (tool->after_secret_name) {
    int secret = c->after_name && !option;
    c->after_name = !option && !secret && mida__secret_name(word, n);
    return secret;
  }
  if (c->skip) {
    c->skip = 0;
    return 0;
  }
  if (option && tool->other_dialect != NULL &&
      letter_in(word[1], tool->other_dialect)) {
    c->batch = 0; /* Sybase's or Firebird's isql, not unixODBC's */
    return 0;
  }
  if (option && (c->words == 0 || tool->always_positional)) {
    for (size_t k = 1; k < n; k++) {
      if (word[k] == tool->batch) {
        c->batch = 1;
      } else if (word[k] == tool->fewer) {
        c->fewer = 1;
      } else if (letter_in(word[k], tool->valued)) {
        c->skip = k + 1 == n; /* "-C 10"; "-C10" holds it */
        break;
      }
    }
    return 0;
  }
  if (c->words < 255)
    c->words++;
  return c->batch && c->words == tool->batch_word - c->fewer;
}

void mida__credentials_command(struct mida__credentials *c,
                               const char *word, size_t n) {
  int k = c->ends - 1;
  if (k >= 0 && !((c->named >> k) & 1u))
    c->ends = 0; /* no longer named: a new command of the shell */
  if (c->ends != 0 && n > 0) {
    const char *letters = tools[k].ends_at_command;
    if (n > 1 && word[0] == '-') {
      /* "-f FILE", "-pPW", "--pattern P" (redis-cli's "*"): whether the
       * next word may be this option's value. */
      c->value_next =
          strcmp(letters, "*") == 0
              ? memchr(word, '=', n) == NULL
              : word[1] != '-' && letter_in(word[n - 1], letters) &&
                    strspn(word + 1, tools[k].flags) == n - 2;
    } else if (c->value_next) {
      c->value_next = 0;
    } else { /* the command: what follows is its */
      c->named &= ~(1u << k);
      c->ends = 0;
    }
  }
  for (int m = tool_named(word, n, 0); m >= 0;
       m = tool_named(word, n, (size_t)m + 1))
    if (tools[m].ends_at_command != NULL) {
      c->ends = (unsigned char)(m + 1);
      c->value_next = 0;
    }
}

enum mida__secret_value mida__credentials_word(struct mida__credentials *c,
                                               const char *word, size_t n,
                                               size_t *value) {
  size_t at;
  enum mida__secret_value also;
  enum mida__secret_value option =
      mida__credentials_option(c->named, word, n, &at, &also);
  enum mida__secret_value kind = c->next;
  *value = 0;
  c->by_position = 0;
  if (kind == MIDA_VALUE_PLAIN && at < n) {
    kind = option;
    *value = at;
  }
  c->next = at < n ? also : option;
  if (secret_word(c, word, n) && kind == MIDA_VALUE_PLAIN) {
    kind = MIDA_VALUE_PASSWORD;
    *value = 0;
    c->by_position = 1;
  }
  mida__credentials_command(c, word, n);
  mida__credentials_name(c, word, n);
  return kind;
}

size_t mida__credentials_secret(enum mida__secret_value kind,
                                const char *value, size_t n) {
  char sep = kind == MIDA_VALUE_USER_COMMA     ? ','
             : kind == MIDA_VALUE_USER_PERCENT ? '%'
                                               : ':';
  switch (kind) {
  case MIDA_VALUE_PASSWORD:
    return 0;
  case MIDA_VALUE_USER_PASSWORD:
  case MIDA_VALUE_USER_COMMA:
  case MIDA_VALUE_USER_PERCENT: {
    const char *at = memchr(value, sep, n);
    if (at == NULL)
      return n;
    if (at + 1 < value + n)
      return (size_t)(at - value) + 1;
    return at > value ? 0 : n; /* "KEY:" */
  }
  case MIDA_VALUE_FILE_PASSWORD: {
    size_t k = n;
    while (k > 0 && value[k - 1] != ':')
      k--;
    return k > 0 ? k : n; /* k == n when it ends with the ':' */
  }
  case MIDA_VALUE_HEADER: {
    size_t name = 0;
    while (name < n && strchr(MIDA_NAME_CHARS, value[name]) != NULL &&
           value[name] != '\0')
      name++;
    if (name == 0 || name >= n || value[name] != ':' ||
        (name + 2 < n && value[name + 1] == '/' && value[name + 2] == '/') ||
        !mida__secret_name(value, name))
      return n;
    size_t s = name + 1;
    while (s < n && (value[s] == ' ' || value[s] == '\t'))
      s++;
    return s;
  }
  default:
    return n;
  }
}
