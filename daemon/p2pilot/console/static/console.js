/* p2pilot console: the one helper the pages need besides htmx. */
"use strict";
/* True while the operator types in a field of a live part: its refresh waits, so
   that a reason or an order id being typed is not wiped by the next poll. */
function typing() {
  const active = document.activeElement;
  return !!(active && active.closest && active.closest("#live") &&
    active.matches("input, textarea, select"));
}
