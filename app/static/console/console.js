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

// A task's place: "use my location" fills the fields from the browser's position;
// with tiles configured (data-tiles, CONSOLE_MAP_TILES_URL) and Leaflet loaded, a click
// on the map picks the place and a circle shows the radius. Without script the
// fields are typed in. After the deferred scripts (Leaflet) have run.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var box = document.querySelector("[data-place-picker]");
  if (!box) return;
  var lat = box.querySelector("[data-lat]");
  var lng = box.querySelector("[data-lng]");
  var radius = box.querySelector("[data-radius]");
  var map = null, mark = null, ring = null;
  function metres() { return Number(radius.value) || 200; }
  function show(moveTo) {
    if (!map || lat.value === "" || lng.value === "") return;
    var at = [Number(lat.value), Number(lng.value)];
    if (!isFinite(at[0]) || !isFinite(at[1])) return;
    if (!mark) {
      mark = window.L.circleMarker(at, { radius: 6, color: "#c8161d" }).addTo(map);
      ring = window.L.circle(at, { radius: metres(), color: "#c8161d", weight: 1 }).addTo(map);
    }
    mark.setLatLng(at); ring.setLatLng(at); ring.setRadius(metres());
    if (moveTo) map.setView(at, Math.max(map.getZoom(), 16));
  }
  function put(latitude, longitude) {
    lat.value = latitude.toFixed(6); lng.value = longitude.toFixed(6);
    show(true);
  }
  if (box.dataset.tiles && window.L) {
    var el = box.querySelector("[data-map]");
    el.hidden = false;
    map = window.L.map(el).setView([35.0, 105.0], 4);
    window.L.tileLayer(box.dataset.tiles, {
      subdomains: "01234567", maxZoom: 18, attribution: box.dataset.attribution || ""
    }).addTo(map);
    map.on("click", function (e) { put(e.latlng.lat, e.latlng.lng); });
    [lat, lng, radius].forEach(function (input) {
      input.addEventListener("change", function () { show(true); });
    });
    show(true);
  }
  var locate = box.querySelector("[data-locate]");
  if (navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        put(pos.coords.latitude, pos.coords.longitude);
      }, function () { locate.textContent = "无法获取位置，请在地图上选择或输入坐标"; },
      { enableHighAccuracy: true, timeout: 10000 });
    });
  }
});

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
