import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, readFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  applyHunks,
  DiffError,
  gitBlobSha,
  parseUnifiedDiff,
  PatchConflictError
} from '../../src/workflow/diff.js'

const SIMPLE = `diff --git a/src/app.ts b/src/app.ts
index 83db48f..bf269f4 100644
--- a/src/app.ts
+++ b/src/app.ts
@@ -1,4 +1,5 @@
 import x from 'x'
-const a = 1
+const a = 2
+const b = 3
 export { a }
 // end
@@ -10,2 +11,2 @@ function f() {
   return 1
-}
+} // done
diff --git a/new file.txt b/new file.txt
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/new file.txt
@@ -0,0 +1,2 @@
+hello
+world
diff --git a/old.txt b/old.txt
deleted file mode 100644
index 2e65efe..0000000
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-a
`

describe('parseUnifiedDiff', () => {
  it('reads files, statuses, modes, index ids and hunks with line numbers per side', () => {
    const files = parseUnifiedDiff(SIMPLE)
    expect(files.map((f) => [f.oldPath, f.newPath, f.status])).toEqual([
      ['src/app.ts', 'src/app.ts', 'modified'],
      [null, 'new file.txt', 'added'],
      ['old.txt', null, 'deleted']
    ])
    const app = files[0]!
    expect(app.oldIndex).toBe('83db48f')
    expect(app.newMode).toBe('100644')
    expect(app.hunks).toHaveLength(2)
    const h = app.hunks[0]!
    expect(h.lines.map((l) => [l.kind, l.oldLine, l.newLine])).toEqual([
      ['context', 1, 1],
      ['del', 2, undefined],
      ['add', undefined, 2],
      ['add', undefined, 3],
      ['context', 3, 4],
      ['context', 4, 5]
    ])
    expect(app.hunks[1]!.lines.map((l) => [l.kind, l.oldLine, l.newLine])).toEqual([
      ['context', 10, 11],
      ['del', 11, undefined],
      ['add', undefined, 12]
    ])
  })

  it('understands renames, quoted names, binary markers and mode changes', () => {
    const files = parseUnifiedDiff(
      [
        'diff --git a/a.txt b/b.txt',
        'similarity index 90%',
        'rename from a.txt',
        'rename to b.txt',
        'index 1111111..2222222 100644',
        '--- a/a.txt',
        '+++ b/b.txt',
        '@@ -1 +1 @@',
        '-x',
        '+y',
        'diff --git "a/t\\303\\244st\\tx" "b/t\\303\\244st\\tx"',
        'index 1111111..2222222 100644',
        '--- "a/t\\303\\244st\\tx"',
        '+++ "b/t\\303\\244st\\tx"',
        '@@ -1 +1 @@',
        '-x',
        '+y',
        'diff --git a/img.png b/img.png',
        'index 1111111..2222222 100644',
        'Binary files a/img.png and b/img.png differ',
        'diff --git a/run.sh b/run.sh',
        'old mode 100644',
        'new mode 100755'
      ].join('\n')
    )
    expect(files[0]).toMatchObject({ oldPath: 'a.txt', newPath: 'b.txt', status: 'renamed' })
    expect(files[1]!.newPath).toBe('täst\tx')
    expect(files[2]).toMatchObject({ newPath: 'img.png', binary: true, hunks: [] })
    expect(files[3]).toMatchObject({
      oldPath: 'run.sh',
      newPath: 'run.sh',
      oldMode: '100644',
      newMode: '100755',
      hunks: []
    })
  })

  it('splits an unquoted header with spaces in the name when there are no --- lines', () => {
    const [f] = parseUnifiedDiff(
      'diff --git a/my file b/my file\nold mode 100644\nnew mode 100755\n'
    )
    expect(f).toMatchObject({ oldPath: 'my file', newPath: 'my file' })
  })

  it('marks "no newline at end of file" on the line it follows', () => {
    const [f] = parseUnifiedDiff(
      'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n'
    )
    expect(f!.hunks[0]!.lines.map((l) => [l.kind, l.noNewline])).toEqual([
      ['del', true],
      ['add', true]
    ])
  })

  it('refuses truncated, padded and overlapping hunks', () => {
    const head = 'diff --git a/x b/x\n--- a/x\n+++ b/x\n'
    expect(() => parseUnifiedDiff(`${head}@@ -1,3 +1,3 @@\n a\n-b\n`)).toThrow(DiffError)
    expect(() => parseUnifiedDiff(`${head}@@ -1 +1 @@\n-a\n+b\n+c\n`)).toThrow(
      /more lines than the hunk header counts/
    )
    expect(() => parseUnifiedDiff(`${head}@@ -1 +1 @@\n-a\n+b\nzzz\n`)).not.toThrow()
    expect(() =>
      parseUnifiedDiff(`${head}@@ -5,2 +5,2 @@\n a\n b\n@@ -4,2 +4,2 @@\n a\n b\n`)
    ).toThrow(/overlap/)
    expect(() => parseUnifiedDiff(`${head}@@ -1,2 +1,2 @@\n a\nX b\n`)).toThrow(/ends early/)
  })
})

describe('applyHunks', () => {
  const one = (patch: string) => parseUnifiedDiff(patch)[0]!

  it('applies hunks at exactly the lines they name', () => {
    const f = one(
      'diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -2,2 +2,3 @@\n b\n-c\n+C\n+D\n@@ -5 +6 @@\n-e\n+E\n'
    )
    expect(applyHunks('a\nb\nc\nd\ne\n', f)).toBe('a\nb\nC\nD\nd\nE\n')
  })

  it('refuses a hunk whose context does not match (no fuzz)', () => {
    const f = one('diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -2 +2 @@\n-c\n+C\n')
    expect(() => applyHunks('a\nb\nc\n', f)).toThrow(PatchConflictError)
  })

  it('handles end-of-file newlines on both sides', () => {
    const add = one(
      'diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n'
    )
    expect(applyHunks('a', add)).toBe('a\n')
    expect(() => applyHunks('a\n', add)).toThrow(/newline/)
    const drop = one(
      'diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n'
    )
    expect(applyHunks('a\n', drop)).toBe('a')
  })

  it('creates, deletes and refuses to create over an existing file', () => {
    const created = one(
      'diff --git a/n b/n\nnew file mode 100644\n--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+x\n+y\n'
    )
    expect(applyHunks(null, created)).toBe('x\ny\n')
    expect(() => applyHunks('x\n', created)).toThrow(/exists/)
    const deleted = one(
      'diff --git a/n b/n\ndeleted file mode 100644\n--- a/n\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n'
    )
    expect(applyHunks('x\ny\n', deleted)).toBeNull()
    expect(() => applyHunks('x\ny\nz\n', deleted)).toThrow(/remain/)
  })

  describe('against real git', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-diff-'))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir })

    it('reproduces exactly the blobs git diff describes (CRLF, latin1, no final newline)', () => {
      git('init', '-q')
      const files: Record<string, Buffer> = {
        'crlf.txt': Buffer.from('one\r\ntwo\r\nthree\r\n'),
        'latin1.txt': Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a, 0x78, 0x0a]),
        'bare.txt': Buffer.from('no newline'),
        'gone.txt': Buffer.from('bye\n'),
        'tool.sh': Buffer.from('#!/bin/sh\necho hi\n')
      }
      for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c)
      git('add', '-A')
      git('commit', '-qm', 'base')
      writeFileSync(join(dir, 'crlf.txt'), 'one\r\nTWO\r\nthree\r\nfour\r\n')
      writeFileSync(
        join(dir, 'latin1.txt'),
        Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a, 0xff, 0x0a])
      )
      writeFileSync(join(dir, 'bare.txt'), 'no newline\nnow two lines')
      rmSync(join(dir, 'gone.txt'))
      writeFileSync(join(dir, 'added.md'), '# new\n')
      chmodSync(join(dir, 'tool.sh'), 0o755)
      git('add', '-A')
      const patch = git('diff', '--cached', '--full-index', '--no-renames', 'HEAD')
      const parsed = parseUnifiedDiff(patch.toString('latin1'), { latin1: true })
      expect(parsed.map((f) => f.newPath ?? f.oldPath).sort()).toEqual(
        ['added.md', 'bare.txt', 'crlf.txt', 'gone.txt', 'latin1.txt', 'tool.sh'].sort()
      )
      for (const f of parsed) {
        const before = f.oldPath ? files[f.oldPath]!.toString('latin1') : null
        const after = applyHunks(before, f)
        if (f.newPath === null) {
          expect(after).toBeNull()
          continue
        }
        const bytes = Buffer.from(after!, 'latin1')
        expect(bytes.equals(readFileSync(join(dir, f.newPath)))).toBe(true)
        if (f.newIndex) expect(gitBlobSha(bytes)).toBe(f.newIndex)
      }
      expect(parsed.find((f) => f.newPath === 'tool.sh')).toMatchObject({
        oldMode: '100644',
        newMode: '100755'
      })
    })
  })
})
