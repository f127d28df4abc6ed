// The worker that downloads the viewer's volumes (started by volume-downloads.mjs). A download's bytes
// reach the page through a pipe that only the thread reading it empties; read on the page's thread, they
// wait while NiiVue compiles its shaders there (up to a second in software WebGL), and the download
// stalls. Read here, they arrive meanwhile and pass to the page without a copy.
//
// Message in: { id, url, firstFrame }. Messages out: { id, requested: true } once the request is on its way
// (the page waits for it before it blocks its thread: until then, the worker may not even have started);
// with firstFrame, { id, first } once the bytes of a 4D NIfTI's first frame have come (see
// firstFrameRead), where first is that frame as a 3D NIfTI, or null for any other volume; then
// { id, status, buffer } when status is 200, otherwise { id, status, reason }, the reason being the
// server's own sentence when it sent one as plain text.

// A longer plain-text answer is a page of some kind, not a sentence to show.
const SENTENCE_LENGTH = 300;

async function failureReason(response) {
  const text = response.headers.get("Content-Type")?.startsWith("text/plain") ? await response.text() : "";
  return text !== "" && text.length <= SENTENCE_LENGTH ? text : `HTTP ${response.status}`;
}

// Where a little-endian NIfTI-1 volume of several frames (a 4D CTP) in `bytes` (its first bytes at least)
// has its first frame: { headerLength, frameLength, totalLength }, or null for any other volume (or a
// gzipped one: the portal sends volumes gzip-encoded in transit, which the network stack inflates).
function framesLayout(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 352 || view.getInt32(0, true) !== 348) {
    return null;
  }
  const dims = Array.from({ length: 5 }, (_, index) => view.getInt16(40 + 2 * index, true));
  const bitsPerVoxel = view.getInt16(72, true);
  const headerLength = Math.max(352, Math.round(view.getFloat32(108, true)));
  if (dims[0] !== 4 || dims[4] < 2 || dims.slice(1).some((size) => size < 1) || bitsPerVoxel % 8 !== 0) {
    return null;
  }
  const frameLength = dims[1] * dims[2] * dims[3] * (bitsPerVoxel / 8);
  return { headerLength, frameLength, totalLength: headerLength + frameLength * dims[4] };
}

// The first frame of a 4D NIfTI as a 3D NIfTI of its own: the header says one frame.
function firstFrameVolume(bytes, { headerLength, frameLength }) {
  const first = bytes.slice(0, headerLength + frameLength);
  const view = new DataView(first.buffer);
  view.setInt16(40, 3, true);
  view.setInt16(48, 1, true);
  return first.buffer;
}

// Read a response's body as it comes, telling the page the first frame of a 4D NIfTI as soon as its bytes
// are in: NiiVue can show it while the other frames come (7/8 of a CTP of 8 frames). The bytes of a 4D
// NIfTI are collected straight into one buffer of its size, the others' joined at the end.
async function firstFrameRead(id, response) {
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  let layout;
  let whole = null;
  let told = false;
  const tell = (first) => {
    told = true;
    self.postMessage({ id, first }, first === null ? [] : [first]);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    if (whole === null) {
      chunks.push(value);
    } else if (received + value.byteLength <= whole.byteLength) {
      whole.set(value, received);
    } else {
      chunks.push(whole.subarray(0, received), value); // more bytes than its header says: joined at the end
      whole = null;
    }
    received += value.byteLength;
    if (layout === undefined && received >= 352) {
      const start = chunks.length === 1 ? chunks[0] : joined(chunks, received);
      layout = framesLayout(start);
      if (layout === null) {
        tell(null);
      } else if (layout.totalLength >= received) {
        whole = new Uint8Array(layout.totalLength);
        whole.set(start);
        chunks.length = 0;
      }
    }
    if (!told && whole !== null && received >= layout.headerLength + layout.frameLength) {
      tell(firstFrameVolume(whole, layout));
    }
  }
  if (!told) {
    tell(null);
  }
  if (whole !== null) {
    return received === whole.byteLength ? whole.buffer : whole.buffer.slice(0, received); // cut short
  }
  return joined(chunks, received).buffer;
}

function joined(chunks, length) {
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

self.addEventListener("message", async ({ data: { id, url, firstFrame } }) => {
  try {
    const responded = fetch(url);
    self.postMessage({ id, requested: true });
    const response = await responded;
    if (!response.ok) {
      self.postMessage({ id, status: response.status, reason: await failureReason(response) });
      return;
    }
    const buffer = firstFrame ? await firstFrameRead(id, response) : await response.arrayBuffer();
    self.postMessage({ id, status: response.status, buffer }, [buffer]);
  } catch (error) {
    self.postMessage({ id, status: 0, reason: error.message });
  }
});
