/*
 * url_test.c -- URL schemes, parts, SQLite paths (mida's rule and MLflow's),
 * the valid form of any URI, and the redacted form shown in messages; the
 * secret-name rule and the redaction of JSON values by it.
 */
#include "core/buf.h"
#include "core/redact.h"
#include "core/url.h"
#include "core/url_scrub.h"
#include "core/url_text.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

static void test_schemes(void **state) {
  (void)state;
  assert_int_equal(mida__url_scheme_len("postgresql://h/db"), 10);
  assert_int_equal(mida__url_scheme_len("x.db"), 0);
  assert_int_equal(mida__url_scheme_len("/a://b"), 0); /* a path */
  assert_int_equal(mida__url_scheme_len("1x://h"), 0);
  assert_int_equal(mida__url_scheme_len(NULL), 0);
  assert_true(mida__url_scheme_is("PostgreSQL://h/db", "postgresql"));
  assert_false(mida__url_scheme_is("postgres://h/db", "postgresql"));
  assert_false(mida__url_scheme_is("mida.db", "sqlite"));
}

/* The valid form of a URI: each byte that may not stand where it is
 * escaped, nothing else; a valid URI as it is. */
static void test_a_uri_is_escaped_where_rfc_3986_wants_it(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"s3://b/ok%41?q=1&r=x#f", "s3://b/ok%41?q=1&r=x#f"},
      {"http://[::1]:80/a", "http://[::1]:80/a"},
      {"s3://b/a b", "s3://b/a%20b"},
      {"s3://b/k<x>{y}|^`\\\"", "s3://b/k%3Cx%3E%7By%7D%7C%5E%60%5C%22"},
      {"s3://b/\t\n\x7f\xff", "s3://b/%09%0A%7F%FF"},
      {"file:///caf\xc3\xa9", "file:///caf%C3%A9"},
      {"s3://b/%zz%4", "s3://b/%25zz%254"},
      {"s3://b/a#b#c", "s3://b/a#b%23c"},
      {"s3://b/[i]", "s3://b/%5Bi%5D"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mida__buf b;
    mida__buf_init(&b, 1024);
    int changed = -1;
    assert_int_equal(mida__uri_add_escaped(&b, cases[i][0], &changed),
                     MIDA_OK);
    assert_string_equal(mida__buf_str(&b), cases[i][1]);
    assert_int_equal(changed, strcmp(cases[i][0], cases[i][1]) != 0);
    assert_int_equal(mida__uri_valid(cases[i][0]), !changed);
    assert_true(mida__uri_valid(cases[i][1]));
    mida__buf_free(&b);
  }
  assert_false(mida__uri_valid("/a/b"));      /* no scheme */
  assert_false(mida__uri_valid("a b://x/y")); /* no scheme either */
  assert_false(mida__uri_valid(NULL));
}

static void test_broker_urls_parse(void **state) {
  (void)state;
  mida__url u;
  assert_int_equal(mida__url_parse("redis://h:6380/s", 6379, &u), MIDA_OK);
  assert_string_equal(u.host, "h");
  assert_int_equal(u.port, 6380);
  assert_string_equal(u.path, "s");
  assert_int_equal(mida__url_parse("nats://me:p@ss@broker/a.b", 4222, &u),
                   MIDA_OK);
  assert_string_equal(u.user, "me");
  assert_string_equal(u.password, "p@ss");
  assert_string_equal(u.host, "broker");
  assert_int_equal(u.port, 4222);
  assert_string_equal(u.path, "a.b");
  assert_int_equal(mida__url_parse("redis://:pw@h", 6379, &u), MIDA_OK);
  assert_string_equal(u.password, "pw");
  assert_string_equal(u.path, "");
  assert_int_equal(mida__url_parse("rediss://h/s?ca=%2Ftmp%2Fca.pem&x", 1, &u),
                   MIDA_OK);
  assert_string_equal(u.path, "s");
  assert_string_equal(u.query, "ca=%2Ftmp%2Fca.pem&x");
  assert_int_equal(mida__url_parse("mqtt://h?tls=1", 1, &u), MIDA_OK);
  assert_string_equal(u.host, "h");
  assert_string_equal(u.query, "tls=1");
  assert_int_equal(mida__url_parse("redis://h:0/s", 1, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("redis://h:99999/s", 1, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("redis://h:x/s", 1, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("redis:///s", 1, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("no-scheme", 1, &u), MIDA_EURL);
  /* An IPv6 address in brackets; the brackets are not the host's. */
  assert_int_equal(mida__url_parse("redis://:pw@[::1]:6380/s", 6379, &u),
                   MIDA_OK);
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 6380);
  assert_string_equal(u.path, "s");
  assert_int_equal(mida__url_parse("nats://[fe80::1]/a", 4222, &u), MIDA_OK);
  assert_string_equal(u.host, "fe80::1");
  assert_int_equal(u.port, 4222);
  assert_int_equal(mida__url_parse("nats://[]/a", 4222, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("nats://[::1/a", 4222, &u), MIDA_EURL);
  assert_int_equal(mida__url_parse("nats://[::1]x/a", 4222, &u), MIDA_EURL);
  /* The userinfo is percent-decoded; a '%' without two hex digits stays. */
  assert_int_equal(
      mida__url_parse("mqtt://a%20b:p%40s%2Fs%23%3F%zz%@h/t", 1883, &u),
      MIDA_OK);
  assert_string_equal(u.user, "a b");
  assert_string_equal(u.password, "p@s/s#?%zz%");
  assert_int_equal(mida__url_parse("redis://:a%00b@h/s", 6379, &u),
                   MIDA_EURL);
}

static void test_query_parameters(void **state) {
  (void)state;
  char v[32];
  const char *q = "ca=%2Ftmp%2Fca.pem&verify=0&sni&name=a+b";
  assert_int_equal(mida__url_param(q, "ca", v, sizeof v), MIDA_OK);
  assert_string_equal(v, "/tmp/ca.pem");
  assert_int_equal(mida__url_param(q, "verify", v, sizeof v), MIDA_OK);
  assert_string_equal(v, "0");
  assert_int_equal(mida__url_param(q, "sni", v, sizeof v), MIDA_OK);
  assert_string_equal(v, "");
  assert_int_equal(mida__url_param(q, "name", v, sizeof v), MIDA_OK);
  assert_string_equal(v, "a b");
  assert_int_equal(mida__url_param(q, "c", v, sizeof v), MIDA_ENOTFOUND);
  char tiny[4];
  assert_int_equal(mida__url_param(q, "ca", tiny, sizeof tiny), MIDA_ETOOBIG);
}

static void test_sqlite_paths_follow_one_rule(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(mida__url_sqlite_path("sqlite://mida.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "mida.db");
  assert_int_equal(mida__url_sqlite_path("sqlite:///tmp/x.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/tmp/x.db");
  assert_int_equal(mida__url_sqlite_path("SQLite:///tmp/x.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/tmp/x.db");
  assert_int_equal(mida__url_sqlite_path("x.db", buf, sizeof buf), MIDA_OK);
  assert_string_equal(buf, "x.db");
  assert_int_equal(mida__url_sqlite_path("file:///a/b.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/a/b.db");
  assert_int_equal(mida__url_sqlite_path("redis://h:1/s", buf, sizeof buf),
                   MIDA_EURL);
  /* A libpq conninfo names a server's database, no file (core/conninfo.h);
   * sqlite:// names a file so named. */
  assert_int_equal(mida__url_sqlite_path("host=h dbname=d password=pw", buf,
                                         sizeof buf),
                   MIDA_EURL);
  assert_int_equal(mida__url_sqlite_path("dbname=mida", buf, sizeof buf),
                   MIDA_EURL);
  assert_int_equal(mida__url_sqlite_path("sqlite://user=x.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "user=x.db");
  assert_int_equal(mida__url_sqlite_path("/data/run=3/my user.db", buf,
                                         sizeof buf),
                   MIDA_OK);
  assert_int_equal(mida__url_sqlite_path("sqlite://", buf, sizeof buf),
                   MIDA_EURL);
  /* An SQLite URL a '/' short is a typo, no file "x.db" under "sqlite:";
   * "sqlite//k.db" is the path sqlite/k.db. */
  assert_int_equal(mida__url_sqlite_path("sqlite:/x.db", buf, sizeof buf),
                   MIDA_EURL);
  assert_int_equal(mida__url_sqlite_path("FILE:x.db", buf, sizeof buf),
                   MIDA_EURL);
  assert_int_equal(mida__url_sqlite_path("sqlite//k.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "sqlite//k.db");
  assert_int_equal(mida__url_sqlite_path("results:v2.db", buf, sizeof buf),
                   MIDA_OK);
  char tiny[4];
  assert_int_equal(mida__url_sqlite_path("/long/path", tiny, sizeof tiny),
                   MIDA_ETOOBIG);
}

static void test_mlflow_tracking_uris_follow_sqlalchemy(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(
      mida__url_mlflow_path("sqlite:////tmp/m.db", buf, sizeof buf), MIDA_OK);
  assert_string_equal(buf, "/tmp/m.db");
  assert_int_equal(mida__url_mlflow_path("sqlite:///m.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "m.db"); /* relative, as SQLAlchemy reads it */
  assert_int_equal(mida__url_mlflow_path("/x/mlflow.db", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/x/mlflow.db");
  assert_int_equal(mida__url_mlflow_path("http://h:5000", buf, sizeof buf),
                   MIDA_EURL);
  assert_int_equal(
      mida__url_mlflow_path("postgresql://u@h/db", buf, sizeof buf), MIDA_EURL);
  assert_int_equal(mida__url_mlflow_path("sqlite:///", buf, sizeof buf),
                   MIDA_EURL);
  char tiny[4];
  assert_int_equal(mida__url_mlflow_path("/long/path", tiny, sizeof tiny),
                   MIDA_ETOOBIG);
}

static const char *redact(const char *url) {
  static char buf[256];
  return mida__url_redact(url, buf, sizeof buf);
}

static void test_redaction_masks_passwords_everywhere(void **state) {
  (void)state;
  assert_string_equal(redact("postgresql://postgres:secretpw@h:5432/db"),
                      "postgresql://postgres:***@h:5432/db");
  assert_string_equal(redact("redis://:pw@h/s"), "redis://:***@h/s");
  assert_string_equal(redact("nats://me:p@ss@broker/a.b"),
                      "nats://me:***@broker/a.b");
  /* A password that holds '/' still ends at the last '@'. */
  assert_string_equal(redact("mqtt://u:pa/ss@h/t"), "mqtt://u:***@h/t");
  /* A user without a password is no secret... */
  assert_string_equal(redact("postgresql://mida@db/mida"),
                      "postgresql://mida@db/mida");
  /* ...but NATS's one-part userinfo is a token. */
  assert_string_equal(redact("nats://s3cr3t@broker:4222/a"),
                      "nats://***@broker:4222/a");
  assert_string_equal(redact("tls://s3cr3t@broker/a"), "tls://***@broker/a");
  assert_string_equal(redact("nats://broker/a"), "nats://broker/a");
  /* libpq takes passwords as query parameters, too. */
  assert_string_equal(
      redact("postgresql://h/db?user=u&password=pw&sslmode=require"),
      "postgresql://h/db?user=u&password=***&sslmode=require");
  assert_string_equal(redact("rediss://h/s?auth_token=x#f"),
                      "rediss://h/s?auth_token=***#f");
  /* Paths are shown as they are. */
  assert_string_equal(redact("sqlite:///a:b@c/x.db"), "sqlite:///a:b@c/x.db");
  assert_string_equal(redact("x.db"), "x.db");
  assert_string_equal(redact(NULL), "");
}

/* A libpq key=value word whose name looks like a secret's is masked
 * wherever it stands: a conninfo given for a URL, or after a URL. Until
 * 2027-01 both were shown as they were ("no store at host=h dbname=d
 * password=pwC"). */
static void test_redaction_masks_secret_key_value_words(void **state) {
  (void)state;
  assert_string_equal(redact("host=h dbname=d password=pwC"),
                      "host=h dbname=d password=***");
  assert_string_equal(redact("postgresql://u@h/db password=pwA"),
                      "postgresql://u@h/db password=***");
  /* libpq's quoted values (with \' escapes), its spaces around '=', a
   * backslash keeping a space in a value, and any secret name. */
  assert_string_equal(redact("password='a b\\' c' host=h"),
                      "password=*** host=h");
  assert_string_equal(redact("host=h password = pw sslmode=require"),
                      "host=h password = *** sslmode=require");
  assert_string_equal(redact("password=a\\ b host=h"),
                      "password=*** host=h");
  assert_string_equal(redact("sslpassword=k1 DB_TOKEN=t2 port=5432"),
                      "sslpassword=*** DB_TOKEN=*** port=5432");
  assert_string_equal(redact("password='unterminated host=h"),
                      "password=***");
  /* With a URL's own secrets, overlapping spans masked as one. */
  assert_string_equal(redact("postgresql://u:pw@h/db?password=a password"
                             " = b&c token=x"),
                      "postgresql://u:***@h/db?password=*** token=***");
  /* Masked once is masked; names that are no secret's stay. */
  assert_string_equal(redact("host=h dbname=d password=***"),
                      "host=h dbname=d password=***");
  assert_string_equal(redact("host=h user=u max_tokens=5"),
                      "host=h user=u max_tokens=5");
  assert_string_equal(redact("https://h/x?token=abc&b=2"),
                      "https://h/x?token=***&b=2");
}

/* Whether mida__url_escape_userinfo writes url as want. */
static void assert_escaped(const char *url, const char *want) {
  mida__buf b;
  mida__buf_init(&b, 4096);
  assert_int_equal(mida__url_escape_userinfo(url, &b), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), want);
  mida__buf_free(&b);
}

static void
test_a_password_holding_at_signs_is_escaped_for_libpq(void **state) {
  (void)state;
  assert_escaped("postgresql://u:a@b@h:5432/db",
                 "postgresql://u:a%40b@h:5432/db");
  assert_escaped("postgresql://u:@@@h/db?x=@",
                 "postgresql://u:%40%40@h/db?x=@");
  /* One '@', none, or only after the authority: as it is. */
  assert_escaped("postgresql://u:pw@h/db", "postgresql://u:pw@h/db");
  assert_escaped("postgresql://h/db@x?y=@", "postgresql://h/db@x?y=@");
  assert_escaped("postgresql:///db", "postgresql:///db");
  assert_escaped("file.db", "file.db");
  /* A password holding a '/': libpq took "u:pa" for a host and a port. */
  assert_escaped("postgresql://u:pa/ss@h/db", "postgresql://u:pa%2Fss@h/db");
  assert_escaped("postgresql://u:a/b@c/d@h:1/db?x=/@",
                 "postgresql://u:a%2Fb%40c%2Fd@h:1/db?x=/@");
  /* A host and port, or a userinfo already ended, before the '/'. */
  assert_escaped("postgresql://h:5432/db@x", "postgresql://h:5432/db@x");
  assert_escaped("postgresql://u:p@h/db@x", "postgresql://u:p@h/db@x");
}

static void test_a_cut_url_shows_no_part_of_a_secret(void **state) {
  (void)state;
  const char *url = "postgresql://user:hunter2@host/db";
  for (size_t len = 1; len < 40; len++) {
    char buf[40];
    mida__url_redact(url, buf, len);
    assert_true(strlen(buf) < len);
    assert_null(strstr(buf, "hun"));
    assert_null(strstr(buf, "*h")); /* never a partial mask */
  }
}

/* A library's message repeats no secret of the URL it was given: libpq
 * quotes a token it cannot decode, or the whole URL it cannot read. */
static void test_a_librarys_message_repeats_no_secret(void **state) {
  (void)state;
  char b[512];
  assert_string_equal(
      mida__url_scrub("invalid percent-encoded token: \"50%off\"",
                      "postgresql://postgres:50%off@127.0.0.1/qa1", b,
                      sizeof b),
      "invalid percent-encoded token: \"***\"");
  assert_string_equal(
      mida__url_scrub("forbidden value %00 in percent-encoded value: "
                      "\"se%00cret\"",
                      "postgresql://u:se%00cret@h/db", b, sizeof b),
      "forbidden value %00 in percent-encoded value: \"***\"");
  /* The whole URL, as libpq got it (a '@' of the password escaped). */
  assert_string_equal(
      mida__url_scrub("unexpected character \"/\" at position 35 in URI"
                      " (expected \"]\"): \"postgresql://postgres:p%40ss"
                      "@[::1/x\"",
                      "postgresql://postgres:p@ss@[::1/x", b, sizeof b),
      "unexpected character \"/\" at position 35 in URI (expected \"]\"):"
      " \"postgresql://postgres:***@[::1/x\"");
  /* Percent-decoded, and bare (not quoted). */
  assert_string_equal(mida__url_scrub("password s3cr@t rejected",
                                      "postgresql://u:s3cr%40t@h/db", b,
                                      sizeof b),
                      "password *** rejected");
  /* A secret query parameter's value, quoted. */
  assert_string_equal(
      mida__url_scrub("bad value \"tk9\"",
                      "postgresql://h/db?sslmode=require&password=tk9", b,
                      sizeof b),
      "bad value \"***\"");
  /* A secret key=value word after the URL, which libpq took for a part
   * of the database's name, and its quoted value's inside. */
  assert_string_equal(
      mida__url_scrub("database \"db password=pwA\" does not exist",
                      "postgresql://u@h/db password=pwA", b, sizeof b),
      "database \"***\" does not exist");
  assert_string_equal(mida__url_scrub("password a b rejected",
                                      "host=h password='a b'", b, sizeof b),
                      "password *** rejected");
  /* A short secret is masked inside quotes only, not in words. */
  assert_string_equal(mida__url_scrub("cannot read \"pw\" as a port",
                                      "postgresql://u:pw@h/db", b, sizeof b),
                      "cannot read \"***\" as a port");
  assert_string_equal(mida__url_scrub("connection refused (pwd)",
                                      "postgresql://u:pw@h/db", b, sizeof b),
                      "connection refused (pwd)");
  /* Nothing to hide: the message as it is. */
  assert_string_equal(mida__url_scrub("timeout \"h\"", "postgresql://h/db",
                                      b, sizeof b),
                      "timeout \"h\"");
  assert_string_equal(mida__url_scrub("x", NULL, b, sizeof b), "x");
  assert_string_equal(mida__url_scrub(NULL, "postgresql://h/db", b, sizeof b),
                      "");
  /* Cut short, never inside a mask. */
  char small[8];
  assert_string_equal(mida__url_scrub("ab secret cd",
                                      "postgresql://u:secret@h/db", small,
                                      sizeof small),
                      "ab *** ");
}

static void test_secret_names(void **state) {
  (void)state;
  const char *secret[] = {"password",
                          "--db-password",
                          "PASSWD",
                          "hf_token",
                          "apiKey",
                          "api_key",
                          "API-KEY",
                          "X-Auth",
                          "client_secret",
                          "AWS_SECRET_ACCESS_KEY",
                          "accessKey",
                          "sslpassword",
                          "token",
                          "db_pass",
                          "private_key",
                          "Authorization",
                          NULL};
  const char *plain[] = {"max_tokens", "tokenizer", "author", "keys",
                         "key",        "passes",    "lr",     "monkey",
                         "n_heads",    "",          NULL};
  for (int i = 0; secret[i] != NULL; i++)
    if (!mida__secret_name(secret[i], strlen(secret[i])))
      fail_msg("%s should be secret", secret[i]);
  for (int i = 0; plain[i] != NULL; i++)
    if (mida__secret_name(plain[i], strlen(plain[i])))
      fail_msg("%s should not be secret", plain[i]);
}

/* Redacts text and compares with want (NULL: MIDA_EJSON expected). */
static void check_json_redact(const char *text, const char *want) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  int rc = mida__json_redact(text, strlen(text), &b);
  if (want == NULL) {
    assert_int_equal(rc, MIDA_EJSON);
    assert_int_equal(mida__json_secret_count(text, strlen(text)), -1);
  } else {
    assert_int_equal(rc, MIDA_OK);
    assert_string_equal(mida__buf_str(&b), want);
  }
  mida__buf_free(&b);
}

static void test_json_values_of_secret_names_are_hidden(void **state) {
  (void)state;
  check_json_redact("{\"lr\":0.1,\"api_key\":\"sk\"}",
                    "{\"lr\":0.1,\"api_key\":\"***\"}");
  /* Any type, at any depth, inside arrays; other values as written. */
  check_json_redact("{ \"a\" : [ {\"Token\": {\"x\": [1, 2]}}, \"s\\\"\" ],"
                    " \"password\": 12, \"max_tokens\": 5 }",
                    "{\"a\":[{\"Token\":\"***\"},\"s\\\"\"],"
                    "\"password\":\"***\",\"max_tokens\":5}");
  assert_int_equal(mida__json_secret_count("{\"a\":{\"pwd\":null}}", 20),
                   1);
  assert_int_equal(mida__json_secret_count("{\"tokens\":[1]}", 14), 0);
  /* Malformed or cut text is refused, never read past its end. */
  check_json_redact("{\"password\":", NULL);
  check_json_redact("{\"a\":\"x\\", NULL);
  check_json_redact("{\"a\" 1}", NULL);
  check_json_redact("[1 2]", NULL);
  check_json_redact("", NULL);
}

/* Redacts the URLs inside text and compares with want. */
static void check_url_text(const char *text, const char *want) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  assert_int_equal(mida__url_text_redact(text, strlen(text), &b), MIDA_OK);
  assert_string_equal(b.len > 0 ? mida__buf_str(&b) : "", want);
  assert_int_equal(mida__url_text_has_secret(text, strlen(text)),
                   strcmp(text, want) != 0);
  mida__buf_free(&b);
}

static void test_urls_inside_a_text_hide_their_secrets(void **state) {
  (void)state;
  /* In a JSON document: each URL ends at its string's quote. */
  check_url_text("{\"db\":\"postgresql://u:pw@h:5432/db\",\"n\":1}",
                 "{\"db\":\"postgresql://u:***@h:5432/db\",\"n\":1}");
  check_url_text("[\"https://h/x?token=t1&a=1\",\"redis://:p@h/0\"]",
                 "[\"https://h/x?token=***&a=1\",\"redis://:***@h/0\"]");
  /* In an error text, among words; a scheme glued to a word. */
  check_url_text("cannot reach mysql://root:hunter2@db:3306/x: refused",
                 "cannot reach mysql://root:***@db:3306/x: refused");
  check_url_text("at=s3+https://k:v@b/o.", "at=s3+https://k:***@b/o.");
  /* Nothing to hide: left as it is, byte for byte. */
  check_url_text("file:///data/user@host/a?b", "file:///data/user@host/a?b");
  check_url_text("sqlite:///x@y.db", "sqlite:///x@y.db");
  check_url_text("tcp://127.0.0.1:40731", "tcp://127.0.0.1:40731");
  check_url_text("https://u@h/x?page=2", "https://u@h/x?page=2");
  check_url_text("://h:p@x and :// alone", "://h:p@x and :// alone");
  check_url_text("", "");
  /* A JSON escape ends the URL: what follows it is not read as its. */
  check_url_text("\"http://h/\\u0040x:y@z\"", "\"http://h/\\u0040x:y@z\"");
  /* A URL at the text's very end. */
  check_url_text("x nats://tok@h", "x nats://***@h");
}

/* A password that holds a '?' or '#' (which a URL must percent-encode)
 * is masked all the same. */
static void test_a_password_holding_a_query_mark_is_masked(void **state) {
  (void)state;
  assert_string_equal(redact("redis://:ab#cd@h:1/s"), "redis://:***@h:1/s");
  assert_string_equal(redact("mqtt://u:ab?cd@h/t?x=1"),
                      "mqtt://u:***@h/t?x=1");
  assert_string_equal(redact("postgresql://u:a?b#c@h/db?password=x"),
                      "postgresql://u:***@h/db?password=***");
  assert_string_equal(redact("https://h/x?a=b@c"), "https://h/x?a=b@c");
  assert_string_equal(redact("redis://h/s#a:b@c"), "redis://h/s#a:b@c");
  /* An '@' after the '/' that follows such a password ends the userinfo,
   * as it does once the mask has taken the '?' away: masked once is
   * masked (a crash of fuzz/json_fuzz.c). */
  assert_string_equal(redact("redis://:a?b@c/d:e@f"), "redis://:***@f");
  assert_string_equal(redact("redis://:***@f"), "redis://:***@f");
  check_url_text("x redis://:a?b@c/d:e@f y", "x redis://:***@f y");
  /* A NATS token (a userinfo of one part) that holds a '#', '?' or '/' is
   * all secret too; `ps` left these whole until 2026-12
   * (src/cli/ps_mask_test.c). */
  assert_string_equal(redact("nats://ab#cd@h/s"), "nats://***@h/s");
  assert_string_equal(redact("tls://a?b@h/s"), "tls://***@h/s");
  assert_string_equal(redact("nats://to/ken@h/s"), "nats://***@h/s");
}

/* A secret parameter after the fragment's '#' is masked as one in the
 * query is, in messages, texts and library messages alike: it was shown
 * whole until 2026-12, though `ps` masked it (src/cli/ps_mask_test.c). */
static void test_a_secret_in_the_fragment_is_masked(void **state) {
  (void)state;
  assert_string_equal(redact("https://h/x#f?token=abc"),
                      "https://h/x#f?token=***");
  assert_string_equal(redact("postgresql://u@h/db#x?password=p"),
                      "postgresql://u@h/db#x?password=***");
  assert_string_equal(redact("https://h/x?a=1#f?token=abc&b=2"),
                      "https://h/x?a=1#f?token=***&b=2");
  assert_string_equal(redact("https://h/#/route?api_key=k&x=1#password=q"),
                      "https://h/#/route?api_key=***&x=1#password=***");
  assert_string_equal(redact("https://h#token=abc"), "https://h#token=***");
  /* Masked once is masked. */
  assert_string_equal(redact("https://h/x#f?token=***"),
                      "https://h/x#f?token=***");
  /* A fragment without a secret name is shown as it is. */
  assert_string_equal(redact("https://h/x#section-2?a=b"),
                      "https://h/x#section-2?a=b");
  check_url_text("see https://h/x#f?token=abc now",
                 "see https://h/x#f?token=*** now");
  char b[256];
  assert_string_equal(mida__url_scrub("bad value \"abc9\"",
                                      "https://h/x#f?token=abc9", b,
                                      sizeof b),
                      "bad value \"***\"");
}

/* A URL with its "//" or ':' mistyped is read as a path, but shown as
 * the URL it was meant to be: its password masked. */
static void test_a_mistyped_url_shows_no_password(void **state) {
  (void)state;
  assert_string_equal(redact("redis:/:pw@h/s"), "redis:/:***@h/s");
  assert_string_equal(redact("redis::pw@h/s"), "redis::***@h/s");
  assert_string_equal(redact("redis//:pw@h/s"), "redis//:***@h/s");
  assert_string_equal(redact("nats:/tok@h/s"), "nats:/***@h/s");
  assert_string_equal(redact("postgresql:/u:pw@h/db"),
                      "postgresql:/u:***@h/db");
  assert_string_equal(redact("runs/a.db"), "runs/a.db");
  assert_string_equal(redact("runs//a.db"), "runs//a.db");
  size_t n = 0;
  assert_int_equal(mida__url_mistyped("redis:/:pw@h/s", &n), 7);
  assert_int_equal(n, 5);
  assert_int_equal(mida__url_mistyped("redis://:pw@h/s", &n), 0);
  assert_int_equal(mida__url_mistyped("mida.db", &n), 0);
  assert_int_equal(mida__url_mistyped("/abs/mida.db", &n), 0);
  size_t off = 0, len = 0;
  assert_true(mida__url_secret_span("redis:/:pw@h/s", &off, &len));
  assert_int_equal(off, 8);
  assert_int_equal(len, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schemes),
      cmocka_unit_test(test_a_uri_is_escaped_where_rfc_3986_wants_it),
      cmocka_unit_test(test_broker_urls_parse),
      cmocka_unit_test(test_query_parameters),
      cmocka_unit_test(test_sqlite_paths_follow_one_rule),
      cmocka_unit_test(test_mlflow_tracking_uris_follow_sqlalchemy),
      cmocka_unit_test(test_redaction_masks_passwords_everywhere),
      cmocka_unit_test(test_redaction_masks_secret_key_value_words),
      cmocka_unit_test(test_a_mistyped_url_shows_no_password),
      cmocka_unit_test(test_a_password_holding_a_query_mark_is_masked),
      cmocka_unit_test(test_a_secret_in_the_fragment_is_masked),
      cmocka_unit_test(test_a_cut_url_shows_no_part_of_a_secret),
      cmocka_unit_test(test_a_password_holding_at_signs_is_escaped_for_libpq),
      cmocka_unit_test(test_a_librarys_message_repeats_no_secret),
      cmocka_unit_test(test_secret_names),
      cmocka_unit_test(test_json_values_of_secret_names_are_hidden),
      cmocka_unit_test(test_urls_inside_a_text_hide_their_secrets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
