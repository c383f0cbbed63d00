import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type DeadReference,
  findDeadReferences,
  gitRepository,
  headingSlug,
  markdownAnchors,
} from '../../lib/references.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** A repository held in memory: path -> text. */
function fixture(files: Record<string, string>) {
  return findDeadReferences({
    paths: Object.keys(files),
    read: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`no ${path}`);
      return text;
    },
  });
}

const brief = (dead: DeadReference[]) =>
  dead.map((d) => `${d.file}:${d.line} ${d.reference}: ${d.reason}`);

describe('references (a fresh clone has no dead reference)', () => {
  it('every link, named document and anchor of the tracked files resolves inside the repository', () => {
    const dead = findDeadReferences(gitRepository(root));
    expect(brief(dead)).toEqual([]);
  });

  it('fails on a relative link to a missing file, and on one that leaves the repository', () => {
    const dead = fixture({
      'README.md': [
        '# Project',
        '',
        'See [the docs](docs/), [the contract](docs/api.md) and [the site](https://example.com/x.md).',
        'Gone: [old](docs/old-page.md). Outside: [sibling](../sibling/notes.txt).',
        '[ref]: docs/also-gone.txt',
      ].join('\n'),
      'docs/api.md': '# API\n',
    });
    expect(brief(dead)).toEqual([
      'README.md:4 docs/old-page.md: no such file in the repository',
      'README.md:4 ../sibling/notes.txt: points outside the repository',
      'README.md:5 docs/also-gone.txt: no such file in the repository',
    ]);
  });

  it('fails on a document named in a comment or in prose that the repository does not have', () => {
    const dead = fixture({
      'docs/api.md': '# API\n',
      'docs/sync.md': `# Sync\n\nThe contract is api.md; the rules are in DESIGN.md.\n`,
      'services/x/src/a.ts': [
        `/** The calls of docs/api.md (see CONTRACT.md). */`,
        'export const a = 1;',
        `// STYLE.md and ../../../../sibling/notes`,
      ].join('\n'),
      'clients/js/README.md': `# SDK\n\nChanges vs CLIENT-SPEC.md; the contract: ../../docs/api.md.\n`,
    });
    expect(brief(dead)).toEqual([
      'docs/sync.md:3 DESIGN.md: names a document the repository does not have',
      'services/x/src/a.ts:1 CONTRACT.md: names a document the repository does not have',
      'services/x/src/a.ts:3 STYLE.md: names a document the repository does not have',
      'services/x/src/a.ts:3 ../../../../sibling/notes: points outside the repository',
      'clients/js/README.md:3 CLIENT-SPEC.md: names a document the repository does not have',
    ]);
  });

  it('fails on a repository path in prose that names no tracked file, unless git ignores it', () => {
    const dead = findDeadReferences({
      paths: [
        'README.md',
        'shared/src/storage.ts',
        'clients/js/scripts/generate.ts',
        'clients/js/src/a.ts',
      ],
      read: (path) =>
        ({
          'README.md': [
            '# Project',
            'See shared/src/storage.ts, `shared/src/storage.js`, shared/src/ and services/*/src.',
            'Gone: shared/src/account-deletion.ts; built: shared/dist/index.js, clients/js/dist.',
          ].join('\n'),
          'shared/src/storage.ts': [
            '// checked by shared/test/redis-cluster.test.ts',
            "const where = 'shared/test/not-a-comment.ts';",
          ].join('\n'),
          'clients/js/src/a.ts': "/** Written by scripts/generate.ts (the package's own). */\n",
          'clients/js/scripts/generate.ts': '',
        })[path] ?? '',
      ignored: (paths) => new Set(paths.filter((p) => p.includes('/dist'))),
    });
    expect(brief(dead)).toEqual([
      'README.md:3 shared/src/account-deletion.ts: no such file or folder in the repository',
      'shared/src/storage.ts:1 shared/test/redis-cluster.test.ts: no such file or folder in the repository',
    ]);
  });

  it('checks anchors against the target headings, and ignores links in code', () => {
    const dead = fixture({
      'README.md': [
        '# Project',
        '',
        '## Set-up & `make dev`',
        '',
        '[ok](#set-up--make-dev), [ok](docs/api.md#the-calls-v1), [bad](#nothing-here)',
        '[bad](docs/api.md#calls) and docs/api.md#conventions named in prose',
        '`[not a link](nowhere.txt)`',
        '```',
        '[not a link either](nowhere.txt)',
        '```',
      ].join('\n'),
      'docs/api.md': '# API\n\n## The calls (v1)\n\n## The calls (v1)\n',
    });
    expect(brief(dead)).toEqual([
      'README.md:5 #nothing-here: no heading "#nothing-here" in README.md',
      'README.md:6 docs/api.md#calls: no heading "#calls" in docs/api.md',
      'README.md:6 docs/api.md#conventions: no heading "#conventions" in docs/api.md',
    ]);
    expect([...markdownAnchors('# A\n## A\n```\n# not a heading\n```\n')]).toEqual(['a', 'a-1']);
  });

  it("makes GitHub's heading ids", () => {
    expect(headingSlug('The head in Redis: idle pulls and new entries off the store')).toBe(
      'the-head-in-redis-idle-pulls-and-new-entries-off-the-store',
    );
    expect(headingSlug('Upload (`PUT /attachments/{id}`)')).toBe('upload-put-attachmentsid');
  });
});
