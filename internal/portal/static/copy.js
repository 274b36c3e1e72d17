// Copy buttons: <button data-copy="ID" hidden> copies the text of the element with that id.
// The buttons are hidden without JavaScript, where the text stays selectable on the page.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var target = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById(button.getAttribute("data-status"));
  if (!target || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      if (status) status.textContent = "Copied to the clipboard.";
    }, function () {
      if (status) status.textContent = "Could not copy: select the text and copy it.";
    });
  });
});
