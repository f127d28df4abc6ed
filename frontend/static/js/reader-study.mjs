// The blinded reading page: fetch the reader's next item, show its two masks side by side (A left, B
// right) on the same background, take one answer per item from the keyboard or the form, and go on.
// It knows items and masks only by the opaque URLs the API gives, and never shows the viewer's
// location values (which would tell the layers apart). The two panes are synced (viewer.mjs): whatever
// moves one (a key, the wheel, a click) moves the other, so both always show the same slice. Once both
// panes have drawn an item, the page says so to the server, where the item's reading time starts.
//
// Each pane shows one mask as its label layer (pane A the mask the toggle shows). While the reader reads
// an item, the page downloads the next item's files (the API names them): both masks, always alike, and
// its images unless they are the ones shown. An item of the case shown keeps its images and swaps only
// the masks (the images are known by their SHA-256). At the answer, the panes start drawing the next item
// from those files while the answer is saved and the next item fetched; the item is shown (and its
// reading time starts) once all three are done, and a refused answer puts the answered item back.

import { apiFetch, refusalSentence } from "./api.mjs";
import { OPENING_WINDOW_PRESET, windowPresetAfter } from "./window-presets.mjs";

const root = document.getElementById("reader-study");
const form = document.getElementById("answer-form");
const panes = document.getElementById("panes");
const progress = document.getElementById("progress");
const status = document.getElementById("viewer-status");
const answerError = document.getElementById("answer-error");
const LAYOUTS = ["multiplanar", "axial", "coronal", "sagittal"];
// How the masks are drawn, alike in both panes: filled or outlined (O), at the opacity the reader chose, or
// hidden (H) to see the image under them. Outline and opacity are kept from item to item and, in the
// browser's storage, from visit to visit (the instructions page is a visit away).
const MASK_LOOK_KEY = "isles-portal.reading.mask-look";
const maskLook = { outline: false, opacity: 0.5, visible: true, ...maskLookStored() };
const maskControls = {
  outline: document.getElementById("mask-outline"),
  opacity: document.getElementById("mask-opacity"),
  visible: document.getElementById("mask-visible"),
};
maskControls.outline.checked = maskLook.outline;
maskControls.opacity.value = String(Math.round(maskLook.opacity * 100));
// Whether the panes draw the masks as the reader set them: a viewer starts filled.
let outlineShown = !maskLook.outline;

function maskLookStored() {
  try {
    const { outline, opacity } = JSON.parse(localStorage.getItem(MASK_LOOK_KEY) ?? "{}");
    return {
      ...(typeof outline === "boolean" ? { outline } : {}),
      ...(typeof opacity === "number" ? { opacity } : {}),
    };
  } catch {
    return {};
  }
}

function maskLookStore() {
  localStorage.setItem(MASK_LOOK_KEY, JSON.stringify({ outline: maskLook.outline, opacity: maskLook.opacity }));
}

let current = null;
// The background images the panes show (the API's entries), or null before the first item.
let shownImages = null;
// The toggle's last swap of pane A's mask: the next waits for it.
let toggleSwap = Promise.resolve();
let viewers = [];
let windowPreset = OPENING_WINDOW_PRESET;
let layoutIndex = 0;
let toggled = false;
let showingB = false;
let sending = false;
let loading = false;
let backgroundCount = 0; // the images under the masks, first in both panes
let backgroundIndex = 0;
// The report that the current item's panes are drawn: an answer waits for it, so that the server has the
// moment its reading time starts before the answer arrives.
let drawnReport = Promise.resolve();

async function loadViewerModule() {
  try {
    const module = await import("./viewer.mjs");
    if (!module.webgl2Available()) {
      status.textContent = "This browser has no WebGL2, so the images cannot be shown; please use another browser.";
      return null;
    }
    return module;
  } catch (error) {
    status.textContent = `The image viewer could not start (${error.message}).`;
    return null;
  }
}

const viewerModule = loadViewerModule();

// Each background as the case viewer shows it (viewer.mjs's imageVolume: a perfusion map in the range its
// quantity calls for, clear at zero). The reader's window preset is set on a CT as it loads: set after the
// first frame, it would cost one more rebuild of every texture in each pane.
function backgroundVolumes(item, imageVolume) {
  return item.images.map((image, index) => ({
    ...imageVolume(image),
    opacity: 1,
    visible: index === backgroundIndex,
    windowPreset: image.is_ct ? windowPreset : undefined,
  }));
}

const MASK_COLORS = Object.freeze({ 1: [255, 0, 0] });

function maskVolume(mask) {
  const { opacity, visible } = maskLook;
  return { url: mask.url, name: mask.name, labelColors: MASK_COLORS, opacity, visible };
}

function sameImages(images, others) {
  return (
    others !== null &&
    images.length === others.length &&
    images.every((image, index) => image.sha256 === others[index].sha256 && image.interface === others[index].interface)
  );
}

// Download the next item's files while this one is read, and parse its masks: both masks, A then B
// whatever they are, and its images unless the panes show them already.
function prefetch(module, item) {
  const following = item.following;
  if (following === undefined) {
    module.volumePrefetch([]);
    return;
  }
  const images = sameImages(following.images, item.images) ? [] : following.images;
  module.volumePrefetch([...images, following.masks.A, following.masks.B]);
  viewers[0].labelsPrefetch([maskVolume(following.masks.A), maskVolume(following.masks.B)]);
}

// Resolves true once both panes have drawn the item, false when the viewer could not start.
async function showImages(item) {
  const module = await viewerModule;
  if (module === null) {
    return false;
  }
  const background = backgroundVolumes(item, module.imageVolume);
  const showB = toggleCaptionShow();
  const leftMask = maskVolume(showB ? item.masks.B : item.masks.A);
  const rightMask = maskVolume(item.masks.B);
  await toggleSwap;
  if (viewers.length === 0) {
    const options = { blinded: true };
    const left = await module.createViewer(document.getElementById("canvas-a"), {
      ...options,
      volumes: [...background, leftMask],
    });
    const right = await module.createViewer(document.getElementById("canvas-b"), {
      ...options,
      volumes: [...background, rightMask],
    });
    await Promise.all([left.ready, right.ready]);
    left.syncWith(right);
    viewers = [left, right];
    // A window set by a right-drag in one pane is the other's too, as W's is.
    left.onWindow((range) => right.setWindow(range));
    right.onWindow((range) => left.setWindow(range));
  } else if (sameImages(item.images, shownImages)) {
    await Promise.all([viewers[0].setLabels(leftMask), viewers[1].setLabels(rightMask)]);
  } else {
    await Promise.all([viewers[0].load([...background, leftMask]), viewers[1].load([...background, rightMask])]);
  }
  backgroundCount = background.length;
  shownImages = item.images;
  return true;
}

// The files `item` shows (the API's entries), to tell whether the panes drew them already.
function sameFiles(item, other) {
  return (
    item.masks.A.url === other.masks.A.url &&
    item.masks.B.url === other.masks.B.url &&
    sameImages(item.images, other.images)
  );
}

// Start drawing the item after the current one (its files, as the API named them with the current item)
// while the answer is saved: its drawing, or null when there is no next item or no viewer yet.
function drawAhead(item) {
  if (item.following === undefined || viewers.length === 0) {
    return null;
  }
  showingB = false;
  const drawn = showImages(item.following);
  drawn.catch(() => {}); // seen by loadNext, which waits for it
  return { files: item.following, drawn };
}

// A lost report costs only precision: the server then times the answer from when it handed the item out.
function reportDrawn(item) {
  return apiFetch(item.drawn_url, { method: "POST" }).catch(() => {});
}

function applyBackground() {
  // Backgrounds come first in both panes: show one of them, the same in both.
  for (const viewer of viewers) {
    for (let index = 0; index < backgroundCount; index += 1) {
      viewer.setOverlayVisible(index, index === backgroundIndex);
    }
  }
}

function applyPreset() {
  for (const viewer of viewers) {
    viewer.setWindowPreset(windowPreset);
  }
}

// Marks the panes and captions pane A with the mask it shows; true when that is B.
function toggleCaptionShow() {
  panes.classList.toggle("toggle", toggled);
  const showB = toggled && showingB;
  document.querySelector("#pane-a figcaption").textContent = showB ? "B" : "A";
  return showB;
}

function applyToggle() {
  const showB = toggleCaptionShow();
  const [left] = viewers;
  if (left !== undefined && current !== null) {
    const mask = maskVolume(showB ? current.masks.B : current.masks.A);
    toggleSwap = toggleSwap.then(() => left.setLabels(mask));
  }
}

function resetForm(item) {
  form.reset();
  answerError.textContent = "";
  document.getElementById("ratings").hidden = !item.asks_quality_rating;
  document.getElementById("comment-field").hidden = !item.asks_comment;
}

// Every item is answered: the page says what happens next (as the finished page does on a later visit),
// with the way back to the reader's studies.
function finish(data) {
  progress.textContent = `${data.answered} / ${data.total} answered`;
  panes.hidden = true;
  form.hidden = true;
  document.querySelector(".keys").hidden = true;
  document.getElementById("finished").hidden = false;
  current = null;
}

// Fetch the reader's next item and show it; `ahead` (drawAhead's) is the drawing of the item expected
// next, begun at the answer: when the API names the same files, the panes need not draw them again.
async function loadNext(ahead = null) {
  loading = true;
  try {
    await nextShow(ahead);
  } finally {
    loading = false;
  }
}

async function nextShow(ahead) {
  const response = await apiFetch(root.dataset.nextUrl);
  if (!response.ok) {
    status.textContent = "The next item could not be loaded; reload the page to try again.";
    return;
  }
  const data = await response.json();
  if (data.done) {
    await ahead?.drawn.catch(() => {});
    finish(data);
    return;
  }
  current = data;
  progress.textContent = `${data.position} / ${data.total}`;
  resetForm(data);
  try {
    let drawn;
    if (ahead !== null && sameFiles(ahead.files, data)) {
      drawn = await ahead.drawn;
    } else {
      await ahead?.drawn.catch(() => {});
      showingB = false;
      drawn = await showImages(data);
    }
    if (drawn) {
      if (!outlineShown) {
        viewers.forEach((viewer) => viewer.setLabelOutline(maskLook.outline));
        outlineShown = true;
      }
      drawnReport = reportDrawn(data);
      prefetch(await viewerModule, data);
    }
  } finally {
    // The item's images are on screen (or the viewer said why not): answers are taken from now on.
    root.dataset.shown = String(data.position);
  }
}

function checkedValue(name) {
  const input = form.querySelector(`input[name="${name}"]:checked`);
  return input === null ? null : input.value;
}

async function submitAnswer() {
  if (current === null || sending || loading) {
    return;
  }
  const preference = checkedValue("preference");
  if (preference === null) {
    answerError.textContent = "Choose A, B or no preference first (1, 2 or 0).";
    return;
  }
  const ratingA = checkedValue("rating_a");
  const ratingB = checkedValue("rating_b");
  const body = {
    preference,
    rating_a: ratingA === null ? null : Number(ratingA),
    rating_b: ratingB === null ? null : Number(ratingB),
    comment: current.asks_comment ? document.getElementById("comment").value : "",
  };
  sending = true;
  loading = true;
  try {
    await drawnReport;
    const saved = apiFetch(current.answer_url, { method: "POST", json: body });
    const ahead = drawAhead(current);
    const response = await saved.catch((error) => error);
    if (!(response instanceof Response) || !response.ok) {
      const refusal =
        response instanceof Response
          ? await refusalSentence(response, "The answer was not recorded; try again.")
          : "The answer was not recorded (the portal could not be reached); try again.";
      if (ahead !== null) {
        await ahead.drawn.catch(() => {});
        showingB = false;
        await showImages(current); // the answered item again, as it was
      }
      answerError.textContent = refusal;
      return;
    }
    await loadNext(ahead);
  } finally {
    loading = false;
    sending = false;
  }
}

function choose(preference) {
  const input = form.querySelector(`input[name="preference"][value="${preference}"]`);
  input.checked = true;
  answerError.textContent = "";
}

const KEY_ACTIONS = {
  1: () => choose("A"),
  2: () => choose("B"),
  0: () => choose("NONE"),
  Enter: () => submitAnswer(),
  " ": () => {
    if (loading) {
      return; // the next item's masks are on their way
    }
    if (toggled) {
      showingB = !showingB;
    } else {
      toggled = true;
    }
    applyToggle();
  },
  Escape: () => {
    if (loading) {
      return;
    }
    toggled = false;
    showingB = false;
    applyToggle();
  },
  i: () => {
    backgroundIndex = (backgroundIndex + 1) % Math.max(backgroundCount, 1);
    applyBackground();
  },
  w: () => {
    windowPreset = windowPresetAfter(windowPreset);
    applyPreset();
  },
  v: () => {
    layoutIndex = (layoutIndex + 1) % LAYOUTS.length;
    viewers[0]?.setLayout(LAYOUTS[layoutIndex]);
  },
  ArrowUp: () => viewers[0]?.moveSlice(1),
  ArrowDown: () => viewers[0]?.moveSlice(-1),
  o: () => maskControls.outline.click(),
  h: () => maskControls.visible.click(),
};

// The mask controls act on both panes (the label volume follows the images in each).
maskControls.outline.addEventListener("change", () => {
  maskLook.outline = maskControls.outline.checked;
  maskLookStore();
  outlineShown = viewers.length > 0;
  for (const viewer of viewers) {
    viewer.setLabelOutline(maskLook.outline);
  }
});
maskControls.opacity.addEventListener("input", () => {
  maskLook.opacity = Number(maskControls.opacity.value) / 100;
  maskLookStore();
  for (const viewer of viewers) {
    viewer.setOverlayOpacity(backgroundCount, maskLook.opacity);
  }
});
maskControls.visible.addEventListener("change", () => {
  maskLook.visible = maskControls.visible.checked;
  for (const viewer of viewers) {
    viewer.setOverlayVisible(backgroundCount, maskLook.visible);
  }
});

// The page's action for a key event, or undefined (typing a comment, or a key the page leaves alone).
function keyAction(event) {
  if (event.target instanceof HTMLTextAreaElement) {
    return undefined;
  }
  return KEY_ACTIONS[event.key.length === 1 ? event.key.toLowerCase() : event.key];
}

// Taken before the viewer's canvas sees it, so NiiVue does not act on the same key: pressed, or released
// (NiiVue switches its view when V is released).
function onKey(event) {
  const action = keyAction(event);
  if (action === undefined) {
    return;
  }
  event.preventDefault();
  event.stopPropagation();
  if (event.type === "keydown") {
    action();
  }
}

document.addEventListener("keydown", onKey, { capture: true });
document.addEventListener("keyup", onKey, { capture: true });
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submitAnswer();
});
loadNext();
