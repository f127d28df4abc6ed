// The case viewer page: any image of the case as the base of the first pane, optionally a second image
// in a second pane with a synced crosshair, CT window presets, layouts, and the value under the cursor.
// Where the user may see the case's reference lesion mask (a training case, or any to an organizer), the
// first pane shows it as an overlay, in the submission review's way: one label volume, opacity and a box.

import { colourBarShow } from "./colour-bar.mjs";
import { createViewer, webgl2Available } from "./viewer.mjs";
import { bindViewerControls, locationText, readPageData, viewerUnavailableShow } from "./viewer-controls.mjs";
import { OPENING_WINDOW_PRESET } from "./window-presets.mjs";

// A CT opens in its window, a perfusion map in its range (inference/parameter_maps.py), set as it loads
// (set afterwards, either would cost a second rebuild).
function volumeOf(image) {
  const volume = { url: image.url, name: image.name, colormap: image.colormap };
  if (image.is_ct) {
    volume.windowPreset = OPENING_WINDOW_PRESET;
  }
  if (image.parameter_map !== null) {
    volume.calMin = image.parameter_map.low;
    volume.calMax = image.parameter_map.high;
  }
  return volume;
}

// A pane has drawn its new image: its colour bar (if the image is a perfusion map), and a hook for
// browser tests, the label of the image drawn.
function paneShown(pane, index) {
  const parameterMap = pane.image.parameter_map;
  const colours = parameterMap === null ? null : pane.viewer.colours(pane.image.colormap);
  colourBarShow(document.getElementById(`colour-bar-${index + 1}`), parameterMap, colours);
  document.getElementById(`pane-${index + 1}`).dataset.shownImage = pane.image.label;
}

const LESION_COLORS = Object.freeze({ 1: [255, 51, 51] });
const OVERLAY = 1;

// The first pane's volumes: the base image, and the lesion mask over it when there is one to show.
function firstPaneVolumes(image, overlay, overlayControls) {
  const volumes = [volumeOf(image)];
  if (overlay !== null) {
    volumes.push({
      url: overlay.url,
      name: overlay.name,
      labelColors: LESION_COLORS,
      opacity: Number(overlayControls.opacity.value) / 100,
      visible: overlayControls.visible.checked,
    });
  }
  return volumes;
}

// Cine playback of a 4D CTP: the time between frames shown, 10 frames a second.
const CINE_FRAME_MS = 100;

// The time slider and cine playback of the first pane's base image, shown when it has several frames.
function bindTimeControls(viewer) {
  const box = document.getElementById("time-controls");
  const slider = document.getElementById("time-frame");
  const shown = document.getElementById("time-shown");
  const play = document.getElementById("time-play");
  const canvas = document.getElementById("pane-1");
  let playing = false;
  let loops = 0; // the cine loop that runs is the last one started

  const frameShow = async (frame) => {
    await viewer.setFrame(frame);
    slider.value = String(frame);
    const seconds = frame * viewer.frameSeconds;
    shown.textContent = `frame ${frame + 1} of ${viewer.frameCount} · ${Number(seconds.toFixed(1))} s`;
    canvas.dataset.shownFrame = String(frame); // a hook for browser tests
  };
  const playingSet = (value) => {
    playing = value;
    play.setAttribute("aria-pressed", String(value));
    play.textContent = value ? "Pause" : "Play";
  };
  const cine = async () => {
    loops += 1;
    const loop = loops;
    while (playing && loop === loops) {
      await frameShow((viewer.frame + 1) % viewer.frameCount);
      await new Promise((resolve) => {
        setTimeout(resolve, CINE_FRAME_MS);
      });
    }
  };

  slider.addEventListener("input", () => frameShow(Number(slider.value)));
  play.addEventListener("click", () => {
    playingSet(!playing);
    cine();
  });
  // stop() before the first pane loads another image; update() once it shows it.
  const stop = () => playingSet(false);
  const update = () => {
    box.hidden = viewer.frameCount < 2;
    slider.max = String(viewer.frameCount - 1);
    if (!box.hidden) {
      frameShow(viewer.frame);
    }
  };
  return { stop, update };
}

function fillSelect(select, images, selectedIndex) {
  images.forEach((image, index) => {
    const option = document.createElement("option");
    option.value = String(index);
    option.textContent = image.label;
    option.selected = index === selectedIndex;
    select.append(option);
  });
}

async function main() {
  const { images, overlay } = readPageData("viewer-data");
  const overlayControls = {
    opacity: document.getElementById("overlay-opacity"),
    visible: document.getElementById("overlay-visible"),
    outline: document.getElementById("overlay-outline"),
  };
  const crosshairVisible = document.getElementById("crosshair-visible");
  const location = document.getElementById("location");
  if (!webgl2Available() || images.length === 0) {
    viewerUnavailableShow(images.length === 0 ? "This case has no images to show." : null);
    return;
  }
  const baseSelect = document.getElementById("base-image");
  const secondSelect = document.getElementById("second-image");
  fillSelect(baseSelect, images, 0);
  fillSelect(secondSelect, images, -1);

  const showLocation = (report) => {
    location.textContent = locationText(report);
  };
  const panes = [{ viewer: null, image: images[0] }, { viewer: null, image: null }];
  let first;
  try {
    first = await createViewer(document.getElementById("pane-1"), {
      volumes: firstPaneVolumes(images[0], overlay, overlayControls),
      onLocation: showLocation,
    });
    await first.ready;
  } catch (error) {
    viewerUnavailableShow(error.message);
    return;
  }
  panes[0].viewer = first;
  paneShown(panes[0], 0);
  const timeControls = bindTimeControls(first);
  timeControls.update();

  const shown = () => panes.filter((pane) => pane.viewer !== null && pane.image !== null);
  // Keys act through their controls, as a click on them would.
  const keys = { x: () => crosshairVisible.click() };
  if (overlay !== null) {
    Object.assign(keys, { o: () => overlayControls.outline.click(), h: () => overlayControls.visible.click() });
  }
  bindViewerControls({
    presetViewers: () => shown().filter((pane) => pane.image.is_ct).map((pane) => pane.viewer),
    layoutViewers: () => shown().map((pane) => pane.viewer),
    keys,
  });
  crosshairVisible.addEventListener("change", () => {
    for (const pane of shown()) {
      pane.viewer.setCrosshairVisible(crosshairVisible.checked);
    }
  });

  baseSelect.addEventListener("change", async () => {
    panes[0].image = images[Number(baseSelect.value)];
    timeControls.stop();
    await first.load(firstPaneVolumes(panes[0].image, overlay, overlayControls));
    paneShown(panes[0], 0);
    timeControls.update();
  });
  if (overlay !== null) {
    overlayControls.opacity.addEventListener("input", () =>
      first.setOverlayOpacity(OVERLAY, Number(overlayControls.opacity.value) / 100),
    );
    overlayControls.visible.addEventListener("change", () =>
      first.setOverlayVisible(OVERLAY, overlayControls.visible.checked),
    );
    overlayControls.outline.addEventListener("change", () => first.setLabelOutline(overlayControls.outline.checked));
  }
  secondSelect.addEventListener("change", async () => {
    const box = document.getElementById("pane-2-box");
    if (secondSelect.value === "") {
      panes[1].image = null;
      box.hidden = true;
      return;
    }
    panes[1].image = images[Number(secondSelect.value)];
    box.hidden = false;
    if (panes[1].viewer === null) {
      panes[1].viewer = await createViewer(document.getElementById("pane-2"), {
        volumes: [volumeOf(panes[1].image)],
        layout: first.layout,
        onLocation: showLocation,
        follow: first,
      });
      await panes[1].viewer.ready;
      panes[1].viewer.setCrosshairVisible(crosshairVisible.checked);
    } else {
      await panes[1].viewer.load([volumeOf(panes[1].image)]);
    }
    paneShown(panes[1], 1);
  });
}

main();
