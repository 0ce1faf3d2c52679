/**
 * A hostile web app for a sandbox: what a learner (or anyone who shares a link) could publish.
 * nginx in an inner container answers every page with a script that tries to reach Berth's
 * storage, cookies, service workers and API, plus the headers that act on a whole origin; it
 * also echoes the request headers it received at /headers. Shared by the adversarial suite
 * (over HTTP) and the browser spec (in Chromium).
 */

export const HOSTILE_PORT = 8090;

/** The page's script; it leaves what it managed in `window.attack` (a promise). */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>hostile</title></head>
<body><h1>hostile page</h1>
<script>
window.attack = (async () => {
  const result = { origin: self.origin };
  const attempt = async (name, act) => {
    try { result[name] = await act(); } catch (error) { result[name] = 'blocked: ' + (error && error.name); }
  };
  await attempt('localStorage', () => localStorage.getItem('berth-secret'));
  await attempt('cookie', () => document.cookie);
  await attempt('plantCookie', () => { document.cookie = 'planted=1; path=/'; return document.cookie; });
  await attempt('serviceWorker', async () => (await navigator.serviceWorker.register('sw.js', { scope: './' })) && 'registered');
  await attempt('api', async () => (await (await fetch('/healthz', { credentials: 'include' })).text()));
  return result;
})();
</script></body></html>
`;

const WORKER = `self.addEventListener('fetch', (event) => event.respondWith(new Response('owned by the hostile worker')));\n`;

const NGINX = `server {
  listen 80;
  location = /headers {
    default_type application/json;
    return 200 '{"authorization":"$http_authorization","cookie":"$http_cookie","proxyAuthorization":"$http_proxy_authorization","berthClient":"$http_x_berth_client","forwardedFor":"$http_x_forwarded_for","forwardedProto":"$http_x_forwarded_proto","forwardedHost":"$http_x_forwarded_host","forwarded":"$http_forwarded","realIp":"$http_x_real_ip"}';
  }
  location / {
    root /hostile;
    add_header Set-Cookie "stolen=1; Path=/" always;
    add_header Set-Cookie "shared=1; Domain=localhost; Path=/" always;
    add_header Service-Worker-Allowed "/" always;
    add_header Clear-Site-Data '"*"' always;
    add_header Origin-Agent-Cluster "?0" always;
    add_header Content-Security-Policy "default-src * 'unsafe-inline'" always;
  }
}
`;

/** A bash script for the exec API that starts the hostile server on HOSTILE_PORT of the instance. */
export const startHostileServer = [
  'set -e',
  'mkdir -p /root/hostile',
  `cat > /root/hostile/index.html <<'BERTH_EOF'\n${PAGE}BERTH_EOF`,
  `cat > /root/hostile/sw.js <<'BERTH_EOF'\n${WORKER}BERTH_EOF`,
  `cat > /root/hostile.conf <<'BERTH_EOF'\n${NGINX}BERTH_EOF`,
  `docker run -d --name hostile -p ${HOSTILE_PORT}:80 -v /root/hostile:/hostile:ro -v /root/hostile.conf:/etc/nginx/conf.d/default.conf:ro nginx`,
].join('\n');

/**
 * A bash script for the exec API: a server on each port that accepts any upgrade and then echoes
 * what it receives (one connection at a time per port).
 */
export function startUpgradeEcho(ports: number[]): string {
  const loops = ports.map((port) => `(while true; do nc -l -p ${port} -e /upgrade.sh; done) &`).join(' ');
  return (
    `printf '#!/bin/sh\\nprintf "HTTP/1.1 101 Switching Protocols\\\\r\\\\nUpgrade: websocket\\\\r\\\\nConnection: Upgrade\\\\r\\\\n\\\\r\\\\n"\\nexec cat\\n' > /root/upgrade.sh && chmod +x /root/upgrade.sh && ` +
    `docker run -d ${ports.map((port) => `-p ${port}:${port}`).join(' ')} -v /root/upgrade.sh:/upgrade.sh busybox sh -c '${loops} wait'`
  );
}

/** What the hostile page's script managed. */
export interface AttackResult {
  origin: string;
  localStorage: string | null;
  cookie: string;
  plantCookie: string;
  serviceWorker: string;
  api: string;
}

/** Fills a session's portUrlTemplate. */
export function portLink(template: string, instance: string, port: number): string {
  return template.replace('{instance}', instance).replace('{port}', String(port));
}

/** The port token a template carries, in either form. */
export function tokenOf(template: string): string {
  const host = /-([0-9a-f]{32})\./.exec(template);
  if (host) return Buffer.from(host[1]!, 'hex').toString('base64url');
  return decodeURIComponent(/^\/s\/([^/]+)\//.exec(template)![1]!);
}
