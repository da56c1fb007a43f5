// Progressive help only: every page works without it (the Content-Security-Policy forbids inline script).
// "Select the page": ticks every flag checkbox of the queue.
(function () {
  var all = document.getElementById("select-page");
  if (!all) return;
  all.addEventListener("change", function () {
    var boxes = document.querySelectorAll('input[type=checkbox][name=flag_id]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
  });
})();
