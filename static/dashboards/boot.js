// Starts Dash's renderer from a file, since the portal's CSP forbids inline scripts (Dash's
// own index page starts it inline). Also keeps the dashboard's filters when the reader
// switches language: the header's language links carry only ?lang=.
/* global DashRenderer */
"use strict";
window.veraz_dash_renderer = new DashRenderer();

document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("header .lang a") : null;
  if (!link) {
    return;
  }
  var wanted = new URL(link.href, window.location.href).searchParams.get("lang");
  var params = new URLSearchParams(window.location.search);
  params.set("lang", wanted);
  event.preventDefault();
  window.location.assign(window.location.pathname + "?" + params.toString());
});
