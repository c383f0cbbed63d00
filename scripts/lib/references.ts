import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import {
  commentOf,
  headingSlug,
  markdownAnchors,
  withoutFences,
  withoutInlineCode,
} from './markdown.js';

export { headingSlug, markdownAnchors };

/**
 * Dead references: what a fresh clone would not find. Checked over the tracked files of the
 * repository (scripts/test/unit/references.test.ts, part of `make test`):
 *
 * - every relative link of a Markdown file (`[text](target)`, `[label]: target`) names a file or
 *   folder of the repository, without leaving it (`../` past the root), and its `#anchor`, when
 *   it has one, is a heading of the target (GitHub's heading ids);
 * - every Markdown document named anywhere (a comment, a doc, a README, a chart: a word ending in
 *   `.md`) exists: relative to the naming file's folder or to one of the folders above it, up to
 *   the root (so `docs/api.md` names the same page from a service's source as from the root);
 * - every repository path in prose (Markdown, comments: a word that starts with one of the
 *   repository's top-level folders, like `shared/src/storage.ts`) names a tracked file or folder,
 *   or one git ignores on purpose (build output, a local `.env`); `x.js` may name `x.ts`;
 * - no path in prose (Markdown, comments) climbs out of the repository (`../` past the root, e.g.
 *   a file of a sibling checkout). Code is left to the compiler: a string there may be
 *   relative to another file.
 *
 * URLs (`https://…`) are not checked: they leave the repository by design.
 */

export interface DeadReference {
  /** The file that holds the reference, relative to the root. */
  file: string;
  line: number;
  /** The reference as written. */
  reference: string;
  reason: string;
}

export interface RepositoryFiles {
  /** Tracked files, relative to the root, with `/`. */
  paths: string[];
  read(path: string): string;
  /** Which of `paths` git ignores (build output, local files): named on purpose, never tracked. */
  ignored?(paths: string[]): Set<string>;
}

/**
 * Files that are not prose or code a reader follows (data, lock files, generated output), and
 * this check's own test, whose fixtures are dead references on purpose.
 */
const SKIPPED = [
  /^scripts\/test\/unit\/references\.test\.ts$/,
  /(^|\/)package-lock\.json$/,
  /^bench\/results\//,
  /(^|\/)generated\//,
  /^clients\/js\/openapi\.json$/,
  /\.(png|jpe?g|gif|ico|webp|woff2?|gz|sqlite|db)$/i,
];

/** The repository's tracked files (`git ls-files`), read from the working tree. */
export function gitRepository(root: string): RepositoryFiles {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  return {
    paths: out.split('\0').filter((p) => p !== ''),
    read: (path) => readFileSync(posix.join(root, path), 'utf8'),
    ignored(paths) {
      if (paths.length === 0) return new Set();
      const result = spawnSync('git', ['check-ignore', '--no-index', '--stdin'], {
        cwd: root,
        // As named, and as a folder (a `dist/` pattern matches a path only known as a folder).
        input: paths.flatMap((p) => [p, `${p}/`]).join('\n'),
        encoding: 'utf8',
      });
      return new Set(
        result.stdout
          .split('\n')
          .filter((p) => p !== '')
          .map((p) => p.replace(/\/$/, '')),
      );
    },
  };
}

const URL_LIKE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s)'"`<>\]]*/gi;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
/** A word ending in `.md`: a named document (`docs/api.md`, `README.md#tests`, a `../` path). */
const NAMED_DOC =
  /(?<![\w./-])((?:\.{1,2}\/)*(?:[\w@.-]+\/)*[\w.-]*[A-Za-z0-9_-]\.md)(#[\w-]+)?(?![\w/])/g;
/** A relative path that starts by climbing: `../x`, `../../x/y/`. */
const PARENT_PATH = /(?<![\w./-])((?:\.\.\/)+[\w@.-]+(?:\/[\w@.-]+)*\/?)/g;

export function findDeadReferences(repo: RepositoryFiles): DeadReference[] {
  const files = new Set(repo.paths);
  const folders = new Set<string>(['']);
  for (const path of repo.paths) {
    for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) folders.add(dir);
  }
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (path: string) => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = markdownAnchors(repo.read(path));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  const dead = new Map<string, DeadReference>();
  /** Repository paths named in prose that are not tracked: dead unless git ignores them. */
  const untracked: DeadReference[] = [];
  const tops = [...folders].filter((f) => f !== '' && !f.includes('/'));
  const repoPath = new RegExp(
    `(?<![\\w./@$-])((?:${tops.map(escapeRegExp).join('|')})/[\\w.@/-]*[\\w/])(?![*{<$\\w])`,
    'g',
  );

  /** `target` from `dir`: the repository path, or why not. */
  function resolve(dir: string, target: string): { path: string } | { reason: string } {
    const joined = posix.normalize(posix.join(dir, target));
    if (joined === '..' || joined.startsWith('../')) {
      return { reason: 'points outside the repository' };
    }
    const path = joined === '.' ? '' : joined.replace(/\/$/, '');
    if (files.has(path) || folders.has(path)) return { path };
    return { reason: 'no such file in the repository' };
  }

  /** True when `path` names a tracked file or folder from `dir` or a folder above it. */
  function fromAncestors(dir: string, path: string): boolean {
    for (let from = dir; ; from = posix.dirname(from)) {
      const base = from === '.' ? '' : from;
      const resolved = resolve(base, path);
      if ('path' in resolved) return true;
      if (base === '') return false;
    }
  }

  function checkAnchor(path: string, anchor: string): string | null {
    if (!path.endsWith('.md') || !files.has(path)) return null;
    return anchorsOf(path).has(anchor) ? null : `no heading "#${anchor}" in ${path}`;
  }

  for (const file of repo.paths) {
    if (SKIPPED.some((re) => re.test(file))) continue;
    let text: string;
    try {
      text = repo.read(file);
    } catch {
      continue; // listed by git but gone from the working tree (a rename in progress)
    }
    if (text.includes('\0')) continue;
    const dir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
    const isMarkdown = file.endsWith('.md');
    const lines = (isMarkdown ? withoutFences(text) : text).split('\n');

    lines.forEach((raw, index) => {
      const line = index + 1;
      // One report per reference and line (a link's target is also a named document).
      const report = (reference: string, reason: string) => {
        const key = `${line}:${reference}:${file}`;
        if (!dead.has(key)) dead.set(key, { file, line, reference, reason });
      };

      // Markdown links.
      if (isMarkdown) {
        const prose = withoutInlineCode(raw);
        const targets = [
          ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
          ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/g)].map(
            (m) => m[1],
          ),
        ];
        for (const target of targets) {
          if (!target || SCHEME.test(target)) continue;
          const [pathPart = '', anchor] = target.split('#', 2);
          const decoded = decodeURI(pathPart);
          if (decoded === '') {
            if (anchor !== undefined && !anchorsOf(file).has(anchor)) {
              report(target, `no heading "#${anchor}" in ${file}`);
            }
            continue;
          }
          const resolved = decoded.startsWith('/')
            ? resolve('', decoded.slice(1))
            : resolve(dir, decoded);
          if ('reason' in resolved) report(target, resolved.reason);
          else if (anchor !== undefined) {
            const wrong = checkAnchor(resolved.path, anchor);
            if (wrong) report(target, wrong);
          }
        }
      }

      // Named documents, anywhere (links were checked above; the names in them pass again).
      const words = raw.replace(URL_LIKE, (url) => ' '.repeat(url.length));
      for (const m of words.matchAll(NAMED_DOC)) {
        const name = m[1] ?? '';
        const anchor = m[2]?.slice(1);
        let found: string | undefined;
        let outside = false;
        for (let from = dir; ; from = posix.dirname(from)) {
          const base = from === '.' ? '' : from;
          const resolved = resolve(base, name);
          if ('path' in resolved && files.has(resolved.path)) {
            found = resolved.path;
            break;
          }
          if ('reason' in resolved && resolved.reason.startsWith('points outside')) outside = true;
          if (base === '') break;
        }
        if (found === undefined) {
          report(
            m[0],
            outside && name.startsWith('../')
              ? 'points outside the repository'
              : 'names a document the repository does not have',
          );
        } else if (anchor !== undefined) {
          const wrong = checkAnchor(found, anchor);
          if (wrong) report(m[0], wrong);
        }
      }

      // Repository paths in prose.
      if (tops.length > 0) {
        for (const m of (isMarkdown ? words : commentOf(words)).matchAll(repoPath)) {
          const path = (m[1] ?? '').replace(/\/$/, '');
          const candidates = path.endsWith('.js')
            ? [path, path.replace(/\.js$/, '.ts'), path.replace(/\.js$/, '.tsx')]
            : [path];
          if (candidates.some((c) => fromAncestors(dir, c))) continue;
          untracked.push({ file, line, reference: m[1] ?? '', reason: 'no such file or folder' });
        }
      }

      // Paths in prose that climb out of the repository, whatever they name.
      for (const m of (isMarkdown ? words : commentOf(words)).matchAll(PARENT_PATH)) {
        const resolved = resolve(dir, m[1] ?? '');
        if ('reason' in resolved && resolved.reason.startsWith('points outside')) {
          report(m[1] ?? '', resolved.reason);
        }
      }
    });
  }
  const ignored = repo.ignored?.([...new Set(untracked.map((u) => u.reference))]) ?? new Set();
  for (const u of untracked) {
    if (ignored.has(u.reference) || ignored.has(u.reference.replace(/\/$/, ''))) continue;
    const key = `${u.line}:${u.reference}:${u.file}`;
    if (!dead.has(key)) dead.set(key, { ...u, reason: `${u.reason} in the repository` });
  }
  return [...dead.values()].sort(
    (a, b) => repo.paths.indexOf(a.file) - repo.paths.indexOf(b.file) || a.line - b.line,
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
