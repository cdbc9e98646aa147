/* nbbuild's site: the table of contents and previous / next from the variant's
   outline (window.nbbuildOutline, loaded before this script), the menu on narrow
   screens, and search over the variant's index (window.nbbuildSearch, loaded on
   first use). Plain scripts only, so it works from file:// and any static host. */
(function () {
  "use strict";
  var bar = document.querySelector(".nbb-bar");
  if (!bar) { return; }
  var root = bar.getAttribute("data-root") || ".";
  var here = bar.getAttribute("data-page");
  function url(path) { return root === "." ? path : root + "/" + path; }
  function make(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  var outline = window.nbbuildOutline;
  var toc = document.querySelector(".nbb-toc");
  if (outline && toc) {
    var flat = [];
    outline.sections.forEach(function (section) {
      if (section.t) { toc.appendChild(make("p", "nbb-toc-section", section.t)); }
      var list = make("ul");
      section.l.forEach(function (lecture) {
        var item = make("li");
        var link = make("a", "", lecture[0]);
        link.href = url(lecture[1]);
        if (lecture[1] === here) { link.setAttribute("aria-current", "page"); }
        flat.push(lecture);
        item.appendChild(link);
        list.appendChild(item);
      });
      toc.appendChild(list);
    });
    var pager = document.querySelector(".nbb-pager");
    var at = -1;
    flat.forEach(function (lecture, i) { if (lecture[1] === here) { at = i; } });
    if (pager && at >= 0) {
      [[at - 1, "previous", "prev"], [at + 1, "next", "next"]].forEach(function (step) {
        var lecture = flat[step[0]];
        if (!lecture) { return; }
        var link = make("a", "nbb-" + step[1]);
        link.href = url(lecture[1]);
        link.rel = step[2];
        link.appendChild(make("small", "", pager.getAttribute("data-" + step[1])));
        link.appendChild(make("span", "", lecture[0]));
        pager.appendChild(link);
      });
    }
  }

  var button = document.querySelector(".nbb-menu");
  if (button) {
    button.addEventListener("click", function () {
      var open = document.body.classList.toggle("nbb-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && document.body.classList.contains("nbb-open")) {
        document.body.classList.remove("nbb-open");
        button.setAttribute("aria-expanded", "false");
      }
    });
  }

  var input = document.querySelector(".nbb-search input");
  var box = document.querySelector(".nbb-results");
  var source = bar.getAttribute("data-search");
  if (!input || !box) { return; }
  if (!source) { input.parentNode.hidden = true; return; }
  var loading = null;
  function load(then) {
    if (window.nbbuildSearch) { then(); return; }
    if (!loading) {
      loading = [];
      var script = document.createElement("script");
      script.src = source;
      script.onload = function () { loading.forEach(function (f) { f(); }); };
      document.head.appendChild(script);
    }
    loading.push(then);
  }
  function snippet(text, word) {
    var at = text.toLowerCase().indexOf(word);
    if (at < 0) { return text.slice(0, 120); }
    var start = Math.max(0, at - 50);
    return (start ? "\u2026" : "") + text.slice(start, at + 90) + "\u2026";
  }
  function show() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    box.textContent = "";
    if (!words.length || !window.nbbuildSearch) { box.hidden = true; return; }
    var found = [];
    window.nbbuildSearch.pages.forEach(function (page) {
      var title = page.t.toLowerCase();
      page.s.forEach(function (section) {
        var heading = section[0].toLowerCase();
        var text = section[2].toLowerCase();
        var score = 0;
        for (var i = 0; i < words.length; i++) {
          var w = words[i];
          var s = (title.indexOf(w) >= 0 ? 4 : 0) + (heading.indexOf(w) >= 0 ? 2 : 0) +
                  (text.indexOf(w) >= 0 ? 1 : 0);
          if (!s) { return; }
          score += s;
        }
        found.push([score, page, section]);
      });
    });
    found.sort(function (a, b) { return b[0] - a[0]; });
    found.slice(0, 20).forEach(function (hit) {
      var page = hit[1], section = hit[2];
      var item = make("li");
      var link = make("a");
      link.href = url(page.u) + (section[1] ? "#" + encodeURIComponent(section[1]) : "");
      link.appendChild(make("strong", "", page.t + (section[0] ? " \u203a " + section[0] : "")));
      link.appendChild(make("span", "", snippet(section[2], words[0])));
      item.appendChild(link);
      box.appendChild(item);
    });
    if (!found.length) { box.appendChild(make("li", "nbb-none", bar.getAttribute("data-none"))); }
    box.hidden = false;
  }
  input.addEventListener("focus", function () { load(function () {}); });
  input.addEventListener("input", function () { load(show); });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { box.hidden = true; }
    if (event.key === "Enter") {
      var first = box.querySelector("a");
      if (first) { window.location.href = first.href; }
    }
  });
  document.addEventListener("click", function (event) {
    if (!box.contains(event.target) && event.target !== input) { box.hidden = true; }
  });
})();
