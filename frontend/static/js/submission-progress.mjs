// The submission and jobs pages while their submission is in progress: read its API again every few
// seconds with the ETag of the last answer (the API answers 304 when nothing changed) and re-render the
// parts that change: the status, the history of state changes, the problems and error, the jobs table.
// Once the submission has ended, the page loads once more for what only the server renders (scores,
// logs, buttons). Without JavaScript the page is the same, as it was when loaded.

import { apiFetchIfChanged } from "./api.mjs";
import { followUntilEnded } from "./page-follow.mjs";

const POLL_MS = 3000;
const ENDED = Object.freeze(["SUCCEEDED", "CHECKED", "FAILED", "CANCELLED"]);

const root = document.getElementById("submission-progress");
const labels = JSON.parse(document.getElementById("status-labels").textContent);

function label(kind, status) {
  return labels[kind][status] ?? status;
}

// A UTC time as the pages print it: 2026-12-06 09:51:50.
function utc(at) {
  return new Date(at).toISOString().slice(0, 19).replace("T", " ");
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

function renderSubmission(submission) {
  const heading = document.getElementById("submission-status");
  heading.textContent = `${heading.dataset.prefix}${label("submission", submission.status)}`;
  const error = document.getElementById("error");
  error.textContent = submission.error;
  error.hidden = submission.error === "";
  const problems = document.getElementById("problems");
  problems.replaceChildren(
    ...submission.problems.map((problem) => {
      const item = document.createElement("li");
      item.textContent = problem;
      return item;
    }),
  );
  document.getElementById("problems-section").hidden = submission.problems.length === 0;
  const history = document.querySelector("#history tbody");
  if (history !== null) {
    history.replaceChildren(
      ...submission.state_changes.map((change) =>
        row([
          utc(change.at),
          change.from_status === "" ? "new" : label("submission", change.from_status),
          label("submission", change.to_status),
          change.note,
        ]),
      ),
    );
  }
}

function renderJobs(jobs) {
  const body = document.querySelector("#jobs tbody");
  if (jobs.length === 0) {
    return; // the server's "no jobs yet" row stays
  }
  body.replaceChildren(
    ...jobs.map((job) =>
      row([
        job.is_sanity ? `${job.case} (sanity)` : job.case,
        label("job", job.status),
        job.exit_code === null ? "" : String(job.exit_code),
        job.duration_s === null ? "" : job.duration_s.toFixed(1),
        job.had_gpu ? "yes" : "no",
        job.failure,
      ]),
    ),
  );
}

const sources = [{ url: root.dataset.submissionUrl, etag: null, render: renderSubmission }];
if (root.dataset.jobsUrl) {
  sources.push({ url: root.dataset.jobsUrl, etag: null, render: renderJobs });
}
const note = document.getElementById("progress-note");

async function poll() {
  let ended = false;
  for (const source of sources) {
    const answer = await apiFetchIfChanged(source.url, source.etag);
    if (answer.changed) {
      source.etag = answer.etag;
      source.render(answer.json);
      if (source.render === renderSubmission) {
        ended = ENDED.includes(answer.json.status);
      }
    }
  }
  return ended;
}

if (!ENDED.includes(root.dataset.status)) {
  followUntilEnded({
    poll,
    note,
    sentence: "This page updates itself while the submission is in progress.",
    everyMs: POLL_MS,
  });
}
