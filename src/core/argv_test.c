/*
 * argv_test.c -- command lines as recorded: secrets hidden, length bounded.
 */
#include "core/argv.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *json_of(int argc, char *const *argv) {
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  assert_int_equal(mida__argv_json(&b, argc, argv), MIDA_OK);
  char *s = strdup(mida__buf_str(&b));
  mida__buf_free(&b);
  return s;
}

static void test_plain_arguments_are_kept(void **state) {
  (void)state;
  char *argv[] = {"sort", "-k", "2", "in \"x\".txt", "--max-tokens", "5"};
  char *s = json_of(6, argv);
  assert_string_equal(s, "[\"sort\",\"-k\",\"2\",\"in \\\"x\\\".txt\","
                         "\"--max-tokens\",\"5\"]");
  free(s);
}

static void test_secrets_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"tool",
                  "--db-password",
                  "hunter2",
                  "--api-key=abc",
                  "AWS_SECRET_ACCESS_KEY=xyz",
                  "-token",
                  "t0k",
                  "postgresql://u:pw@db/x",
                  "--user",
                  "bob"};
  char *s = json_of(10, argv);
  assert_null(strstr(s, "hunter2"));
  assert_null(strstr(s, "abc"));
  assert_null(strstr(s, "xyz"));
  assert_null(strstr(s, "t0k"));
  assert_null(strstr(s, ":pw@"));
  assert_string_equal(
      s, "[\"tool\",\"--db-password\",\"***\",\"--api-key=***\","
         "\"AWS_SECRET_ACCESS_KEY=***\",\"-token\",\"***\","
         "\"postgresql://u:***@db/x\",\"--user\",\"bob\"]");
  free(s);
}

/* A URL after an option's '=' or an assignment's, or with a secret query
 * parameter first, is masked as in messages: the '=' of a URL's query
 * does not make the URL a NAME=VALUE. */
static void test_urls_inside_arguments_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"tool",
                  "--db=postgresql://u:dbpw@h/db",
                  "DATABASE_URL=postgresql://u:dbpw2@h/db",
                  "--tracking-uri=https://u:pw3@mlflow/",
                  "https://user:pw1@example.com/x?token=tk9&a=1",
                  "see:https://u:pw4@h/",
                  "--password=https://u:pw5@h/",
                  "a=b"};
  char *s = json_of(8, argv);
  assert_string_equal(
      s, "[\"tool\",\"--db=postgresql://u:***@h/db\","
         "\"DATABASE_URL=postgresql://u:***@h/db\","
         "\"--tracking-uri=https://u:***@mlflow/\","
         "\"https://user:***@example.com/x?token=***&a=1\","
         "\"see:https://u:***@h/\",\"--password=***\",\"a=b\"]");
  free(s);
}

/* A URL ends at a space: what follows it in the argument is kept (a
 * shell command after `sh -c`), and each of several URLs is masked. */
static void test_text_after_a_url_is_kept(void **state) {
  (void)state;
  char *argv[] = {"sh", "-c",
                  "echo https://h/x?token=abc more words; echo done",
                  "a https://u:p1@h/ b redis://:p2@h/0 'c'"};
  char *s = json_of(4, argv);
  assert_string_equal(
      s, "[\"sh\",\"-c\","
         "\"echo https://h/x?token=*** more words; echo done\","
         "\"a https://u:***@h/ b redis://:***@h/0 'c'\"]");
  free(s);
}

/* libpq's key=value words, as psql and pg_dump take them: the value of a
 * secret one is hidden, alone, beside a URL or inside a shell command.
 * They were recorded whole until 2027-01. */
static void test_secret_key_value_words_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"psql", "host=db password='p w1' dbname=x",
                  "pg_dump 'host=h sslpassword=pw2' -f out",
                  "postgresql://u@h/db password = pw3", "host=h user=u"};
  char *s = json_of(5, argv);
  assert_string_equal(
      s, "[\"psql\",\"host=db password=*** dbname=x\","
         "\"pg_dump 'host=h sslpassword=*** -f out\","
         "\"postgresql://u@h/db password = ***\",\"host=h user=u\"]");
  free(s);
}

/* A header as curl -H, wget --header= and httpie take it, and openssl's
 * pass:, whose name looks like a secret's: its whole value is hidden,
 * one ending in '=' too. Recorded whole until 2026-12-07. */
static void test_secret_headers_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"curl", "-H", "Authorization: Basic dXM6cHc=",
                  "--header=X-Api-Key:k1", "-passin", "pass:p2",
                  "Accept: text/plain", "token://h/x"};
  char *s = json_of(8, argv);
  assert_string_equal(
      s, "[\"curl\",\"-H\",\"Authorization: ***\","
         "\"--header=X-Api-Key:***\",\"-passin\",\"pass:***\","
         "\"Accept: text/plain\",\"token://h/x\"]");
  free(s);
}

/* curl's and wget's USER:PASSWORD (-u, --user, -U, --proxy-user) and a
 * JSON argument's secret members: recorded whole until 2026-12-07. */
static void test_credentials_and_json_secrets_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"curl",
                  "-u",
                  "alice:pw1",
                  "--user=bob:pw2",
                  "-U",
                  "proxy:pw3",
                  "--user",
                  "carol",
                  "--config",
                  "{\"db\": {\"password\": \"pw4\"}, \"lr\": 0.1}",
                  "[1, 2]"};
  char *s = json_of(11, argv);
  assert_string_equal(
      s, "[\"curl\",\"-u\",\"alice:***\",\"--user=bob:***\",\"-U\","
         "\"proxy:***\",\"--user\",\"carol\",\"--config\","
         "\"{\\\"db\\\":{\\\"password\\\":\\\"***\\\"},"
         "\\\"lr\\\":0.1}\",\"[1, 2]\"]");
  free(s);
}

/* A JSON argument with a secret member still has the password of a URL
 * and the secret words inside its other members hidden, as one without
 * such a member does (they were recorded whole); JSON after an option's
 * '=' is read as JSON (it was recorded whole), unless the option's own
 * name hides all of it. */
static void test_json_arguments_hide_every_secret(void **state) {
  (void)state;
  char *argv[] = {"app", "--config",
                  "{\"password\": \"j1\", \"db\": \"postgresql://u:j2@h/d\","
                  " \"cmd\": \"psql password=j3 -h h\"}",
                  "--config={\"token\": \"j4\", \"n\": 1}",
                  "--auth={\"password\": \"j5\", \"user\": \"u\"}"};
  char *s = json_of(5, argv);
  assert_string_equal(
      s, "[\"app\",\"--config\",\"{\\\"password\\\":\\\"***\\\","
         "\\\"db\\\":\\\"postgresql://u:***@h/d\\\","
         "\\\"cmd\\\":\\\"psql password=*** -h h\\\"}\","
         "\"--config={\\\"token\\\":\\\"***\\\",\\\"n\\\":1}\","
         "\"--auth=***\"]");
  free(s);
}

/* curl's -u and -U with the value attached ("-ualice:pw"): the password
 * is hidden as after "-u" (it was recorded whole). */
static void test_attached_credentials_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"curl", "-ualice:c1", "-Ubob:c2", "-u=carol:c3", "-uX",
                  "-u:"};
  char *s = json_of(6, argv);
  assert_string_equal(s, "[\"curl\",\"-ualice:***\",\"-Ubob:***\","
                         "\"-u=carol:***\",\"-uX\",\"-u:\"]");
  free(s);
}

/* -u and -U are curl's and wget's credentials only: other programs'
 * values after them are kept (docker's uid:gid, git's remote). */
static void test_other_programs_user_options_are_kept(void **state) {
  (void)state;
  char *docker[] = {"docker", "run", "-u", "1000:1000", "img"};
  char *s = json_of(5, docker);
  assert_string_equal(s, "[\"docker\",\"run\",\"-u\",\"1000:1000\","
                         "\"img\"]");
  free(s);
  char *git[] = {"/usr/bin/git", "push", "-u", "git@github.com:o/r",
                 "--user=x:y"};
  s = json_of(5, git);
  assert_string_equal(s, "[\"/usr/bin/git\",\"push\",\"-u\","
                         "\"git@github.com:o/r\",\"--user=x:y\"]");
  free(s);
  char *wget[] = {"/usr/bin/wget", "--user=ann:w1", "-uann:w2"};
  s = json_of(3, wget);
  assert_string_equal(s, "[\"/usr/bin/wget\",\"--user=ann:***\","
                         "\"-uann:***\"]");
  free(s);
}

/* A shell command that runs curl or wget: its -u values' passwords are
 * hidden too; another program's -u in it is kept; and a JSON text's
 * secret members inside a shell command. */
static void test_credentials_inside_a_shell_command_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"sh", "-c",
                  "docker run -u 1000:1000 img && /usr/bin/curl -s -u "
                  "alice:c1 --user='bob:c 2' -Ucarol:c3 https://h/x",
                  "bash -c 'wget --user=dan:c4 https://h'",
                  "t --config '{\"password\": \"c5\", \"token\":6, \"n\": 1}'"};
  char *s = json_of(5, argv);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"docker run -u 1000:1000 img && /usr/bin/curl "
         "-s -u alice:*** --user='bob:***' -Ucarol:*** https://h/x\","
         "\"bash -c 'wget --user=dan:*** https://h'\","
         "\"t --config '{\\\"password\\\": \\\"***\\\", "
         "\\\"token\\\":***, \\\"n\\\": 1}'\"]");
  free(s);
}

/* curl's short options in a cluster ("-su" is -s -u, "-sualice:pw" -s
 * -u alice:pw), a header attached to -H, -b (its --cookie), and an API
 * key given as the user name ("-u KEY:"): their secrets were recorded
 * whole until 2027-02. Another option's value that merely holds a 'u'
 * or a ':' is kept (-o names a file). */
static void test_curl_option_clusters_hide_their_secrets(void **state) {
  (void)state;
  char *argv[] = {"curl",   "-su",        "alice:k1",
                  "-Lksu",  "bob:k2",     "-sualice:k3",
                  "-sU",    "p:k4",       "-fsSLUp:k5",
                  "-sHAuthorization: Bearer k6", "-sb", "session=k7",
                  "-so",    "u:x",        "-ouser:y",
                  "--oauth2-bearer", "k8", "-u", "sk_live_k9:", "-u:"};
  char *s = json_of(20, argv);
  assert_string_equal(
      s, "[\"curl\",\"-su\",\"alice:***\",\"-Lksu\",\"bob:***\","
         "\"-sualice:***\",\"-sU\",\"p:***\",\"-fsSLUp:***\","
         "\"-sHAuthorization: ***\",\"-sb\",\"***\",\"-so\",\"u:x\","
         "\"-ouser:y\",\"--oauth2-bearer\",\"***\",\"-u\",\"***\",\"-u:\"]");
  free(s);
}

/* The password options of mysql's family (-pPW attached: "-p DB" names
 * a database), sshpass (-p PW) and redis-cli (-a PW), and curl's after a
 * wrapper (env, sudo) that runs it, whatever program another argument
 * names: recorded whole until 2027-02. */
static void test_password_options_of_other_tools_are_hidden(void **state) {
  (void)state;
  char *mysql[] = {"/usr/bin/mysql", "-uroot", "-pm1", "-p", "db",
                   "-Bspm2", "--password=m3"};
  char *s = json_of(7, mysql);
  assert_string_equal(s, "[\"/usr/bin/mysql\",\"-uroot\",\"-p***\",\"-p\","
                         "\"db\",\"-Bsp***\",\"--password=***\"]");
  free(s);
  char *sshpass[] = {"sshpass", "-p", "s1", "ssh", "h", "mariadb-dump",
                     "-ps2"};
  s = json_of(7, sshpass);
  assert_string_equal(s, "[\"sshpass\",\"-p\",\"***\",\"ssh\",\"h\","
                         "\"mariadb-dump\",\"-p***\"]");
  free(s);
  char *redis[] = {"redis-cli", "-a", "r1", "ping"};
  s = json_of(4, redis);
  assert_string_equal(s, "[\"redis-cli\",\"-a\",\"***\",\"ping\"]");
  free(s);
  char *wrapped[] = {"sudo", "env", "curl", "-o", "/tmp/mysql", "-su",
                     "alice:e1", "h"};
  s = json_of(8, wrapped);
  assert_string_equal(s, "[\"sudo\",\"env\",\"curl\",\"-o\","
                         "\"/tmp/mysql\",\"-su\",\"alice:***\",\"h\"]");
  free(s);
  char *other[] = {"docker", "run", "-p", "80:80", "-u", "1:1", "ls", "-a",
                   "x"};
  s = json_of(9, other);
  assert_string_equal(s, "[\"docker\",\"run\",\"-p\",\"80:80\",\"-u\","
                         "\"1:1\",\"ls\",\"-a\",\"x\"]");
  free(s);
}

/* Form data (curl -d) with a secret field after an '&': its value, to
 * the next '&' (it was recorded whole). */
static void test_secret_fields_of_form_data_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"curl", "-d", "user=a&password=f1&x=1", "-d", "a=1&b=2"};
  char *s = json_of(5, argv);
  assert_string_equal(s, "[\"curl\",\"-d\",\"user=a&password=***&x=1\","
                         "\"-d\",\"a=1&b=2\"]");
  free(s);
}

/* A shell command with a secret before a NAME=VALUE word: the text
 * before the '=' was kept as it was, the secrets in it too; and the
 * clusters and tools above inside a shell command. A secret key=value
 * word's value runs to white space, a closing quote included; a form
 * field's to its quote. */
static void test_shell_commands_hide_clusters_and_tools(void **state) {
  (void)state;
  char *argv[] = {
      "sh", "-c",
      "curl -u alice:n1 --token=n2 h",
      "docker run -p 80:80 img; curl -su alice:n3 -sualice:n4 -sU 'p:n5' "
      "--oauth2-bearer n6 h; mysql -uroot -pn7 db; sshpass -p n8 ssh h; "
      "redis-cli -a n9 ping",
      "curl -d 'user=a&password=n10' h", "curl -d \"password=n11\" h",
      "curl -u sk_n12: -H X-Api-Key:n13:/usr/bin/curl h",
      "curl -d 'token=n14&{\"password\": \"n15\"}'"};
  char *s = json_of(8, argv);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"curl -u alice:*** --token=*** h\","
         "\"docker run -p 80:80 img; curl -su alice:*** -sualice:*** -sU "
         "'p:***' --oauth2-bearer *** h; mysql -uroot -p*** db; sshpass -p "
         "*** ssh h; redis-cli -a *** ping\","
         "\"curl -d 'user=a&password=***' h\","
         "\"curl -d \\\"password=*** h\","
         "\"curl -u *** -H X-Api-Key:*** h\","
         "\"curl -d 'token=*** \\\"***\\\"}'\"]");
  free(s);
}

/* Passwords under option names that say nothing, of more programs:
 * curl's client certificate (-E/--cert FILE:PASSWORD, after the last
 * ':'), registry logins (-p after "login" only), OpenLDAP's -w, mongo's
 * and mongosh's -p, sqlcmd's and bcp's -P, lftp's -u USER,PASSWORD,
 * samba's -U USER%PASSWORD, openssl's -k and -K: recorded whole until
 * 2027-02. */
static void test_password_options_of_more_programs_are_hidden(void **state) {
  (void)state;
  char *curl[] = {"curl", "-E", "c.pem:q1", "--cert=/d/c.pem:q2", "-sE",
                  "c.pem:q3", "-Ec.pem:q4", "--proxy-cert", "p.pem:q5",
                  "--cert", "plain.pem"};
  char *s = json_of(11, curl);
  assert_string_equal(s, "[\"curl\",\"-E\",\"c.pem:***\","
                         "\"--cert=/d/c.pem:***\",\"-sE\",\"c.pem:***\","
                         "\"-Ec.pem:***\",\"--proxy-cert\",\"p.pem:***\","
                         "\"--cert\",\"plain.pem\"]");
  free(s);
  char *docker[] = {"docker", "--config", "/x", "login", "-u", "bob", "-p",
                    "q6", "-pq7", "reg"};
  s = json_of(10, docker);
  assert_string_equal(s, "[\"docker\",\"--config\",\"/x\",\"login\",\"-u\","
                         "\"bob\",\"-p\",\"***\",\"-p***\",\"reg\"]");
  free(s);
  char *podman[] = {"sudo", "podman", "login", "-p", "q8", "quay.io"};
  s = json_of(6, podman);
  assert_string_equal(s, "[\"sudo\",\"podman\",\"login\",\"-p\",\"***\","
                         "\"quay.io\"]");
  free(s);
  char *ldap[] = {"/usr/bin/ldapsearch", "-x", "-D", "cn=a", "-w", "q9",
                  "-wq10", "-xw", "q11", "-b", "dc=x"};
  s = json_of(11, ldap);
  assert_string_equal(s, "[\"/usr/bin/ldapsearch\",\"-x\",\"-D\",\"cn=a\","
                         "\"-w\",\"***\",\"-w***\",\"-xw\",\"***\",\"-b\","
                         "\"dc=x\"]");
  free(s);
  char *tools[] = {"env", "ldapmodify", "-w", "q12", "mongosh", "-p", "q13",
                   "mongo", "-pq14", "sqlcmd", "-P", "q15", "bcp", "-Pq16",
                   "lftp", "-u", "bob,q17", "smbclient", "-U", "DOM/bob%q18",
                   "rpcclient", "-Ubob%q19", "openssl", "-k", "q20", "-K",
                   "q21"};
  s = json_of(27, tools);
  assert_string_equal(
      s, "[\"env\",\"ldapmodify\",\"-w\",\"***\",\"mongosh\",\"-p\","
         "\"***\",\"mongo\",\"-p***\",\"sqlcmd\",\"-P\",\"***\",\"bcp\","
         "\"-P***\",\"lftp\",\"-u\",\"bob,***\",\"smbclient\",\"-U\","
         "\"DOM/bob%***\",\"rpcclient\",\"-Ubob%***\",\"openssl\",\"-k\","
         "\"***\",\"-K\",\"***\"]");
  free(s);
}

/* A password that is a word of its own: htpasswd's after -b (its third
 * word, the second with -n), aws's after a key named like a secret in
 * `aws configure set`; and the option -pw or --pw (PuTTY's plink):
 * recorded whole until 2027-02. */
static void test_secret_words_and_pw_options_are_hidden(void **state) {
  (void)state;
  char *ht[] = {"htpasswd", "-b", "f", "bob", "w1"};
  char *s = json_of(5, ht);
  assert_string_equal(s, "[\"htpasswd\",\"-b\",\"f\",\"bob\",\"***\"]");
  free(s);
  char *ht2[] = {"sudo", "htpasswd", "-c", "-bB", "-C", "10", "f", "aws",
                 "w2"};
  s = json_of(9, ht2);
  assert_string_equal(s, "[\"sudo\",\"htpasswd\",\"-c\",\"-bB\",\"-C\","
                         "\"10\",\"f\",\"aws\",\"***\"]");
  free(s);
  char *ht3[] = {"htpasswd", "-nb", "bob", "w3"};
  s = json_of(4, ht3);
  assert_string_equal(s, "[\"htpasswd\",\"-nb\",\"bob\",\"***\"]");
  free(s);
  char *aws[] = {"aws", "configure", "set", "--profile", "p",
                 "aws_secret_access_key", "w4"};
  s = json_of(7, aws);
  assert_string_equal(s, "[\"aws\",\"configure\",\"set\",\"--profile\","
                         "\"p\",\"aws_secret_access_key\",\"***\"]");
  free(s);
  char *aws2[] = {"aws", "configure", "set", "profile.dev.aws_session_token",
                  "w5"};
  s = json_of(5, aws2);
  assert_string_equal(s, "[\"aws\",\"configure\",\"set\","
                         "\"profile.dev.aws_session_token\",\"***\"]");
  free(s);
  char *pw[] = {"plink", "-pw", "w6", "--pw", "w7", "--pw=w8", "h"};
  s = json_of(7, pw);
  assert_string_equal(s, "[\"plink\",\"-pw\",\"***\",\"--pw\",\"***\","
                         "\"--pw=***\",\"h\"]");
  free(s);
}

/* What looks like those options in other commands is kept: a port
 * (docker run -p), a width (ls -w), a sort key (sort -k), openssl's
 * -in and -kfile, curl's certificate without a password, htpasswd
 * without -b, aws's plain settings, "pw" inside a longer name. */
static void test_common_commands_keep_their_options(void **state) {
  (void)state;
  char *docker[] = {"docker", "run", "-p", "80:80", "-w", "/x", "img",
                    "login"};
  char *s = json_of(8, docker);
  assert_string_equal(s, "[\"docker\",\"run\",\"-p\",\"80:80\",\"-w\","
                         "\"/x\",\"img\",\"login\"]");
  free(s);
  char *ls[] = {"ls", "-w", "80", "-k"};
  s = json_of(4, ls);
  assert_string_equal(s, "[\"ls\",\"-w\",\"80\",\"-k\"]");
  free(s);
  char *sort[] = {"sort", "-k", "2", "-u", "a:b", "f"};
  s = json_of(6, sort);
  assert_string_equal(s, "[\"sort\",\"-k\",\"2\",\"-u\",\"a:b\",\"f\"]");
  free(s);
  char *openssl[] = {"openssl", "x509", "-in", "f", "-noout", "-kfile",
                     "k.txt", "-key", "k.pem"};
  s = json_of(9, openssl);
  assert_string_equal(s, "[\"openssl\",\"x509\",\"-in\",\"f\",\"-noout\","
                         "\"-kfile\",\"k.txt\",\"-key\",\"k.pem\"]");
  free(s);
  char *curl[] = {"curl", "--cert", "c.pem", "-E", "c.pem:", "-w", "%{x}",
                  "h"};
  s = json_of(8, curl);
  assert_string_equal(s, "[\"curl\",\"--cert\",\"c.pem\",\"-E\",\"c.pem:\","
                         "\"-w\",\"%{x}\",\"h\"]");
  free(s);
  char *ht[] = {"htpasswd", "-c", "f", "bob"};
  s = json_of(4, ht);
  assert_string_equal(s, "[\"htpasswd\",\"-c\",\"f\",\"bob\"]");
  free(s);
  char *aws[] = {"aws", "configure", "set", "region", "eu-west-1"};
  s = json_of(5, aws);
  assert_string_equal(s, "[\"aws\",\"configure\",\"set\",\"region\","
                         "\"eu-west-1\"]");
  free(s);
  char *aws2[] = {"aws", "s3", "cp", "token.txt", "s3://b/k"};
  s = json_of(5, aws2);
  assert_string_equal(s, "[\"aws\",\"s3\",\"cp\",\"token.txt\","
                         "\"s3://b/k\"]");
  free(s);
  char *pw[] = {"tool", "--pwm", "x", "-hpw", "y", "--pw-file", "z"};
  s = json_of(7, pw);
  assert_string_equal(s, "[\"tool\",\"--pwm\",\"x\",\"-hpw\",\"y\","
                         "\"--pw-file\",\"z\"]");
  free(s);
}

/* The same inside a shell command: a registry login's -p, and not the
 * port of a `docker run` after it; htpasswd's password quoted, in a
 * command inside another's quotes, after -C COST; aws's value. */
static void test_shell_commands_hide_more_programs_secrets(void **state) {
  (void)state;
  char *argv[] = {
      "sh", "-c",
      "docker login -u x -p r1 reg && docker run -p 80:80 img; ls -w 80; "
      "curl -sE c.pem:r2 --cert=c.pem:r3 h; ldapsearch -xw r4 -b dc=x; "
      "mongosh -p r5; sqlcmd -P r6; lftp -u bob,r7 h; smbclient -U "
      "bob%r8 //h/s; openssl enc -kfile f -k r9; plink -pw r10 --pw=r11 h",
      "htpasswd -b f bob 'r 12' && bash -c 'htpasswd -bC 10 f u r13' && "
      "sort -k 2 f",
      "aws configure set aws_secret_access_key r14 --profile p; aws "
      "configure set region eu"};
  char *s = json_of(5, argv);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"docker login -u x -p *** reg && docker run -p "
         "80:80 img; ls -w 80; curl -sE c.pem:*** --cert=c.pem:*** h; "
         "ldapsearch -xw *** -b dc=x; mongosh -p ***; sqlcmd -P ***; lftp "
         "-u bob,*** h; smbclient -U bob%*** //h/s; openssl enc -kfile f "
         "-k ***; plink -pw *** --pw=*** h\","
         "\"htpasswd -b f bob '***' && bash -c 'htpasswd -bC 10 f u ***' "
         "&& sort -k 2 f\","
         "\"aws configure set aws_secret_access_key *** --profile p; aws "
         "configure set region eu\"]");
  free(s);
}

/* The registry credentials of podman, buildah, skopeo and crictl,
 * --creds USER:PASSWORD (skopeo's --src-creds and --dest-creds), and
 * unixODBC's `isql DSN USER PASSWORD`, in argv and in a shell command;
 * a credentials file's path, a kubeconfig and `isql -v DSN` stay. */
static void test_registry_creds_and_isql_passwords_are_hidden(void **state) {
  (void)state;
  char *podman[] = {"podman", "pull", "--creds", "bob:c1",
                    "--creds=bob:c2", "quay.io/x"};
  char *s = json_of(6, podman);
  assert_string_equal(s, "[\"podman\",\"pull\",\"--creds\",\"bob:***\","
                         "\"--creds=bob:***\",\"quay.io/x\"]");
  free(s);
  char *skopeo[] = {"skopeo", "copy", "--src-creds", "a:c3",
                    "--dest-creds=b:c4", "docker://a", "docker://b"};
  s = json_of(7, skopeo);
  assert_string_equal(s, "[\"skopeo\",\"copy\",\"--src-creds\",\"a:***\","
                         "\"--dest-creds=b:***\",\"docker://a\","
                         "\"docker://b\"]");
  free(s);
  char *isql[] = {"isql", "-v", "MyDSN", "bob", "c5", "-b"};
  s = json_of(6, isql);
  assert_string_equal(s, "[\"isql\",\"-v\",\"MyDSN\",\"bob\",\"***\","
                         "\"-b\"]");
  free(s);
  char *kept[] = {"gcloud", "auth", "activate-service-account",
                  "--key-file=k.json", "--credentials-file", "c.json",
                  "--credential-file-override=o.json", "--credentials",
                  "c6"};
  s = json_of(9, kept);
  assert_string_equal(s, "[\"gcloud\",\"auth\",\"activate-service-account\","
                         "\"--key-file=k.json\",\"--credentials-file\","
                         "\"c.json\",\"--credential-file-override=o.json\","
                         "\"--credentials\",\"***\"]");
  free(s);
  char *plain[] = {"kubectl", "--kubeconfig", "f", "buildah", "from",
                   "--creds", "bob", "img"};
  s = json_of(8, plain);
  assert_string_equal(s, "[\"kubectl\",\"--kubeconfig\",\"f\",\"buildah\","
                         "\"from\",\"--creds\",\"bob\",\"img\"]");
  free(s);
  char *dsn[] = {"sudo", "isql", "-v", "DSN", "-b"};
  s = json_of(5, dsn);
  assert_string_equal(s, "[\"sudo\",\"isql\",\"-v\",\"DSN\",\"-b\"]");
  free(s);
  char *sh[] = {"sh", "-c",
                "podman push --creds bob:s1 img && skopeo copy "
                "--src-creds=a:s2 --dest-creds 'b:s 3' x y; isql DSN bob s4 "
                "-v; isql -v DSN; gcloud --credentials-file c.json x"};
  s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"podman push --creds bob:*** img && skopeo copy "
         "--src-creds=a:*** --dest-creds 'b:***' x y; isql DSN bob *** -v; "
         "isql -v DSN; gcloud --credentials-file c.json x\"]");
  free(s);
}

/* The passwords of openssl ca's -key (the CA key's password; req's -key
 * names a file), Sybase/FreeTDS isql's -P, and Firebird isql's -password
 * and its abbreviations (-p): shown until 2026-12-07. isql's words are
 * unixODBC's DSN USER PASSWORD only while no option of the other isqls
 * (-U -P -S, -u(ser) -p(assword)) has come: a server or a database named
 * after them stays. */
static void test_openssl_ca_and_other_isql_passwords_are_hidden(void **st) {
  (void)st;
  char *ca[] = {"openssl", "ca", "-config", "c.cnf", "-key", "k1", "-in",
                "r.csr"};
  char *s = json_of(8, ca);
  assert_string_equal(s, "[\"openssl\",\"ca\",\"-config\",\"c.cnf\","
                         "\"-key\",\"***\",\"-in\",\"r.csr\"]");
  free(s);
  char *req[] = {"openssl", "req", "-new", "-key", "k.pem", "-out", "r.csr"};
  s = json_of(7, req);
  assert_string_equal(s, "[\"openssl\",\"req\",\"-new\",\"-key\","
                         "\"k.pem\",\"-out\",\"r.csr\"]");
  free(s);
  char *sybase[] = {"isql", "-U", "sa", "-P", "k2", "-S", "srv", "-D", "db"};
  s = json_of(9, sybase);
  assert_string_equal(s, "[\"isql\",\"-U\",\"sa\",\"-P\",\"***\","
                         "\"-S\",\"srv\",\"-D\",\"db\"]");
  free(s);
  char *attached[] = {"/opt/sybase/bin/isql", "-Usa", "-Pk3", "-Ssrv"};
  s = json_of(4, attached);
  assert_string_equal(s, "[\"/opt/sybase/bin/isql\",\"-Usa\",\"-P***\","
                         "\"-Ssrv\"]");
  free(s);
  char *firebird[] = {"isql", "-user", "SYSDBA", "-password", "k4", "db.fdb"};
  s = json_of(6, firebird);
  assert_string_equal(s, "[\"isql\",\"-user\",\"SYSDBA\",\"-password\","
                         "\"***\",\"db.fdb\"]");
  free(s);
  char *short_fb[] = {"isql", "db.fdb", "-u", "SYSDBA", "-p", "k5", "-pag",
                      "60", "-pas", "k6"};
  s = json_of(10, short_fb);
  assert_string_equal(s, "[\"isql\",\"db.fdb\",\"-u\",\"SYSDBA\",\"-p\","
                         "\"***\",\"-pag\",\"60\",\"-pas\",\"***\"]");
  free(s);
  char *odbc[] = {"isql", "-v", "DSN", "bob", "k7", "-b", "-d,", "-m10"};
  s = json_of(8, odbc);
  assert_string_equal(s, "[\"isql\",\"-v\",\"DSN\",\"bob\",\"***\","
                         "\"-b\",\"-d,\",\"-m10\"]");
  free(s);
  char *sh[] = {"sh", "-c",
                "openssl ca -key k8 -batch; openssl req -key k.pem; "
                "isql -U sa -P k9 -S srv; isql -user SYSDBA -password k10 "
                "db.fdb; isql DSN bob k11 -v"};
  s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"openssl ca -key *** -batch; openssl req -key "
         "k.pem; isql -U sa -P *** -S srv; isql -user SYSDBA -password *** "
         "db.fdb; isql DSN bob *** -v\"]");
  free(s);
}

/* The options of sshpass and redis-cli end where the command they run or
 * send begins: its arguments are not theirs (ssh's -p PORT, mysql's -p
 * that asks for the password, a Redis command's words) and were hidden
 * as their password until 2026-12-07; an option's value before the
 * command is still no command, and a program the command names still
 * has its own passwords hidden. */
static void test_words_after_sshpass_and_redis_cli_commands_stay(
    void **state) {
  (void)state;
  char *ssh[] = {"sshpass", "-p", "s1", "ssh", "-p", "2222", "h", "ls"};
  char *s = json_of(8, ssh);
  assert_string_equal(s, "[\"sshpass\",\"-p\",\"***\",\"ssh\",\"-p\","
                         "\"2222\",\"h\",\"ls\"]");
  free(s);
  char *file[] = {"sshpass", "-f", "pw.txt", "-p", "s2", "mysql", "-u", "r",
                  "-p", "db", "-ps3"};
  s = json_of(11, file);
  assert_string_equal(s, "[\"sshpass\",\"-f\",\"pw.txt\",\"-p\",\"***\","
                         "\"mysql\",\"-u\",\"r\",\"-p\",\"db\","
                         "\"-p***\"]");
  free(s);
  char *redis[] = {"redis-cli", "-h", "host", "-a", "r1", "ECHO", "-a", "x"};
  s = json_of(8, redis);
  assert_string_equal(s, "[\"redis-cli\",\"-h\",\"host\",\"-a\",\"***\","
                         "\"ECHO\",\"-a\",\"x\"]");
  free(s);
  char *sh[] = {"sh", "-c",
                "sshpass -p s4 ssh -p 2222 h redis-cli -a s5 ping && "
                "sshpass -f 'my pw' -p s6 scp -P 22 f h: && "
                "redis-cli --pattern p -a s7 ECHO -a x"};
  s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"sshpass -p *** ssh -p 2222 h redis-cli -a *** "
         "ping && sshpass -f 'my pw' -p *** scp -P 22 f h: && redis-cli "
         "--pattern p -a *** ECHO -a x\"]");
  free(s);
}

/* In a shell's text, a redirection ("2>/dev/null", "<in", "> log") and
 * a word with an escaped blank ("my\\ pw.txt") are no command of
 * sshpass's or redis-cli's: read as one, they ended those programs'
 * options before their password, shown (on 2026-12-07). */
static void test_redirections_and_escaped_blanks_end_no_options(void **st) {
  (void)st;
  char *sh[] = {"sh", "-c",
                "sshpass 2>/dev/null -p s1 ssh h; redis-cli <in -a s2; "
                "redis-cli 0< in -a s3 ping; sshpass > log -p s4 scp f h:; "
                "sshpass -f my\\ pw.txt -p s5 scp f h:; "
                "redis-cli -h my\\ host -a s6 ping"};
  char *s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"sshpass 2>/dev/null -p *** ssh h; redis-cli "
         "<in -a ***; redis-cli 0< in -a *** ping; sshpass > log -p *** "
         "scp f h:; sshpass -f my\\\\ pw.txt -p *** scp f h:; redis-cli "
         "-h my\\\\ host -a *** ping\"]");
  free(s);
  /* The command after them still ends the options: ssh's -p is a port. */
  char *port[] = {"sh", "-c", "sshpass -p s7 2> err ssh -p 2222 h"};
  s = json_of(3, port);
  assert_string_equal(s, "[\"sh\",\"-c\",\"sshpass -p *** 2> err ssh -p "
                         "2222 h\"]");
  free(s);
}

/* A command substituted within a word ("$(cat host)", "<(pass x)") and
 * a redirection of a file descriptor ("2>&1", "&>log") end no command:
 * the programs named before them, and their options after, were
 * forgotten, and their passwords shown. */
static void test_substitutions_and_fd_redirections_end_no_command(
    void **st) {
  (void)st;
  char *sh[] = {"sh", "-c",
                "redis-cli -h $(cat host) -a s1 ping; "
                "sshpass -f <(pass show x) -p s2 ssh -p 22 h; "
                "sshpass 2>&1 -p s3 ssh h; redis-cli &>log -a s4; "
                "mysql -h $(cat h) -ps5 db"};
  char *s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"redis-cli -h $(cat host) -a *** ping; "
         "sshpass -f <(pass show x) -p *** ssh -p 22 h; sshpass 2>&1 -p "
         "*** ssh h; redis-cli &>log -a ***; mysql -h $(cat h) -p*** db\"]");
  free(s);
}

/* openssl ca's -key written as OpenSSL's parser also takes it, "-key=PW",
 * "--key PW", "--key=PW", and enc's "-k=PW" and "--k PW": shown until
 * 2026-12-07. req's -key names a file, -kfile too, and -passin env:VAR
 * names a variable: they stay; pkcs12's pass: values are hidden. */
static void test_openssl_options_in_each_form_are_hidden(void **state) {
  (void)state;
  char *ca[] = {"openssl", "ca", "-key=o1", "--key", "o2", "--key=o3",
                "-in", "r.csr"};
  char *s = json_of(8, ca);
  assert_string_equal(s, "[\"openssl\",\"ca\",\"-key=***\",\"--key\","
                         "\"***\",\"--key=***\",\"-in\",\"r.csr\"]");
  free(s);
  char *req[] = {"openssl", "req", "-key=k.pem", "--key", "k.pem"};
  s = json_of(5, req);
  assert_string_equal(s, "[\"openssl\",\"req\",\"-key=k.pem\",\"--key\","
                         "\"k.pem\"]");
  free(s);
  char *enc[] = {"openssl", "enc", "-k=o4", "--k", "o5", "-K", "o6",
                 "-kfile", "f", "-kfile=f"};
  s = json_of(10, enc);
  assert_string_equal(s, "[\"openssl\",\"enc\",\"-k=***\",\"--k\",\"***\","
                         "\"-K\",\"***\",\"-kfile\",\"f\",\"-kfile=f\"]");
  free(s);
  char *pkcs12[] = {"openssl", "pkcs12", "-passout", "pass:o7",
                    "-passin", "pass:o8", "-passin=pass:o9"};
  s = json_of(7, pkcs12);
  assert_string_equal(s, "[\"openssl\",\"pkcs12\",\"-passout\",\"pass:***\","
                         "\"-passin\",\"pass:***\",\"-passin=pass:***\"]");
  free(s);
  char *env[] = {"openssl", "rsa", "-passin", "env:VAR"};
  s = json_of(4, env);
  assert_string_equal(s, "[\"openssl\",\"rsa\",\"-passin\",\"env:VAR\"]");
  free(s);
  char *sh[] = {"sh", "-c",
                "openssl ca -key=o10 -in r; openssl ca --key o11 -batch; "
                "openssl ca --key=o12; openssl req -key=k.pem; "
                "openssl enc -k=o13 --k o14 -kfile f; "
                "openssl pkcs12 -passout pass:o15 -passin=pass:o16; "
                "openssl rsa -passin env:VAR"};
  s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"openssl ca -key=*** -in r; openssl ca --key *** "
         "-batch; openssl ca --key=***; openssl req -key=k.pem; openssl enc "
         "-k=*** --k *** -kfile f; openssl pkcs12 -passout pass:*** "
         "-passin=pass:***; openssl rsa -passin env:VAR\"]");
  free(s);
}

/* Firebird's options are case aside: "-PA PW", "-PAS PW", "-PASSWORD PW"
 * were read as Sybase's -P with the password "A" attached, and PW shown
 * (until 2026-12-07). Which isql it is cannot be told from the word, so
 * both its attached part and the next word are hidden; Sybase's "-Ppw"
 * and "-P pw" and Firebird's "-pag 60" are as before. */
static void test_isql_password_abbreviations_in_any_case_are_hidden(
    void **state) {
  (void)state;
  char *fb[] = {"isql", "-U", "sa", "-PA", "f1", "-PAS", "f2", "-PASSWORD",
                "f3", "-Password", "f4", "db.fdb"};
  char *s = json_of(12, fb);
  assert_string_equal(s, "[\"isql\",\"-U\",\"sa\",\"-P***\",\"***\","
                         "\"-P***\",\"***\",\"-P***\",\"***\",\"-P***\","
                         "\"***\",\"db.fdb\"]");
  free(s);
  char *ambiguous[] = {"isql", "-PASS", "f5", "-pA", "f6", "-pag", "60"};
  s = json_of(7, ambiguous);
  assert_string_equal(s, "[\"isql\",\"-P***\",\"***\",\"-pA\",\"***\","
                         "\"-pag\",\"60\"]");
  free(s);
  char *sybase[] = {"isql", "-Usa", "-Pf7", "-Ssrv", "-P", "f8", "-D", "db"};
  s = json_of(8, sybase);
  assert_string_equal(s, "[\"isql\",\"-Usa\",\"-P***\",\"-Ssrv\",\"-P\","
                         "\"***\",\"-D\",\"db\"]");
  free(s);
  char *sh[] = {"sh", "-c",
                "isql -U sa -PA f9 -S s; isql -PAS 'f 10' db; "
                "isql -PASSWORD f11 db.fdb; isql -PASS f12; isql -Pf13 -S s; "
                "isql -pag 60 -P f14"};
  s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"isql -U sa -P*** *** -S s; isql -P*** '***' db; "
         "isql -P*** *** db.fdb; isql -P*** ***; isql -P*** -S s; "
         "isql -pag 60 -P ***\"]");
  free(s);
}

/* In a shell's text, a value with a blank that a backslash escapes
 * ("P\ W") is one word: only "P\" was hidden, and W shown (until
 * 2026-12-07); so is a '"' escaped inside double quotes. */
static void test_escaped_blanks_inside_values_are_hidden(void **state) {
  (void)state;
  char *sh[] = {"sh", "-c",
                "sshpass -p e1\\ x ssh h; mysql -pe2\\ x db; "
                "curl -u a:e3\\ x h; mysql --password e4\\ x db; "
                "htpasswd -b f u e5\\ x; isql DSN bob e6\\ x -v; "
                "tool --token \"e7\\\" x\" y"};
  char *s = json_of(3, sh);
  assert_string_equal(
      s, "[\"sh\",\"-c\",\"sshpass -p *** ssh h; mysql -p*** db; "
         "curl -u a:*** h; mysql --password *** db; htpasswd -b f u ***; "
         "isql DSN bob *** -v; tool --token \\\"***\\\" y\"]");
  free(s);
}

/* A JSON argument too long for the stack's copy is hidden whole: no
 * allocation on this path (a vfork child records argv). */
static void test_a_long_json_argument_with_a_secret_is_hidden(void **state) {
  (void)state;
  static char json[6000];
  size_t n = (size_t)snprintf(json, sizeof json, "{\"password\": \"p\", \"x\": \"");
  memset(json + n, 'a', 5000);
  memcpy(json + n + 5000, "\"}", 3);
  char *argv[] = {"tool", "--config", json};
  char *s = json_of(3, argv);
  assert_string_equal(s, "[\"tool\",\"--config\",\"***\"]");
  free(s);
}

/* A shell command as one argument: its secret options' and headers'
 * values are hidden as those of arguments of their own. Recorded whole
 * until 2026-12-07. */
static void test_secrets_inside_a_shell_command_are_hidden(void **state) {
  (void)state;
  char *argv[] = {"bash", "-c",
                  "hf login --token t1&& curl -H 'Authorization: Bearer t2' "
                  "u; db --pass \"p 3\" --max-tokens 5 auth://h psql "
                  "--password"};
  char *s = json_of(3, argv);
  assert_string_equal(
      s, "[\"bash\",\"-c\",\"hf login --token ***&& curl -H "
         "'Authorization: ***' u; db --pass \\\"***\\\" --max-tokens 5 "
         "auth://h psql --password\"]");
  free(s);
}

static void test_long_command_lines_are_cut(void **state) {
  (void)state;
  enum { N = MIDA_ARGV_MAX_ARGS + 10 };
  char *argv[N];
  char *big = malloc(MIDA_ARGV_MAX_ARG * 2 + 1);
  memset(big, 'a', MIDA_ARGV_MAX_ARG * 2);
  big[MIDA_ARGV_MAX_ARG * 2] = '\0';
  for (int i = 0; i < N; i++)
    argv[i] = i == 1 ? big : "x";
  char *s = json_of(N, argv);
  size_t len = strlen(s);
  assert_true(len < (size_t)MIDA_ARGV_MAX_ARG + 8 * N);
  assert_string_equal(s + len - 7, ",\"...\"]");
  assert_non_null(strstr(s, "aaaa...\""));
  free(s);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_arguments_are_kept),
      cmocka_unit_test(test_secrets_are_hidden),
      cmocka_unit_test(test_urls_inside_arguments_are_hidden),
      cmocka_unit_test(test_text_after_a_url_is_kept),
      cmocka_unit_test(test_secret_key_value_words_are_hidden),
      cmocka_unit_test(test_secret_headers_are_hidden),
      cmocka_unit_test(test_credentials_and_json_secrets_are_hidden),
      cmocka_unit_test(test_json_arguments_hide_every_secret),
      cmocka_unit_test(test_attached_credentials_are_hidden),
      cmocka_unit_test(test_other_programs_user_options_are_kept),
      cmocka_unit_test(test_credentials_inside_a_shell_command_are_hidden),
      cmocka_unit_test(test_a_long_json_argument_with_a_secret_is_hidden),
      cmocka_unit_test(test_secrets_inside_a_shell_command_are_hidden),
      cmocka_unit_test(test_curl_option_clusters_hide_their_secrets),
      cmocka_unit_test(test_password_options_of_other_tools_are_hidden),
      cmocka_unit_test(test_secret_fields_of_form_data_are_hidden),
      cmocka_unit_test(test_shell_commands_hide_clusters_and_tools),
      cmocka_unit_test(test_password_options_of_more_programs_are_hidden),
      cmocka_unit_test(test_secret_words_and_pw_options_are_hidden),
      cmocka_unit_test(test_common_commands_keep_their_options),
      cmocka_unit_test(test_shell_commands_hide_more_programs_secrets),
      cmocka_unit_test(test_registry_creds_and_isql_passwords_are_hidden),
      cmocka_unit_test(test_openssl_ca_and_other_isql_passwords_are_hidden),
      cmocka_unit_test(test_words_after_sshpass_and_redis_cli_commands_stay),
      cmocka_unit_test(test_redirections_and_escaped_blanks_end_no_options),
      cmocka_unit_test(test_substitutions_and_fd_redirections_end_no_command),
      cmocka_unit_test(test_openssl_options_in_each_form_are_hidden),
      cmocka_unit_test(
          test_isql_password_abbreviations_in_any_case_are_hidden),
      cmocka_unit_test(test_escaped_blanks_inside_values_are_hidden),
      cmocka_unit_test(test_long_command_lines_are_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
