import { h } from './dom.js';

/** A message shown at the top of the page until the next sign-in (e.g. why this device was signed out). */
export const notice = h('div', { class: 'notice', role: 'alert', hidden: true });

export function showNotice(text: string | undefined) {
  notice.textContent = text ?? '';
  notice.hidden = !text;
}

/** Dispatched on window when the number of edits waiting to be pushed changes. */
export const PENDING_EVENT = 'journal:pending';

/** Set while the app signs out and straight back in on purpose (no "you were signed out"). */
export const signOutOnPurpose = { active: false };

let renderFn: () => void = () => {};
export function setRenderer(fn: () => void) {
  renderFn = fn;
}

export function navigate(hash: string) {
  if (location.hash === hash) renderFn();
  else location.hash = hash;
}

export interface Screen {
  el: HTMLElement;
  /** Called when the screen is left: unsubscribe, flush drafts. */
  dispose?: () => void;
}
