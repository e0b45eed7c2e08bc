/** The gate's entry: validates the options and hands the event to the review or respond gate. */
import { type WorkflowContext } from '../context.js'
import { type GitHubClient } from '../github.js'
import { type GateOptions, GATE_DEFAULTS, type GateDecision, GateConfigError } from './checks.js'
import { respondGate } from './respond.js'
import { reviewGate } from './review.js'

/**
 * Decides whether this event may start an agent run, and on what. The rules, in order:
 * the event and action must be a trigger; an edited comment follows the `edited` policy; the
 * trigger phrase must appear in prose (or the configured label was added); every user who
 * wrote or changed the triggering text must have write access (bots only when listed); a
 * closed pull request is left alone. The payload is the snapshot GitHub took at the event,
 * so the text judged here is exactly the text the agent later receives.
 */
export async function evaluateGate(
  client: GitHubClient,
  ctx: WorkflowContext,
  options: Partial<GateOptions> = {}
): Promise<GateDecision> {
  const opts: GateOptions = { ...GATE_DEFAULTS, ...options }
  if (!opts.trigger.trim() && !opts.label.trim() && opts.mode === 'respond')
    throw new GateConfigError('respond needs a trigger phrase or a label')
  return opts.mode === 'review' ? reviewGate(client, ctx, opts) : respondGate(client, ctx, opts)
}
