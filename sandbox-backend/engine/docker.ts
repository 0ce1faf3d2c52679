/** The Engine API client. Only the driver and the health check talk to the engine through it. */
import Docker from 'dockerode';

export type Engine = Docker;

export function connectEngine(dockerHost: string): Engine {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port), protocol: 'http' });
}

/** Resolves to the engine's version, or rejects with an error saying where we looked. */
export async function pingEngine(engine: Engine, dockerHost: string): Promise<string> {
  try {
    const version = await engine.version();
    return version.Version;
  } catch (error) {
    throw new Error(`The Docker engine at ${dockerHost} does not answer (${(error as Error).message}). Start it with "npm start" (which starts dockerd) or set DOCKER_HOST.`);
  }
}
