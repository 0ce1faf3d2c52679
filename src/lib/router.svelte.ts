/**
 * History routing for a handful of routes. Same-origin links are intercepted in App.svelte, so
 * plain `<a href>` works everywhere and a full reload lands on the same page (the server answers
 * unknown paths with index.html).
 */
class Router {
  path = $state(location.pathname);

  constructor() {
    addEventListener('popstate', () => {
      this.path = location.pathname;
    });
  }

  navigate(href: string, { replace = false } = {}): void {
    const url = new URL(href, location.href);
    if (url.origin !== location.origin) {
      location.assign(url);
      return;
    }
    const target = url.pathname + url.search + url.hash;
    if (target === location.pathname + location.search + location.hash) return;
    if (replace) history.replaceState(null, '', target);
    else history.pushState(null, '', target);
    this.path = url.pathname;
    if (!url.hash) scrollTo(0, 0);
  }
}

export const router = new Router();

export type Route = { name: 'catalogue' } | { name: 'lesson'; id: string } | { name: 'not-found' };

export function matchRoute(path: string): Route {
  if (path === '/' || path === '') return { name: 'catalogue' };
  const lesson = /^\/lessons\/([a-z0-9-]+)\/([a-z0-9-]+)\/?$/.exec(path);
  if (lesson) return { name: 'lesson', id: `${lesson[1]}/${lesson[2]}` };
  return { name: 'not-found' };
}

export function lessonHref(id: string): string {
  return `/lessons/${id}`;
}
