import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { errorMessage } from '../../errors.js'
import { validatePatch } from '../patch.js'
import { REVIEW_FILE } from '../prompt.js'
import { extractReviewJson, parseReview, REVIEW_DEFAULTS } from '../review.js'
import { diffWorkspace, readAgentFile } from '../workspace.js'
import { blockedTotal, bodyBytes, hostOf, summarizeNetwork } from '../../report/network.js'
import { MAX_BLOCKED } from '../publish/progress.js'
import { OUTPUTS_FILE } from '../publish/outputs.js'
import {
  choiceInput,
  info,
  input,
  intInput,
  logValue,
  requiredInput,
  setOutputs,
  warning
} from './io.js'

const intOrUndefined = (v: string): number | undefined =>
  /^-?\d{1,12}$/.test(v) ? Number(v) : undefined

/**
 * What the writing job shows about the run (the tracking comment says why a run failed):
 * the action's conclusion, exit code and tokens, how long the agent job took since prepare,
 * and the requests the egress policy refused — host, method, reason and whether they
 * carried data, never the URL's path or query (they may hold what the agent tried to send).
 */
function runFacts(networkLog: string, startedAt: number): Record<string, unknown> {
  const net = networkLog ? summarizeNetwork(networkLog) : undefined
  // Those that carried data come first (summarizeNetwork), so the cut below keeps them.
  const blocked = (net?.blocked ?? []).map((b) => ({
    method: b.method,
    host: hostOf(b.url),
    reason: b.blocked ?? '',
    bytes: bodyBytes(b)
  }))
  return {
    conclusion: input('conclusion'),
    exitCode: intOrUndefined(input('exit-code')),
    inputTokens: intOrUndefined(input('input-tokens')),
    outputTokens: intOrUndefined(input('output-tokens')),
    durationMs: startedAt > 0 ? Math.max(0, Date.now() - startedAt) : undefined,
    blocked: blocked.slice(0, MAX_BLOCKED),
    blockedCount: net ? blockedTotal(net) : 0
  }
}

/**
 * The collect step, in the agent job after the agent ran: gathers what the agent produced
 * (its final message, and the review file or the diff of its changes) into a directory that
 * becomes the artifact. Checks here only warn early; the writing job checks again and is the
 * one that counts, because nothing from this job is trusted.
 */
export async function run(): Promise<void> {
  try {
    const mode = choiceInput('mode', ['review', 'patch'] as const, 'patch')
    const workspace = input('workspace') || process.env.GITHUB_WORKSPACE || process.cwd()
    const outDir = requiredInput('output-dir')
    await fs.rm(outDir, { recursive: true, force: true })
    await fs.mkdir(outDir, { recursive: true })
    const result = core.getInput('result')
    await fs.writeFile(join(outDir, 'result.md'), result)
    const meta: Record<string, unknown> = {
      mode,
      ...runFacts(input('network-log'), Number(input('started-at') || 0))
    }
    if (mode === 'review') {
      const maxBytes = intInput('max-review-bytes', REVIEW_DEFAULTS.maxBytes, 1024, 1024 * 1024)
      let source = REVIEW_FILE
      let text = (await readAgentFile(workspace, REVIEW_FILE, maxBytes))?.toString('utf8')
      if (text === undefined) {
        text = extractReviewJson(result)
        source = 'the final message'
      }
      if (text === undefined) {
        core.warning(`the agent wrote no review (no ${REVIEW_FILE}, no JSON in its final message)`)
        setOutputs({ 'review-found': false })
        meta.review = false
      } else {
        await fs.writeFile(join(outDir, 'review.json'), text)
        const parsed = parseReview(text, {
          maxBytes,
          maxComments: intInput('max-comments', REVIEW_DEFAULTS.maxComments, 0, 100)
        })
        for (const p of parsed.problems) warning(`review: ${logValue(p)}`)
        for (const w of parsed.warnings) info(`review: ${logValue(w)}`)
        core.info(`review taken from ${source}`)
        setOutputs({ 'review-found': true })
        meta.review = true
      }
    } else {
      const patch = await diffWorkspace(
        workspace,
        requiredInput('git-dir'),
        requiredInput('start-tree')
      )
      await fs.writeFile(join(outDir, 'patch.diff'), patch)
      const v = validatePatch(patch, {
        maxBytes: intInput('max-patch-bytes', 1024 * 1024, 1, 64 * 1024 * 1024)
      })
      for (const p of v.problems) warning(`patch: ${logValue(p)}`)
      core.info(`the agent changed ${v.files.length} file(s) (${patch.length} bytes of patch)`)
      setOutputs({ 'has-changes': v.files.length > 0, files: v.files.length })
      meta.files = v.files.length
    }
    // Safe outputs the agent asked for (labels, a comment, an issue…), judged when publishing.
    const extra = await readAgentFile(workspace, OUTPUTS_FILE, 64 * 1024)
    if (extra) await fs.writeFile(join(outDir, 'outputs.json'), extra)
    await fs.writeFile(join(outDir, 'meta.json'), JSON.stringify(meta))
  } catch (err) {
    core.setFailed(errorMessage(err))
  }
}
