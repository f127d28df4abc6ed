// The algorithm upload page: send the chosen image archive to the portal in chunks through the API
// (chunked-upload.mjs: resumable, an upload cut short is kept per file, so choosing the same file again
// resumes it), then go to the submission's jobs page.

import { chunkedUploadRun } from "./chunked-upload.mjs";

const root = document.getElementById("algorithm-upload");
const fileInput = document.getElementById("image-file");
const checkOnly = document.getElementById("check-only");
const button = document.getElementById("upload-button");
const progress = document.getElementById("upload-progress");
const status = document.getElementById("upload-status");

// A check-only try and a real submission of the same file are two uploads.
function storageKey(file) {
  const kind = checkOnly.checked ? "check-only" : "submission";
  return `algorithm-upload:${root.dataset.phase}:${kind}:${file.name}:${file.size}:${file.lastModified}`;
}

function show(upload) {
  progress.value = Math.floor((100 * upload.received_bytes) / upload.total_bytes);
  status.textContent = `${(upload.received_bytes / 1e6).toFixed(1)} of ${(upload.total_bytes / 1e6).toFixed(1)} MB sent.`;
}

async function uploadRun(file) {
  const upload = await chunkedUploadRun({
    file,
    storageKey: storageKey(file),
    startUrl: root.dataset.startUrl,
    startBody: { total_bytes: file.size, check_only: checkOnly.checked },
    uploadUrl: (id) => `/api/algorithm-uploads/${id}/`,
    isDone: (answer) => answer.submission !== null,
    onProgress: show,
    onRetry: (sentence) => {
      status.textContent = sentence;
    },
  });
  return upload.submission;
}

button.addEventListener("click", async () => {
  const file = fileInput.files[0];
  if (!file) {
    status.textContent = "Choose the image archive first.";
    return;
  }
  button.disabled = true;
  try {
    const submission = await uploadRun(file);
    status.textContent = checkOnly.checked
      ? "Uploaded; the image is checked now, then its sanity case runs (check only: not scored, not counted)."
      : "Uploaded; the image is checked now, then run case by case.";
    window.location.assign(`/algorithms/submissions/${submission}/jobs/`);
  } catch (error) {
    status.textContent = error.message;
  } finally {
    button.disabled = false;
  }
});
