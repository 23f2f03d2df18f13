/*
 * mlflow_file.h -- the parts of the file store's reader (mlflow_file.c)
 * and its mirror (mlflow_mirror.c): the files it follows, and the
 * in-memory SQLite database with MLflow's SQL schema that their contents
 * become. Private to those two files.
 */
#ifndef MIDA_OBSERVE_MLFLOW_FILE_H
#define MIDA_OBSERVE_MLFLOW_FILE_H

#include "observe/mlflow_reader.h"

#include <stdint.h>
#include <sys/types.h>

/* What a followed file is. */
typedef enum mida__fs_kind {
  MIDA__FS_EXPERIMENT,   /* <exp>/meta.yaml */
  MIDA__FS_RUN,          /* <exp>/<run>/meta.yaml */
  MIDA__FS_PARAM,        /* <exp>/<run>/params/<key> */
  MIDA__FS_TAG,          /* <exp>/<run>/tags/<key> */
  MIDA__FS_METRIC,       /* <exp>/<run>/metrics/<key> */
  MIDA__FS_INPUT,        /* <exp>/<run>/inputs/<id>/meta.yaml */
  MIDA__FS_OUTPUT,       /* <exp>/<run>/outputs/<id>/meta.yaml */
  MIDA__FS_DATASET,      /* <exp>/datasets/<id>/meta.yaml */
  MIDA__FS_MODEL,        /* <exp>/models/<id>/meta.yaml */
  MIDA__FS_MODEL_PARAM,  /* <exp>/models/<id>/params/<key> */
  MIDA__FS_MODEL_TAG,    /* <exp>/models/<id>/tags/<key> */
  MIDA__FS_MODEL_METRIC, /* <exp>/models/<id>/metrics/<key> */
  MIDA__FS_EXP_TAG       /* <exp>/tags/<key> */
} mida__fs_kind;

/* One file the reader follows. */
typedef struct mida__fs_file {
  char *rel;          /* path relative to the root (owned) */
  mida__fs_kind kind; /* what it is */
  char *exp;          /* its experiment's id (owned) */
  char *owner;        /* its run, model, dataset or input id (owned) */
  char *key;          /* param, tag or metric key (owned), or NULL */
  dev_t dev;          /* identity and state when last read: device, */
  ino_t ino;          /* inode, */
  int64_t size;       /* bytes, */
  int64_t mtime_ns;   /* modification time (ns since the epoch) */
  int read_once;      /* read at least once */
  int failed;         /* the last read of this very state failed */
  int warned;         /* a warning about it was given */
  int64_t offset;     /* metric files: bytes of whole lines read */
  int64_t emit_from;  /* points before this offset are not handed out */
  int64_t saved;      /* the position last saved (-1: none) */
  int64_t last_rowid; /* mirror rowid of its last row handed out to a scan */
  int seen;           /* found by the current walk */
  struct mida__fs_file *next; /* hash chain */
} mida__fs_file;

/* The mirror: MLflow's SQL tables, in memory. */
typedef struct mida__mlf_mirror {
  struct sqlite3 *db; /* the in-memory database */
  const char *where;  /* the store, for messages */
  const mida__obs_opts *opts; /* for warnings */
  int changed;        /* a row changed since the last pass */
} mida__mlf_mirror;

/* Opens the mirror with its tables (the alembic version
 * "mlflow-file-store"). Returns MIDA_OK, MIDA_ENOMEM or MIDA_EIO. */
int mida__mlf_mirror_open(mida__mlf_mirror *m, const char *where,
                          const mida__obs_opts *opts);
void mida__mlf_mirror_close(mida__mlf_mirror *m);

/* Puts the whole text of f (a meta.yaml, a param or a tag) into the
 * mirror: MIDA_ECORRUPT when it is not what MLflow writes there (or was
 * caught half-written), MIDA_EIO or MIDA_ENOMEM when the mirror fails. */
int mida__mlf_mirror_load(mida__mlf_mirror *m, mida__fs_file *f,
                          const char *text, size_t len);

/* One line of f, a run's or a logged model's metric file: the latest
 * value, and (emit) a point of the mirror's metrics for the next scan. */
int mida__mlf_mirror_point(mida__mlf_mirror *m, mida__fs_file *f,
                           const mida__mlf_point *pt, int emit);

/* Forgets the logged model metrics read from the file at rel (it shrank
 * and is read again). */
int mida__mlf_mirror_forget(mida__mlf_mirror *m, const char *rel);

/* Drops the metric points and inputs handed out (rowids up to these). */
void mida__mlf_mirror_drop(mida__mlf_mirror *m, int64_t metrics,
                           int64_t inputs);

#endif /* MIDA_OBSERVE_MLFLOW_FILE_H */
