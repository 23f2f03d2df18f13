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
      cmocka_unit_test(test_long_command_lines_are_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
