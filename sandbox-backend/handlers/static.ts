/** Serves the built UI with SPA fallback, or says how to build it when it is missing. */
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';

export function createStaticHandler(dir: string): (req: IncomingMessage, res: ServerResponse) => void {
  const index = path.join(dir, 'index.html');
  if (!fs.existsSync(index)) {
    return (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`The UI is not built (no ${index}). Run "npm start", or "npm run build" and restart.\n`);
    };
  }
  // Hashed assets never change under their name; index.html must always be revalidated.
  const serve = sirv(dir, {
    single: true,
    etag: true,
    gzip: true,
    brotli: true,
    setHeaders(res, pathname) {
      res.setHeader('cache-control', pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return (req, res) => serve(req, res);
}
