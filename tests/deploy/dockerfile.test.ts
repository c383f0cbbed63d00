import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/tools.js';
import { ensureBuilt, loadConfigSchemas, SERVICES } from './lib.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && !current) continue;
    if (/^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      current += `${line.replace(/\\\s*$/, '')} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim().replace(/\s+/g, ' '));
    current = '';
  }
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const l of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(l) ?? [];
    const instruction = { op: op.toUpperCase(), args };
    if (instruction.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: m?.[1] ?? '', name: m?.[2], instructions: [] });
    } else if (stages.length === 0) globalArgs.push(instruction);
    else stages[stages.length - 1]?.instructions.push(instruction);
  }
  return { globalArgs, stages };
}

/** `${SERVICE}` in the Dockerfile, the build argument that picks the service. */
const SERVICE_ARG = /\$\{SERVICE\}/g;

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stage = (name: string) => {
  const s = dockerfile.stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).map((i) => i.args);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  workspaces: string[];
};

/** The stages the final image is built from, for one SERVICE. */
function chainFor(service: string): Stage[] {
  const chain: Stage[] = [];
  let s: Stage | undefined = dockerfile.stages[dockerfile.stages.length - 1];
  while (s) {
    chain.unshift(s);
    const from = s.from.replace(SERVICE_ARG, service);
    s = dockerfile.stages.find((x) => x.name === from);
  }
  return chain;
}

describe('Dockerfile', () => {
  beforeAll(async () => {
    await ensureBuilt();
  }, 240_000);

  it('builds on a current Node LTS slim Debian image chosen by one SERVICE build argument', () => {
    const args = dockerfile.globalArgs.filter((i) => i.op === 'ARG').map((i) => i.args);
    const image = args.find((a) => a.startsWith('NODE_IMAGE='))?.split('=')[1] ?? '';
    expect(image).toMatch(/^node:(2[02468])-(bookworm|trixie)-slim$/);
    expect(args.some((a) => a.startsWith('SERVICE'))).toBe(true);
    for (const s of dockerfile.stages)
      if (!dockerfile.stages.some((x) => x.name === s.from.replace(SERVICE_ARG, 'gateway')))
        expect(s.from).toMatch(s.name === 'web' ? /^\$\{NGINX_IMAGE\}$/ : /^\$\{NODE_IMAGE\}$/);
    const nginx = args.find((a) => a.startsWith('NGINX_IMAGE='))?.split('=')[1] ?? '';
    expect(nginx).toMatch(/^nginx:1\.\d+-alpine$/);
  });

  it('installs every dependency with npm ci, then builds with the same command as npm run build', () => {
    expect(ops(stage('deps'), 'RUN').join(' ')).toMatch(/\bnpm ci\b/);
    expect(ops(stage('deps'), 'RUN').join(' ')).not.toMatch(/--omit=dev/);
    const build = ops(stage('build'), 'RUN');
    expect(pkg.scripts.build).toBe('tsc -b');
    expect(build.some((r) => r === 'npm run build' || r === pkg.scripts.build)).toBe(true);
    // What tsc -b needs is in the build context (and not dropped by .dockerignore).
    for (const copy of ops(stage('build'), 'COPY').concat(ops(stage('manifests'), 'COPY'))) {
      const sources = copy.split(' ').slice(0, -1);
      for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
  });

  it('gives each service an image with its production dependencies and compiled JavaScript only', () => {
    for (const service of SERVICES) {
      const chain = chainFor(service);
      const runtime = chain[chain.length - 1] as Stage;
      const name = JSON.parse(readFileSync(join(ROOT, 'services', service, 'package.json'), 'utf8'))
        .name as string;
      expect(name).toBe(`@journal/${service}`);
      const install = ops(runtime, 'RUN').join(' ');
      expect(install).toMatch(/npm ci --omit=dev --workspace "?@journal\/\$\{SERVICE\}"?/);
      expect(install).toContain('--include-workspace-root=false');
      const copies = ops(runtime, 'COPY').filter((c) => c.startsWith('--from=build'));
      const copied = copies.map((c) => c.split(' ')[1]?.replace(SERVICE_ARG, service));
      expect(copied.sort()).toEqual([`/app/services/${service}/dist`, '/app/shared/dist']);
      expect(ops(runtime, 'COPY').join(' ')).not.toMatch(/\bsrc\b/);
    }
  });

  it('starts node on the entry of each service, the same file its npm start runs', () => {
    for (const service of SERVICES) {
      const chain = chainFor(service);
      const runtime = chain[chain.length - 1] as Stage;
      const workdir = ops(runtime, 'WORKDIR').pop()?.replace(SERVICE_ARG, service);
      expect(workdir).toBe(`/app/services/${service}`);
      const cmd = JSON.parse(ops(runtime, 'CMD').pop() ?? '[]') as string[];
      expect(cmd[0]).toBe('node');
      const entry = join(ROOT, 'services', service, (cmd[1] as string).replace(/^\.\//, ''));
      expect(entry).toBe(join(ROOT, 'services', service, 'dist', 'main.js'));
      expect(existsSync(entry), `${entry} exists after the build`).toBe(true);
      const start = JSON.parse(
        readFileSync(join(ROOT, 'services', service, 'package.json'), 'utf8'),
      ).scripts?.start as string;
      expect(start).toBe(cmd.join(' '));
    }
  });

  it('runs as uid 10001 under tini with NODE_ENV=production and a node health check on /health', () => {
    const base = stage('base');
    const runtime = dockerfile.stages[dockerfile.stages.length - 1] as Stage;
    expect(ops(base, 'RUN').join(' ')).toMatch(/apt-get install -y --no-install-recommends tini/);
    expect(ops(base, 'RUN').join(' ')).toMatch(/--uid 10001/);
    expect(ops(base, 'ENV')).toContain('NODE_ENV=production');
    expect(ops(runtime, 'USER').pop()).toMatch(/^10001(:10001)?$/);
    expect(JSON.parse(ops(runtime, 'ENTRYPOINT').pop() ?? '[]')).toEqual(['/usr/bin/tini', '--']);
    const health = ops(runtime, 'HEALTHCHECK').pop() ?? '';
    const cmd = JSON.parse(health.slice(health.indexOf('CMD ') + 4)) as string[];
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(cmd[2]).toContain('/health');
    expect(health).not.toMatch(/curl|wget/);
  });

  it("exposes each service's port and metrics port, the PORT default of its config schema and PORT + 1000", async () => {
    const schemas = await loadConfigSchemas();
    for (const service of SERVICES) {
      const field = schemas[service].shape.PORT as {
        safeParse(v: unknown): { success: boolean; data?: unknown };
      };
      const port = String(field.safeParse(undefined).data);
      const portStage = chainFor(service).find((s) => ops(s, 'EXPOSE').length) as Stage;
      expect(ops(portStage, 'EXPOSE'), service).toEqual([`${port} ${Number(port) + 1000}`]);
      expect(ops(portStage, 'ENV'), service).toContain(`PORT=${port}`);
    }
  });

  it('keeps dependencies, build output, secrets and git out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const pattern of ['**/node_modules', '**/dist', '.git', '.env', '.tools', '.data'])
      expect(ignored, pattern).toContain(pattern);
    for (const needed of [
      'package.json',
      'package-lock.json',
      'shared',
      'services',
      'clients',
      'tsconfig.base.json',
    ])
      expect(ignored, needed).not.toContain(needed);
    // Every workspace (the client SDK and the web app too: the lock file names them) has its
    // manifest in the image.
    expect(ignored).toContain('!deploy/web');
    expect(pkg.workspaces.sort()).toEqual(
      ['shared', ...SERVICES.map((s) => `services/${s}`), 'clients/js', 'clients/web'].sort(),
    );
    const manifests = ops(stage('manifests'), 'COPY');
    for (const w of pkg.workspaces) expect(manifests).toContain(`${w}/package.json ${w}/`);
  });

  it('builds the web app (target web) as static files that nginx serves, proxying the API', () => {
    const build = ops(stage('web-build'), 'RUN').join(' ');
    expect(build).toMatch(/npm run build --workspace @journal\/web/);
    const webPkg = JSON.parse(readFileSync(join(ROOT, 'clients/web/package.json'), 'utf8'));
    expect(webPkg.scripts.build).toBe('vite build');
    const web = stage('web');
    const copies = ops(web, 'COPY');
    expect(copies).toContain('--from=web-build /app/clients/web/dist /usr/share/nginx/html');
    expect(copies).toContain(
      'deploy/web/default.conf.template /etc/nginx/templates/default.conf.template',
    );
    expect(ops(web, 'ENV')).toContain('GATEWAY_URL=http://gateway:8000');
    expect(ops(web, 'EXPOSE')).toEqual(['8080']);
  });
});
