// Progressive touches only: every page works without this file.
// Copy buttons: shown only when the clipboard can be used, they copy their target's text.
(function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button.copy[data-copy-target]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var value = target.getAttribute("data-copy") || target.textContent.trim();
      navigator.clipboard.writeText(value).then(function () {
        var label = button.firstChild;
        var before = label.textContent;
        label.textContent = "Copied";
        setTimeout(function () { label.textContent = before; }, 2000);
      });
    });
  });
})();

// On a narrow screen tables become stacked cards: each cell is labelled with its column's
// heading (the CSS shows the label only there).
(function () {
  document.querySelectorAll("table").forEach(function (table) {
    var headings = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (headings[i] && !cell.hasAttribute("colspan")) cell.setAttribute("data-label", headings[i]);
      });
    });
  });
})();
