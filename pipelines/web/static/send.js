// The send form as a drop zone: a file dropped anywhere on it becomes the chosen file. A file
// over the page's limit is refused here, before its bytes are sent. A form marked "once" is
// sent once: a double click sends one request (the server keeps its own rule too).
// (Without JavaScript the file input and the forms work as they are.)
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.once").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
    });
  });
  const zone = document.getElementById("drop");
  const input = zone && zone.querySelector('input[type="file"]');
  const chosen = document.getElementById("chosen");
  if (!zone || !input) return;
  const limit = Number(zone.dataset.limitBytes || 0);
  const show = () => {
    const file = input.files.length ? input.files[0] : null;
    chosen.textContent = file ? file.name : "";
    chosen.classList.remove("error");
    input.setCustomValidity("");
    if (file && limit && file.size > limit) {
      const message = zone.dataset.tooLarge;
      chosen.textContent = message;
      chosen.classList.add("error");
      input.setCustomValidity(message);
    }
  };
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    })
  );
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, () => zone.classList.remove("over"))
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
  input.addEventListener("change", show);
});
