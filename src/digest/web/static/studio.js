// Small conveniences; every control also works without scripts.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field.matches("[data-autosubmit]")) field.form.requestSubmit();
});
