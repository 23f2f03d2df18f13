/*
 * source_key.c -- tasks and workflows named by their source's own key
 * (source_key.h).
 */
#include "report/source_key.h"

#include "sink/iso_time_sql.h"

#include <string.h>

/* json_each, not json_extract: an experiment's key has a dot in its name,
 * which a path would read as a level ($.mlflow.experiment_id), and both
 * stores have json_each (the PostgreSQL store's in its mida schema). A
 * metadata that is not a JSON object is no experiment's: json_each() of
 * it failed the search of every key (jsonb_typeof: sqlite_functions.c). */
static const char find_sql[] =
    "SELECT 'task', t.id, t.activity, w.source,"
    " " MIDA_ISO_MS_SQL("t.started") ","
    " t.started"
    " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"
    " WHERE t.source_key = ?1"
    " UNION ALL"
    " SELECT 'workflow', w.id, w.name, w.source,"
    " " MIDA_ISO_MS_SQL("w.started") ","
    " w.started"
    " FROM workflow w, json_each(CASE WHEN jsonb_typeof(w.metadata) ="
    " 'object' THEN w.metadata END) e"
    " WHERE ?2 = '1' AND w.source = 'mlflow'"
    " AND e.key = 'mlflow.experiment_id' AND e.value = ?1"
    " ORDER BY 6 DESC, 2";

int mida__source_key_find(mida__sink *sink, const char *key, int workflows,
                          size_t max_rows, mida__rows *out) {
  const char *params[2] = {key, workflows ? "1" : "0"};
  return mida__rows_fetch(sink, find_sql, params, 2, max_rows, out);
}

const char *mida__source_key_kinds(const mida__rows *r) {
  int tasks = 0, workflows = 0;
  for (size_t i = 0; i < r->nrows; i++) {
    const char *kind = mida__rows_cell(r, i, MIDA_SOURCE_KEY_KIND);
    if (kind != NULL && strcmp(kind, "task") == 0)
      tasks = 1;
    else
      workflows = 1;
  }
  return tasks && workflows ? "tasks and workflows"
         : workflows        ? "workflows"
                            : "tasks";
}
