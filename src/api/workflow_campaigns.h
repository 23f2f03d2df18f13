/*
 * workflow_campaigns.h -- the campaign of each workflow a session began
 * with a campaign of its own, so that its tasks get it too.
 *
 * A task record carries a campaign id (task.campaign_id, which queries
 * and the HTTP API filter on). It is the session's (MIDA_CAMPAIGN) unless
 * the task's workflow was begun with another one (mida_workflow_begin's
 * info->campaign, `with mida.workflow(name, campaign=...)` in Python):
 * then its workflow's. mida_task_begin looks the workflow up here, on
 * every call, so the table is lock-free for readers and costs nothing
 * while it is empty: insert-only open addressing, each slot published by
 * a release store of its ready flag after its ids are written. Writers
 * are serialized by their caller. Past MIDA__WF_CAMPAIGNS_MAX workflows
 * the later ones are not kept: their tasks get the session's campaign.
 */
#ifndef MIDA_API_WORKFLOW_CAMPAIGNS_H
#define MIDA_API_WORKFLOW_CAMPAIGNS_H

#include "mida.h"

#include <stdatomic.h>

#define MIDA__WF_CAMPAIGNS_SLOTS 1024 /* a power of two */
#define MIDA__WF_CAMPAIGNS_MAX 768    /* kept at most (3/4 full) */

typedef struct mida__wf_campaign_slot {
  atomic_int ready;        /* set (release) once the ids below are written */
  mida_id_t workflow;      /* written before ready, never after */
  mida_id_t campaign;
} mida__wf_campaign_slot;

typedef struct mida__wf_campaigns {
  atomic_uint count; /* slots in use */
  mida__wf_campaign_slot slots[MIDA__WF_CAMPAIGNS_SLOTS];
} mida__wf_campaigns;

/* Keeps campaign as workflow's. One writer at a time (the caller's lock).
 * Returns 0, or -1 when the table is full (the workflow is not kept). */
int mida__wf_campaigns_put(mida__wf_campaigns *t, const mida_id_t *workflow,
                           const mida_id_t *campaign);

/* The campaign kept for workflow into *campaign: 1, or 0 when there is
 * none. Lock-free. */
int mida__wf_campaigns_get(const mida__wf_campaigns *t,
                           const mida_id_t *workflow, mida_id_t *campaign);

#endif /* MIDA_API_WORKFLOW_CAMPAIGNS_H */
