// Copy buttons beside the links a source sent: the link is never opened from the staff site
// (that would show the editor's address to its server); it is copied, to be opened elsewhere.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    button.textContent = "copied";
  });
});
