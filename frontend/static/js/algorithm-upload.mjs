// The algorithm upload page: send the chosen image archive to the portal in chunks through the API.
// Each chunk says where it starts (Content-Range); when the portal has more or less than that (a
// chunk was lost, or the page was reloaded), it answers 409 with the offset to go on from. An upload
// cut short is kept by id per file, so choosing the same file again resumes it.

import { answerJson, apiFetch, refusalSentence } from "./api.mjs";

const root = document.getElementById("algorithm-upload");
const fileInput = document.getElementById("image-file");
const checkOnly = document.getElementById("check-only");
const button = document.getElementById("upload-button");
const progress = document.getElementById("upload-progress");
const status = document.getElementById("upload-status");
const RETRIES = 5;
const RETRY_WAIT_MS = 2000;

// A check-only try and a real submission of the same file are two uploads.
function storageKey(file) {
  const kind = checkOnly.checked ? "check-only" : "submission";
  return `algorithm-upload:${root.dataset.phase}:${kind}:${file.name}:${file.size}:${file.lastModified}`;
}

// The answer's status and body; a refusal other than 409 (which says where to go on from) throws its
// sentence.
async function reply(response) {
  if (!response.ok && response.status !== 409) {
    throw new Error(await refusalSentence(response));
  }
  return { status: response.status, body: await answerJson(response) };
}

async function uploadOpen(file) {
  const known = window.localStorage.getItem(storageKey(file));
  if (known) {
    const response = await apiFetch(known);
    if (response.ok) {
      return { url: known, upload: await response.json() };
    }
  }
  const { body } = await reply(
    await apiFetch(root.dataset.startUrl, {
      method: "POST",
      json: { total_bytes: file.size, check_only: checkOnly.checked },
    }),
  );
  const url = `/api/algorithm-uploads/${body.id}/`;
  window.localStorage.setItem(storageKey(file), url);
  return { url, upload: body };
}

async function chunkSend(url, file, upload) {
  const start = upload.received_bytes;
  const end = Math.min(start + upload.chunk_bytes, file.size);
  const { status: code, body } = await reply(
    await apiFetch(url, {
      method: "PUT",
      body: file.slice(start, end),
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${start}-${end - 1}/${file.size}`,
      },
    }),
  );
  return code === 409 ? { ...upload, received_bytes: body.received_bytes } : body;
}

function show(upload) {
  progress.value = Math.floor((100 * upload.received_bytes) / upload.total_bytes);
  status.textContent = `${(upload.received_bytes / 1e6).toFixed(1)} of ${(upload.total_bytes / 1e6).toFixed(1)} MB sent.`;
}

async function uploadRun(file) {
  let { url, upload } = await uploadOpen(file);
  let retries = RETRIES;
  while (upload.submission === null) {
    try {
      upload = await chunkSend(url, file, upload);
      retries = RETRIES;
    } catch (error) {
      retries -= 1;
      if (retries === 0) {
        throw error;
      }
      status.textContent = `${error.message} Trying again…`;
      await new Promise((resolve) => setTimeout(resolve, RETRY_WAIT_MS));
      upload = await (await apiFetch(url)).json();
    }
    show(upload);
  }
  window.localStorage.removeItem(storageKey(file));
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
