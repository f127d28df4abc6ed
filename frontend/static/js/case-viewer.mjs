// The case viewer page: any image of the case as the base of the first pane, optionally a perfusion map
// over it and a second image in a second pane with a synced crosshair, CT window presets, layouts, the
// value under the cursor, a colour bar under a map, and for a 4D CTP a time slider, cine playback and
// the time-density curve of the voxel clicked. Where the user may see the case's reference lesion mask
// (a training case, or any to an organizer), the first pane shows it as an overlay, in the submission
// review's way: one label volume, filled or outlined, its opacity, and its volume in ml.

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

// A pane has drawn its new image: its colour bar (of the perfusion map over it, or of the image if it is
// one), and a hook for browser tests, the label of the image drawn.
function paneShown(pane, index) {
  const coloured = pane.map ?? pane.image;
  const parameterMap = coloured.parameter_map;
  const colours = parameterMap === null ? null : pane.viewer.colours(coloured.colormap);
  colourBarShow(document.getElementById(`colour-bar-${index + 1}`), parameterMap, colours);
  const canvas = document.getElementById(`pane-${index + 1}`);
  canvas.dataset.shownImage = pane.image.label;
  canvas.dataset.shownMap = pane.map?.label ?? "";
}

const LESION_COLORS = Object.freeze({ 1: [255, 51, 51] });

// The first pane's volumes: the base image, a perfusion map over it if one is chosen (see-through below
// its range), and the lesion mask over both when there is one to show.
function firstPaneVolumes(pane, overlay, overlayControls, mapOpacity) {
  const volumes = [volumeOf(pane.image)];
  if (pane.map !== null) {
    volumes.push({ ...volumeOf(pane.map), opacity: mapOpacity });
  }
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

// The time-density curve of a voxel of a 4D CTP (its values in HU, one per frame) on `canvas`, from its
// lowest to its highest value, the frame shown marked; the caption says the range.
function timeCurveDraw(canvas, caption, { voxel, values, frame, frameSeconds }) {
  const context = canvas.getContext("2d");
  const low = Math.min(...values);
  const high = Math.max(...values);
  const x = (index) => 4 + (index / (values.length - 1)) * (canvas.width - 8);
  const y = (value) => canvas.height - 4 - ((value - low) / Math.max(high - low, 1)) * (canvas.height - 8);
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.strokeStyle = "#888";
  context.beginPath();
  context.moveTo(x(frame), 0);
  context.lineTo(x(frame), canvas.height);
  context.stroke();
  context.strokeStyle = "#c30";
  context.lineWidth = 2;
  context.beginPath();
  values.forEach((value, index) => context.lineTo(x(index), y(value)));
  context.stroke();
  const seconds = Number(((values.length - 1) * frameSeconds).toFixed(1));
  caption.textContent = `Voxel ${voxel.join(", ")}: ${Math.round(low)} to ${Math.round(high)} HU over ${seconds} s`;
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
  const curve = document.getElementById("time-curve");
  const curveCaption = document.getElementById("time-curve-caption");
  let playing = false;
  let curveVoxel = null;
  const curveDraw = () => {
    if (curveVoxel !== null && viewer.frameCount > 1) {
      const values = viewer.timeCurve(curveVoxel);
      timeCurveDraw(curve, curveCaption, { voxel: curveVoxel, values, frame: viewer.frame, frameSeconds: viewer.frameSeconds });
    }
  };
  let loops = 0; // the cine loop that runs is the last one started

  const frameShown = (frame) => {
    slider.value = String(frame);
    const seconds = frame * viewer.frameSeconds;
    shown.textContent = `frame ${frame + 1} of ${viewer.frameCount} · ${Number(seconds.toFixed(1))} s`;
    canvas.dataset.shownFrame = String(frame); // a hook for browser tests
    curveDraw();
  };
  viewer.onFrame(frameShown);
  const frameShow = (frame) => viewer.setFrame(frame);
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
      frameShown(viewer.frame);
    }
  };
  // The voxel under the cursor, for its curve.
  const locate = (voxel) => {
    curveVoxel = voxel;
    curveDraw();
  };
  return { stop, update, locate };
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

  let timeControls = null;
  const showLocation = (report) => {
    location.textContent = locationText(report);
    timeControls?.locate(report.voxel);
  };
  const panes = [
    { viewer: null, image: images[0], map: null },
    { viewer: null, image: null, map: null },
  ];
  const mapSelect = document.getElementById("map-over");
  const mapOpacity = document.getElementById("map-opacity");
  const maps = images.filter((image) => image.parameter_map !== null);
  fillSelect(mapSelect, maps, -1);
  document.getElementById("map-controls").hidden = maps.length === 0;
  const firstVolumes = () => firstPaneVolumes(panes[0], overlay, overlayControls, Number(mapOpacity.value) / 100);
  // The index of the mask among the first pane's volumes: after the map, when there is one.
  const maskIndex = () => (panes[0].map === null ? 1 : 2);
  let first;
  try {
    first = await createViewer(document.getElementById("pane-1"), {
      volumes: firstVolumes(),
      onLocation: showLocation,
    });
    await first.ready;
  } catch (error) {
    viewerUnavailableShow(error.message);
    return;
  }
  panes[0].viewer = first;
  paneShown(panes[0], 0);
  if (overlay !== null) {
    // The mask is on the base image's grid whichever image is the base: its volume is measured once.
    const millilitres = first.labelVolumeMl();
    document.getElementById("overlay-volume").textContent = `Lesion volume ${millilitres.toFixed(1)} ml`;
  }
  timeControls = bindTimeControls(first);
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

  const firstReload = async () => {
    timeControls.stop();
    await first.load(firstVolumes());
    paneShown(panes[0], 0);
    timeControls.update();
  };
  baseSelect.addEventListener("change", () => {
    panes[0].image = images[Number(baseSelect.value)];
    firstReload();
  });
  mapSelect.addEventListener("change", () => {
    panes[0].map = mapSelect.value === "" ? null : maps[Number(mapSelect.value)];
    firstReload();
  });
  mapOpacity.addEventListener("input", () => {
    if (panes[0].map !== null) {
      first.setOverlayOpacity(1, Number(mapOpacity.value) / 100);
    }
  });
  if (overlay !== null) {
    overlayControls.opacity.addEventListener("input", () =>
      first.setOverlayOpacity(maskIndex(), Number(overlayControls.opacity.value) / 100),
    );
    overlayControls.visible.addEventListener("change", () =>
      first.setOverlayVisible(maskIndex(), overlayControls.visible.checked),
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
        crosshair: crosshairVisible.checked,
      });
      await panes[1].viewer.ready;
    } else {
      await panes[1].viewer.load([volumeOf(panes[1].image)]);
    }
    paneShown(panes[1], 1);
  });
}

main();
