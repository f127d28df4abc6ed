// The CT window presets, the one list of them: level and width in Hounsfield units, in the order the W key
// steps through them. The viewer turns a preset into NiiVue's display range (windowRange); the viewer
// pages make their preset buttons from this list and cycle through it.

export const WINDOW_PRESETS = Object.freeze([
  Object.freeze({ name: "brain", label: "Brain", level: 40, width: 80 }),
  Object.freeze({ name: "stroke", label: "Stroke", level: 32, width: 8 }),
  Object.freeze({ name: "bone", label: "Bone", level: 500, width: 2000 }),
]);

// The window a CT opens in.
export const OPENING_WINDOW_PRESET = "brain";

function presetNamed(name) {
  const preset = WINDOW_PRESETS.find((candidate) => candidate.name === name);
  if (preset === undefined) {
    throw new Error(`Unknown window preset: ${name}`);
  }
  return preset;
}

// The preset after `name` in the list, round to the first; the first after null.
export function windowPresetAfter(name) {
  const index = WINDOW_PRESETS.findIndex((preset) => preset.name === name);
  return WINDOW_PRESETS[(index + 1) % WINDOW_PRESETS.length].name;
}

// What a preset's button says, e.g. "Brain 40/80".
export function windowPresetLabel({ label, level, width }) {
  return `${label} ${level}/${width}`;
}

// The display range (NiiVue's cal_min and cal_max) of a preset.
export function windowRange(name) {
  const { level, width } = presetNamed(name);
  return { cal_min: level - width / 2, cal_max: level + width / 2 };
}
