// The desk page: keep the scanner field focused, clear results for the next customer, run the camera.
// Loaded as a file (the Content-Security-Policy forbids inline script).
(function () {
  "use strict";
  var CAMERA_KEY = "cityid.camera";  // only "on": never anything about a card
  var qr = document.getElementById("qr");
  var scanForm = document.getElementById("scan-form");
  var result = document.getElementById("result");
  var seconds = parseInt(document.body.getAttribute("data-result-seconds"), 10) || 8;
  var timer = null;
  // The page's words for what this script shows (the server renders them in the desk's language).
  var words = document.getElementById("desk-text");
  function t(name, fallback) { return (words && words.getAttribute("data-" + name)) || fallback; }

  function nextCustomer() {
    // replace(): the result page leaves the history, so Back cannot show it to the next person.
    window.location.replace(document.body.getAttribute("data-home") || "/");
  }

  function refocus() {
    if (qr && document.activeElement !== qr && !(document.activeElement && document.activeElement.closest("#upload-form, #camera-panel, .next"))) {
      qr.focus();
    }
  }

  // Scanners type a trailing newline or spaces: strip them before submitting.
  scanForm.addEventListener("submit", function (event) {
    qr.value = qr.value.trim();
    if (!qr.value) { event.preventDefault(); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && result) { event.preventDefault(); nextCustomer(); }
  });

  if (result) {
    var countdown = document.getElementById("countdown");
    var hold = document.getElementById("hold");
    var left = seconds;
    var tick = function () {
      left -= 1;
      if (left <= 0) { nextCustomer(); return; }
      countdown.textContent = t("clears", "Clears in {n} s.").replace("{n}", left);
    };
    countdown.textContent = t("clears", "Clears in {n} s.").replace("{n}", left);
    timer = window.setInterval(tick, 1000);
    hold.hidden = false;
    hold.addEventListener("click", function () {
      window.clearInterval(timer);
      countdown.textContent = t("kept", "Kept on screen. Press Esc for the next customer.");
      hold.hidden = true;
      qr.focus();
    });
  }
  qr.focus();
  // Screen readers: the result arrived with the page, so say it through the live region once the page is up.
  var announce = document.getElementById("announce");
  if (announce && announce.getAttribute("data-text")) {
    window.setTimeout(function () { announce.textContent = announce.getAttribute("data-text"); }, 250);
  }
  document.addEventListener("click", function () { window.setTimeout(refocus, 0); });

  // Photo: check as soon as one is chosen.
  var image = document.getElementById("image");
  // Leaving the page: empty the fields so the browser's saved page state (session restore) keeps no scan or file name.
  window.addEventListener("pagehide", function () { qr.value = ""; image.value = ""; });
  image.addEventListener("change", function () {
    if (image.files && image.files.length) { document.getElementById("upload-form").submit(); }
  });

  // -- live camera, decoded in the browser with jsQR (vendored, served from this app) --
  var video = document.getElementById("camera-video");
  var canvas = document.getElementById("camera-canvas");
  var status = document.getElementById("camera-status");
  var startButton = document.getElementById("camera-start");
  var stopButton = document.getElementById("camera-stop");
  var stream = null;
  var lastScan = 0;

  function stopCamera(remember) {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
    startButton.hidden = false;
    stopButton.hidden = true;
    if (!remember) { window.sessionStorage.removeItem(CAMERA_KEY); }
  }

  function scanFrame() {
    if (!stream) { return; }
    var now = Date.now();
    if (now - lastScan >= 100 && video.readyState >= video.HAVE_ENOUGH_DATA && video.videoWidth) {
      lastScan = now;
      var scale = Math.min(1, 960 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR && window.jsQR(pixels.data, pixels.width, pixels.height, { inversionAttempts: "dontInvert" });
      if (found && found.data && found.data.trim()) {
        status.textContent = t("found", "Code found, checking…");
        stopCamera(true);
        qr.value = found.data.trim();
        scanForm.submit();
        return;
      }
    }
    window.setTimeout(scanFrame, 100);
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = t("needs-https", "The camera needs this page on localhost or https. Use the scanner or a photo instead.");
      return;
    }
    status.textContent = t("starting", "Starting the camera…");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      startButton.hidden = true;
      stopButton.hidden = false;
      window.sessionStorage.setItem(CAMERA_KEY, "on");
      status.textContent = t("hold-up", "Hold the card's QR code up to the camera.");
      return video.play();
    }).then(function () {
      scanFrame();
    }).catch(function () {
      stopCamera(false);
      status.textContent = t("no-camera", "No camera is available, or permission was refused. Use the scanner or a photo instead.");
    });
  }

  startButton.addEventListener("click", startCamera);
  stopButton.addEventListener("click", function () { stopCamera(false); qr.focus(); });
  // The camera comes back on after a result if it was in use (never while a result is shown: no loops).
  if (!result && window.sessionStorage.getItem(CAMERA_KEY) === "on") { startCamera(); }
})();
