/** The gate's entry: validates the options and hands the event to the review or respond gate. */
import { type WorkflowContext } from '../context.js'
import { type GitHubClient } from '../github.js'
import { type GateOptions, GATE_DEFAULTS, type GateDecision, GateConfigError } from './checks.js'
import { respondGate } from './respond.js'
import { reviewGate } from './review.js'
import { isScheduledEvent, scheduledGate } from './scheduled.js'

/**
 * Decides whether this event may start an agent run, and on what. The rules, in order:
 * the event and action must be a trigger; an edited comment follows the `edited` policy; the
 * trigger phrase must appear in prose (or the configured label was added); every user who
 * wrote or changed the triggering text must have write access (bots only when listed); a
 * closed pull request is left alone. A `schedule` or `workflow_dispatch` event is a scheduled
 * run on the standing issue the workflow names (see scheduledGate). The payload is the snapshot GitHub took at the event,
 * so the text judged here is exactly the text the agent later receives.
 */
export async function evaluateGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  options: Partial<GateOptions> = {}
): Promise<GateDecision> {
  const opts: GateOptions = { ...GATE_DEFAULTS, ...options }
  if (
    !opts.trigger.trim() &&
    !opts.label.trim() &&
    opts.mode === 'respond' &&
    !isScheduledEvent(ctx.eventName)
  )
    throw new GateConfigError('respond needs a trigger phrase or a label')
  if (opts.mode === 'review') return reviewGate(client, ctx, opts)
  // A schedule or a manual dispatch has no comment to judge: the workflow names the issue.
  if (isScheduledEvent(ctx.eventName)) return scheduledGate(client, ctx, opts)
  return respondGate(client, ctx, opts)
}
