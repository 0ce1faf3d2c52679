import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, leftovers, startBackend, type TestBackend } from '../support/backend.ts';

let backend: TestBackend;
let lessonsDir: string;

function lesson(dir: string, nodes: number): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'lesson.md'),
    `---\ntitle: Three nodes\nsummary: A lesson that needs ${nodes} machines.\nnodes: ${nodes}\n---\n\n## Step\n\n\`\`\`sh run\nhostname\n\`\`\`\n`,
  );
}

beforeAll(async () => {
  lessonsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lessons-'));
  fs.mkdirSync(path.join(lessonsDir, '01-cluster'));
  fs.writeFileSync(path.join(lessonsDir, '01-cluster', 'module.yml'), 'title: Cluster\nsummary: Several nodes.\n');
  lesson(path.join(lessonsDir, '01-cluster', '01-three-nodes'), 3);
  backend = await startBackend({ BERTH_LESSONS_DIR: lessonsDir, BERTH_POOL_IDLE: '2' });
});

afterAll(async () => {
  await backend?.stop();
  fs.rmSync(lessonsDir, { recursive: true, force: true });
});

const run = async (sessionId: string, node: string, script: string) =>
  (await api(backend.url, 'POST', `/api/sessions/${sessionId}/instances/${node}/exec`, { cmd: ['bash', '-c', script] })).json as {
    exitCode: number;
    output: string;
  };

describe('sessions with several nodes', () => {
  it('creates the nodes a lesson declares, on one private network where they reach each other by name', async () => {
    const created = await api(backend.url, 'POST', '/api/sessions', { lesson: 'cluster/three-nodes' });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(created.json.instances.map((i: { name: string }) => i.name)).toEqual(['node1', 'node2', 'node3']);

    for (const node of ['node1', 'node2', 'node3']) expect((await run(id, node, 'hostname')).output).toBe(`${node}\n`);
    // node2 and node3 resolve node1 (and each other) to their addresses on the session network.
    const node1Address = (await run(id, 'node1', "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")).output.trim();
    expect((await run(id, 'node2', 'getent hosts node1 | cut -d" " -f1')).output.trim()).toBe(node1Address);
    expect((await run(id, 'node3', 'ping -c1 -W2 node2 >/dev/null && echo reached')).output).toContain('reached');

    // A port published inside node1 is reachable from node2.
    expect((await run(id, 'node1', 'docker run -d -p 8080:80 --name web nginx >/dev/null && echo up')).exitCode).toBe(0);
    const page = await run(id, 'node2', 'for i in $(seq 50); do curl -sf node1:8080 && exit 0; sleep 0.2; done; exit 1');
    expect(page.output).toMatch(/nginx/i);

    // Swarm across the nodes, as the orchestration lesson does it.
    expect((await run(id, 'node1', `docker swarm init --advertise-addr ${node1Address} >/dev/null && echo manager`)).output).toContain('manager');
    const token = (await run(id, 'node1', 'docker swarm join-token -q worker')).output.trim();
    expect((await run(id, 'node2', `docker swarm join --token ${token} node1:2377`)).output).toMatch(/joined a swarm as a worker/);
    const nodes = await run(id, 'node1', 'docker node ls --format "{{.Hostname}} {{.Status}}"');
    expect(nodes.output).toMatch(/node2 Ready/);

    await api(backend.url, 'DELETE', `/api/sessions/${id}`);
  });

  it('adds and removes nodes through the API, up to five', async () => {
    const { json: session } = await api(backend.url, 'POST', '/api/sessions', {});
    const added = await api(backend.url, 'POST', `/api/sessions/${session.id}/instances`, {});
    expect(added).toEqual({ status: 201, json: { name: 'node2' } });
    expect((await run(session.id, 'node2', 'ping -c1 -W2 node1 >/dev/null && hostname')).output).toBe('node2\n');

    for (const name of ['node3', 'node4', 'node5']) {
      expect((await api(backend.url, 'POST', `/api/sessions/${session.id}/instances`, {})).json.name).toBe(name);
    }
    const sixth = await api(backend.url, 'POST', `/api/sessions/${session.id}/instances`, {});
    expect(sixth.status).toBe(409);
    expect(sixth.json.error.message).toMatch(/at most 5/);

    expect((await api(backend.url, 'DELETE', `/api/sessions/${session.id}/instances/node3`)).status).toBe(204);
    const { json: after } = await api(backend.url, 'GET', `/api/sessions/${session.id}`);
    expect(after.instances.map((i: { name: string }) => i.name)).toEqual(['node1', 'node2', 'node4', 'node5']);
    const refused = await api(backend.url, 'DELETE', `/api/sessions/${session.id}/instances/node1`);
    expect(refused.status).toBe(409);
    // The freed name is reused.
    expect((await api(backend.url, 'POST', `/api/sessions/${session.id}/instances`, {})).json.name).toBe('node3');

    await api(backend.url, 'DELETE', `/api/sessions/${session.id}`);
    await backend.app.pool.whenFilled();
    const left = await leftovers(backend.engine, backend.namespace);
    expect(left.containers).toHaveLength(2);
  });

  it('refuses an unknown lesson with a clear message', async () => {
    const res = await api(backend.url, 'POST', '/api/sessions', { lesson: 'cluster/no-such-lesson' });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/no lesson "cluster\/no-such-lesson"/);
  });
});
