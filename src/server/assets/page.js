// The front page's script: served as /static/page.js. It only shows each
// <time> in the viewer's zone; the UTC time stays in the tooltip.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var format = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(undefined, format);
    }
  });
});
