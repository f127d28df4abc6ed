// Shortcuts through NiiVue's internals (pinned @niivue/niivue 0.69.0) where it is slow in software WebGL,
// which is what a browser without a GPU and the headless Chromium of our tests use. Only viewer.mjs uses
// this module. Each shortcut gives the picture NiiVue would give (tests/e2e/test_viewer_shortcuts.py draws
// the same volumes with and without them and compares), and each says which NiiVue member it relies on.
//
// For a 512x512x80 CT with a mask overlay, on 2 idle cores, they brought the first frame from about 5 s
// to about 2.3 s (make bench-viewer; README.md has the figures as they are now).

// ---- Display colours of the background on the CPU ---------------------------------------------------

// NiiVue's passes that turn a scalar volume's voxels into display colours, one per data type.
const ORIENT_SHADERS = Object.freeze(["orientShaderU", "orientShaderI", "orientShaderF"]);

// NiiVue builds a gradient texture of the background (a blur and a Sobel pass over every voxel) for its
// lit volume render; in software WebGL those passes cost more than the rest of a rebuild (about 15 of
// 20 s for a 512x512x80 CT). The viewer's 3D layout uses NiiVue's default render, which never reads it.
// Turning on NiiVue's lit render (gradient amount > 0) would need these back.
const GRADIENT_SHADERS = Object.freeze([
  "blurShader",
  "gradientPrePassShader",
  "sobelFirstOrderShader",
  "sobelSecondOrderShader",
]);

// Integer volumes whose every raw value fits a table: the value that indexes 0, and the table's length.
const TABLES = new Map([
  [Uint8Array, { offset: 0, length: 256 }],
  [Int8Array, { offset: 128, length: 256 }],
  [Uint16Array, { offset: 0, length: 65536 }],
  [Int16Array, { offset: 32768, length: 65536 }],
]);

// A program in NiiVue's shader shape that draws nothing (its one triangle strip has no area): a NiiVue
// pass given it costs only its set-up.
function noDrawingProgram(gl) {
  const stage = (type, source) => {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    return shader;
  };
  const program = gl.createProgram();
  gl.attachShader(program, stage(gl.VERTEX_SHADER, "#version 300 es\nvoid main() { gl_Position = vec4(0.0); }"));
  gl.attachShader(
    program,
    stage(gl.FRAGMENT_SHADER, "#version 300 es\nprecision lowp float;\nout vec4 color;\nvoid main() { color = vec4(0.0); }"),
  );
  gl.linkProgram(program);
  return { program, uniforms: {}, use: (context) => context.useProgram(program) };
}

// The display colour (RGBA packed little-endian) of the scaled value f, as NiiVue's orientation shader
// makes it for the background: the value's fraction of the window (at least 2/256 above the window's
// lower end), looked up in the 256-entry colormap with linear interpolation, alpha times the opacity.
function colourOf(f, { low, range, colormap, opacity }) {
  if (Number.isNaN(f)) {
    return 0;
  }
  let fraction = (f - low) / range;
  if (f > low) {
    fraction = Math.max(fraction, 2 / 256);
  }
  const position = Math.min(255, Math.max(0, fraction * 256 - 0.5));
  const lower = Math.floor(position);
  const upper = Math.min(255, lower + 1);
  const weight = position - lower;
  const channel = (c) => Math.round(colormap[lower * 4 + c] * (1 - weight) + colormap[upper * 4 + c] * weight);
  return (channel(0) | (channel(1) << 8) | (channel(2) << 16) | (Math.round(channel(3) * opacity) << 24)) >>> 0;
}

// Whether backgroundColours gives what NiiVue's shader would: not for colours of negative values, label
// colours, colour from zero, modulation, or RGB volumes.
function coloursOnCpuCover(image) {
  const voxels = image.img;
  return (
    image.colormapNegative === "" &&
    image.colormapLabel === null &&
    (image.colormapType ?? 0) === 0 &&
    image.modulationImage === null &&
    !("alphaThreshold" in image) &&
    image.img2RASstep !== undefined &&
    (TABLES.has(voxels.constructor) || voxels instanceof Float32Array || voxels instanceof Float64Array)
  );
}

// Where the walk over a volume's current frame in the voxel order of NiiVue's textures (RAS) starts, and
// its steps: img2RASstep and img2RASstart map each RAS voxel to the volume's own order, as NiiVue's
// getVolumeData does. The walks below are written out for each kind of output: one walk serving
// several array types runs 2-3 times slower in V8.
function rasWalk(image) {
  const frameStart = image.frame4D > 0 ? image.frame4D * image.nVox3D : 0;
  const [startX, startY, startZ] = image.img2RASstart;
  return { dims: image.dimsRAS.slice(1, 4), first: frameStart + startX + startY + startZ, steps: image.img2RASstep };
}

// The table of display colours of every raw value of an integer background (TABLES), in its window,
// colormap and opacity as they are now; null for floating-point voxels. Made once for each of those.
const colourTables = new WeakMap();

function colourTable(image, window, colourOfRaw) {
  const shape = TABLES.get(image.img.constructor);
  if (shape === undefined) {
    return null;
  }
  const { hdr } = image;
  const key = [window.low, window.range, window.opacity, hdr.scl_slope, hdr.scl_inter, image.colormap, image.colormapInvert].join();
  const known = colourTables.get(image);
  if (known?.key === key) {
    return known.table;
  }
  const { offset, length } = shape;
  const table = new Uint32Array(length);
  for (let index = 0; index < length; index += 1) {
    table[index] = colourOfRaw(index - offset);
  }
  colourTables.set(image, { key, table });
  return table;
}

// The background's display colours in RAS order, of its current frame, within the RAS box [low, high)
// (all of it when none is given).
function backgroundColours(nv, image, box = null) {
  const { hdr, img: voxels } = image;
  const window = {
    low: Math.min(image.cal_min, image.cal_max),
    range: Math.max(0.00001, Math.abs(image.cal_max - image.cal_min)),
    colormap: nv.colormap(image.colormap, image.colormapInvert),
    opacity: image.opacity,
  };
  const colourOfRaw = (raw) => colourOf(hdr.scl_slope * raw + hdr.scl_inter, window);
  const {
    dims,
    first,
    steps: [stepX, stepY, stepZ],
  } = rasWalk(image);
  const [x0, y0, z0] = box === null ? [0, 0, 0] : box.low;
  const [x1, y1, z1] = box === null ? dims : box.high;
  const colours = new Uint32Array((x1 - x0) * (y1 - y0) * (z1 - z0));
  const table = colourTable(image, window, colourOfRaw);
  let out = 0;
  if (table === null) {
    for (let z = z0; z < z1; z += 1) {
      for (let y = y0; y < y1; y += 1) {
        for (let x = x0, source = first + z * stepZ + y * stepY + x0 * stepX; x < x1; x += 1, source += stepX) {
          colours[out++] = colourOfRaw(voxels[source]);
        }
      }
    }
    return colours;
  }
  // A table over every raw value: the walk over 21 million voxels is then one look-up each.
  const { offset } = TABLES.get(voxels.constructor);
  for (let z = z0; z < z1; z += 1) {
    for (let y = y0; y < y1; y += 1) {
      for (let x = x0, source = first + z * stepZ + y * stepY + x0 * stepX; x < x1; x += 1, source += stepX) {
        colours[out++] = table[voxels[source] + offset];
      }
    }
  }
  return colours;
}

// NiiVue makes the background's display colours (layer 0 of refreshLayers) with a shader pass over every
// voxel: about 1.5 s for a 512x512x80 CT in software WebGL on an idle machine, 4 s under load, at every
// load and every change of window or colormap. For the background that pass is a copy with the axes
// permuted (the texture is on the background's own grid) and a colormap applied, which a table does on
// the CPU in about 0.2 s. So NiiVue's pass runs with the program that draws nothing, on a header and
// voxels of one voxel (sparing its upload of the raw volume and the gradient textures' size), and the
// colours go into NiiVue's texture (volumeTexture) after it. Overlays, and backgrounds the table does not
// cover, keep NiiVue's pass.
function backgroundColoursOnCpu(nv, noDrawing) {
  const gl = nv.gl;
  const refreshLayers = nv.refreshLayers.bind(nv);
  nv.refreshLayers = (image, layer) => {
    if (layer !== 0 || !coloursOnCpuCover(image)) {
      refreshLayers(image, layer);
      return;
    }
    const colours = backgroundColours(nv, image);
    const shaders = ORIENT_SHADERS.map((name) => nv[name]);
    const { hdr, img } = image;
    for (const name of ORIENT_SHADERS) {
      nv[name] = noDrawing;
    }
    image.hdr = Object.create(hdr, { dims: { value: [3, 1, 1, 1, 1, 1, 1, 1] } });
    image.img = new img.constructor(1);
    try {
      refreshLayers(image, layer);
    } finally {
      ORIENT_SHADERS.forEach((name, index) => {
        nv[name] = shaders[index];
      });
      image.hdr = hdr;
      image.img = img;
    }
    const [, nx, ny, nz] = image.dimsRAS;
    const unit = gl.getParameter(gl.ACTIVE_TEXTURE);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_3D, nv.volumeTexture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texSubImage3D(gl.TEXTURE_3D, 0, 0, 0, 0, nx, ny, nz, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(colours.buffer));
    gl.activeTexture(unit);
  };
}

// The RAS boxes of the background's voxels that NiiVue's 2D views of the planes through the crosshair
// read: along each axis, the two slices around the crosshair (its linear sampling mixes them) across the
// whole of the other two axes.
function crosshairSlabs(nv, dims) {
  return [0, 1, 2].map((axis) => {
    const position = nv.scene.crosshairPos[axis] * dims[axis] - 0.5;
    const low = [0, 0, 0];
    const high = [...dims];
    low[axis] = Math.min(Math.max(Math.floor(position), 0), dims[axis] - 1);
    high[axis] = Math.min(low[axis] + 2, dims[axis]);
    return { low, high };
  });
}

/**
 * Show frame `frame` of the background (a 4D volume) on the planes through the crosshair only, for cine
 * playback; false, changing nothing, where the shortcut does not cover it (the 3D layout, which reads the
 * whole volume, or a background NiiVue colours itself). NiiVue's setFrame4D rebuilds every texture for a
 * new frame: for a 512x512x80 CTP in software WebGL about 0.6 s, of which the display colours of all its
 * voxels (backgroundColoursOnCpu) and their upload are most. Here only the slices the 2D views read get the
 * new frame's colours (about 0.3 million voxels of 21 million in the multiplanar layout), uploaded into
 * NiiVue's texture; the rest of the texture keeps the frames shown before, so the caller shows the whole
 * frame (setFrame4D or updateGLVolume) before anything else may be seen. The caller draws the picture.
 */
export function backgroundFrameOnSlicesShow(nv, frame) {
  const image = nv.volumes[0];
  if (
    image === undefined ||
    image !== nv.back ||
    nv.opts.is2DSliceShader ||
    nv.opts.sliceType === nv.sliceTypeRender ||
    nv.opts.multiplanarShowRender !== 0 ||
    !Number.isInteger(frame) ||
    frame < 0 ||
    frame >= image.nFrame4D ||
    !coloursOnCpuCover(image)
  ) {
    return false;
  }
  image.frame4D = frame;
  const dims = image.dimsRAS.slice(1, 4);
  const gl = nv.gl;
  const unit = gl.getParameter(gl.ACTIVE_TEXTURE);
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_3D, nv.volumeTexture);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  for (const box of crosshairSlabs(nv, dims)) {
    const colours = new Uint8Array(backgroundColours(nv, image, box).buffer);
    const size = [0, 1, 2].map((axis) => box.high[axis] - box.low[axis]);
    gl.texSubImage3D(gl.TEXTURE_3D, 0, ...box.low, ...size, gl.RGBA, gl.UNSIGNED_BYTE, colours);
  }
  gl.activeTexture(unit);
  return true;
}

// WebGL gives every new texture zeros; NiiVue uploads zeros of its own into some (rgbaTex and r8Tex with
// isInit), for the drawing layer a second upload of a volume's size.
function explicitZerosSkip(nv) {
  const rgbaTex = nv.rgbaTex.bind(nv);
  const r8Tex = nv.r8Tex.bind(nv);
  nv.rgbaTex = (texture, unit, dims) => rgbaTex(texture, unit, dims, false);
  nv.r8Tex = (texture, unit, dims) => r8Tex(texture, unit, dims, false);
}

// ---- A label volume as the drawing layer -----------------------------------------------------------

// Where a label volume's voxels lie among the background's: the background's RAS voxel that the label's
// first RAS voxel is, or null when the label's voxels are not some of the background's (another
// orientation or spacing, a fractional shift, or reaching outside it). A label volume may be a box cut out
// of the background's grid: the review's overlap comes as the box around its labels.
function placeOnBackground(image, back) {
  const dims = image.dimsRAS.slice(1, 4);
  const backDims = back.dimsRAS.slice(1, 4);
  const backVoxelOf = (voxel) => Array.from(back.mm2vox(Array.from(image.vox2mm(voxel, image.matRAS)), true));
  const offset = backVoxelOf([0, 0, 0]).map(Math.round);
  const probes = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], dims.map((size) => size - 1)];
  const onGrid = probes.every((voxel) =>
    backVoxelOf(voxel).every((value, axis) => Math.abs(value - offset[axis] - voxel[axis]) < 0.01),
  );
  const inside = offset.every((start, axis) => start >= 0 && start + dims[axis] <= backDims[axis]);
  return onGrid && inside ? offset : null;
}

// A uint8 label volume placed at `offset` in a bitmap of the background's RAS voxels (zeros elsewhere),
// and the smallest box [low, high) around its non-zero voxels there (null when there are none), found in
// the same walk.
function labelBitmap(image, backDims, offset) {
  const voxels = image.img;
  const {
    dims: [nx, ny, nz],
    first,
    steps: [stepX, stepY, stepZ],
  } = rasWalk(image);
  const [backX, backY, backZ] = backDims;
  const [offsetX, offsetY, offsetZ] = offset;
  const bitmap = new Uint8Array(backX * backY * backZ);
  const low = [nx, ny, nz];
  const high = [0, 0, 0];
  for (let z = 0; z < nz; z += 1) {
    for (let y = 0; y < ny; y += 1) {
      let rowLow = nx;
      let rowHigh = 0;
      let out = offsetX + (offsetY + y) * backX + (offsetZ + z) * backX * backY;
      for (let x = 0, source = first + z * stepZ + y * stepY; x < nx; x += 1, source += stepX) {
        const label = voxels[source];
        bitmap[out++] = label;
        if (label !== 0) {
          rowLow = x < rowLow ? x : rowLow;
          rowHigh = x + 1;
        }
      }
      if (rowHigh > 0) {
        low[0] = Math.min(low[0], rowLow);
        high[0] = Math.max(high[0], rowHigh);
        low[1] = Math.min(low[1], y);
        high[1] = Math.max(high[1], y + 1);
        low[2] = Math.min(low[2], z);
        high[2] = z + 1;
      }
    }
  }
  const shift = (corner) => corner.map((value, axis) => value + offset[axis]);
  return { bitmap, box: high[0] === 0 ? null : { low: shift(low), high: shift(high) } };
}

// Upload the box of the bitmap into the bound 3D texture, read straight from the whole bitmap.
function boxUpload(gl, bitmap, dims, { low, high }) {
  const store = [
    [gl.UNPACK_ROW_LENGTH, dims[0]],
    [gl.UNPACK_IMAGE_HEIGHT, dims[1]],
    [gl.UNPACK_SKIP_PIXELS, low[0]],
    [gl.UNPACK_SKIP_ROWS, low[1]],
    [gl.UNPACK_SKIP_IMAGES, low[2]],
  ];
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  for (const [name, value] of store) {
    gl.pixelStorei(name, value);
  }
  const size = [0, 1, 2].map((axis) => high[axis] - low[axis]);
  gl.texSubImage3D(gl.TEXTURE_3D, 0, ...low, ...size, gl.RED, gl.UNSIGNED_BYTE, bitmap);
  for (const [name] of store) {
    gl.pixelStorei(name, 0);
  }
}

/**
 * Show a uint8 label volume on the background's grid, or on a box of it, as NiiVue's drawing layer, for
 * looking only (it keeps no undo state); false when it is not on the background's grid. NiiVue's
 * loadDrawing takes only a volume of the background's size: it reorders it to RAS through tables of its
 * own, keeps a run-length coded copy for undo and uploads the whole volume twice (its own zeros, then the
 * labels): about 0.4 s for 512x512x80 voxels. Here the reorder is the background's walk, and only the box
 * around the labelled voxels is uploaded into a texture WebGL has filled with zeros. Other volumes go to
 * loadDrawing.
 */
export function labelLayerShow(nv, image) {
  const sameSize = image.hdr.dims.slice(1, 4).every((size, axis) => size === nv.back.hdr.dims[axis + 1]);
  if (!(image.img instanceof Uint8Array) || nv.opts.is2DSliceShader || image.img2RASstep === undefined) {
    labelBoxes.delete(nv);
    return sameSize && nv.loadDrawing(image);
  }
  const offset = placeOnBackground(image, nv.back);
  if (offset === null) {
    return false;
  }
  const gl = nv.gl;
  const backDims = nv.back.dims.slice(1, 4);
  const { bitmap, box } = placedLabels(image, backDims, offset);
  const shown = labelBoxes.get(nv);
  nv.drawClearAllUndoBitmaps();
  if (shown !== undefined && shown.texture === nv.drawTexture && shown.back === nv.back) {
    // The texture holds the labels shown last, within their box: that box is cleared instead of the
    // texture made anew (a new texture is a volume's worth of zeros to allocate, 0.1 s under load).
    gl.activeTexture(gl.TEXTURE7);
    gl.bindTexture(gl.TEXTURE_3D, nv.drawTexture);
    if (shown.box !== null) {
      boxClear(gl, shown.box);
    }
  } else {
    nv.drawTexture = nv.r8Tex(nv.drawTexture, gl.TEXTURE7, nv.back.dims, true);
  }
  nv.drawBitmap = bitmap;
  if (box !== null) {
    boxUpload(gl, bitmap, backDims, box);
  }
  labelBoxes.set(nv, { texture: nv.drawTexture, back: nv.back, box });
  return true;
}

// The bitmap and box of a label volume placed on a background (labelBitmap), made once for each image
// and place: two panes over one background show the same bitmap (neither draws on it), and each pane may
// show it again.
const placed = new WeakMap();

function placedLabels(image, backDims, offset) {
  const key = [...backDims, ...offset].join(",");
  let labels = placed.get(image);
  if (labels?.key !== key) {
    labels = { key, ...labelBitmap(image, backDims, offset) };
    placed.set(image, labels);
  }
  return labels;
}

// Zeros into a box of the bound 3D texture.
function boxClear(gl, { low, high }) {
  const size = [0, 1, 2].map((axis) => high[axis] - low[axis]);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texSubImage3D(gl.TEXTURE_3D, 0, ...low, ...size, gl.RED, gl.UNSIGNED_BYTE, new Uint8Array(size[0] * size[1] * size[2]));
}

/** Place a label volume on the background now, as labelLayerShow would, for it to show it sooner later. */
export function labelLayerPrepare(nv, image) {
  if (image.img instanceof Uint8Array && !nv.opts.is2DSliceShader && image.img2RASstep !== undefined && nv.back) {
    const offset = placeOnBackground(image, nv.back);
    if (offset !== null) {
      placedLabels(image, nv.back.dims.slice(1, 4), offset);
    }
  }
}

// The box each NiiVue's drawing layer was last given labels in by labelLayerShow, with the texture and
// background it was on: a drawing, a new texture or background since makes it stale.
const labelBoxes = new WeakMap();

/**
 * Run `work` (steps that each end in NiiVue's drawScene) with one picture drawn, by the caller, after it.
 * NiiVue's drawScene draws the whole scene and then waits for the GPU to finish (gl.finish): adding a
 * volume and loading a drawing layer each draw, in software WebGL 0.1-0.2 s apiece, though only the last
 * picture is ever seen.
 */
export function withoutIntermediatePictures(nv, work) {
  nv.drawScene = () => {};
  try {
    work();
  } finally {
    delete nv.drawScene; // NiiVue's own, from its prototype, again
  }
}

/** Take the texture shortcuts on a Niivue attached to its canvas, before any volume is added. */
export function texturesShortcut(nv) {
  const noDrawing = noDrawingProgram(nv.gl);
  for (const name of GRADIENT_SHADERS) {
    nv[name] = noDrawing;
  }
  backgroundColoursOnCpu(nv, noDrawing);
  explicitZerosSkip(nv);
}

// ---- A pen stroke that keeps up with the mouse --------------------------------------------------------

// The smallest box [low, high) of voxels that holds `box` (none when null) and the box [low, high).
function boxGrow(box, low, high) {
  return box === null
    ? { low, high }
    : {
        low: box.low.map((value, axis) => Math.min(value, low[axis])),
        high: box.high.map((value, axis) => Math.max(value, high[axis])),
      };
}

// How long the pen rests before NiiVue draws its own picture of the stroke (which the stroke's overlay shows
// until then). Each of NiiVue's pictures of a full-size CT takes 40-60 ms of software rendering, during
// which the page shows nothing new: drawn at every animation frame, they held the pen's steps behind them.
const PEN_REST_MS = 250;

// The rectangle [left, top, right, bottom) of canvas pixels that show the voxel `voxel` of the drawing in
// the 2D tile `tile`, whose slice passes through the fraction `through` of the volume along the tile's
// normal. NiiVue's pen takes the voxel round(fraction * dims - 0.5) under a point (frac2vox), so voxel i
// spans the fractions [i / dims, (i + 1) / dims); a pixel shows the voxel its centre falls in, as NiiVue's
// slice shader samples the drawing there.
function voxelPixels(nv, tile, voxel, through) {
  const dims = nv.back.dims;
  const normal = 2 - tile.axCorSag;
  const corners = [0, 1].map((end) => {
    const frac = [0, 1, 2].map((axis) => (axis === normal ? through : (voxel[axis] + end) / dims[axis + 1]));
    let mm = Array.from(nv.frac2mm(frac)).slice(0, 3);
    if (tile.axCorSag === 1) {
      mm = [mm[0], mm[2], mm[1]];
    } else if (tile.axCorSag === 2) {
      mm = [mm[1], mm[2], mm[0]];
    }
    const [left, top, width, height] = tile.leftTopWidthHeight;
    const across = (mm[0] - tile.leftTopMM[0]) / tile.fovMM[0];
    const up = (mm[1] - tile.leftTopMM[1]) / tile.fovMM[1];
    const x = width < 0 ? left + width + (1 - across) * -width : left + across * width;
    return [x, top + (1 - up) * height];
  });
  const edge = (value) => Math.ceil(value - 0.5);
  const xs = corners.map(([x]) => edge(x));
  const ys = corners.map(([, y]) => edge(y));
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/**
 * For each move of the mouse with the button down, NiiVue 0.69.0's mouse handler draws the scene up to four
 * times (before the pen, after it, for the same voxel once more, and at its end) and its pen uploads the
 * whole drawing layer (refreshDrawing: 512x512x80 bytes, 0.17 s in software WebGL on a loaded machine) and
 * scans it for a label. Here the pen uploads only the box of voxels it drew into, and a move's pictures
 * become one: while the pen draws a value above 0 on a 2D slice (from the mouse press on), the voxels it set (those of the box on the
 * slice that now hold the pen's value in NiiVue's drawing bitmap) are painted at once as rectangles on a 2D
 * canvas laid over NiiVue's (its overlay), in the value's colour at the drawing's opacity, and NiiVue draws
 * its own picture once the pen rests PEN_REST_MS or is lifted; any other move draws NiiVue's picture at the
 * next animation frame, any other press at once. Every picture NiiVue draws (a stroke's, undo, zoom, pan, a resize) clears the
 * overlay, in the same task, so the screen never shows both apart. The picture a stroke leaves is NiiVue's
 * own of the whole mask (tests/e2e/test_annotation.py compares it with the overlay and with the mask).
 *
 * The NiiVue members this relies on: its prototype's mouseMoveListener, mouseDownListener and
 * mouseUpListener (bound when it is attached to its canvas), drawScene, drawPt, drawPenLine (each drawing penSize voxels around its points, on the drawing
 * layer when given no bitmap) and refreshDrawing(redraw, clickToSegment), which its pen calls with
 * (false, false) straight after drawing; frac2mm, screenSlices, uiData.clickedTile, scene.crosshairPos,
 * drawLut and drawOpacity. Call it before NiiVue is attached to its canvas.
 */
export function penStrokeShortcut(nv) {
  const niivue = Object.getPrototypeOf(nv);
  let overlay = null;
  let overlayShown = false;
  const overlayContext = () => {
    const canvas = nv.canvas;
    if (overlay === null) {
      overlay = document.createElement("canvas");
      overlay.className = "pen-overlay";
      overlay.setAttribute("aria-hidden", "true");
      overlay.style.position = "absolute";
      overlay.style.pointerEvents = "none";
      canvas.parentElement.style.position ||= "relative";
      canvas.after(overlay);
    }
    if (overlay.width !== canvas.width || overlay.height !== canvas.height) {
      overlay.width = canvas.width;
      overlay.height = canvas.height;
    }
    overlay.style.left = `${canvas.offsetLeft + canvas.clientLeft}px`;
    overlay.style.top = `${canvas.offsetTop + canvas.clientTop}px`;
    overlay.style.width = `${canvas.clientWidth}px`;
    overlay.style.height = `${canvas.clientHeight}px`;
    return overlay.getContext("2d");
  };
  const drawScene = () => {
    const picture = niivue.drawScene.call(nv);
    if (overlayShown) {
      overlayShown = false;
      overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
    }
    return picture;
  };
  nv.drawScene = drawScene;
  // The voxels the pen drew into during the current move, as a box [low, high), or null.
  let movedBox = null;
  const overlayPaint = (box) => {
    const tile = nv.screenSlices[nv.uiData.clickedTile];
    const value = nv.opts.penValue;
    if (tile === undefined || tile.axCorSag > 2 || !(value > 0)) {
      return false;
    }
    const normal = 2 - tile.axCorSag;
    const through = nv.scene.crosshairPos[normal];
    const slice = nv.frac2vox(nv.scene.crosshairPos)[normal];
    const [nx, ny] = [nv.back.dims[1], nv.back.dims[2]];
    const bitmap = nv.drawBitmap;
    const context = overlayContext();
    const lut = nv.drawLut.lut;
    context.fillStyle = `rgb(${lut[value * 4]}, ${lut[value * 4 + 1]}, ${lut[value * 4 + 2]})`;
    context.globalAlpha = nv.drawOpacity;
    const low = box.low.map((bound, axis) => (axis === normal ? slice : bound));
    const high = box.high.map((bound, axis) => (axis === normal ? slice + 1 : bound));
    for (let z = low[2]; z < high[2]; z += 1) {
      for (let y = low[1]; y < high[1]; y += 1) {
        for (let x = low[0]; x < high[0]; x += 1) {
          if (bitmap[x + nx * (y + ny * z)] !== value) {
            continue;
          }
          const [left, top, right, bottom] = voxelPixels(nv, tile, [x, y, z], through);
          // Painted once: a voxel painted twice at the drawing's opacity would look darker than NiiVue's.
          context.clearRect(left, top, right - left, bottom - top);
          context.fillRect(left, top, right - left, bottom - top);
        }
      }
    }
    overlayShown = true;
    return true;
  };
  let pictureAsked = false;
  let restTimer = null;
  const pictureAtNextFrame = () => {
    if (!pictureAsked) {
      pictureAsked = true;
      requestAnimationFrame(() => {
        pictureAsked = false;
        nv.drawScene();
      });
    }
  };
  // Runs NiiVue's handler of a mouse event with its pictures held back; `unpainted` draws them when the pen
  // painted nothing on the overlay.
  const penEvent = (listener, event, unpainted) => {
    let drawn = false;
    movedBox = null;
    nv.drawScene = () => {
      drawn = true;
    };
    try {
      listener.call(nv, event);
    } finally {
      nv.drawScene = drawScene;
    }
    if (!drawn) {
      return;
    }
    const painted = movedBox !== null ? overlayPaint(movedBox) : overlayShown;
    if (painted && nv.uiData.mousedown) {
      clearTimeout(restTimer);
      restTimer = setTimeout(() => nv.drawScene(), PEN_REST_MS);
      return;
    }
    unpainted();
  };
  nv.mouseMoveListener = (event) => penEvent(niivue.mouseMoveListener, event, pictureAtNextFrame);
  nv.mouseDownListener = (event) => penEvent(niivue.mouseDownListener, event, () => nv.drawScene());
  const lift = () => {
    clearTimeout(restTimer);
    if (overlayShown) {
      pictureAtNextFrame();
    }
  };
  nv.mouseUpListener = (...args) => {
    niivue.mouseUpListener.call(nv, ...args);
    lift();
  };
  // The box [low, high) of voxels the pen drew into since the drawing layer was last uploaded, or null.
  let drawnBox = null;
  const boxAdd = (points) => {
    const reach = Math.floor(nv.opts.penSize / 2);
    const dims = nv.back.dims.slice(1, 4);
    for (const point of points) {
      const voxel = point.map((value, axis) => Math.min(Math.max(value, 0), dims[axis] - 1));
      const low = voxel.map((value) => Math.max(value - reach, 0));
      const high = voxel.map((value, axis) => Math.min(value + reach + 1, dims[axis]));
      drawnBox = boxGrow(drawnBox, low, high);
      movedBox = boxGrow(movedBox, low, high);
    }
  };
  nv.drawPt = (x, y, z, value, bitmap = null) => {
    if (bitmap === null || bitmap === nv.drawBitmap) {
      boxAdd([[x, y, z]]);
    }
    niivue.drawPt.call(nv, x, y, z, value, bitmap);
  };
  nv.drawPenLine = (from, to, value) => {
    boxAdd([from, to]);
    niivue.drawPenLine.call(nv, from, to, value);
  };
  nv.refreshDrawing = (redraw = true, clickToSegment = false) => {
    const box = drawnBox;
    drawnBox = null;
    if (box === null || redraw || clickToSegment || nv.opts.is2DSliceShader || nv.opts.smoothDrawing > 0) {
      niivue.refreshDrawing.call(nv, redraw, clickToSegment);
      return;
    }
    const gl = nv.gl;
    gl.activeTexture(gl.TEXTURE7);
    gl.bindTexture(gl.TEXTURE_3D, nv.drawTexture);
    boxUpload(gl, nv.drawBitmap, nv.back.dims.slice(1, 4), box);
  };
}

// ---- The display range when a volume is parsed ------------------------------------------------------

// The raw minimum and maximum over the central half of the current frame along each axis, as NiiVue's
// calMinMax takes them: NaN skipped, and zeros of floating-point volumes that ignore zeros.
function centralRange(image) {
  const dims = image.hdr.dims;
  const voxels = image.img;
  const frameLength = dims[1] * dims[2] * dims[3];
  const first = Math.min(image.frame4D, Math.floor(voxels.length / frameLength) - 1) * frameLength;
  const border = [1, 2, 3].map((axis) => Math.floor(0.25 * dims[axis]));
  const end = [1, 2, 3].map((axis, index) => dims[axis] - border[index]);
  const zerosSkipped = image.ignoreZeroVoxels && (voxels instanceof Float32Array || voxels instanceof Float64Array);
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  let zeros = 0;
  for (let z = border[2]; z < end[2]; z += 1) {
    for (let y = border[1]; y < end[1]; y += 1) {
      const row = first + (z * dims[2] + y) * dims[1];
      for (let x = row + border[0]; x < row + end[0]; x += 1) {
        const value = voxels[x];
        if (value === 0) {
          zeros += 1;
          if (zerosSkipped) {
            continue;
          }
        }
        low = value < low ? value : low;
        high = value > high ? value : high;
      }
    }
  }
  if (image.ignoreZeroVoxels && low === high && zeros > 0) {
    low = 0;
  }
  return [low, high];
}

let parsingShortcutTaken = false;

// NiiVue's NVImage estimates a display range as it parses a volume (calMinMax): it copies the central
// half of the volume along each axis, a pass over every voxel, and scans the copy. When the header's
// range is trusted, as it is for a volume given its window, it keeps only the copy's minimum and maximum
// (global_min, global_max) and the header's range; this computes the same without the copy (0.3 s less
// for a full-size CT). Any other call goes to NiiVue's own.
export function parsingShortcut() {
  if (parsingShortcutTaken) {
    return;
  }
  parsingShortcutTaken = true;
  const { NVImage, cmapper } = globalThis.niivue;
  const estimate = NVImage.prototype.calMinMax;
  NVImage.prototype.calMinMax = function calMinMax(...args) {
    const hdr = this.hdr;
    const colormap = cmapper.colormapFromKey(this._colormap);
    const trusted =
      args.length === 0 &&
      this.trustCalMinMax &&
      (colormap.min ?? 0) === (colormap.max ?? 0) &&
      Number.isFinite(hdr.cal_min) &&
      Number.isFinite(hdr.cal_max) &&
      hdr.cal_max > hdr.cal_min;
    if (!trusted) {
      return estimate.apply(this, args);
    }
    const [low, high] = centralRange(this);
    Object.assign(this, {
      cal_min: hdr.cal_min,
      cal_max: hdr.cal_max,
      robust_min: hdr.cal_min,
      robust_max: hdr.cal_max,
      global_min: this.intensityRaw2Scaled(low),
      global_max: this.intensityRaw2Scaled(high),
    });
    return [hdr.cal_min, hdr.cal_max, hdr.cal_min, hdr.cal_max];
  };
}
