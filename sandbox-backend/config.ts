/**
 * The one place that reads the environment. Everything else receives a `Config`.
 * Every setting, its variable and its default is listed in docs/configuration.md; keep the two
 * in step (tests/unit/config.test.ts checks that every variable here is documented there).
 */
import path from 'node:path';
import { z } from 'zod';

/** Parses "250ms", "90s", "10m", "4h" or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a duration: use a number with ms, s, m, h or d (e.g. "4h", "90s")`);
  const value = Number(match[1]);
  const unit = match[2] ?? 'ms';
  const factor = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return Math.round(value * factor);
}

/** Parses "1g", "512m", "64k" or a bare number of bytes. */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a size: use a number with k, m, g or t (e.g. "1g", "512m")`);
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
}

const duration = (fallback: string) => z.string().default(fallback).transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const bytes = (fallback: string) => z.string().default(fallback).transform((text, ctx) => {
  try {
    return parseBytes(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Variable name -> schema with its default. The defaults are the documented ones. */
const schema = z.object({
  // 0 asks the OS for a free port (tests use it).
  PORT: integer(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  BERTH_PORT_DOMAIN: z
    .string()
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?(:\d{1,5})?$/i, 'use a host name whose subdomains all point at Berth, with an optional port, e.g. ports.example.com or localhost:8080')
    .optional(),
  DOCKER_HOST: z
    .string()
    .regex(/^(unix:\/\/\/.+|tcp:\/\/[^:/]+:\d+)$/, 'use unix:///path/to/docker.sock or tcp://host:port')
    .default('unix:///var/run/docker.sock'),
  BERTH_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  BERTH_DATA_DIR: z.string().min(1).default('.berth'),
  BERTH_DB: z.string().min(1).optional(),
  BERTH_STATIC_DIR: z.string().min(1).default('dist'),
  BERTH_LESSONS_DIR: z.string().min(1).default('lessons'),
  BERTH_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'use lower-case letters, digits and dashes (at most 31)')
    .default('berth'),
  BERTH_SANDBOX_IMAGE: z.string().min(1).default('berth/sandbox:latest'),
  BERTH_REGISTRY_MIRROR: z.string().url().or(z.literal('')).default('http://berth-registry:5000'),
  BERTH_REGISTRY_CONTAINER: z.string().default('berth-registry'),
  BERTH_SANDBOX_SUBNETS: z
    .string()
    .regex(/^\d+\.\d+\.\d+\.\d+\/(8|9|1\d|2[0-8])$/, 'use an IPv4 range in CIDR form with a prefix of /8 to /28, e.g. 172.30.0.0/16')
    .default('172.30.0.0/16'),
  BERTH_SANDBOX_INTERNET: z.enum(['true', 'false']).default('false'),
  BERTH_SANDBOX_MEMORY: bytes('1g'),
  BERTH_SANDBOX_CPUS: z.coerce.number().positive().max(64).default(1),
  BERTH_SANDBOX_PIDS: integer(64, 1_000_000).default(1000),
  BERTH_SANDBOX_DISK: bytes('10g'),
  BERTH_POOL_IDLE: integer(0, 100).default(2),
  BERTH_POOL_MAX: integer(1, 1000).default(40),
  // Generous: on a loaded host a boot takes 30 s and more (measured at load 30 on 2 cores), and
  // one given up on near its end is all that work again, which loads the host further.
  BERTH_SANDBOX_READY_TIMEOUT: duration('90s'),
  BERTH_SESSION_TTL: duration('4h'),
  BERTH_SESSION_TTL_MAX: duration('8h'),
  BERTH_EXEC_TIMEOUT: duration('60s'),
  // "0" (off) or a duration: a session nobody typed in for this long is ended.
  BERTH_SESSION_IDLE_TIMEOUT: duration('0'),
  BERTH_CLIENT_MAX_SESSIONS: integer(1, 1000).default(3),
  BERTH_CLIENT_SESSIONS_PER_MINUTE: integer(1, 100_000).default(10),
  BERTH_ADMIN_TOKEN: z.string().min(16, 'use at least 16 characters (e.g. openssl rand -hex 24)').optional(),
});

export type ConfigEnv = z.input<typeof schema>;
export const configVariables = Object.keys(schema.shape) as (keyof ConfigEnv)[];

export interface Config {
  /** portDomain: published ports are also served at <port>-<instance>-<session hex>.<portDomain>. */
  http: { port: number; host: string; portDomain?: string };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where the engine's API answers: unix:///path or tcp://host:port. */
  dockerHost: string;
  /** SQLite file holding sessions. */
  dbPath: string;
  /** Built UI (vite build output) served at /. */
  staticDir: string;
  lessonsDir: string;
  /** Label value that marks this deployment's engine objects; two deployments (or test runs) on one engine never touch each other's. */
  namespace: string;
  sandbox: {
    image: string;
    registryMirror: string;
    /** Container serving the mirror; attached to every sandbox network under the mirror's host name. */
    registryContainer: string;
    /** Range each sandbox's private /28 network is carved from. */
    subnets: string;
    /** Whether sandboxes may reach beyond their own network (the internet); off by default. */
    internet: boolean;
    memoryBytes: number;
    cpus: number;
    pids: number;
    /** Size of the sandbox disk, which holds everything the learner writes outside memory. */
    diskBytes: number;
    readyTimeoutMs: number;
  };
  pool: { idle: number; max: number };
  session: { ttlMs: number; ttlMaxMs: number; idleTimeoutMs: number };
  /** Per client (browser, else address): sessions at once, and new sessions per minute. */
  limits: { maxSessions: number; perMinute: number };
  execTimeoutMs: number;
  /** Bearer token of the admin API; without one the admin API is off. */
  adminToken: string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment; every problem is named with its variable and how to fix it. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant = Object.fromEntries(
    configVariables.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]),
  );
  // An empty mirror is meaningful ("no mirror"), so keep it even though it is empty.
  if (env.BERTH_REGISTRY_MIRROR === '') relevant.BERTH_REGISTRY_MIRROR = '';
  const parsed = schema.safeParse(relevant);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `  ${key}=${JSON.stringify(env[key])}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}\nSee docs/configuration.md for every setting.`);
  }
  const c = parsed.data;
  if (c.BERTH_SESSION_TTL > c.BERTH_SESSION_TTL_MAX) {
    throw new ConfigError(
      `Invalid configuration:\n  BERTH_SESSION_TTL (${c.BERTH_SESSION_TTL} ms) is longer than BERTH_SESSION_TTL_MAX (${c.BERTH_SESSION_TTL_MAX} ms)`,
    );
  }
  if (c.BERTH_POOL_IDLE > c.BERTH_POOL_MAX) {
    throw new ConfigError(
      `Invalid configuration:\n  BERTH_POOL_IDLE (${c.BERTH_POOL_IDLE}) is larger than BERTH_POOL_MAX (${c.BERTH_POOL_MAX})`,
    );
  }
  return {
    http: { port: c.PORT, host: c.HOST, portDomain: c.BERTH_PORT_DOMAIN },
    logLevel: c.BERTH_LOG_LEVEL,
    dockerHost: c.DOCKER_HOST,
    dbPath: c.BERTH_DB ?? path.join(c.BERTH_DATA_DIR, 'berth.sqlite'),
    staticDir: c.BERTH_STATIC_DIR,
    lessonsDir: c.BERTH_LESSONS_DIR,
    namespace: c.BERTH_NAMESPACE,
    sandbox: {
      image: c.BERTH_SANDBOX_IMAGE,
      registryMirror: c.BERTH_REGISTRY_MIRROR,
      registryContainer: c.BERTH_REGISTRY_CONTAINER,
      subnets: c.BERTH_SANDBOX_SUBNETS,
      internet: c.BERTH_SANDBOX_INTERNET === 'true',
      memoryBytes: c.BERTH_SANDBOX_MEMORY,
      cpus: c.BERTH_SANDBOX_CPUS,
      pids: c.BERTH_SANDBOX_PIDS,
      diskBytes: c.BERTH_SANDBOX_DISK,
      readyTimeoutMs: c.BERTH_SANDBOX_READY_TIMEOUT,
    },
    pool: { idle: c.BERTH_POOL_IDLE, max: c.BERTH_POOL_MAX },
    session: { ttlMs: c.BERTH_SESSION_TTL, ttlMaxMs: c.BERTH_SESSION_TTL_MAX, idleTimeoutMs: c.BERTH_SESSION_IDLE_TIMEOUT },
    limits: { maxSessions: c.BERTH_CLIENT_MAX_SESSIONS, perMinute: c.BERTH_CLIENT_SESSIONS_PER_MINUTE },
    execTimeoutMs: c.BERTH_EXEC_TIMEOUT,
    adminToken: c.BERTH_ADMIN_TOKEN,
  };
}
