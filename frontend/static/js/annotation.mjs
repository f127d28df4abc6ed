// The drawing page of an annotation campaign: fetch the assignment, draw the case's lesion mask on its
// first image starting from the newest saved revision (else the starting mask), save it to the API on
// request and every minute while the annotator draws, and mark the case done. Drawing goes through
// drawing-viewer.mjs; the window, layout and slice keys through viewer-controls.mjs; the API through api.mjs.

import { apiFetch, refusalSentence } from "./api.mjs";
import { colourBarShow } from "./colour-bar.mjs";
import { bindViewerControls, locationText, modalDialogOpen } from "./viewer-controls.mjs";
import { OPENING_WINDOW_PRESET } from "./window-presets.mjs";

const root = document.getElementById("annotation");
const status = document.getElementById("viewer-status");
const saveStatus = document.getElementById("save-status");
const saveButton = document.getElementById("save-button");
const doneButton = document.getElementById("done-button");
const doneDialog = document.getElementById("done-dialog");
const reopenForm = document.getElementById("reopen-form");
const undoButton = document.getElementById("undo-button");
const redoButton = document.getElementById("redo-button");
const brushSize = document.getElementById("brush-size");
const showStart = document.getElementById("show-starting-mask");
const AUTOSAVE_MS = 60_000;
const STARTING_MASK_OPACITY = 0.45;
// Dark violet: apart from both drawing colours (MASK_COLOURS) for colour-blind annotators too.
const STARTING_MASK_COLOUR = [60, 0, 120];
const IMAGE_OPACITY = 0.35; // an image shown over the CT
const TOOL_KEYS = Object.freeze({ 1: "pen", 2: "fill", 0: "erase" });

let assignment = null;
let viewer = null;
let startingMaskIndex = -1;
let unsaved = false;
let saving = null;

// A status line is one line high (css/annotations.css): a message too long for it is whole on hover.
function say(line, message) {
  line.textContent = message;
  line.title = message;
}

function showProgress() {
  document.getElementById("progress").textContent = `${assignment.done} / ${assignment.total} cases done`;
  document.getElementById("assignment-status").textContent = assignment.status.replace("_", " ").toLowerCase();
  reopenForm.hidden = assignment.reopen_url === null;
  const reopened = document.getElementById("reopened");
  reopened.hidden = assignment.reopened === null;
  if (assignment.reopened !== null) {
    const { by, reason } = assignment.reopened;
    reopened.textContent = `Reopened by ${by ?? "an organizer"}: ${reason}`;
  }
  const next = document.getElementById("next-link");
  next.hidden = assignment.next_url === null;
  if (assignment.next_url !== null) {
    next.href = assignment.next_url;
  }
}

function setEditable(editable) {
  for (const control of document.querySelectorAll("[data-tool], #undo-button, #redo-button, #save-button, #done-button")) {
    control.disabled = !editable;
  }
  if (!editable) {
    viewer?.setTool("off");
  }
}

function refreshEditButtons() {
  if (assignment.is_annotator && assignment.status !== "DONE") {
    undoButton.disabled = !viewer.canUndo;
    redoButton.disabled = !viewer.canRedo;
  }
}

function chooseTool(name) {
  viewer.setTool(name);
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tool === name));
  }
}

async function saveNow() {
  const bytes = await viewer.maskBytes();
  unsaved = false;
  const response = await apiFetch(assignment.mask_url, {
    method: "PUT",
    body: bytes,
    headers: { "Content-Type": "application/octet-stream" },
  });
  if (!response.ok) {
    unsaved = true;
    throw new Error(await refusalSentence(response));
  }
  const revision = await response.json();
  assignment.newest_revision = revision;
  if (assignment.status === "NOT_STARTED") {
    assignment.status = "IN_PROGRESS";
    showProgress();
  }
  say(saveStatus, `Saved revision ${revision.number} at ${new Date(revision.created_at).toLocaleTimeString()}.`);
  root.dataset.savedRevision = String(revision.number);
  return revision;
}

// One save at a time: a second request waits for the first and then saves what is drawn by then.
function save() {
  const previous = saving ?? Promise.resolve();
  saving = previous
    .catch(() => null)
    .then(() => saveNow())
    .catch((error) => {
      say(saveStatus, `Not saved: ${error.message}`);
      return null;
    })
    .finally(() => {
      saving = null;
    });
  return saving;
}

async function markDone() {
  const revision = await save();
  if (revision === null) {
    return;
  }
  const response = await apiFetch(assignment.done_url, { method: "POST" });
  if (!response.ok) {
    say(saveStatus, await refusalSentence(response));
    return;
  }
  assignment = await response.json();
  showProgress();
  setEditable(false);
  say(saveStatus, `Done: revision ${revision.number} is your mask of this case.`);
}

// Done asks first (Escape or "Keep drawing" cancels): the mask is final once marked.
function askDone() {
  doneDialog.returnValue = "";
  doneDialog.showModal();
}

async function reopen(event) {
  event.preventDefault();
  const reason = reopenForm.elements.reason.value;
  const response = await apiFetch(assignment.reopen_url, { method: "POST", json: { reason } });
  if (!response.ok) {
    say(saveStatus, await refusalSentence(response));
    return;
  }
  assignment = await response.json();
  showProgress();
  say(saveStatus, `Reopened: ${assignment.annotator} can change the mask and mark it done again.`);
}

// The colour bar of the perfusion map shown over the CT (the last of them in the list, drawn on top), or
// none.
function colourBarUpdate(imageBoxes) {
  const shown = imageBoxes.filter((box) => box.checked).map((box) => assignment.images[Number(box.dataset.image)]);
  const map = shown.findLast((image) => image.parameter_map !== null);
  const colours = map === undefined ? null : viewer.colours(map.parameter_map.colormap);
  colourBarShow(document.getElementById("colour-bar"), map?.parameter_map ?? null, colours);
}

function showVolume() {
  document.getElementById("mask-volume").textContent = `${viewer.maskVolumeMl().toFixed(3)} ml`;
}

function bindDrawingControls() {
  for (const button of document.querySelectorAll("[data-tool]")) {
    button.addEventListener("click", () => chooseTool(button.dataset.tool));
  }
  brushSize.addEventListener("input", () => {
    viewer.setBrushSize(Number(brushSize.value));
    document.getElementById("brush-size-value").textContent = brushSize.value;
  });
  undoButton.addEventListener("click", () => {
    viewer.undo();
    refreshEditButtons();
  });
  redoButton.addEventListener("click", () => {
    viewer.redo();
    refreshEditButtons();
  });
  showStart.addEventListener("change", () =>
    viewer.setVolumeVisible(startingMaskIndex, showStart.checked, STARTING_MASK_OPACITY),
  );
  saveButton.addEventListener("click", () => save());
  doneButton.addEventListener("click", askDone);
  doneDialog.addEventListener("close", () => {
    if (doneDialog.returnValue === "done") {
      markDone();
    }
  });
  document.addEventListener("keydown", (event) => {
    const elsewhere = event.target instanceof HTMLInputElement || modalDialogOpen() !== null;
    if (elsewhere || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key in TOOL_KEYS && assignment.is_annotator && assignment.status !== "DONE") {
      chooseTool(TOOL_KEYS[event.key]);
    } else if (event.key === "Enter" && !saveButton.disabled) {
      event.preventDefault();
      save();
    }
  });
  const imageBoxes = Array.from(document.querySelectorAll("[data-image]"));
  for (const box of imageBoxes) {
    const index = Number(box.dataset.image);
    box.addEventListener("change", () => {
      viewer.setVolumeVisible(index, box.checked, IMAGE_OPACITY);
      colourBarUpdate(imageBoxes);
    });
  }
  viewer.onChange(() => {
    showVolume();
    unsaved = true;
    say(saveStatus, "Unsaved changes.");
    refreshEditButtons();
  });
  // Autosave: every minute, if anything was drawn since the last save.
  setInterval(() => {
    if (unsaved && saving === null && assignment.status !== "DONE") {
      save();
    }
  }, AUTOSAVE_MS);
  window.addEventListener("beforeunload", (event) => {
    if (unsaved) {
      event.preventDefault();
    }
  });
}

// The first image (the CT) alone, in grey; the others are shown over it on request, a perfusion map in
// the range and colours the case viewer gives it (viewer.mjs's imageVolume).
function volumesOf(data, imageVolume) {
  const images = data.images.map((image, index) => ({ ...imageVolume(image), opacity: index === 0 ? 1 : 0 }));
  const start = { ...data.starting_mask, labelColors: { 1: STARTING_MASK_COLOUR }, opacity: 0 };
  startingMaskIndex = images.length;
  return [...images, start];
}

// What the page shows first: where the annotator resumes, or whose mask anyone else is looking at.
function openingSentence({ is_annotator: isAnnotator, annotator, newest_revision: newest }) {
  if (isAnnotator) {
    return newest === null
      ? "Starting from the campaign's starting mask."
      : `Resuming from your revision ${newest.number}.`;
  }
  return newest === null
    ? `${annotator} has saved no mask of this case yet: this is the campaign's starting mask, read only.`
    : `${annotator}'s revision ${newest.number}, read only.`;
}

async function start() {
  const response = await apiFetch(root.dataset.assignmentUrl);
  if (!response.ok) {
    say(status, await refusalSentence(response));
    return;
  }
  assignment = await response.json();
  showProgress();
  let module;
  try {
    module = await import("./drawing-viewer.mjs");
  } catch (error) {
    say(status, `The image viewer could not start (${error.message}).`);
    return;
  }
  if (!module.webgl2Available()) {
    say(status, "This browser has no WebGL2, so the images cannot be shown; please use another browser.");
    return;
  }
  say(status, "Loading the images…");
  const resumeFrom = assignment.newest_revision?.url ?? assignment.starting_mask.url;
  try {
    viewer = await module.createDrawingViewer(document.getElementById("drawing-canvas"), {
      volumes: volumesOf(assignment, module.imageVolume),
      mask: resumeFrom,
    });
  } catch (error) {
    say(status, error.message);
    return;
  }
  say(status, openingSentence(assignment));
  viewer.onLocation((location) => {
    document.getElementById("location").textContent = locationText(location);
  });
  bindViewerControls({ presetViewers: () => [viewer], layoutViewers: () => [viewer] });
  document.querySelector("[data-layout='axial']")?.click();
  document.querySelector(`[data-preset='${OPENING_WINDOW_PRESET}']`)?.click();
  // The legend's swatches are the canvas's colours, set from the same values.
  const layerColours = { ...module.MASK_COLOURS, start: STARTING_MASK_COLOUR };
  for (const swatch of document.querySelectorAll("[data-mask-colour]")) {
    swatch.style.background = `rgb(${layerColours[swatch.dataset.maskColour].join(", ")})`;
  }
  showVolume();
  bindDrawingControls();
  reopenForm.addEventListener("submit", reopen);
  const editable = assignment.is_annotator && assignment.status !== "DONE";
  setEditable(editable);
  if (editable) {
    chooseTool("pen");
    refreshEditButtons();
  }
  root.dataset.ready = "true";
}

start();
