"""Benchmark of the viewers (make bench-viewer): the case viewer's first frame of a full-size NCCT with a mask
overlay and of a full-size 4D CTP, cine playback of the CTP, the reading page's next item, and a pen
stroke on the annotation page.

The portal runs as deployed (tests/bench/deployed_portal.py: gunicorn, DEBUG off, collected static files,
a fresh SQLite database in a throwaway VAR_DIR). It holds:
- a training case with a 512x512x80 int16 NCCT, with a scanner's noise so that its file is as large as a
  real one's, and a ground truth; a submission's mask overlaps it in part. The submission review page
  shows the NCCT with the overlap label volume over it;
- the two cases of a full-size synthetic ISLES'24 release (``releases.synthetic``, 512x512x80 at
  0.4x0.4x2 mm, written once into ``--cache``, about a minute a case), imported as a test split, and a
  case holding only the first one's 4D CTP in NCCT space (512x512x80, 8 frames) and its lesion mask, for
  the case viewer to open with the CTP as its base (the CTP's transfer format: see ``CTP_FORMATS``);
- a reader study of both release cases comparing the reference with four submissions (ten pairs a case,
  twenty items), read by one reader, and an annotation campaign of the first case (drawn on its NCCT).

Headless Chromium (Debian's, software WebGL) measures, always in a tab left idle for a few seconds first
(see SETTLE_MS), each time by the page's own ``performance.now()`` when the GPU has finished the frame
(WebGL calls only queue work: NiiVue's calls return seconds before software WebGL has drawn anything):
- the review page opened ``--runs`` times in a fresh browser context (a first visit: every file
  downloaded) and then once more in the same tab after a blank page (a second visit: the HTTP cache
  revalidates each file by ETag and the server answers 304). The second visit is in the same tab, as a
  reader comes back to a page: the first visit's viewer is gone by then. (Opened in a new tab beside the
  first visit's viewer, still open and holding its textures, it measured 0.2-0.3 s slower.) Goal: first
  visit at most 2 s, second less;
- the CTP case's viewer page (first visit, ``--runs`` times for the format served, once for each other
  format): time since the navigation to the first frame, goal at most 4 s (the viewer shows the CTP's
  first frame as soon as its bytes are in, before the other seven), and to all its frames shown; then
  cine playback for ``--cine-seconds`` in the multiplanar layout: the frames drawn per second, counted
  as the frames whose drawing the GPU finished (the viewer shows the next frame only once the GPU has
  finished the one before; it plays 12.5 a second at most), goal at least 10; and, from the page's
  performance measures, the time each frame took from the viewer's call to the GPU's finish (while
  playing, a frame goes to the slices in view only), and the time Pause took to show the whole frame
  reached;
- the reading page: for each item after the first, the time from the reader's Enter (the answer) to
  both panes drawn with the next item, split into items of the same case (only the masks change; goal
  p95 at most 150 ms) and of a new case, read for ``--reading-s`` first so that its volumes are
  prefetched (goal at most 1 s);
- the annotation page (axial, pen): each step of a stroke over the full-size NCCT, from the mouse event
  to the frame that shows it having been drawn: the step's voxels painted on the viewer's 2D overlay, an
  animation frame passed, and the GPU done with all NiiVue was given by then (goal p95 at most 50 ms).
  Until December 2026 NiiVue drew each step's picture itself and this measured to its GPU frame.

It prints each figure with its goal and the ratio to it, and the load average: software WebGL shares
the 2 CPUs with everything else, so the figures scale with the machine's load.
"""

import argparse
import hashlib
import os
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.bench.deployed_portal import free_port, gunicorn_serving, load_average, portal_environment

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from portal.datasets.models import Case, Dataset

SHAPE = (512, 512, 80)
SPACING_MM = (0.45, 0.45, 2.0)
# A new browser window spends its first seconds on Chrome's own interface: headless Chromium loads the
# address bar's suggestion popup (chrome://omnibox-popup.top-chrome), 1.3-1.8 s of CPU that would share
# the 2 cores with the page. A reader opens the page in a window that is already there.
SETTLE_MS = 3000
CTP_PATH = "derivatives/{case}/ses-01/{case}_ses-01_space-ncct_ctp.nii.gz"
MASK_PATH = "derivatives/{case}/ses-02/{case}_ses-02_lesion-msk.nii.gz"
# The CTP as the portal could send it to the viewer: the stored file is sent as it is (gzipped files with
# Content-Encoding gzip, which the browser inflates off the page's thread). The first is the format the
# portal stores (the release's); the others are measured once each for comparison.
CTP_FORMATS = ("int16 .nii.gz", "int16 .nii", "float32 .nii.gz")
# Each mask source's lesion, moved this many voxels along x from the reference: four submissions.
SUBMISSION_SHIFTS = (2, 5, 9, 14)

# Installed in a page: the moments (performance.now()) the reading page says an item is shown, and the
# time stamp of each Enter (the answer), taken before the page's own handler.
READING_WATCH = """() => {
  const root = document.getElementById("reader-study");
  window.benchShown = {};
  window.benchEnters = [];
  new MutationObserver(() => {
    window.benchShown[root.dataset.shown] = performance.now();
  }).observe(root, { attributes: true, attributeFilter: ["data-shown"] });
  window.addEventListener("keydown", (event) => {
    if (event.key === "Enter") window.benchEnters.push(event.timeStamp);
  }, { capture: true });
}"""

# Installed in a page: for each mouse move with the button down on the drawing canvas, the milliseconds
# from the event to the frame showing it having been drawn. The drawing viewer paints a stroke's step on
# its 2D overlay in NiiVue's mouse handler, which runs after this one's listener, and NiiVue's own picture
# later (at an animation frame, or once the pen rests); this waits for the next animation frame (the
# overlay's paint is in the frame that follows its callbacks), then for a task after it, then for the GPU to
# have finished all NiiVue's context was given by then, a picture of NiiVue's included. The context is
# NiiVue's: a canvas has one WebGL2 context.
STROKE_WATCH = """() => {
  const canvas = document.getElementById("drawing-canvas");
  const gl = canvas.getContext("webgl2");
  window.benchStrokes = [];
  const channel = new MessageChannel();
  const waiting = [];
  channel.port1.onmessage = () => waiting.shift()();
  const yieldNow = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
  canvas.addEventListener("pointermove", (event) => {
    if ((event.buttons & 1) === 0) return;
    const started = event.timeStamp;
    requestAnimationFrame(async () => {
      await yieldNow();
      const fence = gl.fenceSync(gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
      gl.flush();
      while (gl.clientWaitSync(fence, 0, 0) === gl.TIMEOUT_EXPIRED) await yieldNow();
      gl.deleteSync(fence);
      window.benchStrokes.push(performance.now() - started);
    });
  });
}"""

# The case viewer has shown the CTP with all its frames (it first shows the first frame alone).
ALL_FRAMES_SHOWN = "#pane-1[data-all-frames-ms]"

# Installed in a page: the moments the case viewer shows another frame of the CTP (and the viewer's own
# measures of each frame start afresh).
CINE_WATCH = """() => {
  const canvas = document.getElementById("pane-1");
  performance.clearMeasures();
  window.benchFrames = [];
  new MutationObserver(() => window.benchFrames.push(performance.now())).observe(
    canvas, { attributes: true, attributeFilter: ["data-shown-frame"] });
}"""


@dataclass(frozen=True)
class Portal:
    """What the benchmark opens, and the session keys of the people who open it."""

    participant_session: str
    organizer_session: str
    reader_session: str
    submission_id: int
    ctp_case_ids: dict[str, int]
    ctp_sizes: dict[str, int]
    study_id: int
    item_cases: list[int]
    assignment_id: int


def _session(user: object) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)  # type: ignore[attr-defined]
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()  # type: ignore[attr-defined]
    session.save()
    assert session.session_key is not None
    return session.session_key


def _review_populate() -> tuple[object, int, float, int]:
    """The review's case, ground truth and submission; returns the world, the submission id, the seconds
    the server took to compute the overlap volume once, and the NCCT file's size in bytes."""
    import numpy as np

    from portal.submissions.services import submission_case_overlap_label
    from tests.e2e.viewer_pages import head_ct, lesion_of
    from tests.portal.submissions.review_world import review_world_create

    ct = head_ct(shape=SHAPE, spacing_mm=SPACING_MM)
    ground_truth = lesion_of(ct)
    # A scanner's noise (6 HU), so that the file compresses as a real CT's does rather than to almost nothing.
    ct = ct + np.random.default_rng(0).normal(0.0, 6.0, ct.shape).round().astype(np.int16)
    prediction = np.roll(ground_truth, 12, axis=2)
    world = review_world_create(ground_truth=ground_truth, prediction=prediction, ncct=ct)
    submission = world.submit(world.train_phase)
    started = time.perf_counter()
    submission_case_overlap_label(submission=submission, case=world.train_case)
    compute_s = time.perf_counter() - started
    return world, submission.pk, compute_s, world.train_case.images.get().size_bytes


def _ctp_variant(source: Path, out: Path, format_name: str) -> Path:
    """The release's CTP file in one of CTP_FORMATS."""
    import SimpleITK as sitk

    image = sitk.ReadImage(str(source))
    if format_name.startswith("float32"):  # SimpleITK casts no 4D image: through NumPy
        cast = sitk.GetImageFromArray(sitk.GetArrayFromImage(image).astype("float32"), isVector=False)
        cast.CopyInformation(image)
        image = cast
    path = out / ("ctp.nii.gz" if format_name.endswith(".gz") else "ctp.nii")
    sitk.WriteImage(image, str(path), useCompression=format_name.endswith(".gz"))
    return path


def _file_row(path: Path) -> dict[str, object]:
    import SimpleITK as sitk
    from django.core.files.base import ContentFile

    image = sitk.ReadImage(str(path))
    content = path.read_bytes()
    return {
        "shape": list(image.GetSize()),
        "spacing_mm": list(image.GetSpacing()),
        "pixel_type": image.GetPixelIDTypeAsString(),
        "sha256": hashlib.sha256(content).hexdigest(),
        "size_bytes": len(content),
        "file": ContentFile(content, name=path.name),
    }


def _ctp_cases(*, dataset: "Dataset", release: Path, case_name: str) -> tuple[dict[str, int], dict[str, int]]:
    """A training case per CTP format holding only the CTP (so that the viewer opens on it) and the
    lesion mask; their ids and the CTP files' sizes."""
    from portal.challenges.models import Split
    from portal.datasets.models import GroundTruth
    from tests.portal.datasets.factories import CaseFactory, ImageFactory

    source = release / CTP_PATH.format(case=case_name)
    mask = release / MASK_PATH.format(case=case_name)
    ids, sizes = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for index, format_name in enumerate(CTP_FORMATS):
            row = _file_row(_ctp_variant(source, Path(folder), format_name))
            case = CaseFactory(dataset=dataset, name=f"ctp-{index}", split=Split.TRAIN)
            ImageFactory(case=case, interface="preprocessed-perfusion-ct", **row)
            mask_row = _file_row(mask)
            GroundTruth.objects.create(
                case=case,
                file=mask_row["file"],
                sha256=mask_row["sha256"],
                shape=mask_row["shape"],
                spacing_mm=mask_row["spacing_mm"],
                lesion_volume_ml=1.0,
                source_encoding="uint16 {0, 1}",
            )
            ids[format_name], sizes[format_name] = case.pk, int(row["size_bytes"])  # type: ignore[call-overload]
    return ids, sizes


def _study_and_campaign(
    *, dataset: "Dataset", cases: Sequence["Case"], organizer: object, reader: object
) -> tuple[int, list[int], int]:
    """The reader study of the release's cases and the annotation campaign of the first; the study's id,
    the study case of each of the reader's items in order, and the reader's assignment's id."""
    import numpy as np
    import SimpleITK as sitk

    from portal.accounts.models import ChallengeRole
    from portal.annotations.models import AnnotationAssignment, AnnotationCampaign
    from portal.annotations.services import annotation_campaign_create
    from portal.challenges.models import Phase, Split
    from portal.readerstudies import services
    from portal.readerstudies.models import ReaderStudy, ReadingItem
    from tests.portal.accounts.factories import ChallengeRoleFactory
    from tests.portal.challenges.factories import PhaseFactory
    from tests.portal.readerstudies.conftest import submission_make

    challenge = dataset.challenge
    phase = PhaseFactory(challenge=challenge, dataset=dataset, split=Split.TEST, slug="bench-test")
    participant = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.PARTICIPANT, user__username="bench-team"
    ).user
    submissions = []
    for shift in SUBMISSION_SHIFTS:
        members = {}
        for case in cases:
            with case.ground_truths.get().file.open("rb") as stored, tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "mask.nii.gz"
                path.write_bytes(stored.read())
                reference = sitk.ReadImage(str(path))
                moved = sitk.GetImageFromArray(
                    np.roll(sitk.GetArrayFromImage(reference) > 0, shift, axis=2).astype(np.uint8)
                )
                moved.CopyInformation(reference)
                sitk.WriteImage(moved, str(path), useCompression=True)
                members[f"{case.name}.nii.gz"] = path.read_bytes()
        submissions.append(submission_make(phase=phase, creator=participant, members=members))
    assert phase.submission_kind == Phase.SubmissionKind.PREDICTIONS
    study = services.reader_study_create(
        created_by=organizer,
        challenge=challenge,
        dataset=dataset,
        split=Split.TEST,
        title="Benchmark study",
        sources=[services.REFERENCE, *submissions],
    )
    services.study_reader_invite(study=study, user=reader, invited_by=organizer)
    study.refresh_from_db()
    if study.status != ReaderStudy.Status.READY:
        raise RuntimeError(f"The benchmark's reader study is {study.status}, not ready.")
    items = ReadingItem.objects.filter(reader__study=study).order_by("position")
    campaign = annotation_campaign_create(
        created_by=organizer,
        challenge=challenge,
        dataset=dataset,
        title="Benchmark campaign",
        cases=[cases[0]],
        images=["non-contrast-ct"],
        starting_mask=AnnotationCampaign.StartingMask.EMPTY,
        annotators=[reader],
    )
    campaign.refresh_from_db()
    if campaign.status != AnnotationCampaign.Status.READY:
        raise RuntimeError(f"The benchmark's annotation campaign is {campaign.status}, not ready.")
    assignment = AnnotationAssignment.objects.get(campaign_case__campaign=campaign, annotator=reader)
    return study.pk, [item.study_case_id for item in items], assignment.pk


def _populate(release: Path) -> Portal:
    from portal.accounts.models import ChallengeRole
    from portal.challenges.models import Split
    from portal.datasets.models import Case, Dataset
    from portal.datasets.services import isles24_import
    from tests.portal.accounts.factories import ChallengeRoleFactory

    world, submission_id, compute_s, ncct_bytes = _review_populate()
    print(
        f"review: the NCCT file {ncct_bytes / 2**20:.1f} MiB gzipped; the server computed and cached the "
        f"overlap volume once in {compute_s:.2f} s (before the first visit)"
    )
    challenge = world.challenge  # type: ignore[attr-defined]
    organizer = world.organizer  # type: ignore[attr-defined]
    dataset = Dataset.objects.create(challenge=challenge, slug="full-release", title="Full-size release")
    isles24_import(dataset=dataset, root=release, split=Split.TEST)
    cases = list(Case.objects.filter(dataset=dataset).order_by("name"))
    ctp_ids, ctp_sizes = _ctp_cases(dataset=dataset, release=release, case_name=cases[0].name)
    reader = ChallengeRoleFactory(
        challenge=challenge, role=ChallengeRole.Role.READER, user__username="bench-reader"
    ).user
    study_id, item_cases, assignment_id = _study_and_campaign(
        dataset=dataset, cases=cases, organizer=organizer, reader=reader
    )
    return Portal(
        participant_session=_session(world.participant),  # type: ignore[attr-defined]
        organizer_session=_session(organizer),
        reader_session=_session(reader),
        submission_id=submission_id,
        ctp_case_ids=ctp_ids,
        ctp_sizes=ctp_sizes,
        study_id=study_id,
        item_cases=item_cases,
        assignment_id=assignment_id,
    )


def _first_frame_ms(page: "Page", url: str, *, canvas: str = "#pane-1") -> float:
    """Open the page in a tab that is open and idle, as a reader follows a link; the time of its first
    frame with every volume, in ms since the navigation."""
    page.goto("about:blank")
    page.wait_for_timeout(SETTLE_MS)
    page.goto(url)
    shown = page.wait_for_selector(f"{canvas}[data-viewer-ready='true']", state="attached", timeout=300_000)
    return float(shown.get_attribute("data-first-frame-ms") or "nan")


def _revalidation_status(url: str, session_key: str) -> tuple[int, int]:
    """The status of a download of ``url``, then of the same download sent with its ETag."""
    headers = {"Cookie": f"sessionid={session_key}"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        etag = response.headers["ETag"]
        first = response.status
    try:
        request = urllib.request.Request(url, headers={**headers, "If-None-Match": etag})
        with urllib.request.urlopen(request, timeout=30) as response:
            return first, response.status
    except urllib.error.HTTPError as answer:  # urllib raises on 304
        return first, answer.code


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _runs(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.0f}" for value in values)


def _against(measured: float, goal: float, *, at_most: bool = True) -> str:
    """The goal and how the figure stands to it."""
    ratio = measured / goal
    met = ratio <= 1 if at_most else ratio >= 1
    sign = "<=" if at_most else ">="
    return f"goal {sign} {goal:g}; {ratio:.2f}x the goal, {'met' if met else 'MISSED'}"


class Bench:
    """The browser measurements, in one Chromium; each prints its figures as it ends."""

    def __init__(self, browser: "Browser", base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url

    def page(self, session_key: str) -> "Page":
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": self.base_url}])
        return context.new_page()

    def review(self, portal: Portal, runs: int) -> None:
        url = f"{self.base_url}/submissions/{portal.submission_id}/review/"
        first: list[float] = []
        second: list[float] = []
        for _ in range(runs):
            page = self.page(portal.participant_session)
            first.append(_first_frame_ms(page, url))
            second.append(_first_frame_ms(page, url))
            page.context.close()
        volumes = f"NCCT {'x'.join(map(str, SHAPE))} int16 with the overlap label volume"
        print(f"review page {url} ({volumes}), {load_average()}")
        print(
            f"  first visit (empty cache): median {statistics.median(first):.0f} ms to the first frame "
            f"(runs: {_runs(first)}; {_against(statistics.median(first), 2000)})"
        )
        print(
            f"  second visit (files revalidated by ETag): median {statistics.median(second):.0f} ms "
            f"(runs: {_runs(second)})"
        )
        overlap = f"{self.base_url}/submissions/{portal.submission_id}/review/1/overlap.nii.gz"
        first_status, second_status = _revalidation_status(overlap, portal.participant_session)
        print(f"  overlap download, then again with its ETag: HTTP {first_status}, then HTTP {second_status}")

    def ctp(self, portal: Portal, runs: int, cine_seconds: float) -> None:
        for index, format_name in enumerate(CTP_FORMATS):
            url = f"{self.base_url}/datasets/cases/{portal.ctp_case_ids[format_name]}/view/"
            first: list[float] = []
            all_frames: list[float] = []
            cine = ""
            for _ in range(runs if index == 0 else 1):
                page = self.page(portal.organizer_session)
                first.append(_first_frame_ms(page, url))
                every = page.wait_for_selector(ALL_FRAMES_SHOWN, state="attached", timeout=300_000)
                all_frames.append(float(every.get_attribute("data-all-frames-ms") or "nan"))
                if index == 0 and len(first) == 1:
                    cine = self._cine(page, cine_seconds)
                page.context.close()
            size = portal.ctp_sizes[format_name] / 2**20
            print(
                f"CTP 512x512x80x8 as {format_name} ({size:.0f} MiB sent), case viewer, first visit: median "
                f"{statistics.median(first):.0f} ms to the first frame (runs: {_runs(first)}; "
                f"{_against(statistics.median(first), 4000)}), all 8 frames shown: "
                f"median {statistics.median(all_frames):.0f} ms (runs: {_runs(all_frames)}), {load_average()}"
            )
            if cine:
                print(cine)

    def _cine(self, page: "Page", seconds: float) -> str:
        """Play the CTP for ``seconds``; the line that says how fast its frames were drawn."""
        page.evaluate(CINE_WATCH)
        page.get_by_role("button", name="Play").click()
        page.wait_for_timeout(seconds * 1000)
        page.get_by_role("button", name="Pause").click()
        frames = page.evaluate("window.benchFrames")
        # The first change marks the start; each later one, a frame drawn (the next is shown only once the
        # GPU has finished the one before).
        rate = (len(frames) - 1) / ((frames[-1] - frames[0]) / 1000) if len(frames) > 2 else 0.0
        line = (
            f"  cine playback, multiplanar layout: {rate:.1f} frames drawn per second over "
            f"{len(frames) - 1} frames ({_against(rate, 10, at_most=False)}), {load_average()}"
        )
        measured = "performance.getEntriesByName('{}').map((entry) => entry.duration)"
        slices = page.evaluate(measured.format("viewer: frame on the slices shown"))
        whole: list[float] = []
        for _ in range(100):  # Pause shows the whole frame: its measure comes once the GPU has drawn it
            whole = page.evaluate(measured.format("viewer: frame"))
            if whole:
                break
            page.wait_for_timeout(100)
        if slices:
            line += (
                f"\n  a frame to the slices in view: median {statistics.median(slices):.0f} ms, p95 "
                f"{_p95(slices):.0f} ms; Pause to the whole frame: {_runs(whole) or 'not measured'} ms"
            )
        return line

    def reading(self, portal: Portal, reading_s: float) -> None:
        page = self.page(portal.reader_session)
        page.goto("about:blank")
        page.wait_for_timeout(SETTLE_MS)
        page.goto(f"{self.base_url}/studies/{portal.study_id}/read/")
        page.evaluate(READING_WATCH)
        same: list[float] = []
        new: list[float] = []
        for position in range(1, len(portal.item_cases)):
            page.wait_for_selector(
                f"#reader-study[data-shown='{position}']", state="attached", timeout=120_000
            )
            page.wait_for_timeout(reading_s * 1000)
            page.keyboard.press("1")
            page.keyboard.press("Enter")
            page.wait_for_selector(
                f"#reader-study[data-shown='{position + 1}']", state="attached", timeout=120_000
            )
            shown = page.evaluate(f"window.benchShown['{position + 1}']")
            elapsed = shown - page.evaluate("window.benchEnters.at(-1)")
            same_case = portal.item_cases[position] == portal.item_cases[position - 1]
            (same if same_case else new).append(elapsed)
        page.context.close()
        items = f"{len(portal.item_cases)} items of 2 full-size cases"
        print(f"reading page, {items} (NCCT background), {load_average()}")
        if same:
            print(
                f"  next item, same case (only the masks change): p95 {_p95(same):.0f} ms, median "
                f"{statistics.median(same):.0f} ms over {len(same)} ({_against(_p95(same), 150)}; "
                f"each: {_runs(same)})"
            )
        if new:
            print(
                f"  next item, new case after {reading_s:g} s of reading: p95 {_p95(new):.0f} ms, median "
                f"{statistics.median(new):.0f} ms over {len(new)} ({_against(_p95(new), 1000)}; "
                f"each: {_runs(new)})"
            )

    def stroke(self, portal: Portal, moves: int) -> None:
        page = self.page(portal.reader_session)
        page.goto("about:blank")
        page.wait_for_timeout(SETTLE_MS)
        page.goto(f"{self.base_url}/studies/campaigns/assignments/{portal.assignment_id}/")
        page.wait_for_selector("#drawing-canvas[data-viewer-ready='true']", state="attached", timeout=300_000)
        page.wait_for_timeout(SETTLE_MS)
        page.evaluate(STROKE_WATCH)
        page.locator("[data-tool='pen']").click()
        box = page.locator("#drawing-canvas").bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(moves):
            page.mouse.move(x + 3 * (step + 1), y + (step % 7))
            page.wait_for_timeout(100)
        page.mouse.up()
        page.wait_for_timeout(500)
        strokes = page.evaluate("window.benchStrokes")
        page.context.close()
        print(
            f"annotation page, pen on the full-size NCCT (axial): a stroke's step to the screen p95 "
            f"{_p95(strokes):.0f} ms, median {statistics.median(strokes):.0f} ms over {len(strokes)} steps "
            f"({_against(_p95(strokes), 50)}), {load_average()}; each: {_runs(strokes)}"
        )


def _release(cache: Path) -> Path:
    """The two-case full-size synthetic release under ``cache``, written the first time."""
    import shutil

    from releases.synthetic import write_release

    release = cache / "full-release"
    if not release.exists():
        partial = cache / "full-release.partial"
        shutil.rmtree(partial, ignore_errors=True)
        print(f"writing a 2-case full-size synthetic release into {release} (about 2 minutes, once)")
        write_release(partial, cases=2, seed=7, size="full")
        partial.rename(release)
    return release


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cine-seconds", type=float, default=5.0)
    parser.add_argument("--reading-s", type=float, default=3.0)
    parser.add_argument("--stroke-moves", type=int, default=40)
    parser.add_argument(
        "--only", choices=("review", "ctp", "reading", "stroke"), action="append", help="measure only these"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("VAR_DIR", "var")) / "bench-viewer",
        help="where the full-size release is kept between runs (default: $VAR_DIR/bench-viewer)",
    )
    arguments = parser.parse_args(argv)
    release = _release(arguments.cache.resolve())

    with tempfile.TemporaryDirectory(prefix="isles-bench-viewer-") as var_dir:
        # Eager tasks: the study's and the campaign's preparation run as they are created.
        environment = portal_environment(
            database_url=f"sqlite:///{var_dir}/bench.sqlite3", var_dir=var_dir, CELERY_TASK_ALWAYS_EAGER="1"
        )
        os.environ.update(environment)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        started = time.perf_counter()
        portal = _populate(release)
        print(f"wrote the cases, the study and the campaign in {time.perf_counter() - started:.1f} s")
        from django.db import connections

        connections.close_all()
        from playwright.sync_api import sync_playwright

        from tests.e2e.viewer_pages import CHROMIUM_ARGS

        port = free_port()
        only = set(arguments.only or ("review", "ctp", "reading", "stroke"))
        with gunicorn_serving(environment=environment, port=port), sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_ARGS
            )
            bench = Bench(browser, f"http://127.0.0.1:{port}")
            if "review" in only:
                bench.review(portal, arguments.runs)
            if "ctp" in only:
                bench.ctp(portal, arguments.runs, arguments.cine_seconds)
            if "reading" in only:
                bench.reading(portal, arguments.reading_s)
            if "stroke" in only:
                bench.stroke(portal, arguments.stroke_moves)
            browser.close()


if __name__ == "__main__":
    main()
