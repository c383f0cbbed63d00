import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { type ManagedProcess, startProcess, waitForPort } from '../../scripts/lib/proc.js';
import { ensureHelm, ensureKubernetesValidate, ROOT } from '../../scripts/lib/tools.js';
import { buildAll } from '../../test-support/processes.js';

const execFileAsync = promisify(execFile);

export const CHART = join(ROOT, 'deploy', 'helm', 'journal');
export const COMPOSE_DIR = join(ROOT, 'deploy', 'compose');
export const SERVICES = ['gateway', 'auth', 'sync', 'attachments'] as const;
export type Service = (typeof SERVICES)[number];
/** The Kubernetes versions rendered and validated: the chart's oldest supported and a current one. */
export const KUBE_VERSIONS = ['1.25.0', '1.33.0'] as const;

// ---------------------------------------------------------------------------------------------
// Config schemas, read from the code at test time so deployment and config cannot drift.

interface ParseResult {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}
export interface FieldSchema {
  safeParse(value: unknown): ParseResult;
}
export interface ConfigSchema extends FieldSchema {
  shape: Record<string, FieldSchema>;
}

export async function loadConfigSchema(service: Service): Promise<ConfigSchema> {
  const mod = (await import(`../../services/${service}/src/config.ts`)) as {
    configSchema: unknown;
  };
  const schema = mod.configSchema as Partial<ConfigSchema> & {
    _zod?: { def?: { in?: Partial<ConfigSchema> } };
  };
  // A plain object schema (refinements keep the shape in zod 4), or a pipe whose input is one.
  const shape = schema.shape ?? schema._zod?.def?.in?.shape;
  if (!shape || typeof schema.safeParse !== 'function')
    throw new Error(`services/${service}/src/config.ts: configSchema has no object shape`);
  return { shape, safeParse: (v) => (schema as ConfigSchema).safeParse(v) };
}

export async function loadConfigSchemas(): Promise<Record<Service, ConfigSchema>> {
  const entries = await Promise.all(SERVICES.map(async (s) => [s, await loadConfigSchema(s)]));
  return Object.fromEntries(entries) as Record<Service, ConfigSchema>;
}

/** Variables a schema cannot do without (no default, not optional). */
export function requiredVariables(schema: ConfigSchema): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([name]) => name);
}

/** Parses an environment the way shared/src/config.ts loadConfig does (empty means unset). */
export function parseEnv(schema: ConfigSchema, env: Record<string, string>): string[] {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return [];
  return (result.error?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`);
}

// ---------------------------------------------------------------------------------------------
// Helm

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
  [field: string]: any;
}

export async function helm(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const binary = await ensureHelm();
  return execFileAsync(binary, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
}

export interface RenderOptions {
  valuesFiles?: string[];
  values?: Record<string, unknown>;
  set?: string[];
  kubeVersion?: string;
  release?: string;
  namespace?: string;
  /** `--api-versions` the render assumes the cluster serves, e.g. `monitoring.coreos.com/v1/ServiceMonitor`. */
  apiVersions?: string[];
}

/** The API version of prometheus-operator's ServiceMonitor, as `.Capabilities.APIVersions.Has` checks it. */
export const SERVICE_MONITOR_API = 'monitoring.coreos.com/v1/ServiceMonitor';

/** `helm template` of the chart; values given as an object are written to a temporary file. */
export async function renderChart(options: RenderOptions = {}): Promise<{
  text: string;
  objects: K8sObject[];
}> {
  const args = [
    'template',
    options.release ?? 'journal',
    CHART,
    '--namespace',
    options.namespace ?? 'journal',
    '--kube-version',
    options.kubeVersion ?? KUBE_VERSIONS[1],
  ];
  for (const file of options.valuesFiles ?? []) args.push('-f', file);
  if (options.values) args.push('-f', await writeValues(options.values));
  for (const s of options.set ?? []) args.push('--set', s);
  for (const api of options.apiVersions ?? []) args.push('--api-versions', api);
  const { stdout } = await helm(args);
  return { text: stdout, objects: parseManifests(stdout) };
}

export async function writeValues(values: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'journal-values-'));
  const file = join(dir, 'values.yaml');
  // JSON is YAML: no quoting surprises for PEM keys and JWKS.
  await writeFile(file, JSON.stringify(values), { mode: 0o600 });
  return file;
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function component(o: K8sObject): string | undefined {
  return o.metadata.labels?.['app.kubernetes.io/component'];
}

/** The Deployment of each service, keyed by its component label. */
export function deploymentsByService(objects: K8sObject[]): Record<Service, K8sObject> {
  const found: Partial<Record<Service, K8sObject>> = {};
  for (const d of ofKind(objects, 'Deployment')) {
    const c = component(d);
    if (c && (SERVICES as readonly string[]).includes(c)) found[c as Service] = d;
  }
  for (const s of SERVICES) if (!found[s]) throw new Error(`no Deployment for ${s} in the render`);
  return found as Record<Service, K8sObject>;
}

/** A secret the render refers to but does not contain (existingSecret). */
export interface ExternalSecretRef {
  secret: string;
  key: string;
  optional: boolean;
}

/**
 * The environment a container gets, resolved against the ConfigMaps and Secrets of the same
 * render. References to Secrets outside the render come back as ExternalSecretRef.
 */
export function containerEnv(
  container: K8sObject,
  objects: K8sObject[],
): Record<string, string | ExternalSecretRef> {
  const env: Record<string, string | ExternalSecretRef> = {};
  const find = (kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);
  const secretValue = (secret: K8sObject, key: string): string | undefined => {
    if (secret.stringData?.[key] !== undefined) return String(secret.stringData[key]);
    const data = secret.data?.[key];
    return data === undefined ? undefined : Buffer.from(String(data), 'base64').toString('utf8');
  };
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = find('ConfigMap', from.configMapRef.name);
      if (!cm) throw new Error(`envFrom ConfigMap ${from.configMapRef.name} is not rendered`);
      for (const [k, v] of Object.entries(cm.data ?? {}))
        env[`${from.prefix ?? ''}${k}`] = String(v);
    } else throw new Error('envFrom other than configMapRef is not expected in this chart');
  }
  for (const entry of container.env ?? []) {
    const name = entry.name as string;
    if (entry.value !== undefined) env[name] = String(entry.value);
    else if (entry.valueFrom?.configMapKeyRef) {
      const ref = entry.valueFrom.configMapKeyRef;
      const value = find('ConfigMap', ref.name)?.data?.[ref.key];
      if (value === undefined && !ref.optional)
        throw new Error(`${name}: ConfigMap ${ref.name} has no key ${ref.key}`);
      if (value !== undefined) env[name] = String(value);
    } else if (entry.valueFrom?.secretKeyRef) {
      const ref = entry.valueFrom.secretKeyRef;
      const secret = find('Secret', ref.name);
      if (!secret) {
        env[name] = { secret: ref.name, key: ref.key, optional: Boolean(ref.optional) };
        continue;
      }
      const value = secretValue(secret, ref.key);
      if (value === undefined && !ref.optional)
        throw new Error(`${name}: Secret ${ref.name} has no key ${ref.key}`);
      if (value !== undefined) env[name] = value;
    } else if (entry.value === undefined && entry.valueFrom === undefined) env[name] = '';
    else throw new Error(`${name}: unsupported valueFrom ${JSON.stringify(entry.valueFrom)}`);
  }
  return env;
}

export function mainContainer(deployment: K8sObject): K8sObject {
  const container = deployment.spec.template.spec.containers[0];
  if (!container) throw new Error(`${deployment.metadata.name} has no container`);
  return container;
}

// ---------------------------------------------------------------------------------------------
// Compose

/** A compose file as docker compose sees it before interpolation (YAML 1.1 merge keys on). */
export function readCompose(file: string): ComposeFile {
  return parseYaml(readFileSync(join(COMPOSE_DIR, file), 'utf8'), { merge: true }) as ComposeFile;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  environment?: Record<string, string | number | boolean | null>;
  ports?: (string | { published?: string | number; target: number })[];
  healthcheck?: { test: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }> | string[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  restart?: string;
  networks?: string[] | Record<string, unknown>;
  command?: string[] | string;
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
  read_only?: boolean;
  tmpfs?: string | string[];
  cap_drop?: string[];
  security_opt?: string[];
  logging?: { driver?: string; options?: Record<string, string> };
}
export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
}

/** Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$. */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = (braced ?? bare) as string;
      const value = vars[name];
      const unset = value === undefined || (colon === ':' && value === '');
      if (op === '-') return unset ? (arg ?? '') : (value as string);
      if (op === '?') {
        if (unset) throw new Error(`required variable ${name} is missing: ${arg}`);
        return value as string;
      }
      return value ?? '';
    },
  );
}

/** Every variable a compose file interpolates, with whether it is required (`:?`). */
export function composeVariables(file: string): Map<string, { required: boolean }> {
  const text = readFileSync(join(COMPOSE_DIR, file), 'utf8');
  const found = new Map<string, { required: boolean }>();
  for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?/g)) {
    const name = m[1] as string;
    const required = Boolean(m[2]?.endsWith('?')) || found.get(name)?.required === true;
    found.set(name, { required });
  }
  return found;
}

/** A dotenv file as docker compose reads it (single quotes literal, double quotes or bare). */
export function parseDotenv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = (m[2] as string).trim();
    if (/^'.*'$/.test(value) || /^".*"$/.test(value)) value = value.slice(1, -1);
    vars[m[1] as string] = value;
  }
  return vars;
}

// ---------------------------------------------------------------------------------------------
// Build

export function entryOf(service: Service): string {
  return join(ROOT, 'services', service, 'dist', 'main.js');
}

/**
 * dist/ brought up to date by the one incremental `tsc -b` every test file shares (its lock keeps
 * parallel files from writing the same files at once).
 */
export function ensureBuilt(): Promise<void> {
  return buildAll();
}

/**
 * On a fresh machine helm is compiled from the Go module proxy (a few minutes, once) and
 * kubernetes-validate installed from PyPI: give the first beforeAll that long.
 */
export const TOOL_INSTALL_TIMEOUT_MS = 20 * 60_000;

export async function ensureDeployTools(): Promise<void> {
  await Promise.all([ensureHelm(), ensureKubernetesValidate()]);
}

// ---------------------------------------------------------------------------------------------
// Debian's nginx, run in the foreground on a configuration written to `dir/nginx.conf`.

/**
 * Checks `dir/nginx.conf` with `nginx -t`, starts nginx on it and waits for `port`; its error
 * output is in the failure when it does not come up.
 */
export async function startNginx(
  binary: string,
  dir: string,
  port: number,
): Promise<{ process: ManagedProcess; output: () => string }> {
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf')];
  await execFileAsync(binary, ['-t', '-q', ...args, '-g', `pid ${dir}/nginx.pid;`]);
  const process = startProcess(
    'nginx',
    binary,
    [...args, '-g', `daemon off; pid ${dir}/nginx.pid;`],
    {
      output: 'pipe',
    },
  );
  let output = '';
  process.child.stderr?.on('data', (d) => {
    output += String(d);
  });
  await waitForPort(port, 10_000, 'nginx', process.child).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  return { process, output: () => output };
}
