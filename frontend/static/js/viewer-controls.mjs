// The controls the viewer pages share: window preset and layout buttons, the W and arrow keys, and the
// line that shows the position and value under the cursor. Viewers come from viewer.mjs (or
// drawing-viewer.mjs), the presets from window-presets.mjs.

import { WINDOW_PRESETS, windowPresetAfter, windowPresetLabel } from "./window-presets.mjs";

// The toolbar's preset buttons (viewer/_viewer_controls.html), one per preset, made as the page's scripts
// start so that the toolbar is whole before a viewer is: they act once bindViewerControls binds them.
function presetButtonsMake() {
  const group = document.getElementById("window-presets");
  if (group === null) {
    return;
  }
  for (const preset of WINDOW_PRESETS) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.preset = preset.name;
    button.textContent = windowPresetLabel(preset);
    group.append(" ", button); // spaced as buttons on lines of their own in the markup are
  }
}

presetButtonsMake();

export function readPageData(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

// Hides the viewer and shows the page's notice (by default: no WebGL2), or `message` in its place.
export function viewerUnavailableShow(message = null) {
  document.getElementById("viewer").hidden = true;
  const notice = document.getElementById("viewer-unavailable");
  if (message !== null) {
    notice.textContent = message;
  }
  notice.hidden = false;
}

export function locationText({ mm, voxel, values }) {
  const position = `${mm.map((value) => value.toFixed(1)).join(", ")} mm`;
  const indices = `voxel ${voxel.join(", ")}`;
  if (values === undefined) {
    return `${position} · ${indices}`;
  }
  const shown = values.map((value) => (Number.isInteger(value) ? String(value) : value.toFixed(2)));
  return `${position} · ${indices} · value ${shown.join(" / ")}`;
}

function markPressed(buttons, pressed) {
  for (const button of buttons) {
    button.setAttribute("aria-pressed", String(button === pressed));
  }
}

function isTyping(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement;
}

// Inputs that take no letters: a letter pressed while one has the focus (after a click on it) is the page's.
const LETTERLESS_INPUTS = Object.freeze(["checkbox", "radio", "range", "button"]);

function takesLetters(target) {
  return isTyping(target) && !(target instanceof HTMLInputElement && LETTERLESS_INPUTS.includes(target.type));
}

// The modal dialog open on the page (the keys' help, a confirmation), or null. While one is open the page's
// keys do nothing: the page behind it is inert to the mouse, and must be to the keyboard too.
export function modalDialogOpen() {
  return document.querySelector("dialog:modal");
}

// The page's help on its keys (a <dialog id="viewer-help">, opened by its button and "?"), if it has one.
function helpToggle() {
  const help = document.getElementById("viewer-help");
  if (help.open) {
    help.close();
  } else {
    help.showModal();
  }
}

// Keys of the page's own (`keys`: a lower-case key to its action; "?" opens the help where there is one),
// taken before NiiVue sees them: NiiVue's canvas moves its crosshair on H and opens an alert on "?".
function bindPageKeys(keys) {
  const actions = { ...keys };
  if (document.getElementById("viewer-help") !== null) {
    actions["?"] = helpToggle;
    document.getElementById("viewer-help-open").addEventListener("click", helpToggle);
  }
  window.addEventListener(
    "keydown",
    (event) => {
      const action = actions[event.key.toLowerCase()];
      if (action === undefined || takesLetters(event.target) || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      // "?" closes the help it opened; no other key acts behind a dialog.
      const modal = modalDialogOpen();
      if (modal !== null && !(event.key === "?" && modal.id === "viewer-help")) {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      action();
    },
    { capture: true },
  );
}

// presetViewers(): the viewers whose base image takes CT presets now; layoutViewers(): every viewer shown;
// keys: the page's own keys (bindPageKeys).
export function bindViewerControls({ presetViewers, layoutViewers, keys = {} }) {
  bindPageKeys(keys);
  const presetButtons = Array.from(document.querySelectorAll("[data-preset]"));
  const layoutButtons = Array.from(document.querySelectorAll("[data-layout]"));
  let preset = null;

  const applyPreset = (name) => {
    preset = name;
    for (const viewer of presetViewers()) {
      viewer.setWindowPreset(name);
    }
    markPressed(presetButtons, presetButtons.find((button) => button.dataset.preset === name));
  };

  for (const button of presetButtons) {
    button.addEventListener("click", () => applyPreset(button.dataset.preset));
  }
  for (const button of layoutButtons) {
    button.addEventListener("click", () => {
      for (const viewer of layoutViewers()) {
        viewer.setLayout(button.dataset.layout);
      }
      markPressed(layoutButtons, button);
    });
  }
  markPressed(layoutButtons, layoutButtons.find((button) => button.dataset.layout === "multiplanar"));

  document.addEventListener("keydown", (event) => {
    if (isTyping(event.target) || modalDialogOpen() !== null || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "w" || event.key === "W") {
      applyPreset(windowPresetAfter(preset));
      return;
    }
    // NiiVue moves the slice itself while its canvas has focus.
    const step = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1 }[event.key];
    if (step === undefined || event.target instanceof HTMLCanvasElement) {
      return;
    }
    event.preventDefault();
    // Synced viewers follow the one moved (viewer.mjs): moving each of them would step twice.
    layoutViewers()[0]?.moveSlice(step);
  });
}
