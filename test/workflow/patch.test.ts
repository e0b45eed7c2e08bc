import { describe, expect, it } from 'vitest'
import {
  assertPatchAllowed,
  globToRegExp,
  matchesAny,
  parsePatternList,
  PatchRejectedError,
  PROTECTED_PATHS,
  unsafePathReason,
  validatePatch
} from '../../src/workflow/patch.js'

/** A one-file patch adding `path` with one line. */
function adding(path: string, mode = '100644'): string {
  return `diff --git a/${path} b/${path}\nnew file mode ${mode}\nindex 0000000..ce01362\n--- /dev/null\n+++ b/${path}\n@@ -0,0 +1 @@\n+hello\n`
}

function modifying(path: string): string {
  return `diff --git a/${path} b/${path}\nindex 1111111..2222222 100644\n--- a/${path}\n+++ b/${path}\n@@ -1 +1 @@\n-a\n+b\n`
}

describe('globToRegExp', () => {
  it.each([
    ['.github/**', '.github/workflows/ci.yml', true],
    ['.github/**', 'src/.github/x', false],
    ['**/CODEOWNERS', 'CODEOWNERS', true],
    ['**/CODEOWNERS', 'docs/CODEOWNERS', true],
    ['**/CODEOWNERS', 'docs/CODEOWNERS.bak', false],
    ['**/.claude/**', '.claude/settings.json', true],
    ['**/.claude/**', 'pkg/.claude/commands/x.md', true],
    ['src/*.ts', 'src/a.ts', true],
    ['src/*.ts', 'src/a/b.ts', false],
    ['src/?.ts', 'src/a.ts', true],
    ['docs/**/*.md', 'docs/a.md', true],
    ['docs/**/*.md', 'docs/x/y/a.md', true],
    ['a+b(c).txt', 'a+b(c).txt', true]
  ])('%s matches %s: %s', (glob, path, want) => {
    expect(globToRegExp(glob).test(path)).toBe(want)
  })

  it('matches case-insensitively (checkouts on macOS and Windows read CLAUDE.md as claude.md)', () => {
    expect(matchesAny('docs/claude.md', PROTECTED_PATHS)).toBe(true)
    expect(matchesAny('.GitHub/workflows/x.yml', PROTECTED_PATHS)).toBe(true)
  })
})

describe('unsafePathReason', () => {
  it.each([
    ['/etc/passwd', 'absolute'],
    ['C:/x', 'absolute'],
    ['a/../../x', 'escapes'],
    ['../x', 'escapes'],
    ['.git/config', '.git'],
    ['sub/.GIT/hooks/pre-commit', '.git'],
    ['sub/.git./x', '.git'],
    ['a\\b', 'backslash'],
    ['a//b', 'empty'],
    ['./a', 'empty or "."'],
    ['a\u0001b', 'control']
  ])('%s is refused (%s)', (path, why) => {
    expect(unsafePathReason(path)).toContain(why)
  })

  it('accepts ordinary paths, including dotfiles that only look like .git', () => {
    for (const p of ['src/a.ts', '.gitignore', '.github-pages/x', 'a/.gitkeep', 'a b/c'])
      expect(unsafePathReason(p)).toBeUndefined()
  })
})

describe('validatePatch', () => {
  it('accepts an ordinary patch and returns its files', () => {
    const v = validatePatch(modifying('src/a.ts') + adding('docs/new.md'))
    expect(v.problems).toEqual([])
    expect(v.files.map((f) => f.newPath)).toEqual(['src/a.ts', 'docs/new.md'])
  })

  it('treats an empty patch as no changes', () => {
    expect(validatePatch('')).toMatchObject({ files: [], problems: [] })
  })

  it.each([
    '.github/workflows/ci.yml',
    '.github/actions/setup/action.yml',
    '.github/CODEOWNERS',
    'CODEOWNERS',
    'docs/CODEOWNERS',
    '.gitmodules',
    'CLAUDE.md',
    'packages/api/CLAUDE.md',
    'AGENTS.md',
    'GEMINI.md',
    '.mcp.json',
    '.claude/settings.json',
    '.codex/config.toml',
    '.gemini/settings.json'
  ])('refuses the protected path %s', (path) => {
    const v = validatePatch(modifying(path))
    expect(v.problems).toEqual([
      `${path}: protected path (allow it explicitly with allow-paths to change it)`
    ])
  })

  it('lets allow-paths lift the protection for exactly what they match', () => {
    const patch = modifying('.github/workflows/ci.yml') + modifying('.github/CODEOWNERS')
    const v = validatePatch(patch, { allowPaths: ['.github/workflows/**'] })
    expect(v.problems).toEqual([
      '.github/CODEOWNERS: protected path (allow it explicitly with allow-paths to change it)'
    ])
  })

  it('never lets allow-paths open .git or paths outside the repository', () => {
    const patch = modifying('.git/hooks/post-checkout') + modifying('../outside')
    const v = validatePatch(patch, { allowPaths: ['**'] })
    expect(v.problems).toEqual([
      '".git/hooks/post-checkout": path inside .git',
      '"../outside": path escapes the repository ("..")'
    ])
  })

  it('checks both names of a rename', () => {
    const patch =
      'diff --git a/.github/workflows/ci.yml b/ci.yml\nsimilarity index 100%\nrename from .github/workflows/ci.yml\nrename to ci.yml\n'
    expect(validatePatch(patch).problems).toEqual([
      '.github/workflows/ci.yml: protected path (allow it explicitly with allow-paths to change it)'
    ])
  })

  it('refuses binary patches, symlinks, submodules and odd modes', () => {
    const patch = [
      'diff --git a/logo.png b/logo.png',
      'new file mode 100644',
      'index 0000000..1111111',
      'GIT binary patch',
      'literal 3',
      'KcmZ?wbhG~p0R#X6',
      '',
      'diff --git a/link b/link',
      'new file mode 120000',
      'index 0000000..1111111',
      '--- /dev/null',
      '+++ b/link',
      '@@ -0,0 +1 @@',
      '+/etc/passwd',
      '\\ No newline at end of file',
      'diff --git a/vendor/lib b/vendor/lib',
      'new file mode 160000',
      'index 0000000..1111111',
      '--- /dev/null',
      '+++ b/vendor/lib',
      '@@ -0,0 +1 @@',
      '+Subproject commit 1111111111111111111111111111111111111111',
      'diff --git a/odd b/odd',
      'new file mode 100600',
      ''
    ].join('\n')
    expect(validatePatch(patch).problems).toEqual([
      'logo.png: binary changes are not accepted',
      'link: symbolic links are not accepted',
      'vendor/lib: submodule changes are not accepted',
      'odd: unsupported file mode 100600'
    ])
  })

  it('enforces the size and file-count limits', () => {
    const big = modifying('a.txt')
    expect(validatePatch(big, { maxBytes: 10 }).problems).toEqual([
      `the patch is ${Buffer.byteLength(big)} bytes; the limit is 10`
    ])
    const many = Array.from({ length: 4 }, (_, i) => adding(`f${i}.txt`)).join('')
    expect(validatePatch(many, { maxFiles: 3 }).problems).toEqual([
      'the patch touches 4 files; the limit is 3'
    ])
  })

  it('refuses text that is not a diff, and a malformed hunk', () => {
    expect(validatePatch('rm -rf /\n').problems).toEqual(['the patch holds no file changes'])
    expect(
      validatePatch('diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n a\n').problems[0]
    ).toMatch(/^the patch cannot be parsed: .*ends inside a hunk/)
  })

  it('assertPatchAllowed throws every problem at once with a stable code', () => {
    try {
      assertPatchAllowed(modifying('CLAUDE.md') + modifying('.github/workflows/x.yml'))
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(PatchRejectedError)
      expect((err as PatchRejectedError).code).toBe('AIRLOCK_PATCH_REJECTED')
      expect((err as PatchRejectedError).problems).toHaveLength(2)
    }
  })
})

describe('parsePatternList', () => {
  it('splits on commas and newlines, dropping blanks and comments', () => {
    expect(parsePatternList('.github/workflows/**, docs/**\n# note\n\nCLAUDE.md')).toEqual([
      '.github/workflows/**',
      'docs/**',
      'CLAUDE.md'
    ])
  })
})
