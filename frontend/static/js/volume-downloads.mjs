// The page's side of volume downloads: one worker (volume-downloader.mjs) fetches every volume the viewer
// shows, and this module hands each download's bytes, or a sentence of why there are none, to the viewer.
// A page may download volumes ahead of need (volumePrefetch): the viewer then takes their bytes.

// The page's one downloader worker, started by the first download. `pending` maps a download's id to
// what it waits for: { requested, settle }.
const downloads = { worker: null, next: 0, pending: new Map() };

// The volumes downloaded ahead of need (volumePrefetch), by URL: the last set a page asked for.
let prefetched = new Map();

function downloaderWorker() {
  if (downloads.worker === null) {
    downloads.worker = new Worker(new URL("./volume-downloader.mjs", import.meta.url), { type: "module" });
    downloads.worker.addEventListener("message", ({ data }) => {
      const download = downloads.pending.get(data.id);
      if (data.requested) {
        download.requested();
        return;
      }
      if ("first" in data) {
        download.first(data.first);
        return;
      }
      downloads.pending.delete(data.id);
      download.first(null);
      download.settle(data);
    });
    downloads.worker.addEventListener("error", () => {
      for (const download of downloads.pending.values()) {
        download.requested();
        download.first(null);
        download.settle({ status: 0, reason: "the page's downloader did not start" });
      }
      downloads.pending.clear();
    });
  }
  return downloads.worker;
}

// The download of the bytes at `url` by the worker: `requested` resolves once the request is on its way,
// `bytes` with the bytes. An error names the volume and gives the server's sentence, or the HTTP status,
// and says to reload where that may help. With `firstFrame`, `first` resolves, before `bytes` where it can,
// with the first frame of a 4D NIfTI as a 3D NIfTI of its own (volume-downloader.mjs), or null: the volume
// is not one, or it came from a prefetch.
export function volumeDownload(url, name, { firstFrame = false } = {}) {
  const ahead = prefetched.get(url);
  if (ahead !== undefined) {
    // A copy for each taker: NiiVue keeps views of the bytes it parses, and two panes may show one file.
    // A prefetch that failed is tried again, as a download of its own.
    const bytes = ahead.bytes.then(
      (buffer) => buffer.slice(0),
      () => workerDownload(url, name).bytes,
    );
    return { requested: Promise.resolve(), bytes, first: Promise.resolve(null) };
  }
  return workerDownload(url, name, firstFrame);
}

// Download `files` ({url, name}) now, for a later volumeDownload of any of them to take; the files of an
// earlier call that are not among them are let go. A reading page asks for the next item's files while
// the reader reads the current one.
export function volumePrefetch(files) {
  const kept = new Map();
  for (const { url, name } of files) {
    const download = prefetched.get(url) ?? workerDownload(url, name);
    download.bytes.catch(() => {}); // a failed prefetch is seen by its taker, if there is one
    kept.set(url, download);
  }
  prefetched = kept;
}

function workerDownload(url, name, firstFrame = false) {
  const id = downloads.next;
  downloads.next += 1;
  const download = {};
  const requested = new Promise((resolve) => {
    download.requested = resolve;
  });
  const first = new Promise((resolve) => {
    download.first = resolve; // a second call does nothing
  });
  const bytes = new Promise((resolve, reject) => {
    download.settle = ({ status, buffer, reason }) => {
      if (status === 200) {
        resolve(buffer);
        return;
      }
      const sentence = /[.!?]$/.test(reason) ? reason : `${reason}.`;
      const advice = status >= 400 && status < 500 ? "" : " Reload the page to try again.";
      reject(new Error(`${name} could not be downloaded: ${sentence}${advice}`));
    };
  });
  downloads.pending.set(id, download);
  downloaderWorker().postMessage({ id, url, firstFrame });
  return { requested, bytes, first };
}
