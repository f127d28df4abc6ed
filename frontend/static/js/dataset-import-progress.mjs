// An import's page while it runs: read its API again every few seconds with the ETag of the last answer
// (the API answers 304 when nothing changed), move the progress bar and say what the import is doing.
// Once the import has ended, the page loads once more for its report. Without JavaScript the page is as
// it was when loaded.

import { apiFetchIfChanged } from "./api.mjs";
import { followUntilEnded } from "./page-follow.mjs";

const POLL_MS = 2000;
const ENDED = Object.freeze(["SUCCEEDED", "FAILED"]);

const root = document.getElementById("dataset-import-progress");
const bar = document.getElementById("import-progress");
const stage = document.getElementById("import-stage");
const statusLine = document.getElementById("import-status");
const note = document.getElementById("progress-note");
let etag = null;

function render(dataset_import) {
  statusLine.textContent = dataset_import.status.charAt(0) + dataset_import.status.slice(1).toLowerCase();
  if (dataset_import.progress_total > 0) {
    bar.max = dataset_import.progress_total;
    bar.value = dataset_import.progress_done;
    stage.textContent = `${dataset_import.progress_stage} (${dataset_import.progress_done} of ${dataset_import.progress_total})`;
  }
}

async function poll() {
  const answer = await apiFetchIfChanged(root.dataset.url, etag);
  if (!answer.changed) {
    return false;
  }
  etag = answer.etag;
  render(answer.json);
  return ENDED.includes(answer.json.status);
}

if (!ENDED.includes(root.dataset.status)) {
  followUntilEnded({ poll, note, sentence: "This page updates itself while the import runs.", everyMs: POLL_MS });
}
