// The page's side of volume downloads: one worker (volume-downloader.mjs) fetches every volume the viewer
// shows, and this module hands each download's bytes, or a sentence of why there are none, to the viewer.

// The page's one downloader worker, started by the first download. `pending` maps a download's id to
// what it waits for: { requested, settle }.
const downloads = { worker: null, next: 0, pending: new Map() };

function downloaderWorker() {
  if (downloads.worker === null) {
    downloads.worker = new Worker(new URL("./volume-downloader.mjs", import.meta.url), { type: "module" });
    downloads.worker.addEventListener("message", ({ data }) => {
      const download = downloads.pending.get(data.id);
      if (data.requested) {
        download.requested();
        return;
      }
      downloads.pending.delete(data.id);
      download.settle(data);
    });
    downloads.worker.addEventListener("error", () => {
      for (const download of downloads.pending.values()) {
        download.requested();
        download.settle({ status: 0, reason: "the page's downloader did not start" });
      }
      downloads.pending.clear();
    });
  }
  return downloads.worker;
}

// The download of the bytes at `url` by the worker: `requested` resolves once the request is on its way,
// `bytes` with the bytes. An error names the volume and gives the server's sentence, or the HTTP status,
// and says to reload where that may help.
export function volumeDownload(url, name) {
  const id = downloads.next;
  downloads.next += 1;
  const download = {};
  const requested = new Promise((resolve) => {
    download.requested = resolve;
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
  downloaderWorker().postMessage({ id, url });
  return { requested, bytes };
}
