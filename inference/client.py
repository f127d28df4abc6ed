"""``isles``: the participant command line, talking to the portal's REST API with a token.

    isles init-algorithm DIR    # a starter algorithm (Dockerfile, inference.py, test.sh); no token needed
    isles --url URL --token TOKEN submit PHASE_SLUG predictions.zip   # progress on stderr; prints the id
    isles --url URL --token TOKEN submit-algorithm PHASE_SLUG image.tar.gz [--resume UPLOAD_ID]
    isles --url URL --token TOKEN submit[-algorithm] --check-only ...  # checked only: not scored, not counted
    isles --url URL --token TOKEN status SUBMISSION_ID [--wait]       # --wait follows it to the end
    isles --url URL --token TOKEN jobs SUBMISSION_ID [--wait]         # an algorithm's job per case
    isles --url URL --token TOKEN logs SUBMISSION_ID [--case CASE]    # a job's log (the sanity case's)
    isles --url URL --token TOKEN leaderboard PHASE_SLUG
    isles --url URL --token TOKEN download CHALLENGE [--split train] [--case CASE ...] OUT_DIR
    isles --url URL --token TOKEN submissions PHASE_SLUG               # your team's, newest first
    isles --url URL --token TOKEN teams CHALLENGE                      # your team and its invitations
    isles --url URL --token TOKEN team-invite CHALLENGE [EMAIL]        # prints the invitation's link
    isles --url URL --token TOKEN team-join CHALLENGE TOKEN_OR_LINK
    isles --url URL --token TOKEN team-decline CHALLENGE TOKEN_OR_LINK
    isles --url URL --token TOKEN team-leave CHALLENGE                 # you compete alone afterwards
    isles --url URL --token TOKEN team-remove CHALLENGE USER           # the captain removes a member
    isles --url URL --token TOKEN team-captain CHALLENGE USER          # the captain hands the captaincy on
    isles --url URL --token TOKEN team-withdraw CHALLENGE TOKEN_OR_LINK  # the captain withdraws an invitation

``ISLES_URL`` and ``ISLES_TOKEN`` may replace the flags. Only the standard library is used, so it runs
anywhere Python does. The upload is a multipart body written by hand and streamed from the file, so an
archive of any size takes little memory. An algorithm image (``docker save IMAGE | gzip``, often several
GB) goes in chunks; when the connection is cut, the client asks the portal how much arrived and goes on
from there, and ``--resume`` picks up an upload a previous run left. ``download`` fetches a challenge's
release files as the portal's streamed tar, unpacking each file as it arrives under the release's names,
checking each against its sha256, and writes ``MANIFEST.sha256``; run again after an interruption, it keeps
every file already whole, asks for the rest of a file cut part way (a Range request from where its
``.part`` stops) and fetches only the cases still lacking a file in the archive. Every error is one
sentence on stderr (the API's own where the portal refused) and a non-zero exit. ``--json`` (before or
after the command) prints the API's answer as it came, one document on stdout and nothing else there
(progress and notes go to stderr; ``teams`` prints ``null`` without a team, ``team-leave`` the portal's
empty answer as ``null``), and an error as ``{"code", "detail"}``; a usage error (an unknown command, a
missing argument) as ``{"error": sentence}`` with exit status 2, where argparse would print its usage
text.
"""

import argparse
import hashlib
import http.client
import json
import os
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, NoReturn
from urllib.parse import SplitResult, quote, urlencode, urlsplit

__all__ = ["ClientError", "PortalClient", "main"]

CHUNK_BYTES = 256 * 1024
TIMEOUT_S = 60.0
ENDED = ("SUCCEEDED", "CHECKED", "FAILED", "CANCELLED")
PASSED = ("SUCCEEDED", "CHECKED")
"""How a submission ends well: scored, or (a check-only try) through every check."""
TOKEN_REFUSED = "The token was refused: copy it again from your account page."
RESUME_ATTEMPTS = 5
RESUME_WAIT_S = 2.0
_NO_TEAM = "There is no challenge {challenge!r} you can see, or you are in no team of it."
CHECK_ONLY_HELP = (
    "Run every check a submission gets (an image's: then its sanity case), without scoring it or counting "
    "it toward your limits; a few such tries a day."
)


class ClientError(Exception):
    """A failure told to the participant as one sentence, with a stable ``code``: the API's where the
    portal refused (``--json`` prints both), the client's own otherwise."""

    def __init__(self, sentence: str, *, code: str = "client_error") -> None:
        super().__init__(sentence)
        self.code = code


@dataclass(frozen=True)
class Response:
    status: int
    body: Any


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def _progress_bar(out: IO[str]) -> Callable[[int, int], None]:
    """A function that redraws ``[#####     ]  42% of 2.9 MB`` on ``out`` each time a percent is sent."""
    shown = [-1]

    def show(sent: int, total: int) -> None:
        percent = 100 * sent // total if total else 100
        if percent == shown[0]:
            return
        shown[0] = percent
        filled = percent * 30 // 100
        out.write(f"\r[{'#' * filled}{' ' * (30 - filled)}] {percent:3d}% of {_size(total)}")
        if sent >= total:
            out.write("\n")
        out.flush()

    return show


class PortalClient:
    """The few API calls the command line makes, each returning parsed JSON or raising ``ClientError``."""

    def __init__(self, *, url: str, token: str, timeout_s: float = TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(
                f"{url!r} is not a portal address; give one like https://portal.example.org.", code="bad_url"
            )
        self.url = url.rstrip("/")
        self._parts = parts
        self._token = token
        self._timeout_s = timeout_s

    def submit(
        self,
        *,
        phase_slug: str,
        archive: Path,
        progress: Callable[[int, int], None] | None = None,
        check_only: bool = False,
    ) -> dict[str, Any]:
        """Upload an archive of masks to the phase (a check-only try when ``check_only``: checked, never
        scored or counted); the new submission (its ``id`` and ``status``)."""
        boundary = uuid.uuid4().hex
        filename = archive.name.replace('"', "")
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="check_only"\r\n\r\n'
            f"{'true' if check_only else 'false'}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        try:
            size = archive.stat().st_size
            with archive.open("rb") as stream:
                response = self._request(
                    "POST",
                    f"/api/phases/{quote(phase_slug)}/submissions/",
                    body=(head, stream, tail),
                    length=len(head) + size + len(tail),
                    content_type=f"multipart/form-data; boundary={boundary}",
                    progress=progress,
                )
        except OSError as error:
            raise ClientError(f"Cannot read {archive}: {error.strerror or error}.") from error
        return self._expect(response, ok=201, not_found=f"There is no phase {phase_slug!r} you can see.")

    def submit_algorithm(
        self,
        *,
        phase_slug: str,
        archive: Path,
        upload_id: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        check_only: bool = False,
    ) -> dict[str, Any]:
        """Upload an image archive to the phase in chunks (or go on with the upload ``upload_id``), as a
        check-only try when ``check_only`` (a resumed upload stays what it was started as); the finished
        upload, whose ``submission`` is the new submission's id.

        A cut connection is retried ``RESUME_ATTEMPTS`` times, each from the offset the portal reports.
        """
        try:
            size = archive.stat().st_size
            if upload_id is None:
                body = json.dumps({"total_bytes": size, "check_only": check_only}).encode()
                response = self._request(
                    "POST",
                    f"/api/phases/{quote(phase_slug)}/algorithm-uploads/",
                    body=(body,),
                    length=len(body),
                    content_type="application/json",
                )
                upload = self._expect(
                    response, ok=201, not_found=f"There is no phase {phase_slug!r} you can see."
                )
            else:
                upload = self._upload(upload_id=upload_id)
            with archive.open("rb") as stream:
                return self._chunks_send(upload=upload, stream=stream, size=size, progress=progress)
        except OSError as error:
            raise ClientError(f"Cannot read {archive}: {error.strerror or error}.") from error

    def _upload(self, *, upload_id: str) -> dict[str, Any]:
        response = self._request("GET", f"/api/algorithm-uploads/{quote(upload_id)}/")
        return self._expect(response, ok=200, not_found=f"There is no upload {upload_id} of yours.")

    def _chunks_send(
        self,
        *,
        upload: dict[str, Any],
        stream: IO[bytes],
        size: int,
        progress: Callable[[int, int], None] | None,
    ) -> dict[str, Any]:
        if upload["total_bytes"] != size:
            raise ClientError(f"Upload {upload['id']} is of {upload['total_bytes']} bytes, not of this file.")
        attempts_left = RESUME_ATTEMPTS
        while upload["submission"] is None:
            offset = int(upload["received_bytes"])
            stream.seek(offset)
            chunk = stream.read(int(upload["chunk_bytes"]))
            try:
                response = self._request(
                    "PUT",
                    f"/api/algorithm-uploads/{upload['id']}/",
                    body=(chunk,),
                    length=len(chunk),
                    content_type="application/octet-stream",
                    headers={"Content-Range": f"bytes {offset}-{offset + len(chunk) - 1}/{size}"},
                )
            except ClientError as error:
                attempts_left -= 1
                if attempts_left == 0:
                    raise ClientError(
                        f"{error} Run the command again with --resume {upload['id']} to go on from there."
                    ) from error
                time.sleep(RESUME_WAIT_S)
                upload = self._upload(upload_id=str(upload["id"]))
                continue
            if response.status == 409 and isinstance(response.body, dict):
                upload = {**upload, "received_bytes": response.body["received_bytes"]}
                continue
            upload = self._expect(response, ok=200, not_found=f"Upload {upload['id']} is gone; start again.")
            if progress is not None:
                progress(int(upload["received_bytes"]), size)
        return upload

    def submission(self, *, submission_id: int) -> dict[str, Any]:
        """A submission's status, changes, problems and scores."""
        response = self._request("GET", f"/api/submissions/{submission_id}/")
        return self._expect(
            response, ok=200, not_found=f"There is no submission {submission_id} you can see."
        )

    def jobs(self, *, submission_id: int) -> list[dict[str, Any]]:
        """An algorithm submission's jobs, one per case, with their logs where the phase shows them."""
        response = self._request("GET", f"/api/submissions/{submission_id}/jobs/")
        if response.status == 200 and isinstance(response.body, list):
            return response.body
        self._refusal_raise(response, not_found=f"There is no submission {submission_id} you can see.")

    def leaderboard(self, *, phase_slug: str) -> dict[str, Any]:
        """A phase's leaderboard as the API gives it."""
        response = self._request("GET", f"/api/phases/{quote(phase_slug)}/leaderboard/")
        return self._expect(
            response, ok=200, not_found=f"There is no leaderboard for a phase {phase_slug!r}."
        )

    def submissions(self, *, phase_slug: str) -> list[dict[str, Any]]:
        """The submissions to the phase the user may see (their team's), newest first, with their states."""
        response = self._request("GET", f"/api/phases/{quote(phase_slug)}/submissions/")
        if response.status == 200 and isinstance(response.body, list):
            return response.body
        self._refusal_raise(response, not_found=f"There is no phase {phase_slug!r} you can see.")

    def my_team(self, *, challenge: str) -> dict[str, Any] | None:
        """The user's team in the challenge (captain, members, open invitations); None without one."""
        response = self._request("GET", f"/api/challenges/{quote(challenge)}/teams/mine/")
        if response.status == 404:
            # The API answers 404 both for no team and for no challenge: the list of teams tells which.
            teams = self._request("GET", f"/api/challenges/{quote(challenge)}/teams/")
            if teams.status == 200:
                return None
            response = teams
        return self._expect(response, ok=200, not_found=f"There is no challenge {challenge!r} you can see.")

    def team_invite(self, *, challenge: str, email: str) -> dict[str, Any]:
        """Invite ``email`` (empty: anyone with the link) to the user's team; the invitation and its URL."""
        body = json.dumps({"email": email}).encode()
        response = self._request(
            "POST",
            f"/api/challenges/{quote(challenge)}/teams/mine/invitations/",
            body=(body,),
            length=len(body),
            content_type="application/json",
        )
        return self._expect(
            response,
            ok=201,
            not_found=f"There is no challenge {challenge!r} you can see, or you are in no team of it.",
        )

    def invitation_accept(self, *, challenge: str, token: str) -> dict[str, Any]:
        """Accept the invitation ``token``: the team the user joined."""
        response = self._request(
            "POST", f"/api/challenges/{quote(challenge)}/teams/invitations/{quote(token, safe='')}/accept/"
        )
        return self._expect(
            response, ok=200, not_found=f"There is no invitation {token!r} to a team of {challenge!r}."
        )

    def invitation_decline(self, *, challenge: str, token: str) -> dict[str, Any]:
        """Decline the invitation ``token``: the invitation, now declined."""
        response = self._request(
            "POST", f"/api/challenges/{quote(challenge)}/teams/invitations/{quote(token, safe='')}/decline/"
        )
        return self._expect(
            response, ok=200, not_found=f"There is no invitation {token!r} to a team of {challenge!r}."
        )

    def invitation_withdraw(self, *, challenge: str, token: str) -> dict[str, Any]:
        """Withdraw the user's team's invitation ``token`` (its captain only): the invitation, withdrawn."""
        response = self._request(
            "POST",
            f"/api/challenges/{quote(challenge)}/teams/mine/invitations/{quote(token, safe='')}/withdraw/",
        )
        return self._expect(
            response, ok=200, not_found=f"Your team in {challenge!r} has no invitation {token!r}."
        )

    def team_leave(self, *, challenge: str) -> None:
        """Leave the user's team in the challenge; the portal answers nothing."""
        response = self._request("POST", f"/api/challenges/{quote(challenge)}/teams/mine/leave/")
        if response.status != 204:
            self._refusal_raise(response, not_found=_NO_TEAM.format(challenge=challenge))

    def team_member_remove(self, *, challenge: str, user_id: int) -> dict[str, Any]:
        """Remove the member ``user_id`` from the user's team (its captain only): the team after it."""
        response = self._request(
            "POST", f"/api/challenges/{quote(challenge)}/teams/mine/members/{user_id}/remove/"
        )
        return self._expect(response, ok=200, not_found=_NO_TEAM.format(challenge=challenge))

    def team_captain_hand_over(self, *, challenge: str, user_id: int) -> dict[str, Any]:
        """Make the member ``user_id`` the captain of the user's team (its captain only): the team after."""
        body = json.dumps({"user": user_id}).encode()
        response = self._request(
            "POST",
            f"/api/challenges/{quote(challenge)}/teams/mine/captain/",
            body=(body,),
            length=len(body),
            content_type="application/json",
        )
        return self._expect(response, ok=200, not_found=_NO_TEAM.format(challenge=challenge))

    def release_files(self, *, challenge: str, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The release files of a challenge the user may download: path, sha256, size and case of each."""
        response = self._request("GET", f"/api/challenges/{quote(challenge)}/files/?{urlencode(query)}")
        return self._expect(
            response, ok=200, not_found=f"There is no challenge {challenge!r} (or no such case) you can see."
        )

    @contextmanager
    def release_archive(self, *, challenge: str, query: Sequence[tuple[str, str]]) -> Iterator[IO[bytes]]:
        """The challenge's streamed tar of the files asked for, as a stream read while it arrives."""
        connection = self._connection()
        try:
            connection.putrequest(
                "GET",
                self._parts.path.rstrip("/")
                + f"/api/challenges/{quote(challenge)}/archive/?{urlencode(query)}",
            )
            connection.putheader("Authorization", f"Token {self._token}")
            connection.endheaders()
            reply = connection.getresponse()
            if reply.status != 200:
                self._refusal_raise(_refusal_read(reply), not_found="There is no such case.")
            yield reply
        except (ConnectionError, TimeoutError, http.client.HTTPException) as error:
            raise ClientError(_unreachable(self.url, error), code="unreachable") from error
        finally:
            connection.close()

    @contextmanager
    def release_file(self, *, url: str, offset: int, sha256: str) -> Iterator[tuple[int, IO[bytes]]]:
        """One release file by the ``url`` its listing gives, from byte ``offset`` on (a Range request, on
        condition that the file is still the one of ``sha256``); where its bytes start (``offset``, or 0
        when the portal sends the whole file) and the stream, read while it arrives.

        Only the URL's path is asked of this client's portal: the token never goes to another host. A
        portal whose files are in an object store redirects to the store's presigned URL, which is asked
        without the token (and without ``If-Range``: the store's ETag is not the sha256, and the name it
        signed is the file's, stored by its content).
        """
        parts = urlsplit(url)
        connection = self._connection()
        try:
            connection.putrequest("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            connection.putheader("Authorization", f"Token {self._token}")
            if offset > 0:
                connection.putheader("Range", f"bytes={offset}-")
                connection.putheader("If-Range", f'"{sha256}"')
            connection.endheaders()
            reply = connection.getresponse()
            location = reply.getheader("Location")
            if reply.status in (302, 303, 307) and location is not None:
                reply.read()
                connection.close()
                target = urlsplit(location)
                connection = self._connection(target)
                connection.putrequest("GET", target.path + (f"?{target.query}" if target.query else ""))
                if offset > 0:
                    connection.putheader("Range", f"bytes={offset}-")
                connection.endheaders()
                reply = connection.getresponse()
            ranged = (reply.getheader("Content-Range") or "").startswith(f"bytes {offset}-")
            if reply.status == 206 and ranged:
                yield offset, reply
            elif reply.status == 200:
                yield 0, reply
            else:
                self._refusal_raise(_refusal_read(reply), not_found=f"The portal no longer has {url}.")
        except (ConnectionError, TimeoutError, http.client.HTTPException) as error:
            raise ClientError(_unreachable(self.url, error), code="unreachable") from error
        finally:
            connection.close()

    def _connection(self, parts: SplitResult | None = None) -> http.client.HTTPConnection:
        """A connection to the portal, or to the host of ``parts``."""
        parts = self._parts if parts is None else parts
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        return kind(parts.hostname or "", parts.port, timeout=self._timeout_s)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Sequence[bytes | IO[bytes]] = (),
        length: int = 0,
        content_type: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        connection = self._connection()
        try:
            connection.putrequest(method, self._parts.path.rstrip("/") + path)
            connection.putheader("Authorization", f"Token {self._token}")
            connection.putheader("Accept", "application/json")
            if content_type is not None:
                connection.putheader("Content-Type", content_type)
            connection.putheader("Content-Length", str(length))
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            connection.endheaders()
            self._send(connection, body=body, length=length, progress=progress)
            reply = connection.getresponse()
            raw = reply.read()
        except (ConnectionError, TimeoutError, OSError, http.client.HTTPException) as error:
            raise ClientError(_unreachable(self.url, error), code="unreachable") from error
        finally:
            connection.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"detail": raw.decode(errors="replace")[:200]}
        return Response(status=reply.status, body=parsed)

    @staticmethod
    def _send(
        connection: http.client.HTTPConnection,
        *,
        body: Sequence[bytes | IO[bytes]],
        length: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        sent = 0
        for part in body:
            chunks = [part] if isinstance(part, bytes) else iter(partial(part.read, CHUNK_BYTES), b"")
            for chunk in chunks:
                connection.send(chunk)
                sent += len(chunk)
                if progress is not None:
                    progress(sent, length)

    @staticmethod
    def _expect(response: Response, *, ok: int, not_found: str) -> dict[str, Any]:
        if response.status == ok and isinstance(response.body, dict):
            return response.body
        PortalClient._refusal_raise(response, not_found=not_found)

    @staticmethod
    def _refusal_raise(response: Response, *, not_found: str) -> NoReturn:
        """Raise the ``ClientError`` that says why the portal did not give what was asked."""
        detail = response.body.get("detail") if isinstance(response.body, dict) else None
        code = response.body.get("code") if isinstance(response.body, dict) else None
        if response.status == 401 or code in ("authentication_failed", "not_authenticated"):
            raise ClientError(TOKEN_REFUSED, code=code if isinstance(code, str) else "authentication_failed")
        if response.status == 404:
            raise ClientError(not_found, code="not_found")
        if response.status >= 500 and not isinstance(code, str):  # a proxy's page or a crash, not a refusal
            raise ClientError(
                f"The portal failed (HTTP {response.status}); wait a few minutes and run the command again,"
                " and tell the challenge's organizers if it keeps failing.",
                code="server_error",
            )
        code = code if isinstance(code, str) else f"http_{response.status}"
        if isinstance(detail, str) and detail:
            raise ClientError(detail, code=code)
        if response.status == 400 and isinstance(response.body, dict):
            raise ClientError(" ".join(_messages(response.body)), code=code)
        raise ClientError(f"The portal answered with HTTP {response.status}; try again later.", code=code)


def _refusal_read(reply: http.client.HTTPResponse) -> Response:
    """A streamed request's answer that is not the file: its JSON, or the start of its text."""
    raw = reply.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"detail": raw.decode(errors="replace")[:200]}
    return Response(status=reply.status, body=body)


def _unreachable(url: str, error: Exception) -> str:
    return (
        f"Cannot reach the portal at {url}: {error}; check the address (--url or ISLES_URL) and your"
        " network, then run the command again."
    )


def _messages(body: Mapping[str, Any]) -> list[str]:
    """The sentences of a DRF field error body such as ``{"file": ["No file was submitted."]}``."""
    return [
        f"{field}: {message}"
        for field, messages in body.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]


def _print_submission(submission: Mapping[str, Any], out: IO[str]) -> None:
    out.write(f"Submission {submission['id']} to {submission['phase']}: {submission['status']}\n")
    for change in submission.get("state_changes", []):
        note = f" ({change['note']})" if change.get("note") else ""
        out.write(f"  {change['at']}  {change['to_status']}{note}\n")
    for problem in submission.get("problems", []):
        out.write(f"  - {problem}\n")
    if submission.get("error"):
        out.write(f"{submission['error']}\n")
    for key, value in (submission.get("metrics_mean") or {}).items():
        out.write(f"  mean {key}: {value:.4f}\n")


def _document(value: Any, out: IO[str]) -> None:
    """Write one JSON document (``--json``): the API's answer as it came."""
    json.dump(value, out, indent=2)
    out.write("\n")


def _status(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    submission = client.submission(submission_id=arguments.submission_id)
    seen = submission["status"]
    notes = err if arguments.json else out  # with --json, stdout holds the document alone
    if arguments.wait:
        notes.write(f"Submission {submission['id']}: {seen}\n")
        notes.flush()
        while submission["status"] not in ENDED:
            time.sleep(arguments.interval)
            submission = client.submission(submission_id=arguments.submission_id)
            if submission["status"] != seen:
                seen = submission["status"]
                notes.write(f"Submission {submission['id']}: {seen}\n")
                notes.flush()
    if arguments.json:
        _document(submission, out)
    else:
        _print_submission(submission, out)
    return 1 if arguments.wait and submission["status"] not in PASSED else 0


def _job_line(job: Mapping[str, Any]) -> str:
    sanity = " (sanity case)" if job.get("is_sanity") else ""
    duration = f" {job['duration_s']:.1f} s" if isinstance(job.get("duration_s"), int | float) else ""
    ran = job["status"] in ("SUCCEEDED", "FAILED")
    device = (" on GPU" if job.get("had_gpu") else " on CPU") if ran else ""
    failure = f": {job['failure']}" if job.get("failure") else ""
    return f"  {job['case']}{sanity}  {job['status']}{duration}{device}{failure}\n"


def _jobs(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print each job of the submission; with --wait, print each change until the submission has ended.
    With --json, the changes go to stderr and stdout gets the jobs as last read."""
    notes = err if arguments.json else out
    seen: dict[str, str] = {}
    while True:
        jobs = client.jobs(submission_id=arguments.submission_id)
        if not jobs:
            notes.write(
                f"Submission {arguments.submission_id} has no jobs yet (its image is being checked).\n"
            )
        for job in jobs:
            if seen.get(job["case"]) != job["status"]:
                seen[job["case"]] = job["status"]
                notes.write(_job_line(job))
        notes.flush()
        code = 0
        if arguments.wait:
            submission = client.submission(submission_id=arguments.submission_id)
            if submission["status"] not in ENDED:
                time.sleep(arguments.interval)
                continue
            notes.write(f"Submission {submission['id']}: {submission['status']}\n")
            code = 0 if submission["status"] in PASSED else 1
        if arguments.json:
            _document(jobs, out)
        return code


def _logs(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print the last lines a job wrote to stdout and stderr: the sanity case's unless a case is named."""
    jobs = client.jobs(submission_id=arguments.submission_id)
    wanted = [
        job for job in jobs if (job["case"] == arguments.case if arguments.case else job.get("is_sanity"))
    ]
    if not wanted:
        what = f"case {arguments.case}" if arguments.case else "a sanity case"
        raise ClientError(f"Submission {arguments.submission_id} has no job for {what} (yet).", code="no_job")
    job = wanted[0]
    if job.get("log_hidden"):
        raise ClientError(
            f"The log of {job['case']} is not shown to you. {job['log_hidden']}", code="log_hidden"
        )
    if arguments.json:
        _document(job, out)
        return 0
    out.write(f"Job of {job['case']}: {job['status']}\n")
    for stream in ("stdout", "stderr"):
        tail = job[f"{stream}_tail"]
        out.write(f"--- {stream} (last lines) ---\n{tail}")
        if tail and not tail.endswith("\n"):
            out.write("\n")
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, Mapping) and "mean" in value:
        spread = f" ± {value['sd']:.3f}" if isinstance(value.get("sd"), int | float) else ""
        return f"{value['mean']:.3f}{spread}" if isinstance(value["mean"], int | float) else "-"
    if isinstance(value, int | float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _leaderboard_table(board: Mapping[str, Any]) -> list[list[str]]:
    entries = board.get("results", [])
    keys: list[str] = []
    for column in board.get("columns", []):
        key = column.get("metric") or column.get("key") if isinstance(column, Mapping) else column
        if isinstance(key, str):
            keys.append(key)
    if not keys:
        keys = sorted({key for entry in entries for key in entry.get("metrics", {})})
    rows = [["rank", "team", *keys]]
    for entry in entries:
        metrics = entry.get("metrics", {})
        rows.append(
            [str(entry.get("rank", "")), str(entry.get("team", "")), *(_cell(metrics.get(k)) for k in keys)]
        )
    return rows


def _leaderboard(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    board = client.leaderboard(phase_slug=arguments.phase_slug)
    if arguments.json:
        _document(board, out)
        return 0
    rows = _leaderboard_table(board)
    if len(rows) == 1:
        out.write(f"No team is on the leaderboard of {arguments.phase_slug} yet.\n")
        return 0
    _table_print(rows, out)
    return 0


def _table_print(rows: Sequence[Sequence[str]], out: IO[str]) -> None:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )


def _submissions(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Your team's submissions to the phase, newest first, each with its state."""
    submissions = client.submissions(phase_slug=arguments.phase_slug)
    if arguments.json:
        _document(submissions, out)
        return 0
    if not submissions:
        out.write(f"You have no submission to {arguments.phase_slug} yet.\n")
        return 0
    rows = [["id", "created", "status", "final", "by"]]
    for submission in sorted(submissions, key=lambda row: (row["created_at"], row["id"]), reverse=True):
        rows.append(
            [
                str(submission["id"]),
                str(submission["created_at"])[:16].replace("T", " "),
                submission["status"],
                "yes" if submission.get("is_final_selection") else "",
                str(submission.get("team") or submission.get("creator") or ""),
            ]
        )
    _table_print(rows, out)
    return 0


def _teams(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Your team in the challenge: its captain, members and open invitations."""
    team = client.my_team(challenge=arguments.challenge)
    if arguments.json:
        _document(team, out)  # null: no team
        return 0
    if team is None:
        out.write(
            f"You are in no team of {arguments.challenge}: you compete under your own name"
            f" (join one with `isles team-join {arguments.challenge} TOKEN`).\n"
        )
        return 0
    _team_print(team, out)
    return 0


def _team_print(team: Mapping[str, Any], out: IO[str]) -> None:
    out.write(f"Team {team['name']} (captain {team.get('captain') or 'none'})\n")
    for member in team.get("members", []):
        captain = " (captain)" if member["username"] == team.get("captain") else ""
        out.write(f"  {member['username']}{captain}\n")
    invitations = team.get("invitations", [])
    out.write(f"Open invitations: {len(invitations)}\n" if invitations else "No open invitations.\n")
    for invitation in invitations:
        out.write(f"  {invitation.get('email') or 'by link'}  {invitation['url']}\n")


def _team_invite(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Invite someone to your team: by e-mail (the portal mails the link), or by a link to pass on."""
    invitation = client.team_invite(challenge=arguments.challenge, email=arguments.email or "")
    if arguments.json:
        _document(invitation, out)
        return 0
    whom = f"{arguments.email} was mailed" if arguments.email else "pass on"
    err.write(f"Invitation made: {whom} this link, which is accepted with `isles team-join`.\n")
    out.write(f"{invitation['url']}\n")
    return 0


def _invitation_token(token_or_url: str) -> str:
    """An invitation's token, given as itself or as its link."""
    return token_or_url.rstrip("/").rsplit("/", 1)[-1]


def _team_join(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Accept an invitation, given as its token or its link."""
    team = client.invitation_accept(
        challenge=arguments.challenge, token=_invitation_token(arguments.token_or_url)
    )
    if arguments.json:
        _document(team, out)
        return 0
    err.write(f"You joined team {team['name']} of {arguments.challenge}.\n")
    _team_print(team, out)
    return 0


def _team_decline(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Decline an invitation, given as its token or its link; it can no longer be accepted."""
    invitation = client.invitation_decline(
        challenge=arguments.challenge, token=_invitation_token(arguments.token_or_url)
    )
    if arguments.json:
        _document(invitation, out)
    else:
        out.write(
            f"You declined the invitation of {invitation['invited_by']} to team {invitation['team']}.\n"
        )
    return 0


def _team_withdraw(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Withdraw one of your team's open invitations (captains only); its link no longer works."""
    invitation = client.invitation_withdraw(
        challenge=arguments.challenge, token=_invitation_token(arguments.token_or_url)
    )
    if arguments.json:
        _document(invitation, out)
    else:
        whom = f"to {invitation['email']}" if invitation.get("email") else "by link"
        out.write(f"The invitation {whom} is withdrawn: its link no longer works.\n")
    return 0


def _team_leave(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Leave your team; you compete under your own name afterwards."""
    team = _my_team_or_refuse(client, arguments.challenge)
    client.team_leave(challenge=arguments.challenge)
    if arguments.json:
        _document(None, out)  # the portal answers 204, without a body
    else:
        out.write(
            f"You left team {team['name']} of {arguments.challenge}; you now compete under your own name.\n"
        )
    return 0


def _team_remove(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Remove a member from your team, named by username (captains only)."""
    team = _my_team_or_refuse(client, arguments.challenge)
    member = _member(team, arguments.user)
    team = client.team_member_remove(challenge=arguments.challenge, user_id=member["id"])
    if arguments.json:
        _document(team, out)
        return 0
    err.write(f"{member['username']} is no longer a member of {team['name']}.\n")
    _team_print(team, out)
    return 0


def _team_captain(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Hand the captaincy of your team to another member, named by username (captains only)."""
    team = _my_team_or_refuse(client, arguments.challenge)
    member = _member(team, arguments.user)
    team = client.team_captain_hand_over(challenge=arguments.challenge, user_id=member["id"])
    if arguments.json:
        _document(team, out)
        return 0
    err.write(f"{member['username']} is now the captain of {team['name']}.\n")
    _team_print(team, out)
    return 0


def _my_team_or_refuse(client: PortalClient, challenge: str) -> dict[str, Any]:
    team = client.my_team(challenge=challenge)
    if team is None:
        raise ClientError(
            f"You are in no team of {challenge}: you compete under your own name.", code="not_member"
        )
    return team


def _member(team: Mapping[str, Any], user: str) -> Mapping[str, Any]:
    """The team's member ``user``, by username (or by user id)."""
    members: list[Mapping[str, Any]] = team.get("members", [])
    for member in members:
        if user in (member["username"], str(member["id"])):
            return member
    names = ", ".join(member["username"] for member in members)
    raise ClientError(f"{user} is not a member of {team['name']} ({names}).", code="not_member")


def _submit(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    archive = Path(arguments.archive)
    if not archive.is_file():
        raise ClientError(f"There is no file {archive}.", code="no_file")
    submission = client.submit(
        phase_slug=arguments.phase_slug,
        archive=archive,
        progress=_progress_bar(err),
        check_only=arguments.check_only,
    )
    what = "Check-only try" if submission.get("check_only") else "Submission"
    err.write(
        f"{what} {submission['id']} is {submission['status'].lower()}; follow it with "
        f"`isles status {submission['id']} --wait`.\n"
    )
    if submission.get("check_only"):
        err.write("Check only: not scored, not counted.\n")
    if arguments.json:
        _document(submission, out)
    else:
        out.write(f"{submission['id']}\n")
    return 0


def _submit_algorithm(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    archive = Path(arguments.archive)
    if not archive.is_file():
        raise ClientError(f"There is no file {archive}.", code="no_file")
    upload = client.submit_algorithm(
        phase_slug=arguments.phase_slug,
        archive=archive,
        upload_id=arguments.resume,
        progress=_progress_bar(err),
        check_only=arguments.check_only,
    )
    submission_id = upload["submission"]
    then = (
        "its sanity case runs (check only: not scored, not counted)"
        if upload.get("check_only")
        else "run case by case"
    )
    err.write(
        f"Submission {submission_id} is uploaded and will be checked, then {then}; follow it "
        f"with `isles jobs {submission_id} --wait`.\n"
    )
    if arguments.json:
        _document(upload, out)
    else:
        out.write(f"{submission_id}\n")
    return 0


def _release_path(text: str) -> PurePosixPath:
    """A path the portal named, refused unless it stays inside the output folder."""
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in text:
        raise ClientError(f"The portal named a file {text!r} outside the output folder; nothing was written.")
    return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(partial(handle.read, CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _whole(path: Path, file: Mapping[str, Any]) -> bool:
    """Whether the file is there with the manifest's size and sha256 (sizes first: hashing is the cost)."""
    return (
        path.is_file() and path.stat().st_size == file["size_bytes"] and _file_sha256(path) == file["sha256"]
    )


def _archive_unpack(
    archive: IO[bytes],
    *,
    out_dir: Path,
    wanted: Mapping[str, Mapping[str, Any]],
    progress: Callable[[int], None],
) -> set[str]:
    """Write each wanted member of the streamed tar under ``out_dir`` (through a ``.part`` file, renamed
    once its sha256 matches); return the paths written. Other members (the manifest, files already whole)
    are read past."""
    written: set[str] = set()
    with tarfile.open(fileobj=archive, mode="r|") as members:
        for member in members:
            file = wanted.get(member.name)
            if file is None or not member.isfile():
                continue
            target = out_dir / _release_path(member.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            digest = hashlib.sha256()
            source = members.extractfile(member)
            assert source is not None  # a regular file, checked above
            with part.open("wb") as handle:
                for chunk in iter(partial(source.read, CHUNK_BYTES), b""):
                    handle.write(chunk)
                    digest.update(chunk)
                    progress(len(chunk))
            if digest.hexdigest() != file["sha256"]:
                part.unlink()
                raise ClientError(
                    f"{member.name} arrived with another sha256 than the manifest's; run again."
                )
            part.replace(target)
            written.add(member.name)
    return written


def _part_resume(
    client: PortalClient, file: Mapping[str, Any], *, target: Path, progress: Callable[[int], None]
) -> None:
    """Complete a file whose download stopped part way: ask for the bytes after its ``.part`` (the part's
    own are hashed first, so the sum covers the whole file) and rename it once the sha256 matches. A part
    that does not continue the file (its sum fails) is fetched again whole, once."""
    part = target.with_name(target.name + ".part")
    held = part.stat().st_size if part.is_file() else 0
    offset = held if held < file["size_bytes"] else 0
    digest = hashlib.sha256()
    if offset > 0:
        with part.open("rb") as handle:
            for chunk in iter(partial(handle.read, CHUNK_BYTES), b""):
                digest.update(chunk)
        progress(offset)
    with client.release_file(url=file["url"], offset=offset, sha256=file["sha256"]) as (start, source):
        if start != offset:  # the portal sends the whole file: what was held does not count
            digest = hashlib.sha256()
            progress(start - offset)
        with part.open("ab" if start > 0 else "wb") as handle:
            for chunk in iter(partial(source.read, CHUNK_BYTES), b""):
                handle.write(chunk)
                digest.update(chunk)
                progress(len(chunk))
    if digest.hexdigest() == file["sha256"]:
        part.replace(target)
        return
    part.unlink()
    if start == 0:
        raise ClientError(f"{file['path']} arrived with another sha256 than the manifest's; run again.")
    progress(-file["size_bytes"])
    _part_resume(client, file, target=target, progress=progress)


def _download(client: PortalClient, arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    out_dir = Path(arguments.out_dir)
    query = [("split", arguments.split)] if arguments.split else []
    query += [("case", name) for name in arguments.case or ()]
    listing = client.release_files(challenge=arguments.challenge, query=query)
    files = {file["path"]: file for file in listing["files"]}
    for path in files:
        _release_path(path)
    whole = {path for path, file in files.items() if _whole(out_dir / path, file)}
    pending = {path: file for path, file in files.items() if path not in whole}
    total = sum(file["size_bytes"] for file in files.values())
    done = [sum(files[path]["size_bytes"] for path in whole)]
    bar = _progress_bar(err)

    def advance(count: int) -> None:
        done[0] += count
        bar(done[0], total)

    bar(done[0], total)
    resumed = [
        path
        for path, file in pending.items()
        if file.get("url") is not None and (out_dir / f"{path}.part").is_file()
    ]
    try:
        for path in resumed:
            _part_resume(client, pending.pop(path), target=out_dir / path, progress=advance)
    except (OSError, http.client.HTTPException) as error:
        raise ClientError(
            f"The download was cut ({error}); run the same command again to go on where it stopped."
        ) from error
    if pending:
        cases = sorted({file["case"] for file in pending.values()})
        archive_query = [*query[:1], *(("case", name) for name in cases)]
        try:
            with client.release_archive(challenge=arguments.challenge, query=archive_query) as archive:
                written = _archive_unpack(archive, out_dir=out_dir, wanted=pending, progress=advance)
        except (tarfile.TarError, OSError, http.client.HTTPException) as error:
            raise ClientError(
                f"The download was cut ({error}); run the same command again to go on where it stopped."
            ) from error
        lacking = sorted(set(pending) - written)
        if lacking:
            raise ClientError(f"The archive lacked {len(lacking)} files, {lacking[0]} first; run again.")
    manifest = "".join(f"{file['sha256']}  {path}\n" for path, file in sorted(files.items()))
    (out_dir / listing["manifest"]).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / listing["manifest"]).write_text(manifest)
    err.write(
        f"{len(files)} files ({_size(total)}) in {out_dir}, each matching {listing['manifest']}"
        f" ({len(whole)} already there, {len(resumed)} resumed where they stopped).\n"
    )
    if arguments.json:
        _document(listing, out)
    else:
        out.write(f"{out_dir}\n")
    return 0


def _init_algorithm(arguments: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from inference.starter import starter_write  # only this command needs the contract's table

    folder = Path(arguments.folder)
    try:
        written = starter_write(folder)
    except FileExistsError as error:
        raise ClientError(str(error), code="exists") from None
    except OSError as error:
        raise ClientError(
            f"Cannot write the starter into {folder}: {error.strerror}.", code="not_written"
        ) from None
    if arguments.json:
        _document([str(path) for path in written], out)  # no API here: the files written
    else:
        for path in written:
            out.write(f"{path}\n")
    (err if arguments.json else out).write(
        f"Put a case under {folder}/test/input and run {folder}/test.sh to try it in the portal's sandbox;"
        " the phase's algorithm contract page shows its own limits.\n"
    )
    return 0


class _UsageError(Exception):
    """What argparse would print with the usage text and exit 2 for, kept for ``main`` to tell."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """An argument parser (its subcommands' too) whose usage errors ``main`` tells: argparse's usage text,
    or with ``--json`` a JSON document."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _usage_sentence(error: _UsageError) -> str:
    """``argument command: invalid choice: ...`` as a sentence that says where the usage is."""
    message = str(error).rstrip(".")
    return f"{message[:1].upper()}{message[1:]}; run `{error.parser.prog} --help` for the usage."


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="isles", description="Submit to an isles-portal challenge.")
    parser.add_argument(
        "--url", default=os.environ.get("ISLES_URL"), help="The portal's address (ISLES_URL)."
    )
    parser.add_argument(
        "--token", default=os.environ.get("ISLES_TOKEN"), help="Your API token (ISLES_TOKEN)."
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="Print the API's answer as one JSON document on stdout (errors as {code, detail}).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser(
        "init-algorithm",
        help="Write a starter algorithm that reads every input of the ISLES'24 contract (no token needed).",
    )
    init.add_argument("folder", help="Where to write it (created; files already there are kept).")
    submit = commands.add_parser("submit", help="Upload an archive of predicted masks to a phase.")
    submit.add_argument("phase_slug")
    submit.add_argument("archive", help="A .zip or .tar.gz with one mask per case, named by case id.")
    submit.add_argument("--check-only", action="store_true", help=CHECK_ONLY_HELP)
    algorithm = commands.add_parser(
        "submit-algorithm", help="Upload an algorithm image (docker save IMAGE | gzip) to a phase, resumably."
    )
    algorithm.add_argument("phase_slug")
    algorithm.add_argument("archive", help="The output of `docker save IMAGE | gzip`.")
    algorithm.add_argument("--resume", metavar="UPLOAD_ID", help="Go on with an upload a previous run left.")
    algorithm.add_argument("--check-only", action="store_true", help=CHECK_ONLY_HELP)
    status = commands.add_parser("status", help="Show a submission; --wait follows it to the end.")
    status.add_argument("submission_id", type=int)
    status.add_argument("--wait", action="store_true", help="Poll until it succeeds, fails or is cancelled.")
    status.add_argument("--interval", type=float, default=3.0, help="Seconds between polls (default 3).")
    jobs = commands.add_parser("jobs", help="Show an algorithm submission's jobs; --wait follows them.")
    jobs.add_argument("submission_id", type=int)
    jobs.add_argument("--wait", action="store_true", help="Print each change until the submission ends.")
    jobs.add_argument("--interval", type=float, default=3.0, help="Seconds between polls (default 3).")
    logs = commands.add_parser("logs", help="Print a job's last stdout and stderr lines (the sanity case's).")
    logs.add_argument("submission_id", type=int)
    logs.add_argument("--case", help="The case whose job to show (default: the sanity case).")
    leaderboard = commands.add_parser("leaderboard", help="Show a phase's leaderboard.")
    leaderboard.add_argument("phase_slug")
    download = commands.add_parser(
        "download", help="Download a challenge's release files you may see, resumably, checking each."
    )
    download.add_argument("challenge", help="The challenge's slug.")
    download.add_argument("out_dir", help="Where to write them (in the release's folders and names).")
    download.add_argument(
        "--split", choices=["train", "test"], help="Only this split (default: all you see)."
    )
    download.add_argument("--case", action="append", help="Only this case (repeat for more).")
    submissions = commands.add_parser(
        "submissions", help="List your team's submissions to a phase with their states, newest first."
    )
    submissions.add_argument("phase_slug")
    teams = commands.add_parser(
        "teams", help="Show your team in a challenge: its captain, members and open invitations."
    )
    teams.add_argument("challenge", help="The challenge's slug.")
    invite = commands.add_parser(
        "team-invite", help="Invite someone to your team; prints the invitation's link."
    )
    invite.add_argument("challenge", help="The challenge's slug.")
    invite.add_argument(
        "email", nargs="?", help="Whom the portal mails the link (default: a link to pass on)."
    )
    join = commands.add_parser("team-join", help="Accept an invitation to a team.")
    join.add_argument("challenge", help="The challenge's slug.")
    join.add_argument("token_or_url", metavar="TOKEN", help="The invitation's token, or its link.")
    decline = commands.add_parser("team-decline", help="Decline an invitation to a team.")
    decline.add_argument("challenge", help="The challenge's slug.")
    decline.add_argument("token_or_url", metavar="TOKEN", help="The invitation's token, or its link.")
    leave = commands.add_parser(
        "team-leave", help="Leave your team; you compete under your own name afterwards."
    )
    leave.add_argument("challenge", help="The challenge's slug.")
    remove = commands.add_parser("team-remove", help="Remove a member from your team (captains only).")
    remove.add_argument("challenge", help="The challenge's slug.")
    remove.add_argument("user", help="The member's username.")
    captain = commands.add_parser(
        "team-captain", help="Hand the captaincy of your team to another member (captains only)."
    )
    captain.add_argument("challenge", help="The challenge's slug.")
    captain.add_argument("user", help="The member's username.")
    withdraw = commands.add_parser(
        "team-withdraw", help="Withdraw one of your team's open invitations (captains only)."
    )
    withdraw.add_argument("challenge", help="The challenge's slug.")
    withdraw.add_argument("token_or_url", metavar="TOKEN", help="The invitation's token, or its link.")
    for command in commands.choices.values():
        # After the command too (`isles leaderboard SLUG --json`); absent there, the global flag holds.
        command.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="Print the API's answer as JSON."
        )
    return parser


COMMANDS: Mapping[str, Callable[[PortalClient, argparse.Namespace, IO[str], IO[str]], int]] = {
    "submit": _submit,
    "submit-algorithm": _submit_algorithm,
    "status": _status,
    "jobs": _jobs,
    "logs": _logs,
    "leaderboard": _leaderboard,
    "download": _download,
    "submissions": _submissions,
    "teams": _teams,
    "team-invite": _team_invite,
    "team-join": _team_join,
    "team-decline": _team_decline,
    "team-leave": _team_leave,
    "team-remove": _team_remove,
    "team-captain": _team_captain,
    "team-withdraw": _team_withdraw,
}


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 failed submission or error, 2 usage)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    argv = sys.argv[1:] if argv is None else argv
    try:
        arguments = _parser().parse_args(argv)
    except _UsageError as error:
        if "--json" in argv:
            _document({"error": _usage_sentence(error)}, out)
        else:
            error.parser.print_usage(err)
            err.write(f"{error.parser.prog}: error: {error}\n")
        return 2
    try:
        if arguments.command == "init-algorithm":
            return _init_algorithm(arguments, out, err)
        if not arguments.url:
            raise ClientError("Give the portal's address with --url or ISLES_URL.", code="no_url")
        if not arguments.token:
            raise ClientError(
                "Give your API token with --token or ISLES_TOKEN (see your account page).", code="no_token"
            )
        client = PortalClient(url=arguments.url, token=arguments.token)
        return COMMANDS[arguments.command](client, arguments, out, err)
    except ClientError as error:
        if arguments.json:
            _document({"code": error.code, "detail": str(error)}, out)
        err.write(f"isles: {error}\n")
        return 1
    except KeyboardInterrupt:
        err.write("isles: interrupted.\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
