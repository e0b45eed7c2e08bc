import * as core from '@actions/core'
import { errorMessage } from '../../errors.js'
import { readContext, runUrl } from '../context.js'
import { parseList, type GateDecision } from '../gate/checks.js'
import { evaluateGate } from '../gate/decide.js'
import {
  addReaction,
  createComment,
  lastTrackingComment,
  updateComment
} from '../publish/comments.js'
import { progressBody } from '../publish/progress.js'
import {
  boolInput,
  choiceInput,
  clientFromInputs,
  info,
  input,
  intInput,
  logValue,
  setOutputs,
  warning
} from './io.js'

function outputs(
  d: GateDecision,
  trackingCommentId = 0
): Record<string, string | number | boolean> {
  return {
    run: d.run,
    reason: d.reason,
    number: d.number || '',
    'is-pr': d.isPr,
    'is-fork': d.isFork,
    actor: d.actor,
    'actor-id': d.actorId || '',
    'comment-id': d.commentId || '',
    'comment-kind': d.commentKind,
    'work-sha': d.workSha,
    'base-sha': d.baseSha,
    'head-sha': d.headSha,
    delivery: d.delivery,
    branch: d.branch,
    'base-branch': d.baseBranch,
    title: d.title,
    'scheduled-name': d.scheduledName,
    'tracking-comment-id': trackingCommentId || ''
  }
}

/**
 * The gate step: decides whether the event may start an agent run and, in respond mode,
 * acknowledges it (reaction + tracking comment). A refusal is not a failure: the step
 * succeeds with `run=false` and says why, so unrelated comments do not turn runs red.
 */
export async function run(): Promise<void> {
  try {
    const mode = choiceInput('mode', ['respond', 'review'] as const, 'respond')
    const ctx = readContext()
    const client = clientFromInputs()
    const decision = await evaluateGate(client, ctx, {
      mode,
      trigger: input('trigger') || '@airlock',
      allowedBots: parseList(input('allowed-bots')),
      edited: choiceInput('edited', ['ignore', 'new-mention', 'always'] as const, 'ignore'),
      label: input('label'),
      requiredPermission: choiceInput('required-permission', ['write', 'none'] as const, 'write'),
      reviewDrafts: boolInput('review-drafts', false),
      branchPrefix: input('branch-prefix') || 'airlock/',
      prDelivery: choiceInput('pr-delivery', ['push', 'pull-request'] as const, 'push'),
      issue: intInput('issue', 0, 0, Number.MAX_SAFE_INTEGER),
      scheduledName: input('scheduled-name'),
      prompt: input('prompt')
    })
    if (!decision.run) {
      core.notice(`Airlock is not running: ${logValue(decision.reason)}`)
      setOutputs(outputs(decision))
      return
    }
    info(`Airlock will ${logValue(decision.reason)}`)
    let tracking = 0
    if (boolInput('acknowledge', true)) {
      // A scheduled run answers no comment: a reaction on the standing issue would only pile up.
      if (mode === 'respond' && !decision.scheduledName) {
        const reaction = input('reaction') || 'eyes'
        try {
          await addReaction(
            client,
            ctx.repo,
            { number: decision.number, commentId: decision.commentId, kind: decision.commentKind },
            reaction
          )
        } catch (err) {
          // A missing reaction is cosmetic; the tracking comment is what matters.
          warning(
            `could not add the ${logValue(reaction)} reaction: ${logValue(errorMessage(err))}`
          )
        }
      }
      const body = progressBody(
        {
          stage: 'queued',
          what: mode,
          actor: mode === 'respond' ? decision.actor : undefined,
          startedAt: new Date(),
          scheduled: decision.scheduledName || undefined
        },
        runUrl(ctx)
      )
      try {
        // A review's tracking comment is one per pull request, reused on every push; a
        // request's is its own (it becomes the answer).
        const reuse =
          mode === 'review' ? await lastTrackingComment(client, ctx.repo, decision.number) : 0
        if (reuse) await updateComment(client, ctx.repo, reuse, body)
        tracking = reuse || (await createComment(client, ctx.repo, decision.number, body)).id
      } catch (err) {
        // Respond runs answer in this comment: without it the request would go unanswered.
        if (mode === 'respond') throw err
        // A review is still posted; the job token may just lack pull-requests write.
        warning(`could not post the tracking comment: ${logValue(errorMessage(err))}`)
      }
    }
    setOutputs(outputs(decision, tracking))
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}
