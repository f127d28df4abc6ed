// The worker that downloads the viewer's volumes (started by volume-downloads.mjs). A download's bytes
// reach the page through a pipe that only the thread reading it empties; read on the page's thread, they
// wait while NiiVue compiles its shaders there (up to a second in software WebGL), and the download
// stalls. Read here, they arrive meanwhile and pass to the page without a copy.
//
// Message in: { id, url }. Messages out: { id, requested: true } once the request is on its way (the page
// waits for it before it blocks its thread: until then, the worker may not even have started); then
// { id, status, buffer } when status is 200, otherwise { id, status, reason }, the reason being the
// server's own sentence when it sent one as plain text.

// A longer plain-text answer is a page of some kind, not a sentence to show.
const SENTENCE_LENGTH = 300;

async function failureReason(response) {
  const text = response.headers.get("Content-Type")?.startsWith("text/plain") ? await response.text() : "";
  return text !== "" && text.length <= SENTENCE_LENGTH ? text : `HTTP ${response.status}`;
}

self.addEventListener("message", async ({ data: { id, url } }) => {
  try {
    const responded = fetch(url);
    self.postMessage({ id, requested: true });
    const response = await responded;
    if (!response.ok) {
      self.postMessage({ id, status: response.status, reason: await failureReason(response) });
      return;
    }
    const buffer = await response.arrayBuffer();
    self.postMessage({ id, status: response.status, buffer }, [buffer]);
  } catch (error) {
    self.postMessage({ id, status: 0, reason: error.message });
  }
});
