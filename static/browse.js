// The language links of the header keep this page's state (filters, sort, page): a reader who
// switches language mid-browse stays where they were. Without JavaScript they still switch.
(function () {
  "use strict";
  document.querySelectorAll(".lang a[hreflang]").forEach(function (link) {
    var url = new URL(window.location.href);
    url.searchParams.set("lang", link.getAttribute("hreflang"));
    link.setAttribute("href", url.pathname + url.search);
  });
})();

// Facets fold away on phones (a closed <details>) and stand open beside the list on wide screens.
(function () {
  "use strict";
  var facets = document.getElementById("facets");
  if (facets && window.matchMedia("(min-width: 900px)").matches) {
    facets.open = true;
  }
})();
