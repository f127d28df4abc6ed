// The drawing viewer of annotation campaigns: one lesion mask drawn on the first volume's grid with
// NiiVue's drawing layer (pen, filled outline, erase, brush size, undo and redo). Every value above 0 is
// lesion: 1 is the mask loaded (the starting mask or a saved revision), 2 what was drawn since, each in a
// colour of its own (MASK_COLOURS); the portal stores the mask binarised. It is built on viewer.mjs, which
// makes its NiiVue, loads its volumes and navigates (window, layout, slices) as for the viewer; pages
// import this module, not viewer.mjs, to draw.

import {
  colourMapEntries,
  gpuFinished,
  layoutApply,
  layoutCheck,
  niivueAttach,
  niivueCreate,
  nextAnimationFrame,
  penStrokeShortcut,
  sliceMove,
  volumesLoad,
  windowPresetApply,
} from "./viewer.mjs";

export { imageVolume, webgl2Available } from "./viewer.mjs";

const LOADED = 1;
const DRAWN = 2;

// The colours of the drawing's values (red, green, blue), for the page's legend too: Okabe and Ito's
// vermillion and sky blue, which stay apart for readers who confuse red and green (over the grey CT at the
// drawing's opacity, about 60 CIELAB units apart in Machado's protanopia and deuteranopia simulations; the
// red and green they replace were 11 apart in deuteranopia).
export const MASK_COLOURS = Object.freeze({ [LOADED]: [213, 94, 0], [DRAWN]: [86, 180, 233] });

const DRAWING_TOOLS = Object.freeze({
  pen: { value: DRAWN, filled: false },
  fill: { value: DRAWN, filled: true },
  erase: { value: 0, filled: false },
});

// NiiVue keeps this many drawing states; one is the state being shown, the rest can be undone.
const DRAWING_UNDO_STATES = 16;

class DrawingViewer {
  #nv;
  #layout;
  #undoable = 0;
  #redoStates = [];
  #changeListeners = [];
  #volumeCount;

  constructor(nv, { layout, volumeCount }) {
    this.#nv = nv;
    this.#layout = layout;
    this.#volumeCount = volumeCount;
    nv.onDrawingChanged = (action) => this.#drawingChanged(action);
  }

  #drawingChanged(action) {
    if (action === "draw") {
      this.#undoable = Math.min(this.#undoable + 1, DRAWING_UNDO_STATES - 1);
      this.#redoStates = [];
    }
    if (action === "load") {
      return;
    }
    for (const listener of this.#changeListeners) {
      listener(action);
    }
  }

  // callback(action) after every change a user made: "draw", "undo" or "redo".
  onChange(callback) {
    this.#changeListeners.push(callback);
  }

  // Start from the mask at `url` (a starting mask or a saved revision); values > 0 become lesion.
  async loadMask(url) {
    const loaded = await this.#nv.loadDrawingFromUrl(url, true);
    if (!loaded) {
      throw new Error("the mask could not be loaded on this image's grid");
    }
    this.#undoable = 0;
    this.#redoStates = [];
  }

  // "pen", "fill" (filled outline), "erase", or "off" to look without drawing.
  setTool(name) {
    if (name === "off") {
      this.#nv.setDrawingEnabled(false);
      return;
    }
    const tool = DRAWING_TOOLS[name];
    if (tool === undefined) {
      throw new Error(`Unknown drawing tool: ${name}`);
    }
    this.#nv.setDrawingEnabled(true);
    this.#nv.setPenValue(tool.value, tool.filled);
  }

  // The volume of the mask drawn now (every value above 0) in ml. A plain loop: it runs after every stroke,
  // over every voxel of a full-size CT (512x512x80: 33 ms in Node here, against 270 ms with reduce).
  maskVolumeMl() {
    const [, x, y, z] = this.#nv.back.pixDims;
    const bitmap = this.#nv.drawBitmap;
    let voxels = 0;
    for (let index = 0; index < bitmap.length; index += 1) {
      if (bitmap[index] > 0) {
        voxels += 1;
      }
    }
    return (voxels * x * y * z) / 1000;
  }

  setBrushSize(voxels) {
    this.#nv.opts.penSize = voxels;
  }

  get canUndo() {
    return this.#undoable > 0;
  }

  get canRedo() {
    return this.#redoStates.length > 0;
  }

  undo() {
    if (!this.canUndo) {
      return;
    }
    this.#redoStates.push(this.#nv.drawBitmap.slice());
    this.#undoable -= 1;
    this.#nv.drawUndo();
  }

  redo() {
    const state = this.#redoStates.pop();
    if (state === undefined) {
      return;
    }
    this.#nv.drawBitmap.set(state);
    this.#nv.drawAddUndoBitmap();
    this.#nv.refreshDrawing(true);
    this.#undoable += 1;
    for (const listener of this.#changeListeners) {
      listener("redo");
    }
  }

  // The mask as the bytes of an uncompressed NIfTI file on the first volume's grid.
  async maskBytes() {
    const bytes = await this.#nv.saveImage({ filename: "", isSaveDrawing: true });
    if (!bytes) {
      throw new Error("there is no drawing to save");
    }
    return bytes;
  }

  setWindowPreset(name) {
    windowPresetApply(this.#nv, name);
  }

  setLayout(name) {
    layoutApply(this.#nv, name);
    this.#layout = name;
  }

  moveSlice(delta) {
    sliceMove(this.#nv, this.#layout, delta);
  }

  // Show or hide one of the volumes, e.g. the starting mask laid over the image.
  setVolumeVisible(index, visible, opacity = 1) {
    if (index < 0 || index >= this.#volumeCount) {
      throw new Error(`No volume ${index}`);
    }
    this.#nv.setOpacity(index, visible ? opacity : 0);
  }

  // The 256 RGBA entries of a NiiVue colour map, for a colour bar.
  colours(colormap) {
    return colourMapEntries(this.#nv, colormap);
  }

  onLocation(callback) {
    this.#nv.onLocationChange = (location) =>
      callback({ mm: Array.from(location.mm).slice(0, 3), voxel: Array.from(location.vox) });
  }
}

// volumes: as for createViewer (the first is drawn on); mask: the URL of the mask to start from.
export async function createDrawingViewer(canvas, { volumes, mask, layout = "axial" }) {
  layoutCheck(layout);
  const nv = niivueCreate({
    // A quarter of a voxel: NiiVue draws the crosshair a voxel wide, hiding the voxels being drawn.
    crosshairWidth: 0.25,
    maxDrawUndoBitmaps: DRAWING_UNDO_STATES,
    drawingEnabled: false,
  });
  const viewer = new DrawingViewer(nv, { layout, volumeCount: volumes.length });
  penStrokeShortcut(nv);
  await niivueAttach(nv, canvas, layout);
  await volumesLoad(nv, volumes);
  nv.setDrawColormap({
    I: [0, LOADED, DRAWN],
    R: [0, MASK_COLOURS[LOADED][0], MASK_COLOURS[DRAWN][0]],
    G: [0, MASK_COLOURS[LOADED][1], MASK_COLOURS[DRAWN][1]],
    B: [0, MASK_COLOURS[LOADED][2], MASK_COLOURS[DRAWN][2]],
    A: [0, 255, 255],
  });
  nv.setDrawOpacity(0.6);
  await viewer.loadMask(mask);
  nv.drawScene();
  // Ready once the GPU has drawn it: building the textures of a full-size CT queues seconds of software
  // rendering, which a stroke begun earlier would wait behind.
  await gpuFinished(nv.gl);
  await nextAnimationFrame();
  canvas.dataset.viewerReady = "true";
  return viewer;
}
