/*
 * workflow_campaigns.c -- the campaigns of a session's workflows
 * (workflow_campaigns.h).
 */
#include "api/workflow_campaigns.h"

#include <stdint.h>
#include <string.h>

static int same(const mida_id_t *a, const mida_id_t *b) {
  return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* Where workflow's probe starts: its id's 16 bytes folded (an id's last
 * bytes are random, its first a time). */
static unsigned home_of(const mida_id_t *workflow) {
  uint64_t hi, lo;
  memcpy(&hi, workflow->bytes, 8);
  memcpy(&lo, workflow->bytes + 8, 8);
  uint64_t h = (hi ^ lo) * UINT64_C(0x9E3779B97F4A7C15);
  return (unsigned)(h >> 32) & (MIDA__WF_CAMPAIGNS_SLOTS - 1);
}

int mida__wf_campaigns_put(mida__wf_campaigns *t, const mida_id_t *workflow,
                           const mida_id_t *campaign) {
  unsigned i = home_of(workflow);
  for (unsigned k = 0; k < MIDA__WF_CAMPAIGNS_SLOTS; k++) {
    mida__wf_campaign_slot *slot =
        &t->slots[(i + k) & (MIDA__WF_CAMPAIGNS_SLOTS - 1)];
    if (atomic_load_explicit(&slot->ready, memory_order_relaxed)) {
      if (same(&slot->workflow, workflow))
        return 0; /* kept already: a workflow has one campaign */
      continue;
    }
    if (atomic_load_explicit(&t->count, memory_order_relaxed) >=
        MIDA__WF_CAMPAIGNS_MAX)
      return -1;
    slot->workflow = *workflow;
    slot->campaign = *campaign;
    atomic_store_explicit(&slot->ready, 1, memory_order_release);
    atomic_fetch_add_explicit(&t->count, 1, memory_order_release);
    return 0;
  }
  return -1;
}

int mida__wf_campaigns_get(const mida__wf_campaigns *t,
                           const mida_id_t *workflow, mida_id_t *campaign) {
  if (atomic_load_explicit(&t->count, memory_order_acquire) == 0)
    return 0;
  unsigned i = home_of(workflow);
  for (unsigned k = 0; k < MIDA__WF_CAMPAIGNS_SLOTS; k++) {
    const mida__wf_campaign_slot *slot =
        &t->slots[(i + k) & (MIDA__WF_CAMPAIGNS_SLOTS - 1)];
    if (!atomic_load_explicit(&slot->ready, memory_order_acquire))
      return 0; /* the end of its probe: not kept */
    if (same(&slot->workflow, workflow)) {
      *campaign = slot->campaign;
      return 1;
    }
  }
  return 0;
}
