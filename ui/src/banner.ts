import { $ } from './dom';
import { errorText } from './errors';

// Non-blocking error banner (#error-banner). Repeated identical messages are
// counted instead of stacking; it hides itself after a while or on click.

const AUTO_HIDE_MS = 15_000;
let hideTimer: ReturnType<typeof setTimeout> | undefined;
let lastText = '';
let repeat = 0;

export function initBanner(): void {
  $('#error-banner-close').addEventListener('click', hideBanner);
}

export function showError(e: unknown, context?: string): void {
  const text = (context ? `${context}: ` : '') + errorText(e);
  const banner = $('#error-banner');
  repeat = !banner.hidden && text === lastText ? repeat + 1 : 1;
  lastText = text;
  $('#error-banner-text').textContent = repeat > 1 ? `${text} (×${repeat})` : text;
  banner.hidden = false;
  clearTimeout(hideTimer);
  hideTimer = setTimeout(hideBanner, AUTO_HIDE_MS);
}

export function hideBanner(): void {
  $('#error-banner').hidden = true;
  clearTimeout(hideTimer);
}
