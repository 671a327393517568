// The console's one script: the login page polls its ticket and, once the admin has
// confirmed in the mini-program, goes to the console (the poll's answer set the
// session cookie). Every other screen is plain links and forms; a filter that narrows
// another one's choices (a street, then its communities) is applied as soon as it is
// picked, where without script the form's button does the same.
(function () {
  "use strict";
  var narrowing = document.querySelectorAll("select[data-submit-on-change]");
  Array.prototype.forEach.call(narrowing, function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
})();

(function () {
  "use strict";
  var box = document.getElementById("login");
  if (!box) return;
  var state = box.querySelector("[data-state]");
  var deadline = Date.now() + Number(box.dataset.ttl) * 1000;
  function show(text) { state.textContent = text; }
  function poll() {
    if (Date.now() > deadline) { show("二维码已过期，请点击“刷新二维码”。"); return; }
    fetch(box.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.status === 404) { show("二维码已过期，请点击“刷新二维码”。"); return null; }
        if (!resp.ok) throw new Error(String(resp.status));
        return resp.json();
      })
      .then(function (body) {
        if (!body) return;
        if (body.status === "confirmed") {
          show("已确认，正在进入工作台…");
          window.location.assign(box.dataset.home);
        } else {
          setTimeout(poll, 1500);
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
