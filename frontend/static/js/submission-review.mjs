// The submission review page: the case's NCCT with one overlay of the server-computed overlap labels
// (1 true positive, 2 false positive, 3 false negative) in the legend's three colours.

import { createViewer, imageVolume, webgl2Available } from "./viewer.mjs";
import { bindViewerControls, locationText, readPageData, viewerUnavailableShow } from "./viewer-controls.mjs";

const OVERLAP_COLORS = Object.freeze({ 1: [0, 204, 0], 2: [255, 51, 51], 3: [51, 102, 255] });
const OVERLAY = 1;

async function main() {
  const { base, overlay } = readPageData("viewer-data");
  if (!webgl2Available() || base === null) {
    viewerUnavailableShow(base === null ? "This case has no image to show the masks on." : null);
    return;
  }
  const location = document.getElementById("location");
  const opacity = document.getElementById("overlay-opacity");
  const visible = document.getElementById("overlay-visible");
  let viewer;
  try {
    viewer = await createViewer(document.getElementById("pane-1"), {
      volumes: [
        // Shown as the case viewer shows it (a CT in its window from the start).
        imageVolume(base),
        {
          url: overlay.url,
          name: overlay.name,
          labelColors: OVERLAP_COLORS,
          opacity: Number(opacity.value) / 100,
        },
      ],
      onLocation: (report) => {
        location.textContent = locationText(report);
      },
    });
    await viewer.ready;
  } catch (error) {
    viewerUnavailableShow(error.message);
    return;
  }
  bindViewerControls({
    presetViewers: () => (base.is_ct ? [viewer] : []),
    layoutViewers: () => [viewer],
  });
  opacity.addEventListener("input", () => viewer.setOverlayOpacity(OVERLAY, Number(opacity.value) / 100));
  visible.addEventListener("change", () => viewer.setOverlayVisible(OVERLAY, visible.checked));
}

main();
