// jobq's own JavaScript: small, no build, everything by event delegation so
// that content swapped in by htmx needs no re-binding. Pages work without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- Time zone: pages render times in the zone of the `tz` cookie. ---------
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* old browser */ }
  var match = document.cookie.match(/(?:^|;\s*)tz=([^;]*)/);
  var cookieZone = match ? decodeURIComponent(match[1]) : "";
  // IANA names need no escaping; anything else is not a zone the server knows.
  if (zone && cookieZone !== zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone)) {
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    // Once per tab, re-render a page that was drawn in another zone.
    document.addEventListener("DOMContentLoaded", function () {
      var shown = document.body.dataset.tz;
      try {
        // Only when the cookie took, and once per tab: never a reload loop.
        if (shown && shown !== zone && document.cookie.indexOf("tz=" + zone) !== -1 &&
            !sessionStorage.getItem("jobq-tz-reload")) {
          sessionStorage.setItem("jobq-tz-reload", "1");
          location.reload();
        }
      } catch (e) { /* storage refused: keep the page as drawn */ }
    });
  }

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  // --- Keyboard shortcuts: / j k ? -------------------------------------------
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#jobs tbody tr[id^='job-']"));
  }

  function moveRow(step) {
    var all = rows();
    if (!all.length) return;
    var current = document.activeElement && document.activeElement.closest("#jobs tbody tr");
    var index = current ? all.indexOf(current) + step : (step > 0 ? 0 : all.length - 1);
    index = Math.max(0, Math.min(all.length - 1, index));
    var link = all[index].querySelector("a");
    if (link) {
      link.focus();
      all[index].scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var dialog = document.getElementById("shortcuts");
    if (event.key === "/") {
      var filter = document.getElementById("spider-add");
      if (filter) { event.preventDefault(); filter.focus(); }
    } else if (event.key === "j") {
      moveRow(1);
    } else if (event.key === "k") {
      moveRow(-1);
    } else if (event.key === "?" && dialog && !dialog.open) {
      event.preventDefault();
      dialog.showModal();
    }
  });

  // --- Live rows: calm refreshes ---------------------------------------------
  // The poll re-sends the rows of jobs that were live. Leave a row alone when
  // nothing in it changed, carry its bulk checkbox over, and keep the focus
  // (j/k) on it when it is replaced.
  var refocus = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var old = event.detail.target;
    if (!old.matches || !old.matches("#jobs tbody tr")) return;
    var fresh = event.detail.fragment.querySelector ? event.detail.fragment.querySelector("tr") : null;
    fresh = fresh || event.detail.fragment.firstElementChild;
    if (!fresh) return;
    if (fresh.textContent === old.textContent && fresh.className === old.className) {
      event.detail.shouldSwap = false;
      return;
    }
    var box = old.querySelector("input[type=checkbox]");
    var freshBox = fresh.querySelector("input[type=checkbox]");
    if (box && freshBox) freshBox.checked = box.checked;
    if (old.contains(document.activeElement)) {
      var focusable = Array.prototype.slice.call(old.querySelectorAll("a, input"));
      refocus = { id: old.id, index: focusable.indexOf(document.activeElement) };
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!refocus) return;
    var row = document.getElementById(refocus.id);
    var target = row && row.querySelectorAll("a, input")[refocus.index];
    if (target) target.focus();
    refocus = null;
  });

  // --- Typing through a listing swap -------------------------------------------
  // The listing (form included) is swapped when a filter changes. If the
  // person kept typing in a text field after that request left, carry what
  // they typed, and the caret, into the new form instead of wiping it.
  var sent = null, typed = null;
  function activeTextField() {
    var field = document.activeElement;
    return field && field.id && field.type === "text" && field.closest("#filters") ? field : null;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!event.detail.target || event.detail.target.id !== "listing") return;
    var field = activeTextField();
    sent = field ? { id: field.id, value: field.value } : null;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    typed = null;
    var field = activeTextField();
    if (!field || !event.detail.target || event.detail.target.id !== "listing") return;
    var before = sent && sent.id === field.id ? sent.value : "";
    if (field.value === before) return;  // nothing typed since the request left
    typed = { id: field.id, value: field.value, start: field.selectionStart, end: field.selectionEnd };
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!typed) return;
    var field = document.getElementById(typed.id);
    if (field) {
      field.value = typed.value;
      field.focus();
      field.setSelectionRange(typed.start, typed.end);
    }
    typed = null;
  });

  // --- Relative times on hover, fresh when hovered (the page may be old) -----
  function relative(ms) {
    var seconds = Math.round((Date.now() - ms) / 1000), future = seconds < 0;
    seconds = Math.abs(seconds);
    var text = seconds < 60 ? seconds + " s"
      : seconds < 3600 ? Math.floor(seconds / 60) + " min"
      : seconds < 172800 ? Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min"
      : Math.floor(seconds / 86400) + " days";
    return future ? "in " + text : text + " ago";
  }
  document.addEventListener("mouseover", function (event) {
    var time = event.target.closest && event.target.closest("time[datetime]");
    var ms = time && Date.parse(time.dateTime);
    if (ms) time.title = relative(ms);
  });

  // --- The project picker closes on a click elsewhere or Escape ---------------
  function closePickers(except) {
    document.querySelectorAll("details.picker[open]").forEach(function (picker) {
      if (picker !== except) picker.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closePickers(event.target.closest && event.target.closest("details.picker"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closePickers(null);
  });

  // --- Copy buttons: <button data-copy="element-id"> -------------------------
  function copyText(text, button) {
    function done() {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text) && done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (source) copyText(source.textContent, button);
  });
})();
