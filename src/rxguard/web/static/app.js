// rxguard web pages: the little behaviour that is not htmx, kept out of the HTML so the
// Content-Security-Policy can forbid inline script. A button marked data-print prints the page.
document.addEventListener("click", function (event) {
  var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (target) {
    event.preventDefault();
    window.print();
  }
});

// The header menu on a narrow screen: without this script the menu is simply always shown; with it, the
// "Menu" button shows and hides it (aria-expanded says which) and Escape closes it.
document.addEventListener("DOMContentLoaded", function () {
  var toggle = document.querySelector(".menu-toggle");
  var header = document.querySelector("header.top");
  if (!toggle || !header) return;
  toggle.hidden = false;
  header.classList.add("menu-ready");
  function set(open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }
  toggle.addEventListener("click", function () {
    set(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      set(false);
      toggle.focus();
    }
  });
});
