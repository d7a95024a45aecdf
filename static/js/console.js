// Progressive touches only: every page works without this file.
// Copy buttons: shown only when the clipboard can be used, they copy their target's text.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.copy[data-copy-target]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var label = button.firstChild;
        var before = label.textContent;
        label.textContent = "Copied";
        setTimeout(function () { label.textContent = before; }, 2000);
      });
    });
  });
})();
