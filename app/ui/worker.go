package ui

// workerJS is the service worker template (go-app fills in {{.Version}} and
// {{.ResourcesToCache}}). It differs from go-app's default where the
// dashboard needs it to:
//   - install waits for the whole app shell to be cached (event.waitUntil),
//     so an installed worker can always start the page offline;
//   - a navigation to a page not cached (a /vehicle/{id} address) goes to
//     the network and, when that fails, gets the cached "/" shell: go-app
//     routes on the client, so the vehicle view opens offline too;
//   - it does not claim the page that installed it: go-app announces an
//     update when a worker activates while the page has a controller, so a
//     claim would offer a "new version" on the very first visit;
//   - the live data (/data*, /ws and the other API routes) is never served
//     from the cache: what the page shows offline comes from its own saved
//     snapshot, marked as such.
const workerJS = `// FleetPulse service worker, version {{.Version}}.
const cacheName = "fleetpulse-" + "{{.Version}}";
const shell = {{.ResourcesToCache}};
const live = /^\/(data|ws|ingest|metrics|healthz|readyz|openapi\.json)(\/|$|\?)/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(cacheName)
      .then((cache) => cache.addAll(shell))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== cacheName).map((k) => caches.delete(k))))

  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin || live.test(url.pathname)) {
    return; // the network, as without a worker
  }
  event.respondWith(answer(req));
});

async function answer(req) {
  const cached = await caches.match(req, { ignoreSearch: req.mode === "navigate" });
  if (cached) {
    return cached;
  }
  try {
    return await fetch(req);
  } catch (err) {
    if (req.mode === "navigate") {
      const page = await caches.match("/");
      if (page) {
        return page;
      }
    }
    throw err;
  }
}
`
