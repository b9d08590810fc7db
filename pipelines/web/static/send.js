// The send form as a drop zone: a file dropped anywhere on it becomes the chosen file.
// (Without JavaScript the file input works as it is.)
document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("drop");
  const input = zone && zone.querySelector('input[type="file"]');
  const chosen = document.getElementById("chosen");
  if (!zone || !input) return;
  const show = () => {
    chosen.textContent = input.files.length ? input.files[0].name : "";
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
