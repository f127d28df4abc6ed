// The case viewer page: any image of the case as the base of the first pane, optionally a second image
// in a second pane with a synced crosshair, CT window presets, layouts, and the value under the cursor.
// Where the user may see the case's reference lesion mask (a training case, or any to an organizer), the
// first pane shows it as an overlay, in the submission review's way: one label volume, opacity and a box.

import { createViewer, webgl2Available } from "./viewer.mjs";
import { bindViewerControls, locationText, readPageData, viewerUnavailableShow } from "./viewer-controls.mjs";
import { OPENING_WINDOW_PRESET } from "./window-presets.mjs";

// A CT opens in its window, set as it loads (set afterwards, it would cost a second rebuild).
function volumeOf(image) {
  const volume = { url: image.url, name: image.name, colormap: image.colormap };
  if (image.is_ct) {
    volume.windowPreset = OPENING_WINDOW_PRESET;
  }
  return volume;
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
  };
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

  const shown = () => panes.filter((pane) => pane.viewer !== null && pane.image !== null);
  bindViewerControls({
    presetViewers: () => shown().filter((pane) => pane.image.is_ct).map((pane) => pane.viewer),
    layoutViewers: () => shown().map((pane) => pane.viewer),
  });

  baseSelect.addEventListener("change", async () => {
    panes[0].image = images[Number(baseSelect.value)];
    await first.load(firstPaneVolumes(panes[0].image, overlay, overlayControls));
  });
  if (overlay !== null) {
    overlayControls.opacity.addEventListener("input", () =>
      first.setOverlayOpacity(OVERLAY, Number(overlayControls.opacity.value) / 100),
    );
    overlayControls.visible.addEventListener("change", () =>
      first.setOverlayVisible(OVERLAY, overlayControls.visible.checked),
    );
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
      });
      await panes[1].viewer.ready;
      first.syncWith(panes[1].viewer);
      return;
    }
    await panes[1].viewer.load([volumeOf(panes[1].image)]);
  });
}

main();
