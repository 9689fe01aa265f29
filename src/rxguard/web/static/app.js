// rxguard web pages: the little behaviour that is not htmx, kept out of the HTML so the
// Content-Security-Policy can forbid inline script. A button marked data-print prints the page.
document.addEventListener("click", function (event) {
  var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
  if (target) {
    event.preventDefault();
    window.print();
  }
});
