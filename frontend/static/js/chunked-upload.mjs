// A resumable upload in chunks through the portal's API (portal/uploads): open it with a POST, send each
// chunk with a PUT saying where it starts (Content-Range). When the portal holds more or less than that
// (a chunk was lost, or the page was reloaded), it answers 409 with the offset to go on from. An upload
// cut short is kept by its URL per file in the browser's storage, so choosing the same file again resumes
// it; a failed chunk is tried again a few times, from the offset the portal says it holds.

import { answerJson, apiFetch, refusalSentence } from "./api.mjs";

const RETRIES = 5;
const RETRY_WAIT_MS = 2000;

// The answer's status and body; a refusal other than 409 (which says where to go on from) throws its
// sentence.
async function reply(response) {
  if (!response.ok && response.status !== 409) {
    throw new Error(await refusalSentence(response));
  }
  return { status: response.status, body: await answerJson(response) };
}

async function uploadOpen({ file, storageKey, startUrl, startBody, uploadUrl }) {
  const known = window.localStorage.getItem(storageKey);
  if (known) {
    const response = await apiFetch(known);
    if (response.ok) {
      return { url: known, upload: await response.json() };
    }
  }
  const { body } = await reply(await apiFetch(startUrl, { method: "POST", json: startBody }));
  const url = uploadUrl(body.id);
  window.localStorage.setItem(storageKey, url);
  return { url, upload: body };
}

async function chunkSend(url, file, upload) {
  const start = upload.received_bytes;
  const end = Math.min(start + upload.chunk_bytes, file.size);
  const { status, body } = await reply(
    await apiFetch(url, {
      method: "PUT",
      body: file.slice(start, end),
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `bytes ${start}-${end - 1}/${file.size}`,
      },
    }),
  );
  return status === 409 ? { ...upload, received_bytes: body.received_bytes } : body;
}

// Send `file` until `isDone(upload)`; `onProgress(upload)` after each chunk, `onRetry(sentence)` before a
// retry. Resolves with the upload's last answer; a refusal, or a chunk failing RETRIES times, rejects.
export async function chunkedUploadRun({ file, storageKey, startUrl, startBody, uploadUrl, isDone, onProgress, onRetry }) {
  let { url, upload } = await uploadOpen({ file, storageKey, startUrl, startBody, uploadUrl });
  let retries = RETRIES;
  onProgress(upload);
  while (!isDone(upload)) {
    try {
      upload = await chunkSend(url, file, upload);
      retries = RETRIES;
    } catch (error) {
      retries -= 1;
      if (retries === 0) {
        throw error;
      }
      onRetry(`${error.message} Trying again…`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_WAIT_MS));
      upload = await (await apiFetch(url)).json();
    }
    onProgress(upload);
  }
  window.localStorage.removeItem(storageKey);
  return upload;
}
