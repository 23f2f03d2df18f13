/*
 * tbproto.h -- the part of TensorBoard's protobuf messages that mida reads,
 * decoded straight from the wire format without a protobuf library.
 *
 * The messages (field numbers from tensorflow/core/util/event.proto,
 * summary.proto, tensor.proto, tensor_shape.proto and TensorBoard's
 * plugins/hparams/plugin_data.proto):
 *
 *   Event        1 wall_time double, 2 step int64, 5 summary Summary
 *   Summary      1 value repeated Value
 *   Value        1 tag string, 2 simple_value float, 4 image Image,
 *                5 histo HistogramProto, 6 audio Audio, 8 tensor
 *                TensorProto, 9 metadata SummaryMetadata
 *   Image        1 height, 2 width, 3 colorspace, 4 encoded_image_string
 *   Audio        1 sample_rate float, 2 num_channels, 3 length_frames,
 *                4 encoded_audio_string, 5 content_type
 *   HistogramProto 1 min, 2 max, 3 num, 4 sum, 5 sum_squares (doubles),
 *                6 bucket_limit, 7 bucket (packed doubles)
 *   SummaryMetadata  1 plugin_data PluginData
 *   PluginData   1 plugin_name string, 2 content bytes
 *   TensorProto  1 dtype enum, 2 tensor_shape, 4 tensor_content bytes,
 *                5 float_val, 6 double_val, 7 int_val, 8 string_val,
 *                10 int64_val, 11 bool_val, 13 half_val (packed or not)
 *   TensorShapeProto 2 dim repeated Dim{1 size int64}
 *   HParamsPluginData 3 session_start_info {1 hparams map<string, Value>}
 *   google.protobuf.Value 2 number_value, 3 string_value, 4 bool_value
 *
 * What comes out, value by value, through a callback: a scalar (a
 * simple_value, or a numeric tensor of exactly one element in any of its
 * encodings: float_val, double_val, half_val, int_val, int64_val, bool_val,
 * or tensor_content for DT_FLOAT, DT_DOUBLE, DT_HALF, DT_BFLOAT16, DT_INT32,
 * DT_INT64), a text (the "text" plugin's string tensor), an hparam (the
 * "hparams" plugin's session_start_info, one callback per hyperparameter),
 * a histogram (HistogramProto, as PyTorch and tensorboardX write it, or the
 * "histograms" plugin's k x 3 tensor of left edge, right edge and count, as
 * TensorFlow 2 writes it), an image or an audio clip (Summary's Image and
 * Audio). Anything else (the "images" and "audio" plugins' tensors, PR
 * curves, meshes, other tensors) is OTHER, with a name for its kind, so
 * that callers can count it; graphs and run metadata, fields of the Event
 * itself, are flags of the event. Strings and bytes borrow the input.
 *
 * Malformed input gives MIDA_ECORRUPT, never a read outside the input; the
 * decoder does not allocate and nests at most four messages deep.
 */
#ifndef MIDA_OBSERVE_TBPROTO_H
#define MIDA_OBSERVE_TBPROTO_H

#include <stddef.h>
#include <stdint.h>

/* What one summary value turned out to be. */
typedef enum mida__tb_kind {
  MIDA_TB_SCALAR = 1,        /* number holds the value */
  MIDA_TB_TEXT = 2,          /* text holds the string */
  MIDA_TB_HPARAM_NUMBER = 3, /* tag is the hparam name; number its value */
  MIDA_TB_HPARAM_STRING = 4, /* text is its value */
  MIDA_TB_HPARAM_BOOL = 5,   /* number is 0 or 1 */
  MIDA_TB_OTHER = 6,         /* not decoded; other names the kind */
  MIDA_TB_HISTOGRAM = 7,     /* histo holds it */
  MIDA_TB_IMAGE = 8,         /* media holds it */
  MIDA_TB_AUDIO = 9          /* media holds it */
} mida__tb_kind;

/* A histogram: its summary, and its buckets (read with
 * mida__tb_histogram_bucket). */
typedef struct mida__tb_histogram {
  double count;       /* values counted */
  double min, max;    /* smallest and largest value (HistogramProto), or
                         the outer edges of the non-empty buckets */
  double sum;         /* sum of the values (HistogramProto), or of the
                         buckets' midpoints times their counts */
  double sum_squares; /* HistogramProto's, else NaN */
  int exact;          /* 1: min, max and sum are the writer's own */
  size_t nbuckets;    /* buckets */
  const uint8_t *a;   /* bucket_limit (packed doubles), or the k x 3
                         tensor's content */
  const uint8_t *b;   /* bucket (packed doubles), or NULL for a tensor */
  int width;          /* bytes of one tensor element: 4 or 8 */
} mida__tb_histogram;

/* Bucket i of h: the values in (left, right] number count. The first
 * bucket of a HistogramProto starts at -DBL_MAX. */
void mida__tb_histogram_bucket(const mida__tb_histogram *h, size_t i,
                               double *left, double *right, double *count);

/* An image or an audio clip. */
typedef struct mida__tb_media {
  const uint8_t *data;      /* the encoded image or audio (PNG, WAV ...) */
  size_t len;               /* bytes */
  int64_t width, height;    /* IMAGE: pixels */
  int64_t colorspace;       /* IMAGE: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
  double sample_rate;       /* AUDIO: Hz */
  int64_t channels;         /* AUDIO */
  int64_t frames;           /* AUDIO: length in frames */
  const char *content_type; /* AUDIO: e.g. "audio/wav"; borrowed, or NULL */
  size_t content_type_len;  /* bytes */
} mida__tb_media;

typedef struct mida__tb_value {
  mida__tb_kind kind; /* see above */
  const char *tag;    /* the value's tag (or the hparam's name); borrowed */
  size_t tag_len;     /* bytes */
  const char *plugin; /* the plugin's name, or NULL; borrowed */
  size_t plugin_len;  /* bytes */
  double number;      /* SCALAR, HPARAM_NUMBER, HPARAM_BOOL */
  const char *text;   /* TEXT, HPARAM_STRING: the string; borrowed */
  size_t text_len;    /* bytes */
  mida__tb_histogram histo; /* HISTOGRAM */
  mida__tb_media media;     /* IMAGE, AUDIO */
  const char *other;  /* OTHER: the kind, e.g. "pr_curves", "tensor" */
  size_t other_len;   /* bytes */
} mida__tb_value;

/* Fields of an Event that are not summary values (mida__tb_event.fields). */
enum {
  MIDA_TB_EV_GRAPH = 1,        /* graph_def */
  MIDA_TB_EV_META_GRAPH = 2,   /* meta_graph_def */
  MIDA_TB_EV_RUN_METADATA = 4, /* tagged_run_metadata */
  MIDA_TB_EV_LOG_MESSAGE = 8,  /* log_message */
  MIDA_TB_EV_SESSION_LOG = 16  /* session_log */
};

/* The fields of an Event that are not summary values. */
typedef struct mida__tb_event {
  double wall_time; /* seconds since the Unix epoch */
  int64_t step;     /* the writer's step (0 when absent) */
  int has_summary;  /* 1 if the event carries a Summary */
  unsigned nvalues; /* summary values seen (any kind) */
  unsigned fields;  /* MIDA_TB_EV_* it carries */
} mida__tb_event;

/* Called once per summary value, in order. Return 0 to go on, non-zero to
 * stop decoding (mida__tb_event_decode then returns that value). */
typedef int (*mida__tb_value_fn)(void *ctx, const mida__tb_event *ev,
                                 const mida__tb_value *v);

/* Decodes one serialized Event (the data of one TFRecord). Fills ev first,
 * then calls fn (may be NULL) for each summary value. What a value
 * points to (tag, text, histogram buckets, media) is borrowed from buf:
 * it stays readable only as long as buf does. Returns MIDA_OK,
 * MIDA_ECORRUPT, or what fn returned. A value that cannot be decoded makes
 * the whole event corrupt; the callbacks made before it stand. */
int mida__tb_event_decode(const uint8_t *buf, size_t len, mida__tb_event *ev,
                          mida__tb_value_fn fn, void *ctx);

#endif /* MIDA_OBSERVE_TBPROTO_H */
