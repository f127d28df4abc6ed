// The portal's API as the page scripts call it: same-origin requests that ask for JSON and, when they may
// change something, carry the page's CSRF token; and a refusal told as the API's own sentence.

const SAFE_METHODS = Object.freeze(["GET", "HEAD", "OPTIONS"]);

// Django's CSRF token, which the page's template gives its root element as data-csrf-token.
function csrfToken() {
  const holder = document.querySelector("[data-csrf-token]");
  if (holder === null) {
    throw new Error("This page has no CSRF token to send with its changes; reload it to try again.");
  }
  return holder.dataset.csrfToken;
}

// Send a request to the portal's API; resolves with the response whatever its status (the caller reads it,
// and refusalSentence words a refusal). `json` goes as a JSON body; `body` as it is, its Content-Type
// among the `headers` the request adds.
export async function apiFetch(url, { method = "GET", json, body, headers: added = {}, cache = "default" } = {}) {
  const headers = { Accept: "application/json", ...added };
  if (!SAFE_METHODS.includes(method)) {
    headers["X-CSRFToken"] = csrfToken();
  }
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  return fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    cache,
    body: json === undefined ? body : JSON.stringify(json),
  });
}

// Read `url` again unless it is unchanged since the answer whose ETag was `etag` (null: read it anyway).
// Resolves with { changed: false } on the API's 304, else { changed: true, etag, json }; a refusal
// throws its sentence. The browser's cache stays out of it, so the 304 reaches the page as it is.
export async function apiFetchIfChanged(url, etag) {
  const headers = etag === null ? {} : { "If-None-Match": etag };
  const response = await apiFetch(url, { headers, cache: "no-store" });
  if (response.status === 304) {
    return { changed: false };
  }
  if (!response.ok) {
    throw new Error(await refusalSentence(response));
  }
  return { changed: true, etag: response.headers.get("ETag"), json: await response.json() };
}

// The body of an answer as JSON, or {} when it has none that parses.
export async function answerJson(response) {
  return response.json().catch(() => ({}));
}

// What to tell the user of a refused request: the API's own sentence (its `detail`), else `fallback`,
// which by default names the HTTP status. It reads the response's body.
export async function refusalSentence(response, fallback = `The portal answered with HTTP ${response.status}.`) {
  const detail = (await answerJson(response))?.detail;
  return typeof detail === "string" && detail !== "" ? detail : fallback;
}
