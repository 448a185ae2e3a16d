// A page that reports an error (a refused form, a page that cannot be shown) moves focus to its
// message once loaded, so a screen reader reads it first and the keyboard goes on from there
// (WCAG 3.3.1, 4.1.3; RGAA 7.5). The message has tabindex="-1"; without JavaScript the page's
// title still begins with "Error".
(function () {
  "use strict";
  var message = document.querySelector("[data-error-summary]");
  if (message && (!document.activeElement || document.activeElement === document.body)) {
    message.focus();
  }
})();
