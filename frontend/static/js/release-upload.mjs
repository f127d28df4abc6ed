// The data page's release upload: send the chosen archive in chunks (chunked-upload.mjs), then put its
// upload's id into the import form, which the organizer sends once they chose the dataset and split.

import { chunkedUploadRun } from "./chunked-upload.mjs";

const root = document.getElementById("release-upload");
const fileInput = document.getElementById("release-file");
const button = document.getElementById("release-upload-button");
const progress = document.getElementById("release-upload-progress");
const status = document.getElementById("release-upload-status");
const uploadField = document.querySelector("#dataset-import-form input[name=upload]");
const folderField = document.querySelector("#dataset-import-form input[name=folder]");

function show(upload) {
  progress.value = Math.floor((100 * upload.received_bytes) / upload.total_bytes);
  status.textContent = `${(upload.received_bytes / 1e6).toFixed(1)} of ${(upload.total_bytes / 1e6).toFixed(1)} MB sent.`;
}

button.addEventListener("click", async () => {
  const file = fileInput.files[0];
  if (!file) {
    status.textContent = "Choose the release archive first.";
    return;
  }
  button.disabled = true;
  try {
    const upload = await chunkedUploadRun({
      file,
      storageKey: `release-upload:${root.dataset.challenge}:${file.name}:${file.size}:${file.lastModified}`,
      startUrl: root.dataset.startUrl,
      startBody: { file_name: file.name, total_bytes: file.size },
      uploadUrl: (id) => `/api/release-uploads/${id}/`,
      isDone: (answer) => answer.complete,
      onProgress: show,
      onRetry: (sentence) => {
        status.textContent = sentence;
      },
    });
    uploadField.value = upload.id;
    folderField.value = "";
    status.textContent = `${upload.file_name} is uploaded; choose the dataset and split, then Import.`;
  } catch (error) {
    status.textContent = error.message;
  } finally {
    button.disabled = false;
  }
});
