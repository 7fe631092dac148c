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
    // A result arrives as the answer to a POST, whose body (the scanned code) Chromium would write into its session
    // files to resubmit on reload. Replacing the entry drops that body, and a reload shows the empty desk.
    window.history.replaceState(null, "", document.body.getAttribute("data-home") || "/");
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

  // -- live camera, decoded in the browser with zxing-wasm: ZXing-C++, the decoder the server uses (vendored) --
  var video = document.getElementById("camera-video");
  var canvas = document.getElementById("camera-canvas");
  var status = document.getElementById("camera-status");
  var startButton = document.getElementById("camera-start");
  var stopButton = document.getElementById("camera-stop");
  var stream = null;
  var frames = 0;
  var zxing = document.getElementById("zxing");
  // Only QR codes, one per frame; tryHarder/rotate/invert/downscale as zxing-cpp's defaults on the server.
  var READER = { formats: ["QRCode"], tryHarder: true, tryRotate: true, tryInvert: true, tryDownscale: true, maxNumberOfSymbols: 1 };
  if (window.ZXingWASM && zxing) {
    // The .wasm comes from this app, never the library's default CDN (the CSP would refuse it anyway).
    window.ZXingWASM.prepareZXingModule({
      overrides: { locateFile: function (path, prefix) { return /\.wasm$/.test(path) ? zxing.getAttribute("data-wasm") : prefix + path; } }
    });  // the .wasm is fetched when the camera decodes its first frame, not on every page
  }

  // One frame -> its QR text, or null.  At the frame's full resolution, or enlarged by `scale`: a 1080p webcam
  // sees a card's QR at 2-5 px per module, and every pixel counts (benchmarks/camera.py measures this function).
  function decodeFrame(source, width, height, scale) {
    scale = scale || 1;
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    var context = canvas.getContext("2d", { willReadFrequently: true });
    context.imageSmoothingQuality = "high";
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    return window.ZXingWASM.readBarcodes(pixels, READER).then(function (results) {
      var found = results.filter(function (r) { return r.isValid && r.text && r.text.trim(); })[0];
      return found ? found.text.trim() : null;
    });
  }
  // Every fourth frame is also tried enlarged 2x, as the server retries a small photo (verifier_sdk/imaging.py).
  function frameScale(n) { return n % 4 === 3 ? 2 : 1; }
  window.cityidCamera = { decodeFrame: decodeFrame, frameScale: frameScale };

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
    if (!(video.readyState >= video.HAVE_ENOUGH_DATA && video.videoWidth && window.ZXingWASM)) {
      window.setTimeout(scanFrame, 100);
      return;
    }
    var started = Date.now();
    decodeFrame(video, video.videoWidth, video.videoHeight, frameScale(frames++)).then(function (text) {
      if (text && stream) {
        status.textContent = t("found", "Code found, checking…");
        stopCamera(true);
        qr.value = text;
        scanForm.submit();
        return;
      }
      window.setTimeout(scanFrame, Math.max(0, 100 - (Date.now() - started)));  // about 10 frames a second
    }, function () { window.setTimeout(scanFrame, 1000); });  // the decoder failed on this frame (or to load): retry
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = t("needs-https", "The camera needs this page on localhost or https. Use the scanner or a photo instead.");
      return;
    }
    status.textContent = t("starting", "Starting the camera…");
    navigator.mediaDevices.getUserMedia({
      // Ask for 1080p: browsers otherwise open webcams at 640x480, a third of the pixels per QR module.
      video: { facingMode: "environment", width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false
    }).then(function (s) {
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
