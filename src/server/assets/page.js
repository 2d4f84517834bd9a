// The front page's script: served as /static/page.js (the CSP allows no inline
// script). It shows each <time> in the viewer's zone (the UTC time stays in the
// tooltip), and the value at a point of a chart on hover and keyboard focus
// (←/→ step through the points, Home/End jump to the ends). Without it the page
// works the same, in UTC and without the readout.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var format = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(undefined, format);
    }
  });
  document.querySelectorAll("svg[data-points]").forEach(function (svg) {
    chart(svg, format);
  });
});

// IEC units with one decimal, as the server writes them.
function bytes(value) {
  var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  var unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? value.toFixed(0) + " B" : value.toFixed(1) + " " + units[unit];
}

function numbers(text) {
  return text.split(" ").map(Number);
}

function chart(svg, format) {
  var points = svg.getAttribute("data-points").split(";").map(numbers);
  var domain = numbers(svg.getAttribute("data-domain"));
  var plot = numbers(svg.getAttribute("data-plot"));
  var cursor = svg.querySelector(".cursor");
  var dot = svg.querySelector(".dot");
  var readout = svg.parentNode.querySelector(".readout");
  if (!points.length || !cursor || !dot || !readout) {
    return;
  }
  var x = function (at) {
    return plot[0] + (at - domain[0]) / (domain[1] - domain[0]) * (plot[2] - plot[0]);
  };
  var y = function (value) {
    return plot[3] - (value - domain[2]) / (domain[3] - domain[2]) * (plot[3] - plot[1]);
  };
  var current = points.length - 1;
  var show = function (index) {
    current = Math.max(0, Math.min(points.length - 1, index));
    var p = points[current];
    cursor.setAttribute("x1", x(p[0]));
    cursor.setAttribute("x2", x(p[0]));
    dot.setAttribute("cx", x(p[0]));
    dot.setAttribute("cy", y(p[1]));
    svg.classList.add("active");
    readout.textContent = new Date(p[0] * 1000).toLocaleString(undefined, format) + ": " + bytes(p[1]) + " left";
  };
  var nearest = function (at) {
    var best = 0;
    for (var i = 1; i < points.length; i++) {
      if (Math.abs(points[i][0] - at) < Math.abs(points[best][0] - at)) {
        best = i;
      }
    }
    return best;
  };
  svg.addEventListener("mousemove", function (event) {
    var box = svg.getBoundingClientRect();
    var width = svg.viewBox.baseVal.width;
    var vx = (event.clientX - box.left) * width / box.width;
    var at = domain[0] + (vx - plot[0]) / (plot[2] - plot[0]) * (domain[1] - domain[0]);
    show(nearest(at));
  });
  svg.addEventListener("mouseleave", function () {
    if (document.activeElement !== svg) {
      svg.classList.remove("active");
    }
  });
  svg.addEventListener("focus", function () {
    show(current);
  });
  svg.addEventListener("blur", function () {
    svg.classList.remove("active");
  });
  svg.addEventListener("keydown", function (event) {
    var moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: points.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      show(moves[event.key]);
    }
  });
}
