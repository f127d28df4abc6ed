// The only module of ours that makes NiiVue (with niivue-shortcuts.mjs, the only ones that touch its
// global: pinned @niivue/niivue 0.69.0, loaded as the UMD global `niivue` by a <script> tag of
// /static/vendor/niivue/niivue.umd.js). Pages show images with createViewer(); drawing-viewer.mjs builds
// the annotation campaigns' drawing viewer on the pieces exported for it below. Volumes are downloaded by
// volume-downloads.mjs, and the CT windows are those of window-presets.mjs.

import {
  backgroundFrameOnSlicesShow,
  labelLayerPrepare,
  labelLayerShow,
  parsingShortcut,
  texturesShortcut,
  withoutIntermediatePictures,
} from "./niivue-shortcuts.mjs";
import { volumeDownload } from "./volume-downloads.mjs";
import { OPENING_WINDOW_PRESET, windowRange } from "./window-presets.mjs";

export { penStrokeShortcut } from "./niivue-shortcuts.mjs";
export { volumePrefetch } from "./volume-downloads.mjs";

const LAYOUTS = Object.freeze(["multiplanar", "axial", "coronal", "sagittal", "3d"]);

// The voxel axis that moveSlice steps along in each layout (i, j, k).
const SLICE_AXIS = Object.freeze({ multiplanar: 2, axial: 2, coronal: 1, sagittal: 0, "3d": 2 });

/** Attach NiiVue to the canvas; a browser that has the WebGL2 API but cannot start it gets a sentence. */
async function canvasAttach(nv, canvas) {
  try {
    await nv.attachToCanvas(canvas);
  } catch (error) {
    throw new Error(`This browser could not start WebGL2 (${error.message}); please use another browser.`);
  }
}

// Checks the API only: a probe context costs as much as the viewer's own (0.4 s in software WebGL). A
// browser that has the API but cannot make a context makes createViewer throw instead.
export function webgl2Available() {
  return typeof globalThis.niivue !== "undefined" && typeof globalThis.WebGL2RenderingContext !== "undefined";
}

// ---- NiiVue's set-up and navigation: the exported functions serve drawing-viewer.mjs too ---------------

// What every viewer's NiiVue is given. The crosshair is yellow: red, green and blue mean false positive,
// true positive and false negative on the review.
const NIIVUE_OPTIONS = Object.freeze({
  backColor: [0, 0, 0, 1],
  crosshairColor: [1, 0.85, 0, 1],
  // The 3D tile only on the 3D layout: rendering a full-size volume in software WebGL costs seconds.
  multiplanarShowRender: 0, // SHOW_RENDER.NEVER
  dragAndDropEnabled: false,
  isResizeCanvas: true,
  logLevel: "error",
  loadingText: "",
});

// A NiiVue with the shared options and `options`, not yet on a canvas.
export function niivueCreate(options) {
  return new globalThis.niivue.Niivue({ ...NIIVUE_OPTIONS, ...options });
}

// Put NiiVue on its canvas, take the texture shortcuts before any volume is added, and show `layout`.
export async function niivueAttach(nv, canvas, layout) {
  await canvasAttach(nv, canvas);
  texturesShortcut(nv);
  nv.setSliceType(sliceTypeOf(nv, layout));
}

export function layoutCheck(name) {
  if (!LAYOUTS.includes(name)) {
    throw new Error(`Unknown layout: ${name}`);
  }
}

function sliceTypeOf(nv, layout) {
  const types = {
    multiplanar: nv.sliceTypeMultiplanar,
    axial: nv.sliceTypeAxial,
    coronal: nv.sliceTypeCoronal,
    sagittal: nv.sliceTypeSagittal,
    "3d": nv.sliceTypeRender,
  };
  return types[layout];
}

// What both viewers do to navigate: the background's window, the layout, and a step through the slices.
export function windowPresetApply(nv, name) {
  Object.assign(nv.volumes[0], windowRange(name));
  nv.updateGLVolume();
}

export function layoutApply(nv, name) {
  layoutCheck(name);
  nv.setSliceType(sliceTypeOf(nv, name));
}

export function sliceMove(nv, layout, delta) {
  const step = [0, 0, 0];
  step[SLICE_AXIS[layout]] = delta;
  nv.moveCrosshairInVox(step[0], step[1], step[2]);
}

// ---- Volumes -----------------------------------------------------------------------------------------

// The volume of an image as the portal describes it for every viewer page (datasets/views.py's ViewerImage:
// url, name, colormap, is_ct, parameter_map): a CT in the window it opens in, a perfusion map in its colour
// map over the range its quantity calls for (inference/parameter_maps.py: Tmax 0-10 s, never the map's own
// extremes), clear at and below the range's low end. Both are set as it loads: set afterwards, either would
// cost a second rebuild of the textures.
export function imageVolume(image) {
  const volume = { url: image.url, name: image.name, colormap: image.colormap };
  if (image.is_ct) {
    volume.windowPreset = OPENING_WINDOW_PRESET;
  }
  if (image.parameter_map !== null) {
    volume.colormap = image.parameter_map.colormap;
    volume.calMin = image.parameter_map.low;
    volume.calMax = image.parameter_map.high;
  }
  return volume;
}

// The 256 RGBA entries of one of NiiVue's colour maps, for a colour bar (colour-bar.mjs).
export function colourMapEntries(nv, colormap) {
  return nv.colormap(colormap, false);
}

function volumeOptions(volume) {
  const options = {
    url: volume.url,
    name: volume.name,
    colormap: volume.colormap ?? "gray",
    opacity: volume.visible === false ? 0 : (volume.opacity ?? 1),
  };
  if (volume.windowPreset !== undefined) {
    Object.assign(options, windowRange(volume.windowPreset));
  }
  if (volume.labelColors !== undefined) {
    // Labels are shown by value: a range given spares NiiVue estimating one from the histogram.
    Object.assign(options, { cal_min: 0, cal_max: Math.max(...Object.keys(volume.labelColors).map(Number)) });
  }
  if (volume.calMin !== undefined) {
    options.cal_min = volume.calMin;
  }
  if (volume.calMax !== undefined) {
    options.cal_max = volume.calMax;
  }
  return options;
}

// A volume of small integer labels drawn in fixed colours, e.g. {1: [0, 204, 0]}; other values are clear.
function labelColormap(labelColors) {
  const values = Object.keys(labelColors).map(Number).sort((a, b) => a - b);
  const colors = values.map((value) => labelColors[value]);
  return {
    I: [0, ...values],
    R: [0, ...colors.map((color) => color[0])],
    G: [0, ...colors.map((color) => color[1])],
    B: [0, ...colors.map((color) => color[2])],
    A: [0, ...colors.map(() => 255)],
  };
}

// Download and parse every volume at once: `images` resolves with them, `requested` once every download
// is on its way. The portal sends volumes gzip-encoded in transit, so the browser's network stack
// inflates them off the page's thread (NiiVue inflates any that come gzipped).
// Label colours and the window are set here, before NiiVue builds its textures: set afterwards, each
// costs one more rebuild of every texture. With `firstFrame`, `firstImages` resolves with the same images
// but the first volume's first frame alone in its place, if that is a 4D volume whose first frame came
// before the rest (else with null).
function imagesFetch(nv, volumes, { firstFrame = false } = {}) {
  parsingShortcut();
  const downloaded = volumes.map((volume, index) =>
    volumeDownload(volume.url, volume.name, { firstFrame: firstFrame && index === 0 }),
  );
  const parsed = async (volume, buffer) => {
    const image = await globalThis.niivue.NVImage.loadFromUrl({
      ...volumeOptions(volume),
      buffer,
      trustCalMinMax: nv.opts.trustCalMinMax,
    });
    if (volume.labelColors !== undefined) {
      image.setColormapLabel(labelColormap(volume.labelColors));
    }
    return image;
  };
  const overlays = volumes.slice(1).map(async (volume, index) => parsed(volume, await downloaded[index + 1].bytes));
  const base = downloaded[0].bytes.then((buffer) => parsed(volumes[0], buffer));
  const images = Promise.all([base, ...overlays]);
  // A first frame NiiVue cannot parse is not shown: the viewer waits for all frames.
  const firstImages = downloaded[0].first
    .then((buffer) => (buffer === null ? null : parsed(volumes[0], buffer).catch(() => null)))
    .then((first) => (first === null ? null : Promise.all([first, ...overlays])));
  return { requested: Promise.all(downloaded.map((download) => download.requested)), images, firstImages };
}

// The label volumes parsed for setLabels, by URL, shared by the page's viewers (two panes may show one
// mask; labelLayerShow only reads them): the last LABEL_IMAGES_KEPT asked for, an item's two masks and
// the next item's.
const labelImages = new Map();
const LABEL_IMAGES_KEPT = 4;

function labelImage(nv, volume) {
  let image = labelImages.get(volume.url);
  if (image === undefined) {
    image = imagesFetch(nv, [volume]).images.then(([parsed]) => parsed);
    image.catch(() => labelImages.delete(volume.url)); // tried afresh next time
    labelImages.set(volume.url, image);
    for (const url of Array.from(labelImages.keys()).slice(0, -LABEL_IMAGES_KEPT)) {
      labelImages.delete(url);
    }
  }
  return image;
}

// Show the images, the first as the background, with one rebuild of NiiVue's textures. NiiVue's own
// loadVolumes adds one volume at a time and rebuilds every texture each time (in software WebGL, seconds
// per rebuild of a full-size CT); here all but the last are put in its list and adding the last rebuilds.
function imagesShow(nv, images) {
  nv.volumes = images.slice(0, -1);
  nv.addVolume(images.at(-1));
}

export async function volumesLoad(nv, volumes) {
  imagesShow(nv, await imagesFetch(nv, volumes).images);
}

// The one volume of labels (labelColors) a viewer may hold, or -1. It is shown as NiiVue's drawing layer
// rather than as a volume: a volume is resampled into the background's grid by a shader pass over every
// voxel of it (about 4 s for a 512x512x80 CT in software WebGL, under load), while the drawing layer is
// uploaded as it is. So a label volume must be on the background's grid, or on a box of it (the review's
// overlap is the box around its labels). NiiVue mixes the drawing layer into the background before it lays
// the other volumes over both, so beside another overlay (a perfusion map over the CT) the labels would be
// covered: then they are a volume like the others, last, over them, at the cost of its resampling and of
// the drawing layer's outline (`labelOutlineAvailable`).
function labelLayerIndex(volumes) {
  const indices = volumes.flatMap((volume, index) => (volume.labelColors === undefined ? [] : [index]));
  if (indices.length > 1 || indices[0] === 0) {
    throw new Error("A viewer shows at most one label volume, and not as its background.");
  }
  if (indices.length === 1 && volumes.length > 2) {
    if (indices[0] !== volumes.length - 1) {
      throw new Error("A label volume shown beside other overlays comes last, over them.");
    }
    return -1;
  }
  return indices.length === 0 ? -1 : indices[0];
}

// Whether a viewer of `volumes` can outline its label volume: only as the drawing layer (see above).
export function labelOutlineAvailable(volumes) {
  return labelLayerIndex(volumes) !== -1;
}

// How the label layer is drawn: filled at `opacity`, or (outline) only its rim at `opacity`. NiiVue draws the
// rim of the drawing layer (a change of label between neighbouring screen pixels) at drawRimOpacity when
// that is not negative, and the rest at drawOpacity; an inside drawn at no opacity would draw no rim
// either, so it is drawn at one that leaves no trace on screen.
const OUTLINE_INSIDE_OPACITY = 0.001;

function labelLook(opacity, outline) {
  if (!outline || opacity === 0) {
    return { drawOpacity: opacity, drawRimOpacity: -1 };
  }
  return { drawOpacity: OUTLINE_INSIDE_OPACITY, drawRimOpacity: opacity };
}

function layersShow(nv, images, { labelIndex, labelColors, labelLook }) {
  if (labelIndex === -1) {
    if (nv.drawBitmap) {
      nv.closeDrawing();
    }
    imagesShow(nv, images);
    return;
  }
  // Set before the volumes are added: setDrawColormap rebuilds every texture there is.
  nv.volumes = [];
  nv.setDrawColormap(labelColormap(labelColors));
  Object.assign(nv, labelLook);
  imagesShow(nv, images.filter((_, index) => index !== labelIndex));
  if (!labelLayerShow(nv, images[labelIndex])) {
    throw new Error("The label volume is not on the background image's grid; it cannot be shown over it.");
  }
}

// Resolves in a task of its own once the page's load event has been handled, so that the browser knows
// the page has loaded.
function pageLoaded() {
  return new Promise((resolve) => {
    const later = () => setTimeout(resolve, 0);
    if (document.readyState === "complete") {
      later();
    } else {
      window.addEventListener("load", later, { once: true });
    }
  });
}

export function nextAnimationFrame() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => resolve());
  });
}

// Resolves when the GPU has run every command given so far. WebGL calls only queue work: NiiVue returns
// from building its textures long before the GPU has (seconds, in software WebGL), and the next animation
// frame comes before the picture does.
export async function gpuFinished(gl) {
  const fence = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
  gl.flush();
  while (gl.clientWaitSync(fence, 0, 0) === gl.TIMEOUT_EXPIRED) {
    await new Promise((resolve) => {
      setTimeout(resolve, 10);
    });
  }
  gl.deleteSync(fence);
}

// ---- Synced viewers ---------------------------------------------------------------------------------
// NiiVue syncs viewers (broadcastTo) at the end of each picture, but only from the viewer whose canvas has
// the keyboard focus: a slice moved by a key the page took, or in a pane other than the one last clicked,
// left the other pane on another slice. Synced viewers here share a group instead, and whichever of them
// draws a picture, whatever made it draw (a key, the wheel, a click, a layout, a window or an image
// shown), the others take its position before the picture is done. NiiVue calls its member `sync` at the
// end of every picture: each viewer's NiiVue has it replaced by the group's.

// The viewers' crosshair: a fraction of the field of view wide (NiiVue's "percent" unit; its default, one
// voxel, is a band over a coarse map), yellow (red, green and blue mean false positive, true positive and
// false negative on the review) and see-through.
const CROSSHAIR_WIDTH_PERCENT = 0.25;
const CROSSHAIR_COLOR = Object.freeze([1, 0.85, 0, 0.7]);

// Within this distance (a fraction of the volume, or mm of pan and zoom) two viewers are in one place.
const SAME_PLACE = 1e-5;

function samePlace(first, second) {
  return (
    first.length === second.length &&
    Array.from(first).every((value, index) => Math.abs(value - second[index]) <= SAME_PLACE)
  );
}

// Where a viewer is: its crosshair (in mm: synced panes may show images on other grids), zoom and pan,
// layout and 3D view.
function placeOf(nv) {
  return {
    crosshairMm: Array.from(nv.frac2mm(nv.scene.crosshairPos)).slice(0, 3),
    pan: Array.from(nv.scene.pan2Dxyzmm),
    sliceType: nv.opts.sliceType,
    render: [nv.scene.renderAzimuth, nv.scene.renderElevation, nv.scene.volScaleMultiplier],
  };
}

// Move NiiVue to `place` without drawing; false if it is there already.
function placeTake(nv, place) {
  const crosshair = Array.from(nv.mm2frac(place.crosshairMm)).slice(0, 3);
  const render = [nv.scene.renderAzimuth, nv.scene.renderElevation, nv.scene.volScaleMultiplier];
  if (
    samePlace(crosshair, nv.scene.crosshairPos) &&
    samePlace(place.pan, nv.scene.pan2Dxyzmm) &&
    place.sliceType === nv.opts.sliceType &&
    samePlace(place.render, render)
  ) {
    return false;
  }
  nv.scene.crosshairPos = crosshair;
  nv.scene.pan2Dxyzmm = [...place.pan];
  nv.opts.sliceType = place.sliceType;
  [nv.scene.renderAzimuth, nv.scene.renderElevation, nv.scene.volScaleMultiplier] = place.render;
  return true;
}

class Viewer {
  #nv;
  #canvas;
  #blinded;
  #opacities;
  #visible;
  #labelIndex;
  #labelColors;
  // Whether the label volume is drawn as outlines rather than filled.
  #outline = false;
  #listeners = [];
  // The viewers this one is synced with (itself included) and whether one of them is being moved.
  #group = { viewers: new Set([this]), moving: false };
  // While it fetches new volumes it still shows the old ones: it neither leads nor follows.
  #loading = false;
  // The base image's window as last set or reported ([low, high]), null until its first picture; and who
  // is told when a drag with the right button changes it.
  #window = null;
  #windowListeners = [];
  // How many times load() was called: a base's other frames that come later are shown only if none was.
  #loads = 0;
  // Whether NiiVue's texture of the base image mixes frames: showFrameOnSlices gave the new frame to the
  // slices shown only. And who is told of each frame shown.
  #framesMixed = false;
  #frameListeners = [];

  constructor(nv, canvas, { volumes, blinded }) {
    this.#nv = nv;
    this.#canvas = canvas;
    this.#blinded = blinded;
    this.#volumesSet(volumes);
    nv.onLocationChange = (location) => this.#emitLocation(location);
    // NiiVue's own frame change (setFrame4D, and its arrow keys) rebuilds the whole texture.
    nv.onFrameChange = (_volume, frame) => {
      this.#framesMixed = false;
      this.#frameEmit(frame);
    };
    nv.sync = () => this.#pictureDrawn();
    this.ready = null;
    this.allFrames = Promise.resolve(); // see createViewer's firstFrameEarly
  }

  // Read from NiiVue, which a synced viewer's moves and NiiVue's own view key change too.
  get layout() {
    return LAYOUTS.find((name) => sliceTypeOf(this.#nv, name) === this.#nv.opts.sliceType);
  }

  #volumesSet(volumes) {
    this.#opacities = volumes.map((volume) => volume.opacity ?? 1);
    this.#visible = volumes.map((volume) => volume.visible !== false);
    this.#labelIndex = labelLayerIndex(volumes);
    this.#labelColors = this.#labelIndex === -1 ? undefined : volumes[this.#labelIndex].labelColors;
  }

  // Show fetched images (in the order of the volumes last given) with one rebuild of NiiVue's textures;
  // the caller draws the picture.
  show(images) {
    this.#window = null;
    this.#framesMixed = false;
    withoutIntermediatePictures(this.#nv, () =>
      layersShow(this.#nv, images, {
        labelIndex: this.#labelIndex,
        labelColors: this.#labelColors,
        labelLook: labelLook(this.#shownOpacity(this.#labelIndex), this.#outline),
      }),
    );
  }

  // Replace every volume (a new base and its overlays); resolves once they are drawn. A synced viewer
  // comes back where the others of its group are (in mm), or, if they are all loading too, keeps its place
  // in the volume: the first of the group to finish leads.
  async load(volumes) {
    this.#loads += 1;
    this.#volumesSet(volumes);
    this.#loading = true;
    try {
      this.show(await this.#imagesFetch(volumes));
    } finally {
      this.#loading = false;
    }
    const leader = this.#followable().find((viewer) => viewer !== this);
    if (leader !== undefined) {
      placeTake(this.#nv, placeOf(leader.#nv));
    }
    this.#nv.setSliceType(sliceTypeOf(this.#nv, this.layout));
    await gpuFinished(this.#nv.gl);
    await nextAnimationFrame();
  }

  // Show `images`, the volumes first shown with the base's first frame alone, the base now with all its
  // frames, in the window, place and layout the viewer has now; nothing if load() was called since
  // (createViewer's firstFrameEarly). Resolves once it is drawn.
  async allFramesShow(images) {
    if (this.#loads > 0) {
      return;
    }
    const { low, high } = this.window;
    Object.assign(images[0], { cal_min: low, cal_max: high });
    const place = placeOf(this.#nv);
    this.show(images);
    placeTake(this.#nv, place);
    this.#nv.drawScene();
    await gpuFinished(this.#nv.gl);
  }

  // The volumes' images, the label volume's through labelImage (parsed already if it was prefetched).
  #imagesFetch(volumes) {
    if (this.#labelIndex === -1) {
      return imagesFetch(this.#nv, volumes).images;
    }
    const others = volumes.filter((_, index) => index !== this.#labelIndex);
    return Promise.all([imagesFetch(this.#nv, others).images, labelImage(this.#nv, volumes[this.#labelIndex])]).then(
      ([images, label]) => images.toSpliced(this.#labelIndex, 0, label),
    );
  }

  // Show the label volume `volume` (given as to createViewer, in the label colours it was made with) in
  // place of the one shown, over the same images: only its voxels are parsed (once for the page's
  // viewers: see labelImage) and uploaded. A reading page swaps two masks over one case so. Resolves once
  // it is drawn.
  async setLabels(volume) {
    if (this.#labelIndex === -1) {
      throw new Error("This viewer shows no label volume to replace.");
    }
    const image = await labelImage(this.#nv, volume);
    this.#opacities[this.#labelIndex] = volume.opacity ?? 1;
    this.#visible[this.#labelIndex] = volume.visible !== false;
    if (!labelLayerShow(this.#nv, image)) {
      throw new Error("The label volume is not on the background image's grid; it cannot be shown over it.");
    }
    Object.assign(this.#nv, labelLook(this.#shownOpacity(this.#labelIndex), this.#outline));
    this.#nv.drawScene();
    await gpuFinished(this.#nv.gl);
    await nextAnimationFrame();
  }

  // Download (or take from a prefetch), parse and place on the images shown label volumes now, for a later
  // setLabels of any of them in this page's viewers: a reading page does so with the next item's masks
  // while the reader reads.
  labelsPrefetch(volumes) {
    for (const volume of volumes) {
      // A failure is seen by setLabels, if it comes.
      labelImage(this.#nv, volume).then((image) => labelLayerPrepare(this.#nv, image), () => {});
    }
  }

  // A hook for browser tests: the voxel under the crosshair, which says nothing of what is shown.
  #crosshairShow() {
    this.#canvas.dataset.crosshairVoxel = Array.from(this.#nv.frac2vox(this.#nv.scene.crosshairPos)).join(",");
  }

  // The viewers of the group that show what they were last given.
  #followable() {
    return Array.from(this.#group.viewers).filter((viewer) => !viewer.#loading && viewer.#nv.volumes.length > 0);
  }

  #shownOpacity(index) {
    return this.#visible[index] ? this.#opacities[index] : 0;
  }

  // NiiVue's index of the volume at `index` of the volumes given (the label volume is not among them).
  #volumeIndex(index) {
    return this.#labelIndex !== -1 && index > this.#labelIndex ? index - 1 : index;
  }

  #opacityApply(index) {
    if (index === this.#labelIndex) {
      Object.assign(this.#nv, labelLook(this.#shownOpacity(index), this.#outline));
      this.#nv.drawScene();
      return;
    }
    this.#nv.setOpacity(this.#volumeIndex(index), this.#shownOpacity(index));
  }

  setWindowPreset(name) {
    const { cal_min: low, cal_max: high } = windowRange(name);
    this.setWindow({ low, high });
  }

  // The base image's window as its display range: `low` black, `high` white.
  get window() {
    const { cal_min: low, cal_max: high } = this.#nv.volumes[0];
    return { low, high };
  }

  setWindow({ low, high }) {
    this.#window = [low, high];
    Object.assign(this.#nv.volumes[0], { cal_min: low, cal_max: high });
    this.#nv.updateGLVolume();
  }

  // `callback({ low, high })` whenever the user sets the base image's window by a drag with the right
  // button (NiiVue changes it between pictures and says nothing).
  onWindow(callback) {
    this.#windowListeners.push(callback);
  }

  #windowCheck() {
    const { cal_min: low, cal_max: high } = this.#nv.volumes[0];
    const known = this.#window;
    this.#window = [low, high];
    if (known !== null && (known[0] !== low || known[1] !== high)) {
      for (const listener of this.#windowListeners) {
        listener({ low, high });
      }
    }
  }

  setLayout(name) {
    layoutApply(this.#nv, name);
  }

  setOverlayOpacity(index, value) {
    this.#opacities[index] = value;
    if (this.#visible[index]) {
      this.#opacityApply(index);
    }
  }

  setOverlayVisible(index, visible) {
    this.#visible[index] = visible;
    this.#opacityApply(index);
  }

  // The label volume's outlines only (true) or its labels filled (false).
  setLabelOutline(outline) {
    this.#outline = outline;
    if (this.#labelIndex !== -1) {
      this.#opacityApply(this.#labelIndex);
    }
  }

  // The crosshair shown (thin) or hidden.
  setCrosshairVisible(visible) {
    this.#nv.setCrosshairWidth(visible ? CROSSHAIR_WIDTH_PERCENT : 0);
  }

  // From now on, whatever moves one of the two (or a viewer either is synced with) moves all of them; the
  // other takes this one's place now.
  syncWith(other) {
    this.#groupJoin(other);
    this.#pictureDrawn();
  }

  #groupJoin(other) {
    const group = this.#group;
    for (const viewer of other.#group.viewers) {
      group.viewers.add(viewer);
      viewer.#group = group;
    }
  }

  // Synced with `leader` from now on, and at its place now, without drawing: a new viewer's first picture
  // is where the leader is.
  followFrom(leader) {
    this.#groupJoin(leader);
    placeTake(this.#nv, placeOf(leader.#nv));
  }

  // NiiVue has drawn a picture of this viewer: the others of its group take its place (each draws if it
  // moved, and tells its own listeners where it is now). A picture drawn while following draws no more.
  #pictureDrawn() {
    if (this.#nv.volumes.length === 0) {
      return;
    }
    this.#crosshairShow();
    if (!this.#loading) {
      this.#windowCheck();
    }
    const group = this.#group;
    if (group.moving || this.#loading || group.viewers.size < 2) {
      return;
    }
    group.moving = true;
    try {
      const place = placeOf(this.#nv);
      for (const viewer of this.#followable()) {
        if (viewer !== this && placeTake(viewer.#nv, place)) {
          viewer.#crosshairShow(); // a hidden pane's canvas draws no picture
          viewer.#nv.drawScene();
          viewer.#nv.createOnLocationChange();
        }
      }
    } finally {
      group.moving = false;
    }
  }

  // The base image's frames in time (a 4D CTP has several; other images one), the seconds between two,
  // and the one shown.
  get frameCount() {
    return this.#nv.volumes[0]?.nFrame4D ?? 1;
  }

  get frameSeconds() {
    return this.#nv.volumes[0].hdr.pixDims[4];
  }

  get frame() {
    return this.#nv.volumes[0].frame4D;
  }

  // The base image's voxel (i, j, k) at a point in mm and its value there in each of its frames; null
  // outside the image. In mm: the point may have been clicked in a synced pane on another grid.
  timeCurve(mm) {
    const base = this.#nv.volumes[0];
    const voxel = Array.from(this.#nv.frac2vox(this.#nv.mm2frac(mm))).slice(0, 3);
    if (voxel.some((index, axis) => index < 0 || index >= base.dims[axis + 1])) {
      return null;
    }
    return { voxel, values: Array.from({ length: this.frameCount }, (_, frame) => base.getValue(...voxel, frame)) };
  }

  // `callback(frame)` whenever the base image shows another frame: set here, or by NiiVue's own keys (the
  // left and right arrows step through frames while the image has the focus).
  onFrame(callback) {
    this.#frameListeners.push(callback);
  }

  #frameEmit(frame) {
    for (const listener of this.#frameListeners) {
      listener(frame);
    }
  }

  // Show the base image's frame `frame` (from 0), all of it; resolves once it is drawn.
  async setFrame(frame) {
    const started = performance.now();
    if (this.#framesMixed && frame === this.frame) {
      this.#framesMixed = false;
      this.#nv.updateGLVolume();
    } else {
      this.#nv.setFrame4D(this.#nv.volumes[0].id, frame);
    }
    await gpuFinished(this.#nv.gl);
    performance.measure("viewer: frame", { start: started }); // for the benchmark
  }

  // Show the base image's frame `frame` on the slices shown now, for cine playback: a frame then costs a
  // few slices' colours instead of the whole volume's (backgroundFrameOnSlicesShow). The rest of the
  // volume keeps the frames shown before until setFrame, which a player calls when it stops, before
  // anything else may be seen; the 3D layout gets setFrame at once. Resolves once it is drawn.
  async showFrameOnSlices(frame) {
    if (frame === this.frame) {
      return;
    }
    const started = performance.now();
    if (!backgroundFrameOnSlicesShow(this.#nv, frame)) {
      await this.setFrame(frame);
      return;
    }
    this.#framesMixed = true;
    this.#nv.drawScene();
    this.#frameEmit(frame);
    this.#nv.createOnLocationChange();
    await gpuFinished(this.#nv.gl);
    performance.measure("viewer: frame on the slices shown", { start: started }); // for the benchmark
  }

  // The volume of the label volume's labelled voxels in ml (its voxels are the background's), or null
  // where there is none.
  labelVolumeMl() {
    if (this.#labelIndex === -1) {
      return null;
    }
    const [, x, y, z] = this.#nv.back.pixDims;
    return (this.#nv.drawBitmap.reduce((count, label) => count + (label > 0 ? 1 : 0), 0) * x * y * z) / 1000;
  }

  // The 256 RGBA entries of a NiiVue colour map, for a colour bar.
  colours(colormap) {
    return colourMapEntries(this.#nv, colormap);
  }

  moveSlice(delta) {
    sliceMove(this.#nv, this.layout, delta);
  }

  onLocation(callback) {
    this.#listeners.push(callback);
  }

  // The label under a voxel of the background: the drawing layer is on its grid, in NiiVue's RAS order.
  #labelAt([i, j, k]) {
    const dims = this.#nv.back.dims;
    return this.#nv.drawBitmap[i + j * dims[1] + k * dims[1] * dims[2]];
  }

  #emitLocation(location) {
    const report = {
      mm: Array.from(location.mm).slice(0, 3),
      voxel: Array.from(location.vox),
    };
    if (!this.#blinded) {
      report.values = location.values.map((entry) => entry.value);
      if (this.#labelIndex !== -1) {
        report.values.splice(this.#labelIndex, 0, this.#labelAt(report.voxel));
      }
    }
    for (const listener of this.#listeners) {
      listener(report);
    }
  }
}

// What createViewer's NiiVue is given beyond NIIVUE_OPTIONS (exported with them for the browser test that
// draws the same volumes with a plain NiiVue): the crosshair thin whatever the voxels' size, and shown in
// the 3D layout too. A background voxel whose colour map gives it no alpha (at or below the low end of its
// range: the colour maps all start clear) is left clear: a perfusion map's zero background is not painted
// in the map's first colour.
export const VIEWER_OPTIONS = Object.freeze({
  ...NIIVUE_OPTIONS,
  show3Dcrosshair: true,
  crosshairWidth: CROSSHAIR_WIDTH_PERCENT,
  crosshairWidthUnit: "percent",
  crosshairColor: CROSSHAIR_COLOR,
  isAlphaClipDark: true,
  // A drag with the right button sets the window: across for its width, up and down for its level
  // (NiiVue's DRAG_MODE.windowing; its default, contrast, sets the window from a rectangle's values).
  dragMode: 9,
});

// A viewer of `volumes` on `canvas`; given `follow` (a viewer), synced with it from its first picture on;
// with `crosshair` false, its crosshair hidden from the first picture on. With `firstFrameEarly`, a 4D base
// (a CTP: 8 frames of 512x512x80 take seconds to download and inflate) is first shown with its first frame
// alone, as soon as that has come, and `viewer.allFrames` resolves once it is shown with all its frames
// (at once for any other base).
export async function createViewer(
  canvas,
  {
    volumes,
    layout = "multiplanar",
    blinded = false,
    onLocation = null,
    follow = null,
    crosshair = true,
    firstFrameEarly = false,
  },
) {
  layoutCheck(layout);
  const nv = niivueCreate(crosshair ? VIEWER_OPTIONS : { ...VIEWER_OPTIONS, crosshairWidth: 0 });
  const viewer = new Viewer(nv, canvas, { volumes, blinded });
  if (onLocation !== null) {
    viewer.onLocation(onLocation);
  }
  // The downloads start before NiiVue sets up its canvas. That set-up compiles its shaders without yielding
  // (up to a second in software WebGL), and until the worker has sent its requests, they wait for it.
  // It also waits for the page to have loaded: while a page loads, the browser animates its loading
  // indicator, and each frame of that costs tens of milliseconds of software rendering.
  const { requested, images, firstImages } = imagesFetch(nv, volumes, { firstFrame: firstFrameEarly });
  await Promise.all([requested, pageLoaded()]);
  await niivueAttach(nv, canvas, layout);
  viewer.ready = (async () => {
    const early = await Promise.race([firstImages, images.then(() => null)]);
    viewer.show(early ?? (await images));
    if (follow !== null) {
      viewer.followFrom(follow);
    }
    nv.drawScene();
    await gpuFinished(nv.gl);
    await nextAnimationFrame();
    // Hooks for browser tests and the benchmark: the first frame with every volume is on screen, and
    // when (milliseconds since the navigation started).
    canvas.dataset.firstFrameMs = performance.now().toFixed(0);
    canvas.dataset.viewerReady = "true";
    const allShown = early === null ? Promise.resolve() : images.then((all) => viewer.allFramesShow(all));
    viewer.allFrames = allShown.then(() => {
      canvas.dataset.allFramesMs = performance.now().toFixed(0); // a hook for the benchmark
    });
    return viewer;
  })();
  return viewer;
}
