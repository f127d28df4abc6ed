// The case viewer page: any image of the case as the base of the first pane, optionally a perfusion map
// over it and a second image in a second pane with a synced crosshair, CT window presets, layouts, the
// value under the cursor, a colour bar under a map, and for a 4D CTP a time slider, cine playback and
// the time-density curve of the voxel clicked. Where the user may see the case's reference lesion mask
// (a training case, or any to an organizer), the first pane shows it as an overlay, in the submission
// review's way: one label volume, filled or outlined, its opacity, and its volume in ml.

import { colourBarShow } from "./colour-bar.mjs";
import { createViewer, imageVolume, labelOutlineAvailable, webgl2Available } from "./viewer.mjs";
import { bindViewerControls, locationText, readPageData, viewerUnavailableShow } from "./viewer-controls.mjs";

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
  if (index === 0) {
    lesionSwatchShow(pane);
  }
}

// The lesion mask's colour: red over a grey image; over a perfusion map a cyan, since the maps' colour maps
// (warm, plasma, inferno, viridis) all run through reds, oranges and yellows, where a red mask disappears.
const LESION_OVER_GREY = Object.freeze([255, 51, 51]);
const LESION_OVER_MAP = Object.freeze([0, 230, 255]);

function lesionColour(pane) {
  return pane.map !== null || pane.image.parameter_map !== null ? LESION_OVER_MAP : LESION_OVER_GREY;
}

// The mask's swatch beside its controls shows the colour it is drawn in now.
function lesionSwatchShow(pane) {
  const swatch = document.getElementById("overlay-swatch");
  if (swatch !== null) {
    swatch.style.background = `rgb(${lesionColour(pane).join(", ")})`;
  }
}

// The first pane's volumes: the base image (`base`, its volume), a perfusion map over it if one is chosen (see-through below
// its range), and the lesion mask over both when there is one to show.
function firstPaneVolumes(pane, base, overlay, overlayControls, mapOpacity) {
  const volumes = [base];
  if (pane.map !== null) {
    volumes.push({ ...imageVolume(pane.map), opacity: mapOpacity });
  }
  if (overlay !== null) {
    volumes.push({
      url: overlay.url,
      name: overlay.name,
      labelColors: { 1: lesionColour(pane) },
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

// Cine playback of a 4D CTP: the time from one frame shown to the next, 12.5 frames a second, so that a
// machine that draws a frame in up to 100 ms still shows 10 a second.
const CINE_FRAME_MS = 80;

// The time slider, cine playback and time-density curve of every pane whose image has several frames (a
// 4D CTP): the slider moves them all to one frame, a frame stepped in one of them (NiiVue's arrow keys)
// moves the others, and the curve is the first such pane's at the point last clicked in either pane.
// While cine plays or the slider is dragged, each frame goes to the slices shown only (a whole frame of a
// full-size CTP costs over half a second in software WebGL); when it pauses or the slider is let go, the
// whole frame reached. `viewers()`: the panes' viewers shown now, in pane order.
function bindTimeControls(viewers) {
  const box = document.getElementById("time-controls");
  const slider = document.getElementById("time-frame");
  const shown = document.getElementById("time-shown");
  const play = document.getElementById("time-play");
  const curve = document.getElementById("time-curve");
  const curveCaption = document.getElementById("time-curve-caption");
  const timed = () => viewers().filter((viewer) => viewer.frameCount > 1);
  let playing = false;
  let scrubbing = false; // the slider is being dragged
  let curveMm = null;
  const curveDraw = () => {
    const [leader] = timed();
    const point = curveMm === null || leader === undefined ? null : leader.timeCurve(curveMm);
    if (point !== null) {
      timeCurveDraw(curve, curveCaption, { ...point, frame: leader.frame, frameSeconds: leader.frameSeconds });
    }
  };
  let loops = 0; // the cine loop that runs is the last one started

  // A pane shows `frame`: the slider, its caption, the curve's mark and the other timed panes follow.
  const frameShown = (frame) => {
    const [leader] = timed();
    slider.value = String(frame);
    const seconds = frame * leader.frameSeconds;
    shown.textContent = `frame ${frame + 1} of ${leader.frameCount} · ${Number(seconds.toFixed(1))} s`;
    viewers().forEach((viewer, index) => {
      const canvas = document.getElementById(`pane-${index + 1}`);
      if (viewer.frameCount > 1 && viewer.frame !== Math.min(frame, viewer.frameCount - 1)) {
        viewerFrameShow(viewer, frame);
      }
      canvas.dataset.shownFrame = viewer.frameCount > 1 ? String(viewer.frame) : ""; // a hook for browser tests
    });
    curveDraw();
  };
  // A viewer's frame `frame` (or its last), on the slices shown only while cine plays or the slider moves.
  function viewerFrameShow(viewer, frame) {
    const own = Math.min(frame, viewer.frameCount - 1);
    return playing || scrubbing ? viewer.showFrameOnSlices(own) : viewer.setFrame(own);
  }
  const frameShow = (frame) => Promise.all(timed().map((viewer) => viewerFrameShow(viewer, frame)));
  // The whole of the frame each viewer shows, in every viewer but `except`.
  const framesSettle = (except = null) =>
    Promise.all(timed().filter((viewer) => viewer !== except).map((viewer) => viewer.setFrame(viewer.frame)));
  const playingSet = (value) => {
    playing = value;
    play.setAttribute("aria-pressed", String(value));
    play.textContent = value ? "Pause" : "Play";
  };
  const cine = async () => {
    loops += 1;
    const loop = loops;
    // Each frame is due CINE_FRAME_MS after the one before was due: the time drawing it took is not added,
    // and a frame drawn late is made up for by the next, but a longer delay is not (no burst of frames).
    let due = performance.now();
    while (playing && loop === loops && timed().length > 0) {
      const [leader] = timed();
      await frameShow((leader.frame + 1) % leader.frameCount);
      due = Math.max(due + CINE_FRAME_MS, performance.now() - CINE_FRAME_MS);
      await new Promise((resolve) => {
        setTimeout(resolve, due - performance.now());
      });
    }
  };

  slider.addEventListener("input", () => {
    scrubbing = true;
    frameShow(Number(slider.value));
  });
  slider.addEventListener("change", () => {
    scrubbing = false;
    if (!playing) {
      framesSettle();
    }
  });
  play.addEventListener("click", () => {
    playingSet(!playing);
    if (playing) {
      cine();
    } else {
      framesSettle();
    }
  });
  // watch(viewer) once for each pane's viewer; stop(viewer) before a pane's viewer loads another image
  // (the others show their whole frame), update(viewer) once it shows it: a CTP it shows joins the frame
  // another pane shows.
  const watch = (viewer) => viewer.onFrame(frameShown);
  const stop = (loading) => {
    const wasMoving = playing || scrubbing;
    playingSet(false);
    scrubbing = false;
    if (wasMoving) {
      framesSettle(loading);
    }
  };
  const update = (loaded) => {
    const [leader] = timed();
    box.hidden = leader === undefined;
    if (leader !== undefined) {
      slider.max = String(leader.frameCount - 1);
      const other = timed().find((viewer) => viewer !== loaded);
      frameShown((other ?? leader).frame);
    }
  };
  // The point under the cursor (mm), for its curve.
  const locate = (mm) => {
    curveMm = mm;
    curveDraw();
  };
  return { watch, stop, update, locate };
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
    timeControls?.locate(report.mm);
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
  const shown = () => panes.filter((pane) => pane.viewer !== null && pane.image !== null);
  // A CT opens in the window of the other pane's CT, if it shows one (set as it loads: set afterwards, it
  // would cost a second rebuild).
  const baseVolume = (pane) => {
    const volume = imageVolume(pane.image);
    const other = shown().find((candidate) => candidate !== pane && candidate.image.is_ct);
    if (pane.image.is_ct && other !== undefined) {
      const { low, high } = other.viewer.window;
      Object.assign(volume, { calMin: low, calMax: high });
    }
    return volume;
  };
  const firstVolumes = () =>
    firstPaneVolumes(panes[0], baseVolume(panes[0]), overlay, overlayControls, Number(mapOpacity.value) / 100);
  // The index of the mask among the first pane's volumes: after the map, when there is one.
  const maskIndex = () => (panes[0].map === null ? 1 : 2);
  let first;
  try {
    first = await createViewer(document.getElementById("pane-1"), {
      volumes: firstVolumes(),
      onLocation: showLocation,
      firstFrameEarly: true,
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
  timeControls = bindTimeControls(() => shown().map((pane) => pane.viewer));
  timeControls.watch(first);
  timeControls.update(first);
  // A 4D CTP opens on its first frame alone: its time controls come with its other frames.
  first.allFrames.then(
    () => timeControls.update(first),
    (error) => viewerUnavailableShow(error.message),
  );
  // A window set by a right-drag in a CT pane is every CT pane's, as a preset is.
  const windowShare = (pane) =>
    pane.viewer.onWindow((range) => {
      if (!pane.image.is_ct) {
        return;
      }
      for (const other of shown()) {
        if (other !== pane && other.image.is_ct) {
          other.viewer.setWindow(range);
        }
      }
    });
  windowShare(panes[0]);
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

  // Over a map laid on the image the mask is a volume over the map, which the viewer cannot outline.
  const outlineOffer = (volumes) => {
    const available = labelOutlineAvailable(volumes);
    if (!available && overlayControls.outline.checked) {
      overlayControls.outline.checked = false;
      first.setLabelOutline(false);
    }
    overlayControls.outline.disabled = !available;
    const reason = "Outlines are drawn without a map over the image.";
    overlayControls.outline.parentElement.title = available ? "" : reason;
  };
  const firstReload = async () => {
    timeControls.stop(first);
    const volumes = firstVolumes();
    if (overlay !== null) {
      outlineOffer(volumes);
    }
    await first.load(volumes);
    paneShown(panes[0], 0);
    timeControls.update(first);
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
    timeControls.stop(panes[1].viewer);
    if (secondSelect.value === "") {
      panes[1].image = null;
      box.hidden = true;
      timeControls.update(null);
      return;
    }
    panes[1].image = images[Number(secondSelect.value)];
    box.hidden = false;
    if (panes[1].viewer === null) {
      panes[1].viewer = await createViewer(document.getElementById("pane-2"), {
        volumes: [baseVolume(panes[1])],
        layout: first.layout,
        onLocation: showLocation,
        follow: first,
        crosshair: crosshairVisible.checked,
      });
      await panes[1].viewer.ready;
      timeControls.watch(panes[1].viewer);
      windowShare(panes[1]);
    } else {
      await panes[1].viewer.load([baseVolume(panes[1])]);
    }
    paneShown(panes[1], 1);
    timeControls.update(panes[1].viewer);
  });
}

main();
