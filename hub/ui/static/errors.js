// A page that reports an error (a refused form, a page that cannot be shown) moves focus to its
// message once loaded, so a screen reader reads it first and the keyboard goes on from there
// (WCAG 3.3.1, 4.1.3; RGAA 7.5). A page that reports what a form just did (a consent recorded, a
// token issued or revoked) does the same with that message, so the outcome is heard rather than
// the page read again from its top. The message has tabindex="-1"; without JavaScript the
// page's title still begins with "Error", and a success is a status region near the top.
(function () {
  "use strict";
  var message =
    document.querySelector("[data-error-summary]") || document.querySelector("[data-outcome]");
  if (message && (!document.activeElement || document.activeElement === document.body)) {
    message.focus();
  }
})();
