// The case viewer page: any image of the case as the base of the first pane, optionally a second image
// in a second pane with a synced crosshair, CT window presets, layouts, and the value under the cursor.

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

function fillSelect(select, images, selectedIndex) {
  images.forEach((image, index) => {
    const option = document.createElement("option");
    option.value = String(index);
    option.textContent = image.label;
    option.selected = index === selectedIndex;
    select.append(option);
  });
}

async function showImage(viewer, image) {
  await viewer.load([volumeOf(image)]);
}

async function main() {
  const { images } = readPageData("viewer-data");
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
      volumes: [volumeOf(images[0])],
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
    await showImage(first, panes[0].image);
  });
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
    await showImage(panes[1].viewer, panes[1].image);
  });
}

main();
