/**
 * "Ready means ready": a node the API hands out reaches its session (node1 and the other nodes,
 * by name) and the registry mirror at once, even while the machine is loaded. Seen before: a 201
 * for a node that could not ping node1 for two seconds during a busy test run.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startBackend, type TestBackend } from '../support/backend.ts';

let backend: TestBackend;

beforeAll(async () => {
  backend = await startBackend({ BERTH_POOL_IDLE: '2' });
});

afterAll(async () => {
  await backend?.stop();
});

const run = async (sessionId: string, node: string, script: string) =>
  (await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/${node}/exec`, { cmd: ['sh', '-c', script] })).json as {
    exitCode: number;
    output: string;
  };

it('hands out nodes that reach node1, each other and the mirror the moment the API answers, on a loaded machine', async () => {
  // Load: a session spinning a CPU (its sandbox's whole share), then a burst of starts beside it.
  const { json: hog } = await api(backend.url, 'POST', '/api/sessions', {});
  expect((await run(hog.id, 'node1', 'docker run -d busybox sh -c "while :; do :; done" >/dev/null 2>&1 && echo spinning')).output).toBe('spinning\n');
  const { json: learner } = await api(backend.url, 'POST', '/api/sessions', {});

  const burst = Array.from({ length: 3 }, () => api(backend.url, 'POST', '/api/sessions', {}));
  // Two nodes asked for at once, while the burst boots: each gets its own name.
  const added = await Promise.all(
    [0, 1].map(async () => {
      const started = performance.now();
      const answer = await api(backend.url, 'POST', `/api/sessions/${learner.id}/instances`, {});
      const ms = Math.round(performance.now() - started);
      expect(answer.status).toBe(201);
      const name = answer.json.name as string;
      // One try each, straight after the 201: no retry loop that would hide a node not yet there.
      const reached = await run(learner.id, name, 'ping -c1 -W2 node1 >/dev/null && echo pinged-node1 && docker pull -q busybox >/dev/null && echo pulled');
      return { name, ms, reached };
    }),
  );
  expect(added.map((a) => a.name).sort()).toEqual(['node2', 'node3']);
  for (const node of added) expect({ node: node.name, ...node.reached }).toEqual({ node: node.name, exitCode: 0, output: 'pinged-node1\npulled\n' });
  // And back: node1 and the new nodes reach each other by name.
  expect((await run(learner.id, 'node1', 'ping -c1 -W2 node2 >/dev/null && ping -c1 -W2 node3 >/dev/null && echo both')).output).toBe('both\n');
  expect((await run(learner.id, 'node3', 'ping -c1 -W2 node2 >/dev/null && echo peer')).output).toBe('peer\n');

  const started = await Promise.all(burst);
  expect(started.map((s) => s.status)).toEqual([201, 201, 201]);
  // Every learner of the burst got a working machine, too.
  for (const s of started) expect((await run(s.json.id, 'node1', 'docker pull -q busybox >/dev/null && echo pulled')).output).toBe('pulled\n');
  console.log(`node add under load: ${added.map((a) => `${a.name} ${a.ms} ms`).join(', ')}`);

  for (const id of [hog.id, learner.id, ...started.map((s) => s.json.id)]) await api(backend.url, 'DELETE', `/api/sessions/${id}`);
  // Seven sandboxes booting on a loaded 2-core machine: minutes, not the usual seconds.
}, 400_000);
