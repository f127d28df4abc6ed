// A page that follows work in progress (a submission, a dataset import): every few seconds, while the tab
// is visible, ask the API again (the caller's poll, with ETags, so an unchanged answer costs a 304) and
// say on the page that it updates itself; once the work has ended, load the page once more for its
// final state. An error is said on the page and the next round tries again.

/**
 * @param {object} options
 * @param {() => Promise<boolean>} options.poll - asks the API, updates the page, returns whether it ended
 * @param {HTMLElement} options.note - where the page says it updates itself, or what went wrong
 * @param {string} options.sentence - what the note says while all is well
 * @param {number} options.everyMs - how often to ask
 */
export function followUntilEnded({ poll, note, sentence, everyMs }) {
  async function round() {
    if (!document.hidden) {
      try {
        if (await poll()) {
          window.location.reload();
          return;
        }
        note.textContent = sentence;
      } catch (error) {
        note.textContent = `${error.message} The page tries again in a few seconds.`;
      }
    }
    window.setTimeout(round, everyMs);
  }
  note.hidden = false;
  window.setTimeout(round, everyMs);
}
