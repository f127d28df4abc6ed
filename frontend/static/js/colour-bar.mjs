// A perfusion map's colour bar under its pane: the colour map from the low to the high end of the map's
// display range, the values at both ends and the middle, and the quantity with its unit, e.g. "Tmax (s)".
// The ranges and units are inference/parameter_maps.py's, passed in each image's `parameter_map`; the
// colours are NiiVue's colour map (viewer.mjs's Viewer.colours), 256 entries of RGBA.

function tickText(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

// Show `parameterMap`'s bar in `figure` (its canvas and caption), or hide the figure when there is none.
export function colourBarShow(figure, parameterMap, colours) {
  if (parameterMap === null || parameterMap === undefined) {
    figure.hidden = true;
    return;
  }
  const canvas = figure.querySelector("canvas");
  const context = canvas.getContext("2d");
  const bar = context.createImageData(256, 1);
  for (let index = 0; index < 256; index += 1) {
    bar.data.set(colours.subarray(index * 4, index * 4 + 3), index * 4);
    bar.data[index * 4 + 3] = 255;
  }
  canvas.width = 256;
  canvas.height = 1;
  context.putImageData(bar, 0, 0);
  const { label, unit, low, high } = parameterMap;
  const ticks = figure.querySelector(".viewer-colour-bar-ticks");
  ticks.replaceChildren(
    ...[low, (low + high) / 2, high].map((value) => {
      const tick = document.createElement("span");
      tick.textContent = tickText(value);
      return tick;
    }),
  );
  figure.querySelector("figcaption").textContent = `${label} (${unit})`;
  figure.hidden = false;
}
