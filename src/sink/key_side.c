/*
 * key_side.c -- the side table of declared numeric keys (key_side.h): the
 * triggers that keep it, its backfill and its cleanup, as SQL text of
 * either store (the stores run it; the PostgreSQL module links this file).
 * The reads of the table are key_index.c's.
 */
#include "sink/key_side.h"

#include "mida.h"

#include <stdio.h>

/* The SQLite triggers: after an insert, an update of the document, and a
 * delete. %1$s the index name, %2$s the document, %3$s the path. */
static int sqlite_side_sql(mida__buf *sql, const char *name, const char *doc,
                           const char *path, int drop) {
  if (drop)
    return mida__buf_printf(sql,
                            "DROP TRIGGER IF EXISTS %s_i;\n"
                            "DROP TRIGGER IF EXISTS %s_u;\n"
                            "DROP TRIGGER IF EXISTS %s_d;\n"
                            "DELETE FROM task_key_num WHERE name = '%s';\n",
                            name, name, name, name);
  char old_v[MIDA_KEY_MAX_PATH + 64], new_v[MIDA_KEY_MAX_PATH + 64];
  snprintf(old_v, sizeof old_v, "mida_num(OLD.%s, '%s')", doc, path);
  snprintf(new_v, sizeof new_v, "mida_num(NEW.%s, '%s')", doc, path);
  int rc = mida__buf_printf(
      sql,
      "CREATE TRIGGER IF NOT EXISTS %s_i AFTER INSERT ON task"
      " WHEN %s IS NOT NULL BEGIN"
      " INSERT OR IGNORE INTO task_key_num(name, value, task_id)"
      " VALUES('%s', %s, NEW.id); END;\n",
      name, new_v, name, new_v);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        sql,
        "CREATE TRIGGER IF NOT EXISTS %s_u AFTER UPDATE OF %s ON task"
        " WHEN %s IS NOT %s BEGIN"
        " DELETE FROM task_key_num WHERE name = '%s' AND value = %s"
        " AND task_id = OLD.id;"
        " INSERT OR IGNORE INTO task_key_num(name, value, task_id)"
        " SELECT '%s', %s, NEW.id WHERE %s IS NOT NULL; END;\n",
        name, doc, old_v, new_v, name, old_v, name, new_v, new_v);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        sql,
        "CREATE TRIGGER IF NOT EXISTS %s_d AFTER DELETE ON task"
        " WHEN %s IS NOT NULL BEGIN"
        " DELETE FROM task_key_num WHERE name = '%s' AND value = %s"
        " AND task_id = OLD.id; END;\n",
        name, old_v, name, old_v);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        sql,
        "INSERT OR IGNORE INTO task_key_num(name, value, task_id)"
        " SELECT '%s', mida_num(%s, '%s'), id FROM task"
        " WHERE mida_num(%s, '%s') IS NOT NULL;\n",
        name, doc, path, doc, path);
  return rc;
}

/* The PostgreSQL triggers: three statement-level ones per key (after an
 * insert, an update, a delete), each calling a function of postgres.c's
 * schema once per statement with the statement's rows (its transition
 * tables) and the index name, the document and the path: one statement
 * per batch and key, where a row trigger ran a PL/pgSQL call per task. A
 * trigger with transition tables takes one event and no column list. The
 * row trigger of version 8, named as the index, is dropped. */
static int pg_side_sql(mida__buf *sql, const char *name, const char *doc,
                       const char *path, int drop, int fill) {
  int rc = mida__buf_printf(sql,
                            "DROP TRIGGER IF EXISTS %s ON task;\n"
                            "DROP TRIGGER IF EXISTS %s_i ON task;\n"
                            "DROP TRIGGER IF EXISTS %s_u ON task;\n"
                            "DROP TRIGGER IF EXISTS %s_d ON task;\n",
                            name, name, name, name);
  if (rc == MIDA_OK && drop)
    return mida__buf_printf(
        sql, "DELETE FROM task_key_num WHERE name = '%s';\n", name);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        sql,
        "CREATE TRIGGER %s_i AFTER INSERT ON task REFERENCING NEW TABLE AS"
        " mida_new FOR EACH STATEMENT EXECUTE FUNCTION"
        " mida.task_key_num_insert('%s', '%s', '%s');\n"
        "CREATE TRIGGER %s_u AFTER UPDATE ON task REFERENCING OLD TABLE AS"
        " mida_old NEW TABLE AS mida_new FOR EACH STATEMENT EXECUTE FUNCTION"
        " mida.task_key_num_update('%s', '%s', '%s');\n"
        "CREATE TRIGGER %s_d AFTER DELETE ON task REFERENCING OLD TABLE AS"
        " mida_old FOR EACH STATEMENT EXECUTE FUNCTION"
        " mida.task_key_num_delete('%s', '%s', '%s');\n",
        name, name, doc, path, name, name, doc, path, name, name, doc, path);
  if (rc == MIDA_OK && fill)
    rc = mida__buf_printf(
        sql,
        "INSERT INTO task_key_num(name, value, task_id)"
        " SELECT '%s', mida_num(%s, '%s'), id FROM task"
        " WHERE mida_num(%s, '%s') IS NOT NULL ON CONFLICT DO NOTHING;\n",
        name, doc, path, doc, path);
  return rc;
}

/* mida__key_side_sql, with the backfill only if fill. */
static int side_sql(mida__buf *sql, const mida__key *k, int postgres, int drop,
                    int fill) {
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(k, MIDA_KEY_NUM, name);
  /* name and path hold only [A-Za-z0-9_.-] (key.c), doc is one of four
   * static words: nothing here can end a literal or an identifier. */
  return postgres ? pg_side_sql(sql, name, k->doc, k->path, drop, fill)
                  : sqlite_side_sql(sql, name, k->doc, k->path, drop);
}

int mida__key_side_sql(mida__buf *sql, const mida__key *k, int postgres,
                       int drop) {
  return side_sql(sql, k, postgres, drop, 1);
}

int mida__key_side_migrate_sql(mida__buf *sql, const char *key, int postgres,
                               int fill) {
  mida__key k;
  char why[200];
  if (mida__key_parse_all(key, &k, why, sizeof why) != MIDA_OK)
    return MIDA_OK;
  return side_sql(sql, &k, postgres, 0, fill);
}
