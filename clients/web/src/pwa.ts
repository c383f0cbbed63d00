/**
 * The service worker (built by vite-plugin-pwa with Workbox): the app opens offline from its
 * precache. A new deployment installs beside the running one and waits; the app offers it as
 * "update available", and only when the person accepts does the new worker take over and the
 * page reload, so no page ever mixes two versions' files.
 */
export function registerServiceWorker(onUpdate: (apply: () => void) => void): void {
  // Not under Vite's dev server (hot reload, no worker built); any build, whatever NODE_ENV.
  if (import.meta.hot || !('serviceWorker' in navigator)) return;
  let accepted = false;
  const offer = (worker: ServiceWorker) =>
    onUpdate(() => {
      accepted = true;
      worker.postMessage({ type: 'SKIP_WAITING' });
    });
  // The first worker takes control without a reload (clientsClaim); only an accepted update
  // reloads the page.
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (accepted) window.location.reload();
  });
  void navigator.serviceWorker
    .register('/sw.js', { scope: '/' })
    .then((reg) => {
      if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
      reg.addEventListener('updatefound', () => {
        const worker = reg.installing;
        worker?.addEventListener('statechange', () => {
          if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
        });
      });
      // A tab left open finds new deployments too: when it comes back into view.
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') void reg.update().catch(() => {});
      });
    })
    .catch(() => {
      // No service worker (private mode, an old browser): the app works online as before.
    });
}
