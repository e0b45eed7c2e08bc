import * as core from '@actions/core'
import { promises as fs, appendFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { errorMessage, InputError } from '../../errors.js'
import { obj, readContext, str, type WorkflowContext } from '../context.js'
import { eventText } from '../gate/respond.js'
import { fetchPullDiff } from '../pull-diff.js'
import { contextSection, gatherContext } from '../context-files.js'
import { DIFF_FILE, PROMPT_FILE, respondPrompt, reviewPrompt, scheduledPrompt } from '../prompt.js'
import { scheduledNameProblem } from '../gate/scheduled.js'
import { repoPath } from '../github.js'
import { REVIEW_DEFAULTS } from '../review.js'
import { RUN_DIR, restoreAgentConfig, snapshotWorkspace } from '../workspace.js'
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

/**
 * The prepare step, in the agent job before the agent starts: refuses a cloud grant without
 * OIDC, restores agent configuration from the base commit for pull requests, writes the PR
 * diff and the prompt into the workspace, and (respond mode) snapshots the checkout so the
 * agent's changes can be told apart afterwards without trusting its `.git`.
 */
export async function run(): Promise<void> {
  try {
    const mode = choiceInput('mode', ['review', 'respond', 'agent'] as const, 'agent')
    if (boolInput('requires-oidc', false) && !boolInput('oidc', false))
      throw new InputError(
        'aws-role-arn / gcp-workload-identity-provider',
        'a cloud grant needs `id-token: write`, which this workflow does not request; call the -oidc variant of the workflow (e.g. review-oidc.yml) and grant `id-token: write` in the calling job'
      )
    const ctx = readContext()
    const client = clientFromInputs()
    const workspace = input('workspace') || process.env.GITHUB_WORKSPACE || process.cwd()
    if (mode !== 'agent') {
      // A checkout may hold its own .airlock-run; what the agent gets there is Airlock's only.
      const runDir = join(workspace, RUN_DIR)
      await fs.rm(runDir, { recursive: true, force: true })
      await fs.mkdir(runDir, { recursive: true })
      if (existsSync(join(workspace, '.git', 'info')))
        appendFileSync(join(workspace, '.git', 'info', 'exclude'), `\n/${RUN_DIR}/\n`)
    }

    const event = ctx.event
    const pr = obj(event.pull_request)
    const number = Number(input('number') || 0)
    const isPr = boolInput('is-pr', mode === 'review' || !!pr)
    const baseSha =
      input('base-sha') ||
      (mode === 'agent' && ctx.eventName.startsWith('pull_request')
        ? (str(obj(pr?.base)?.sha) ?? '')
        : '')
    const headSha = input('head-sha')
    const workSha = input('work-sha') || headSha
    const out: Record<string, string | number> = {
      'prompt-file': '',
      'diff-file': '',
      // For the run's duration in the tracking comment (collect takes the difference).
      'started-at': Date.now()
    }

    if (baseSha) {
      const r = await restoreAgentConfig(client, ctx.repo, baseSha, workspace)
      core.info(
        `agent configuration from the base commit ${baseSha.slice(0, 12)}: removed ${r.removed.length} path(s) from the checkout, restored ${r.restored.length}`
      )
      for (const p of r.removed) info(`  removed ${logValue(p)}`)
      for (const p of r.restored) info(`  restored ${logValue(p)}`)
      for (const w of r.warnings) warning(logValue(w))
      out['restored-config'] = r.restored.length
    } else if (mode !== 'agent' && isPr) {
      throw new InputError('base-sha', 'is required for pull requests')
    }
    if (mode === 'agent') {
      setOutputs(out)
      return
    }

    let hasDiff = false
    if (isPr && number > 0) {
      const diff = await fetchPullDiff(client, ctx.repo, { number, baseSha, headSha })
      await fs.writeFile(join(workspace, DIFF_FILE), diff.text)
      core.info(
        `pull request diff (${diff.text.length} characters, from ${diff.source}) in ${DIFF_FILE}`
      )
      out['diff-file'] = DIFF_FILE
      hasDiff = true
    }
    let context = ''
    if (boolInput('context', true) && number > 0) {
      const c = await gatherContext(
        client,
        ctx.repo,
        { number, isPr, headSha: headSha || undefined },
        workspace,
        { maxFileBytes: intInput('max-context-bytes', 64 * 1024, 1024, 1024 * 1024) }
      )
      for (const f of c.files) info(`context: ${logValue(f.path)}`)
      for (const n of c.notes) warning(`context: ${logValue(n)}`)
      context = contextSection(c.files)
      out['context-files'] = c.files.length
    }
    const text = eventText(ctx)
    const instructions = input('prompt')
    const scheduled = mode === 'respond' ? input('scheduled-name') : ''
    const prompt = scheduled
      ? await scheduledRunPrompt(client, ctx.repo, {
          name: scheduled,
          number,
          task: instructions,
          workSha,
          context
        })
      : mode === 'review'
        ? reviewPrompt({
            repo: ctx.repo,
            number,
            title: text.title,
            body: text.body,
            headSha,
            baseSha,
            instructions,
            context,
            limits: {
              maxComments: intInput('max-comments', REVIEW_DEFAULTS.maxComments, 0, 100),
              maxSummaryChars: intInput(
                'max-summary-chars',
                REVIEW_DEFAULTS.maxSummaryChars,
                100,
                65_000
              ),
              maxCommentChars: intInput(
                'max-comment-chars',
                REVIEW_DEFAULTS.maxCommentChars,
                100,
                65_000
              )
            }
          })
        : respondPrompt({
            repo: ctx.repo,
            number,
            isPr,
            title: text.title,
            body: text.body,
            request: text.request,
            actor: input('actor') || ctx.actor,
            workSha,
            hasDiff,
            instructions,
            context
          })
    await fs.writeFile(join(workspace, PROMPT_FILE), prompt)
    out['prompt-file'] = PROMPT_FILE
    if (mode === 'respond') {
      const tmp = process.env.RUNNER_TEMP || '/tmp'
      const gitDir = join(tmp, `airlock-git-${ctx.runId || process.pid}`)
      out['git-dir'] = gitDir
      out['start-tree'] = await snapshotWorkspace(workspace, gitDir)
    }
    setOutputs(out)
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}

/**
 * A scheduled run's prompt: the task is the workflow's prompt; the standing issue is read
 * through the API here (the event carries none) and given as data, like its comments.
 */
async function scheduledRunPrompt(
  client: ReturnType<typeof clientFromInputs>,
  repo: WorkflowContext['repo'],
  i: { name: string; number: number; task: string; workSha: string; context: string }
): Promise<string> {
  const bad = scheduledNameProblem(i.name)
  if (bad) throw new InputError('scheduled-name', bad)
  if (!(i.number > 0)) throw new InputError('number', 'is required for a scheduled run')
  if (!i.task.trim()) throw new InputError('prompt', 'is the task of a scheduled run')
  const issue = obj(await client.request('GET', repoPath(repo, 'issues', String(i.number))))
  return scheduledPrompt({
    repo,
    name: i.name,
    number: i.number,
    title: str(issue?.title) ?? '',
    body: str(issue?.body) ?? '',
    task: i.task,
    workSha: i.workSha,
    context: i.context
  })
}
