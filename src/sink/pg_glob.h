/*
 * pg_glob.h -- SQLite's glob(pattern, text) for the PostgreSQL store, as
 * SQL text that postgres.c runs.
 *
 * The verbs' and the API's SQL filters activities with glob() (`mida
 * tasks --activity`, /api/tasks?activity=), the same text on both stores;
 * on PostgreSQL it is mida.glob, which turns the pattern into a regular
 * expression (mida.glob_regex) and matches with ~. The rules are SQLite's
 * GLOB (sqlite3's patternCompare), case-sensitive, character by character:
 *
 *   *       any run of characters, also none;
 *   ?       one character;
 *   [...]   one character of the set; [^...] one not in it. A ']' first
 *           (after the '^') is a member; a '-' between two members makes a
 *           range of code points (the member before it is one itself, so
 *           [c-a] holds c alone), and is itself a member first or last;
 *           inside a set '*', '?', '[' and '\' are themselves;
 *   else    the character itself ('\' escapes nothing).
 *
 * A '[' without its ']' matches no text. Every character of the pattern
 * goes into the expression as an escape of its code point (\UXXXXXXXX),
 * so no character is special to the regular expression. glob_regex is
 * IMMUTABLE: with the pattern a parameter, the planner computes it once
 * per statement, not per row.
 *
 * The definition carries a marker in its comment (MIDA_PG_GLOB_MARKER):
 * a writer that finds another (a store made before this rule) installs
 * this one in place, with no schema change (postgres.c, create_schema).
 */
#ifndef MIDA_SINK_PG_GLOB_H
#define MIDA_SINK_PG_GLOB_H

/* The version of the definition below; change it with the definition. */
#define MIDA_PG_GLOB_MARKER "'mida glob 2'"

#define MIDA_PG_GLOB_SQL                                                       \
  "CREATE OR REPLACE FUNCTION mida.glob_regex(pattern text) RETURNS text"      \
  " LANGUAGE plpgsql IMMUTABLE STRICT AS $$ DECLARE n int :="                  \
  " length(pattern); i int := 1; c text; re text := '^'; members text;"        \
  " prior int; hi int; BEGIN WHILE i <= n LOOP c := substr(pattern, i, 1);"    \
  " i := i + 1; IF c = '*' THEN re := re || '.*'; ELSIF c = '?' THEN"          \
  " re := re || '.'; ELSIF c = '[' THEN re := re || '['; prior := 0;"          \
  " members := ''; IF substr(pattern, i, 1) = '^' THEN re := re || '^';"       \
  " i := i + 1; END IF; IF substr(pattern, i, 1) = ']' THEN members :="        \
  " '\\U0000005d'; i := i + 1; END IF; LOOP IF i > n THEN"                     \
  /* A '[' without its ']': no text matches ('.' between end and start). */   \
  " RETURN '$.^'; END IF; c := substr(pattern, i, 1); i := i + 1;"             \
  " EXIT WHEN c = ']'; IF c = '-' AND prior > 0 AND i <= n AND"                \
  " substr(pattern, i, 1) <> ']' THEN hi := ascii(substr(pattern, i, 1));"     \
  " i := i + 1; IF prior <= hi THEN members := members || '\\U' ||"            \
  " lpad(to_hex(prior), 8, '0') || '-\\U' || lpad(to_hex(hi), 8, '0');"        \
  " END IF; prior := 0; ELSE prior := ascii(c); members := members ||"         \
  " '\\U' || lpad(to_hex(prior), 8, '0'); END IF; END LOOP;"                   \
  " re := re || members || ']'; ELSE re := re || '\\U' ||"                     \
  " lpad(to_hex(ascii(c)), 8, '0'); END IF; END LOOP; RETURN re || '$';"       \
  " END $$;\n"                                                                 \
  "CREATE OR REPLACE FUNCTION mida.glob(pattern text, s text) RETURNS boolean" \
  " LANGUAGE sql IMMUTABLE AS $$ SELECT s ~ mida.glob_regex(pattern) $$;\n"    \
  "COMMENT ON FUNCTION mida.glob(text, text) IS " MIDA_PG_GLOB_MARKER ";\n"

#endif
