/**
 * Issue 3, "Isolation and least privilege": where a sandbox's traffic can go. Every attempt is a
 * single short try from inside a real sandbox (its shell, and an inner container). Addresses that
 * could leave the machine are only ever tried where the host drops the packet, and the host's
 * drop counters show that it did. The network is closed and watched: keep it that way.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, waitFor, type TestBackend } from '../support/backend.ts';
import { hostAddresses, iptablesPackets, must, newSession, run, sandboxOf } from './support.ts';

let backend: TestBackend;
let port: number;
let a: string;
let b: string;
let aNetwork: { bridge: string; subnet: string; gateway: string };
let bAddress: string;

beforeAll(async () => {
  // The documented host set-up (docs/security.md): without it the host's own services, the
  // backend included, answer on every bridge address. Idempotent.
  execFileSync('bash', ['scripts/host-firewall.sh'], { stdio: 'pipe' });
  backend = await startBackend({ HOST: '0.0.0.0', BERTH_POOL_IDLE: '0' });
  port = Number(new URL(backend.url).port);
  a = await newSession(backend);
  b = await newSession(backend);
  const aSandbox = await sandboxOf(backend, a);
  const [name, endpoint] = Object.entries(aSandbox.NetworkSettings.Networks)[0]!;
  const network = await backend.engine.getNetwork(name).inspect();
  aNetwork = {
    bridge: network.Options?.['com.docker.network.bridge.name'] ?? '',
    subnet: network.IPAM?.Config?.[0]?.Subnet ?? '',
    gateway: endpoint.Gateway,
  };
  expect(aNetwork.bridge).toMatch(/^brth/);
  expect(network.Internal).toBe(true);
  bAddress = Object.values((await sandboxOf(backend, b)).NetworkSettings.Networks)[0]!.IPAddress;
  await must(backend, a, 'docker pull -q busybox >/dev/null');
});

afterAll(async () => {
  await backend?.stop();
});

/** One short HTTP try per URL, all at once; prints "<url> <status>" (000: no answer). */
function tryAll(urls: string[]): string {
  return `${urls.map((u) => `(echo "${u} $(curl -s -m 2 -o /dev/null -w '%{http_code}' ${u})") &`).join(' ')} wait`;
}

describe("the host's services", () => {
  it("are out of reach: the backend's API on every host address, which the host itself reaches", async () => {
    const addresses = [...new Set([aNetwork.gateway, ...hostAddresses()])];
    const urls = addresses.map((address) => `http://${address}:${port}/healthz`);
    // Control: the backend listens on all of them.
    for (const url of urls) expect((await fetch(url)).status, url).toBe(200);

    const fromShell = await run(backend, a, tryAll(urls));
    for (const url of urls) expect(fromShell.output, 'from the sandbox shell').toContain(`${url} 000`);
    const fromContainer = await run(
      backend,
      a,
      `docker run --rm busybox sh -c '${urls.map((u) => `(wget -q -T 2 -O /dev/null ${u} && echo "${u} REACHED") &`).join(' ')} wait'`,
    );
    expect(fromContainer.output, 'from an inner container').not.toContain('REACHED');
  });

  it("include no Docker engine: not the host's socket, and not over TCP", async () => {
    const hostEngine = (await backend.engine.info()).ID as string;
    // The `docker` a learner uses answers, and it is the sandbox's own engine.
    expect((await must(backend, a, "docker info --format '{{.ID}}'")).trim()).not.toBe(hostEngine);
    const sandbox = await sandboxOf(backend, a);
    expect(sandbox.Mounts.map((m) => m.Destination)).toEqual(['/var/lib/docker']);
    const urls = [aNetwork.gateway, ...hostAddresses()].flatMap((address) => [`http://${address}:2375/version`, `http://${address}:2376/version`]);
    const attempt = await run(backend, a, tryAll(urls));
    for (const url of urls) expect(attempt.output).toContain(`${url} 000`);
  });
});

describe('other sessions', () => {
  it("are out of reach: another session's sandbox, and its published port, which the host reaches", async () => {
    await must(backend, b, 'docker run -d -p 8080:80 --name web nginx >/dev/null');
    const url = `http://${bAddress}:8080/`;
    await waitFor('nginx in the other session to answer the host', async () => (await fetch(url).catch(() => undefined))?.status === 200, 60_000);
    expect(await must(backend, b, `curl -s -m 2 -o /dev/null -w '%{http_code}' ${url}`)).toBe('200');

    const attempt = await run(backend, a, `${tryAll([url])}; ping -c 1 -W 2 ${bAddress} >/dev/null 2>&1 && echo PING-REACHED`);
    expect(attempt.output).toContain(`${url} 000`);
    expect(attempt.output).not.toContain('PING-REACHED');
  });
});

describe('beyond the host', () => {
  it('drops what goes to the cloud metadata address, at the host', async () => {
    const rule = { target: 'DROP', in: 'brth+', destination: '169.254.0.0/16' };
    const before = iptablesPackets('DOCKER-USER', rule);
    const attempt = await run(backend, a, tryAll(['http://169.254.169.254/latest/meta-data/']));
    expect(attempt.output).toContain('http://169.254.169.254/latest/meta-data/ 000');
    expect(iptablesPackets('DOCKER-USER', rule)).toBeGreaterThan(before);
  });

  it('has no way to the internet: a packet for a public address is dropped at the host, before it leaves', async () => {
    // 203.0.113.0/24 is reserved for documentation: even a packet that got out would go nowhere.
    // Docker's rule for an internal network: nothing from its bridge to outside its subnet.
    const rule = { target: 'DROP', in: aNetwork.bridge, destination: `!${aNetwork.subnet}` };
    const before = iptablesPackets('DOCKER-ISOLATION-STAGE-1', rule);
    const attempt = await run(backend, a, tryAll(['http://203.0.113.1/']));
    expect(attempt.output).toContain('http://203.0.113.1/ 000');
    expect(iptablesPackets('DOCKER-ISOLATION-STAGE-1', rule)).toBeGreaterThan(before);
  });

  it('still reaches the registry mirror, the one service outside the sandbox it is meant to use', async () => {
    expect(await must(backend, a, "curl -s -m 5 -o /dev/null -w '%{http_code}' http://berth-registry:5000/v2/")).toBe('200');
    expect(await must(backend, a, 'docker pull -q hello-world')).toMatch(/hello-world/);
  });
});

describe('the registry mirror, shared by every session', () => {
  it('is read-only from a sandbox: no upload, new tag or delete, while the host pushes through a twin that sandboxes cannot reach', async () => {
    // A scratch repository, pushed from the host through the writable twin (the control: that
    // is how npm run images fills the mirror), so that a delete that got through harms nothing.
    const repo = `berth-test/scratch-${Date.now().toString(36)}`;
    const local = `127.0.0.1:5000/${repo}:v1`;
    execFileSync('docker', ['tag', '127.0.0.1:5000/library/busybox:latest', local]);
    try {
      execFileSync('docker', ['push', '-q', local], { stdio: 'pipe' });
      const accept = "-H 'Accept: application/vnd.docker.distribution.manifest.v2+json'";
      const base = `http://berth-registry:5000/v2/${repo}`;
      // The mirror serves what the twin wrote, at once.
      const manifest = await must(backend, a, `curl -sf ${accept} ${base}/manifests/v1 -o /tmp/m.json -D - | tr -d '\\r' | sed -n 's/^docker-content-digest: //Ip'`);
      const digest = manifest.trim();
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

      const code = (method: string, url: string, extra = '') => `echo "${method} $(curl -s -m 5 -o /dev/null -w '%{http_code}' -X ${method} ${extra} ${url})"`;
      const attempt = await run(
        backend,
        a,
        [
          code('POST', `${base}/blobs/uploads/`),
          code('PUT', `${base}/manifests/attack`, "-H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' --data-binary @/tmp/m.json"),
          code('DELETE', `${base}/manifests/${digest}`),
        ].join('; '),
      );
      expect(attempt.output).toContain('POST 405');
      expect(attempt.output).toContain('PUT 405');
      expect(attempt.output).toContain('DELETE 405');
      // From the host, through the twin: nothing changed.
      expect((await fetch(`http://127.0.0.1:5000/v2/${repo}/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:5000/v2/${repo}/manifests/attack`, { method: 'HEAD' })).status).toBe(404);

      // The twin is on no sandbox network: its address does not answer from inside.
      const twin = await backend.engine.getContainer('berth-registry-push').inspect();
      const twinAddresses = Object.values(twin.NetworkSettings.Networks).map((n) => n.IPAddress);
      expect(twinAddresses.length).toBeGreaterThan(0);
      const urls = twinAddresses.map((address) => `http://${address}:5000/v2/`);
      const reach = await run(backend, a, tryAll(urls));
      for (const url of urls) expect(reach.output).toContain(`${url} 000`);

      await fetch(`http://127.0.0.1:5000/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
    } finally {
      execFileSync('docker', ['rmi', local], { stdio: 'pipe' });
    }
  });
});
