/* Resumable uploads, when JavaScript runs (Tor Browser "Standard"). Without it the form posts
   its files as usual. Each file goes up in pieces (submissions/chunked.py), with a progress bar;
   a piece that fails is sent again, after asking the server which one it needs, so a dropped
   connection resumes where it stopped. Then the form is sent with the uploads' ids instead of
   the files. Nothing here talks to any other site, and nothing is stored in the browser. */
(function () {
  "use strict";
  var form = document.getElementById("tip-form");
  var input = document.getElementById("id_files");
  if (!form || !input || !window.fetch || !window.Promise || !window.Blob) { return; }
  var base = form.getAttribute("data-uploads");

  function Fatal(message) { this.message = message; }

  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  async function answer(response) {
    try { return (await response.json()).error || ""; } catch (e) { return ""; }
  }

  // 408 and 429 (a proxy's timeout, a busy server) and 5xx pass: try again. Other 4xx do not.
  function lasting(status) { return status >= 400 && status < 500 && status !== 408 && status !== 429; }

  async function begin(file) {
    for (var attempt = 1; ; attempt++) {
      try {
        var response = await fetch(base, {
          method: "POST", credentials: "omit", cache: "no-store",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify({size: file.size})
        });
        if (response.ok) { return response.json(); }
        if (lasting(response.status)) { throw new Fatal(await answer(response) || form.getAttribute("data-failed")); }
      } catch (error) {
        if (error instanceof Fatal) { throw error; }
      }
      if (attempt >= 10) { throw new Fatal(form.getAttribute("data-failed")); }
      await sleep(Math.min(30000, 1000 * attempt));
    }
  }

  async function nextPiece(info, count) {
    var response = await fetch(base + info.id + "/", {
      credentials: "omit", cache: "no-store", headers: {"X-Upload-Token": info.token}
    });
    if (lasting(response.status)) { throw new Fatal(await answer(response) || form.getAttribute("data-failed")); }
    if (!response.ok) { throw new Error("HTTP " + response.status); }
    var next = (await response.json()).next;
    if (typeof next !== "number" || Math.floor(next) !== next || next < 0 || next > count) {
      throw new Error("an answer that makes no sense");
    }
    return next;
  }

  async function send(file, bar) {
    var info = await begin(file);
    var count = Math.max(1, Math.ceil(file.size / info.chunk));
    var index = 0, failures = 0;
    while (index < count) {
      var piece = file.slice(index * info.chunk, Math.min(file.size, (index + 1) * info.chunk));
      try {
        var response = await fetch(base + info.id + "/" + index, {
          method: "PUT", credentials: "omit", cache: "no-store", body: piece,
          headers: {"X-Upload-Token": info.token, "Content-Type": "application/octet-stream"}
        });
        if (lasting(response.status)) { throw new Fatal(await answer(response) || form.getAttribute("data-failed")); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        index += 1;
        failures = 0;
        bar.value = Math.min(file.size, index * info.chunk);
      } catch (error) {
        if (error instanceof Fatal) { throw error; }
        failures += 1;
        if (failures > 30) { throw new Fatal(form.getAttribute("data-failed")); }
        await sleep(Math.min(30000, 500 * failures));
        try {
          index = await nextPiece(info, count);
        } catch (e) {
          if (e instanceof Fatal) { throw e; }  /* else still down: try the same piece */
        }
      }
    }
    return {id: info.id, token: info.token, name: file.name};
  }

  function hidden(name, value) {
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    field.value = value;
    form.appendChild(field);
  }

  function showError(message) {
    var error = document.getElementById("files-error");
    if (!error) {
      error = document.createElement("span");
      error.id = "files-error";
      error.className = "errorlist";
      error.setAttribute("role", "alert");
      input.parentNode.insertBefore(error, input);
    }
    error.textContent = message;
  }

  form.addEventListener("submit", async function (event) {
    if (!input.files || !input.files.length) { return; }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var list = document.getElementById("progress");
    var files = Array.prototype.slice.call(input.files);
    button.disabled = true;
    list.textContent = "";
    try {
      var sent = [];
      for (var i = 0; i < files.length; i++) {
        var row = document.createElement("p");
        var label = document.createElement("label");
        var bar = document.createElement("progress");
        bar.id = "progress-" + i;
        bar.max = files[i].size;
        bar.value = 0;
        label.htmlFor = bar.id;
        label.textContent = files[i].name;
        row.appendChild(label);
        row.appendChild(bar);
        list.appendChild(row);
        sent.push(await send(files[i], bar));
      }
      sent.forEach(function (upload) {
        hidden("resumable", upload.id + "." + upload.token);
        hidden("resumable_name", upload.name);
      });
      input.value = "";
      form.submit();
    } catch (error) {
      button.disabled = false;
      showError(error instanceof Fatal && error.message ? error.message : form.getAttribute("data-failed"));
    }
  });
}());
